# Portcullis: every target a developer runs is the one CI runs (see .ci/run).
SHELL := /bin/bash
.DEFAULT_GOAL := help
export CARGO_TERM_COLOR ?= never

.PHONY: help bootstrap lint test manifests bench demo package clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

bootstrap: ## install system packages and pinned tools (idempotent)
	@pipelines/bootstrap.sh

lint: bootstrap ## rustfmt, clippy and manifest linters
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

test: lint ## the full test suite (README quick start)
	cargo test --workspace --no-fail-fast
	@PORTCULLIS_BIN="$(CURDIR)/target/debug/portcullis" pipelines/validate-manifests.sh

manifests: ## render and validate everything under deploy/ offline
	@pipelines/validate-manifests.sh

bench: bootstrap ## performance figures with their floors, measured in the same run
	@pipelines/bench.sh

demo: bootstrap ## admission replay table in a few minutes; DEMO_PIPELINE=1 adds the signing pipeline end to end
	@pipelines/demo.sh
	@if [ "$${DEMO_PIPELINE:-0}" = 1 ]; then pipelines/pipeline.sh; \
	 else echo "The whole chain on real images (builds the three images, ~20 min the first time): make pipeline"; fi

.PHONY: rehearsal
rehearsal: bootstrap ## admission rehearsal: what deploy/ renders, through the webhook as the API server would, on the pipeline's images
	@pipelines/rehearsal.sh

.PHONY: pipeline
pipeline: bootstrap ## CI signing stage locally: build, SBOM, scan, push, sign, attest, verify, promote, manifests, rehearsal
	@pipelines/pipeline.sh

.PHONY: compose-smoke
compose-smoke: ## compose.yaml up for real on a private Docker engine, with make pipeline's images; checks, then down
	@pipelines/compose-smoke.sh

package: ## release binary
	cargo build --release --locked -p portcullis-webhook

clean:
	cargo clean
	rm -rf .work
