#!/usr/bin/env bash
# Student environment, minikube variant of kind-up.sh (same Flux setup, deploy/clusters/dev).
#
# IT CANNOT RUN ON THE PROJECT'S BUILD MACHINES: minikube downloads its ISO/kicbase image and
# Kubernetes binaries from the internet (and the kicbase image from a container registry), which
# those machines cannot reach. There it is only checked by shellcheck. Run it on a laptop with
# minikube >= 1.33 (docker, podman, kvm2 or hyperkit driver), kubectl and the flux CLI >= 2.7.
#
# Usage: deploy/scripts/minikube-up.sh
# Environment:
#   PROFILE             minikube profile (portcullis)
#   KUBERNETES_VERSION  (v1.33.1)
#   MINIKUBE_DRIVER     (minikube's default)
#   GIT_URL, GIT_BRANCH, GITHUB_TOKEN, GITHUB_OWNER, GITHUB_REPO  as for kind-up.sh
# Load locally built images with `minikube -p "$PROFILE" image load <image>`.
# Tear down: minikube delete -p "$PROFILE"
set -euo pipefail
# shellcheck source=deploy/scripts/lib/flux-dev.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/flux-dev.sh"

PROFILE="${PROFILE:-portcullis}"
KUBERNETES_VERSION="${KUBERNETES_VERSION:-v1.33.1}"

# Calico: minikube's default CNI does not enforce NetworkPolicy, and the manifests rely on it.
create_minikube_cluster() {
  local driver_args=()
  [[ -z "${MINIKUBE_DRIVER:-}" ]] || driver_args=(--driver="$MINIKUBE_DRIVER")
  minikube -p "$PROFILE" status >/dev/null 2>&1 && return 0
  minikube start -p "$PROFILE" --kubernetes-version="$KUBERNETES_VERSION" --nodes=2 --cni=calico \
    --cpus=2 --memory=6g "${driver_args[@]}"
}

dev_cluster_up minikube "$PROFILE" create_minikube_cluster
