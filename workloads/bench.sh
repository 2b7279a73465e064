#!/usr/bin/env bash
# Performance figures of the jobs sample services, printed (never asserted); the floor (pool
# `SELECT 1` round trips) is measured in the same run. Starts its own PostgreSQL on loopback
# (see workloads/common/src/testing/postgres.rs) and stops it at the end.
#   workloads/bench.sh [REQUESTS] [CONCURRENCY] [JOBS]     (defaults 4000 16 2000)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo run --quiet --release --locked -p jobs-worker --example bench -- "$@"
