#!/usr/bin/env bash
# make bench: every figure is printed beside the floor it is compared against, both measured in
# this run on this machine. Nothing here asserts a time; each benchmark bounds its own loops.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=pipelines/lib/common.sh
. pipelines/lib/common.sh

log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
log "verifier: warm / cold verification (classic and bundle), registry requests and round trips"
cargo run --release --locked -q -p portcullis-verifier --example bench_verify
log "verifier: keyless (Fulcio chain + Rekor SET + inclusion proof) beside key-based"
cargo run --release --locked -q -p portcullis-verifier --example bench_keyless
log "workloads: API requests/s and p99, worker jobs/s (real PostgreSQL on loopback)"
workloads/bench.sh

log "webhook: admission latency, throughput and memory of the release binary"
# The example starts target/release/portcullis (build it first: cargo run builds only the example).
cargo build --release --locked -q -p portcullis-webhook
# The loopback registry keeps its storage under TMPDIR: on tmpfs when there is one, since on a busy
# disk creating and deleting its ~17,000 files costs more than the measurements themselves.
bench_tmp="${TMPDIR:-/tmp}"
if [[ -d /dev/shm && -w /dev/shm ]]; then bench_tmp=/dev/shm; fi
TMPDIR="$bench_tmp" cargo run --release --locked -q -p portcullis-webhook --example bench_admission

log "webhook: portcullis audit, 10,000 resources offline and 1,000 images cold, with RSS"
TMPDIR="$bench_tmp" cargo run --release --locked -q -p portcullis-webhook --example bench_audit

log "webhook: deploy storm, 10,000 reviews over 1,000 signed images at 500/s, 20 ms registry link; then throttled, two passes"
TMPDIR="$bench_tmp" cargo run --release --locked -q -p portcullis-webhook --example bench_storm

log "webhook: 1,000 policy objects through the watch (test API server), and a policy created while reviews flow"
cargo run --release --locked -q -p portcullis-webhook --example bench_cluster_policies
