# shellcheck shell=bash
# pipelines/lib/trixie.sh: pinned tools taken from Debian trixie's packages, on a bookworm machine,
# without touching the system's apt sources or state.
#
# Source it after lib/common.sh. Provides:
#   fetch_trixie_deb PKG VERSION SHA256   downloads that exact .deb into a fresh folder, checks its
#                                         sha256, name and version, and prints its path
#   install_trixie_file PKG VERSION SHA256 FILE DEST
#                                         installs FILE (a path inside the package, usr/bin/cosign)
#                                         as the executable DEST, with a stamp file beside it
#   trixie_is_current DEST VERSION SHA256 DEST is there, executable and from that pin
# Trixie's package lists and cache live in .work/tools/trixie-apt; nothing is installed.

TRIXIE_SOURCE="deb http://deb.debian.org/debian trixie main"
TRIXIE_APT="$PORTCULLIS_WORK/tools/trixie-apt"
TRIXIE_ARCH="amd64"

fetch_trixie_deb() {
    local pkg="$1" version="$2" sha256="$3" arch
    arch="$(dpkg --print-architecture)"
    [[ $arch == "$TRIXIE_ARCH" ]] || die "the $pkg pin is for $TRIXIE_ARCH, this machine is $arch: add a pin for it"
    mkdir -p "$TRIXIE_APT/lists/partial" "$TRIXIE_APT/cache/archives/partial"
    printf '%s\n' "$TRIXIE_SOURCE" >"$TRIXIE_APT/sources.list"
    # APT::Sandbox::User=root because _apt cannot write into .work.
    local -a apt=(
        apt-get -q
        -o "Dir::Etc::sourcelist=$TRIXIE_APT/sources.list"
        -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=$TRIXIE_APT/lists"
        -o "Dir::Cache=$TRIXIE_APT/cache"
        -o "APT::Sandbox::User=root"
    )
    local dl="$TRIXIE_APT/download-$pkg"
    rm -rf "$dl" && mkdir -p "$dl"
    log "fetching $pkg $version from: $TRIXIE_SOURCE" >&2
    "${apt[@]}" update >/dev/null || die "apt-get update of the private trixie sources failed"
    if ! (cd "$dl" && "${apt[@]}" download "$pkg:$TRIXIE_ARCH=$version" >/dev/null); then
        die "cannot download the pinned $pkg $version from trixie (has trixie moved on? see:" \
            "apt-cache policy $pkg with the same private config); update its pin in $0"
    fi
    local -a debs=("$dl/${pkg}_"*"_$TRIXIE_ARCH.deb")
    [[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || die "expected one $pkg .deb in $dl"
    local deb="${debs[0]}" sum
    sum="$(sha256sum "$deb" | cut -d' ' -f1)"
    [[ $sum == "$sha256" ]] || die "sha256 mismatch for $(basename "$deb"): got $sum, pinned $sha256"
    [[ "$(dpkg-deb -f "$deb" Package)" == "$pkg" && "$(dpkg-deb -f "$deb" Version)" == "$version" ]] ||
        die "$(basename "$deb") is not $pkg $version"
    printf '%s\n' "$deb"
}

# The stamp that records which pin DEST came from.
_trixie_stamp() { printf '%s/.%s.stamp\n' "$(dirname "$1")" "$(basename "$1")"; }

install_trixie_file() {
    local pkg="$1" version="$2" sha256="$3" file="$4" dest="$5" deb root
    deb="$(fetch_trixie_deb "$pkg" "$version" "$sha256")"
    root="$(dirname "$deb")/root"
    dpkg-deb -x "$deb" "$root"
    [[ -x $root/$file ]] || die "$(basename "$deb") has no executable $file"
    mkdir -p "$(dirname "$dest")"
    install -m 0755 "$root/$file" "$dest.new"
    mv -f "$dest.new" "$dest"
    rm -rf "$(dirname "$deb")"
    printf '%s %s\n' "$version" "$sha256" >"$(_trixie_stamp "$dest")"
}

trixie_is_current() {
    local stamp
    stamp="$(_trixie_stamp "$1")"
    [[ -x $1 && -f $stamp && "$(<"$stamp")" == "$2 $3" ]]
}
