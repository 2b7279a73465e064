# shellcheck shell=bash
# Lab 12: the two releases, as the registry would name them. Made-up but well-formed digests
# (sha256 of a fixed text): nothing is pulled, Kustomize only renders them.
OLD_TAG=0.1.0 NEW_TAG=0.2.0
_digest() { printf 'sha256:%s' "$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)"; }
OLD_API="$(_digest "jobs-api $OLD_TAG")" OLD_WORKER="$(_digest "jobs-worker $OLD_TAG")"
NEW_API="$(_digest "jobs-api $NEW_TAG")" NEW_WORKER="$(_digest "jobs-worker $NEW_TAG")"
IMAGE_API=ghcr.io/portcullis-dev/jobs-api IMAGE_WORKER=ghcr.io/portcullis-dev/jobs-worker
export OLD_TAG NEW_TAG OLD_API OLD_WORKER NEW_API NEW_WORKER IMAGE_API IMAGE_WORKER
