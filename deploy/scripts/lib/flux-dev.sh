#!/usr/bin/env bash
# Shared steps of kind-up.sh and minikube-up.sh: install Flux, point it at deploy/clusters/dev,
# seed the stand-in secret store, wait for the chain to become ready. Sourced, not run.
# dev_cluster_up runs them all; each script brings only the function that creates its cluster.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"

FLUX_EXTRA_COMPONENTS="image-reflector-controller,image-automation-controller"
CLUSTER_PATH="deploy/clusters/dev"

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found in PATH" >&2; exit 1; }
  done
}

random_password() { head -c 32 /dev/urandom | base64 | tr -d '/+=\n' | head -c 40; }

# flux_sync: `flux bootstrap github` when GITHUB_TOKEN/GITHUB_OWNER/GITHUB_REPO are set (Flux can
# push, so image automation works); otherwise install Flux and sync GIT_URL read-only.
flux_sync() {
  local git_url="${GIT_URL:-$(git -C "$ROOT" remote get-url origin 2>/dev/null || true)}"
  local git_branch="${GIT_BRANCH:-$(git -C "$ROOT" rev-parse --abbrev-ref HEAD)}"
  flux check --pre
  if [[ -n "${GITHUB_TOKEN:-}" && -n "${GITHUB_OWNER:-}" && -n "${GITHUB_REPO:-}" ]]; then
    flux bootstrap github --owner="$GITHUB_OWNER" --repository="$GITHUB_REPO" --branch="$git_branch" \
      --path="$CLUSTER_PATH" --components-extra="$FLUX_EXTRA_COMPONENTS" --personal
    return
  fi
  [[ -n "$git_url" ]] || { echo "error: set GIT_URL (no origin remote found)" >&2; exit 1; }
  echo "Flux will sync $git_url ($git_branch) read-only; image automation cannot push without bootstrap."
  flux install --components-extra="$FLUX_EXTRA_COMPONENTS"
  flux create source git flux-system --url="$git_url" --branch="$git_branch" --interval=1m
  flux create kustomization flux-system --source=GitRepository/flux-system \
    --path="./$CLUSTER_PATH" --prune=true --interval=10m
}

# seed_secret_store: the namespace `secret-store` stands in for Vault (docs/adr/0003); create the
# two database secrets once, with random values. Rotate later with pipelines/rotate-db-password.sh.
seed_secret_store() {
  kubectl create namespace secret-store --dry-run=client -o yaml | kubectl apply -f -
  local name
  for name in jobs-db postgres-superuser; do
    if ! kubectl -n secret-store get secret "$name" >/dev/null 2>&1; then
      kubectl -n secret-store create secret generic "$name" --from-literal=password="$(random_password)"
    fi
  done
  # The notification Provider needs its Secret to become ready; a dummy address is fine locally.
  kubectl create namespace flux-system --dry-run=client -o yaml | kubectl apply -f -
  if ! kubectl -n flux-system get secret slack-webhook >/dev/null 2>&1; then
    kubectl -n flux-system create secret generic slack-webhook --from-literal=address=http://127.0.0.1:1/
  fi
}

wait_for_chain() {
  local ks
  for ks in infrastructure-controllers infrastructure-configs portcullis apps; do
    echo "waiting for Kustomization $ks"
    kubectl -n flux-system wait "kustomization/$ks" --for=condition=Ready --timeout=20m
  done
  flux get kustomizations
}

# dev_cluster_up TOOL CONTEXT CREATE: the whole start-up of a student cluster. Needs TOOL, kubectl,
# flux and git on PATH; runs the function CREATE (which creates the cluster unless it exists),
# switches kubectl to CONTEXT, seeds the secret store, syncs Flux and waits for the chain.
dev_cluster_up() {
  local tool="$1" context="$2" create="$3"
  need "$tool" kubectl flux git
  "$create"
  kubectl config use-context "$context"
  seed_secret_store
  flux_sync
  wait_for_chain
  echo "Cluster $context is up. Namespace jobs is guarded by Portcullis (portcullis.dev/enforce=true)."
}
