#!/usr/bin/env bash
# Student environment: a local kind cluster that Flux reconciles from this repository
# (deploy/clusters/dev: cert-manager, Argo Rollouts, kube-prometheus-stack, External Secrets,
# the Portcullis webhook, the sample workloads).
#
# IT CANNOT RUN ON THE PROJECT'S BUILD MACHINES: kind needs a container engine and pulls its node
# image (kindest/node) from Docker Hub, which those machines cannot reach; the charts and images
# come from the internet too. There it is only checked by shellcheck
# (pipelines/validate-manifests.sh). Run it on a laptop with Docker or Podman, kind >= 0.24
# (kindnet enforces NetworkPolicy), kubectl and the flux CLI >= 2.7.
#
# Usage: deploy/scripts/kind-up.sh
# Environment:
#   CLUSTER_NAME     kind cluster name (portcullis)
#   KIND_NODE_IMAGE  node image (kindest/node:v1.33.1)
#   GIT_URL, GIT_BRANCH                     repository Flux syncs read-only (default: origin, current branch)
#   GITHUB_TOKEN, GITHUB_OWNER, GITHUB_REPO `flux bootstrap github` instead (image automation can push)
# The Portcullis and jobs images are not published before the first release: build them and
# `kind load docker-image <image> --name "$CLUSTER_NAME"` with the tags in deploy/overlays/dev.
# Tear down: kind delete cluster --name "$CLUSTER_NAME"
set -euo pipefail
# shellcheck source=deploy/scripts/lib/flux-dev.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/flux-dev.sh"

CLUSTER_NAME="${CLUSTER_NAME:-portcullis}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.33.1}"

# Three nodes in two zones, so the webhook's topology spread and PodDisruptionBudget mean something.
create_kind_cluster() {
  if kind get clusters | grep -x "$CLUSTER_NAME" >/dev/null; then return 0; fi
  kind create cluster --name "$CLUSTER_NAME" --image "$KIND_NODE_IMAGE" --wait 5m --config - <<'KIND'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
    labels:
      topology.kubernetes.io/zone: zone-a
  - role: worker
    labels:
      topology.kubernetes.io/zone: zone-b
KIND
}

dev_cluster_up kind "kind-$CLUSTER_NAME" create_kind_cluster
