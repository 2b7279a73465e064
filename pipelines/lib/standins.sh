# shellcheck shell=bash
# pipelines/lib/standins.sh: local stand-ins for the Docker Hub images compose.yaml names, built
# from Debian packages, because Docker Hub cannot be reached from the build machine.
#
# Source it after lib/common.sh and lib/engine.sh (it needs a running engine); it only defines
# functions:
#   standin_registry IMAGE   e.g. registry:2 -> Debian's docker-registry (CNCF distribution 2.8,
#                            like the official registry:2), serving /v2/ on :5000 with the
#                            official image's config file, data in the /var/lib/registry volume,
#                            and wget for the healthcheck (the official image has busybox's)
#   standin_postgres IMAGE   e.g. postgres:17-bookworm -> Debian's postgresql-17 (from trixie, the
#                            Debian release that ships 17; bookworm ships 15), with an entrypoint
#                            honouring the official image's POSTGRES_* contract
#                            (lib/standin-postgres-entrypoint.sh), pg_isready, STOPSIGNAL SIGINT
# Each is tagged with exactly the name compose.yaml uses, in the private engine only (never
# pushed), and labelled as a stand-in with what it really is. A label holds a digest of the
# inputs (suite, packages, files, Dockerfile): an image whose label matches is reused, so only the
# first run pays for mmdebstrap (~2-4 min each).
#
# What they are not: the official images. Same names and the same contract for what compose.yaml
# uses; other versions of the same software, other base systems.

STANDINS_DIR="$PORTCULLIS_WORK/compose-smoke/standins"
STANDIN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
STANDIN_LABEL="dev.portcullis.standin.inputs"

# postgres_suite MAJOR: the Debian release that ships PostgreSQL MAJOR.
postgres_suite() {
    case "$1" in
    15) echo bookworm ;;
    17) echo trixie ;;
    *) die "no Debian release here ships PostgreSQL $1 (15: bookworm, 17: trixie): pin one of those in compose.yaml" ;;
    esac
}

# standin_build NAME IMAGE SUITE PACKAGES CONTEXT [MMDEBSTRAP ARGS...]: the rootfs from
# mmdebstrap, imported as localhost/portcullis-standin/NAME-rootfs:ROOTFS-STAMP, then
# CONTEXT/Dockerfile (its FROM line says "FROM @ROOTFS@") built on it and tagged IMAGE. Reuses
# IMAGE when its label matches the inputs, and the rootfs when only CONTEXT changed.
standin_build() {
    local name="$1" image="$2" suite="$3" packages="$4" context="$5" rootfs_stamp stamp have rootfs tar
    shift 5
    rootfs_stamp="$(printf '%s\n' "$suite" "$packages" "$STANDIN_MIRROR" "$*" | sha256sum | cut -c1-16)"
    stamp="$(
        {
            echo "$rootfs_stamp"
            (cd "$context" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
        } | sha256sum | cut -c1-16
    )"
    have="$(docker image inspect -f "{{index .Config.Labels \"$STANDIN_LABEL\"}}" "$image" 2>/dev/null)" || have=""
    if [[ $have == "$stamp" ]]; then
        present "$image" "stand-in: $(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.description"}}' "$image")"
        return
    fi
    rootfs="localhost/portcullis-standin/$name-rootfs:$rootfs_stamp"
    if ! docker image inspect "$rootfs" >/dev/null 2>&1; then
        tar="$STANDINS_DIR/$name-rootfs.tar"
        log "mmdebstrap $suite with $packages for the $image stand-in (once, a few minutes)"
        rm -f "$tar"
        as_root nice -n 10 mmdebstrap --quiet --variant=apt --format=tar --include="$packages" \
            --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' "$@" \
            "$suite" "$tar" "$STANDIN_MIRROR" >"$STANDINS_DIR/$name-mmdebstrap.log" 2>&1 ||
            die "mmdebstrap failed for the $image stand-in, see $STANDINS_DIR/$name-mmdebstrap.log"
        docker import "$tar" "$rootfs" >/dev/null || die "docker import of $tar failed"
        rm -f "$tar"
    fi
    sed -i "s|^FROM @ROOTFS@\$|FROM $rootfs|" "$context/Dockerfile"
    # The classic builder: FROM is a local image, nothing is pulled, and no buildx plugin is needed.
    DOCKER_BUILDKIT=0 docker build --label "$STANDIN_LABEL=$stamp" -t "$image" "$context" \
        >"$STANDINS_DIR/$name-build.log" 2>&1 ||
        die "building the $image stand-in failed, see $STANDINS_DIR/$name-build.log"
    # Earlier rootfs images of this stand-in are no longer needed.
    local old
    while read -r old; do
        [[ $old == "$rootfs" ]] || docker image rm "$old" >/dev/null 2>&1 || true
    done < <(docker image ls --format '{{.Repository}}:{{.Tag}}' "localhost/portcullis-standin/$name-rootfs")
    installed "$image" "stand-in: $(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.description"}}' "$image")"
}

standin_registry() {
    local image="$1" ctx="$STANDINS_DIR/registry"
    [[ $image == registry:2 || $image == registry:2.* ]] ||
        die "compose.yaml's registry is $image; the stand-in (Debian docker-registry, distribution 2.8) fits registry:2.x only"
    rm -rf "$ctx" && mkdir -p "$ctx"
    # The official registry:2 image's /etc/docker/registry/config.yml.
    cat >"$ctx/config.yml" <<'EOF'
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
EOF
    cat >"$ctx/Dockerfile" <<EOF
FROM @ROOTFS@
COPY config.yml /etc/docker/registry/config.yml
VOLUME ["/var/lib/registry"]
EXPOSE 5000
ENTRYPOINT ["/usr/bin/docker-registry", "serve"]
CMD ["/etc/docker/registry/config.yml"]
LABEL org.opencontainers.image.title="stand-in for $image" \\
      org.opencontainers.image.description="Debian bookworm docker-registry (distribution 2.8) + wget, built by pipelines/compose-smoke.sh; not the Docker Hub image"
EOF
    standin_build registry "$image" bookworm docker-registry,wget "$ctx"
}

standin_postgres() {
    local image="$1" ctx="$STANDINS_DIR/postgres" major suite
    [[ $image =~ ^postgres:([0-9]+)([.-]|$) ]] || die "cannot tell the PostgreSQL major version from $image"
    major="${BASH_REMATCH[1]}"
    suite="$(postgres_suite "$major")"
    rm -rf "$ctx" && mkdir -p "$ctx"
    install -m 0755 "$PORTCULLIS_ROOT/pipelines/lib/standin-postgres-entrypoint.sh" "$ctx/docker-entrypoint.sh"
    cat >"$ctx/Dockerfile" <<EOF
FROM @ROOTFS@
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/$major/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PGDATA=/var/lib/postgresql/data
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
LABEL org.opencontainers.image.title="stand-in for $image" \\
      org.opencontainers.image.description="Debian $suite postgresql-$major, built by pipelines/compose-smoke.sh; not the Docker Hub image"
EOF
    # Debian's package makes a cluster "main" on install; the entrypoint makes its own in PGDATA.
    standin_build postgres "$image" "$suite" "postgresql-$major" "$ctx" \
        --customize-hook="rm -rf \"\$1/etc/postgresql/$major\" \"\$1/var/lib/postgresql/$major\""
}
