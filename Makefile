# Portcullis: every target a developer runs is the one CI runs (see .ci/run and .github/workflows).
SHELL := /bin/bash
.DEFAULT_GOAL := help
export CARGO_TERM_COLOR ?= never
# Tools `make bootstrap` installs only where the machine has none (kubectl): last on PATH.
export PATH := $(PATH):$(CURDIR)/.work/tools/fallback/bin

.PHONY: help bootstrap lint test manifests coverage audit bench demo package clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

bootstrap: ## install system packages and pinned tools (idempotent)
	@pipelines/bootstrap.sh

lint: bootstrap ## rustfmt, clippy, cargo-deny (licences, bans, sources): the list in pipelines/lint.sh
	@pipelines/lint.sh

test: lint ## the full test suite (README quick start); ends with one "tests: N passed, N failed, N skipped" line
	@pipelines/test.sh

manifests: bootstrap ## render and validate everything under deploy/ offline
	@pipelines/validate-manifests.sh

coverage: ## line coverage per crate (cargo-tarpaulin), report in .work/coverage
	@pipelines/bootstrap.sh coverage
	@pipelines/coverage.sh

audit: bootstrap ## RustSec advisories for Cargo.lock (needs the network to fetch the advisory database)
	cargo deny --locked check --hide-inclusion-graph advisories

.PHONY: fuzz
fuzz: bootstrap ## fuzz every parser of untrusted bytes (verifier/fuzz, nightly) for FUZZ_RUNS executions or FUZZ_MAX_TIME s each
	@pipelines/fuzz.sh

bench: bootstrap ## performance figures with their floors, measured in the same run
	@pipelines/bench.sh

demo: bootstrap ## admission replay table in a few minutes; DEMO_PIPELINE=1 adds the signing pipeline end to end
	@pipelines/demo.sh
	@if [ "$${DEMO_PIPELINE:-0}" = 1 ]; then pipelines/pipeline.sh; \
	 else echo "The whole chain on real images (builds the three images, ~20 min the first time): make pipeline"; fi

.PHONY: student-check
student-check: ## a student machine's prerequisites for the course: one ok/MISSING line each, with the install command
	@pipelines/student-check.sh

.PHONY: lab-start lab-check lab-solve lab-stop labs
lab-start: bootstrap ## a lab's start state in .work/labs (LAB=NN; the labs are in docs/course/labs)
	@pipelines/lab.sh start "$(LAB)"

lab-check: ## judge your lab workspace: one line per thing still wrong (LAB=NN)
	@pipelines/lab.sh check "$(LAB)"

lab-solve: ## apply a lab's reference solution to its workspace (LAB=NN)
	@pipelines/lab.sh solve "$(LAB)"

lab-stop: ## stop what a lab started (LAB=NN)
	@pipelines/lab.sh stop "$(LAB)"

labs: bootstrap ## every lab three ways (start fails its check, wrong answers fail, the solution passes); LABS="NN …" for some
	@pipelines/lab.sh ci $(LABS)

.PHONY: drill drills
drill: bootstrap ## one disaster-recovery drill with its measured figures (NAME=postgres-pitr|webhook-outage|key-compromise|cert-expiry)
	@pipelines/drill.sh "$(NAME)"

drills: bootstrap ## every disaster-recovery drill (docs/runbooks/disaster-recovery.md): steps, figures, one PASS/FAIL line each
	@pipelines/drill.sh all

.PHONY: rehearsal
rehearsal: bootstrap ## admission rehearsal: what deploy/ renders, through the webhook as the API server would, on the pipeline's images
	@pipelines/rehearsal.sh

.PHONY: pipeline
pipeline: bootstrap ## CI signing stage locally: build, SBOM, scan, push, sign, attest, verify, promote, manifests, rehearsal
	@pipelines/pipeline.sh

.PHONY: compose-smoke
compose-smoke: ## compose.yaml up for real on a private Docker engine, with make pipeline's images; checks, then down
	@pipelines/compose-smoke.sh

package: ## the CLI release in .work/dist: an archive per Linux target built here, SHA256SUMS, SBOM (docs/releases.md)
	@pipelines/package.sh

clean:
	cargo clean
	rm -rf .work
