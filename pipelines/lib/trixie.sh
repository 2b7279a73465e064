# shellcheck shell=bash
# pipelines/lib/trixie.sh: pinned tools taken from Debian trixie's (or sid's) packages, on a
# bookworm machine, without touching the system's apt sources or state.
#
# Source it after lib/common.sh. Provides:
#   fetch_debian_deb SUITE PKG VERSION SHA256
#                                         downloads that exact .deb from SUITE (trixie, sid) into a
#                                         fresh folder, checks its sha256, name and version, and
#                                         prints its path
#   install_debian_file SUITE PKG VERSION SHA256 FILE DEST
#                                         installs FILE (a path inside the package, usr/bin/cosign)
#                                         as the executable DEST, with a stamp file beside it
#   install_trixie_file PKG VERSION SHA256 FILE DEST   the same from trixie
#   trixie_is_current DEST VERSION SHA256 DEST is there, executable and from that pin (any suite)
# Each suite's package lists and cache live in .work/tools/SUITE-apt; nothing is installed.

DEBIAN_MIRROR="http://deb.debian.org/debian"
TRIXIE_ARCH="amd64"

fetch_debian_deb() {
    local suite="$1" pkg="$2" version="$3" sha256="$4" arch
    case $suite in
        trixie | sid) ;;
        *) die "fetch_debian_deb: unknown suite $suite (trixie or sid)" ;;
    esac
    local source="deb $DEBIAN_MIRROR $suite main" apt_dir="$PORTCULLIS_WORK/tools/$suite-apt"
    # Debian's archive keys, named so that a machine whose apt trusts other keys (an Ubuntu
    # runner with the debian-archive-keyring package) checks Debian's lists too.
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    if [[ -f $keyring ]]; then source="deb [signed-by=$keyring] $DEBIAN_MIRROR $suite main"; fi
    arch="$(dpkg --print-architecture)"
    [[ $arch == "$TRIXIE_ARCH" ]] || die "the $pkg pin is for $TRIXIE_ARCH, this machine is $arch: add a pin for it"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    printf '%s\n' "$source" >"$apt_dir/sources.list"
    # APT::Sandbox::User=root because _apt cannot write into .work.
    local -a apt=(
        apt-get -q
        -o "Dir::Etc::sourcelist=$apt_dir/sources.list"
        -o "Dir::Etc::sourceparts=-"
        -o "Dir::State::Lists=$apt_dir/lists"
        -o "Dir::Cache=$apt_dir/cache"
        -o "APT::Sandbox::User=root"
    )
    local dl="$apt_dir/download-$pkg"
    rm -rf "$dl" && mkdir -p "$dl"
    log "fetching $pkg $version from: $source" >&2
    "${apt[@]}" update >/dev/null || die "apt-get update of the private $suite sources failed"
    if ! (cd "$dl" && "${apt[@]}" download "$pkg:$TRIXIE_ARCH=$version" >/dev/null); then
        die "cannot download the pinned $pkg $version from $suite (has $suite moved on? see:" \
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

install_debian_file() {
    local suite="$1" pkg="$2" version="$3" sha256="$4" file="$5" dest="$6" deb root
    deb="$(fetch_debian_deb "$suite" "$pkg" "$version" "$sha256")"
    root="$(dirname "$deb")/root"
    dpkg-deb -x "$deb" "$root"
    [[ -x $root/$file ]] || die "$(basename "$deb") has no executable $file"
    mkdir -p "$(dirname "$dest")"
    install -m 0755 "$root/$file" "$dest.new"
    mv -f "$dest.new" "$dest"
    rm -rf "$(dirname "$deb")"
    printf '%s %s\n' "$version" "$sha256" >"$(_trixie_stamp "$dest")"
}

install_trixie_file() { install_debian_file trixie "$@"; }

trixie_is_current() {
    local stamp
    stamp="$(_trixie_stamp "$1")"
    [[ -x $1 && -f $stamp && "$(<"$stamp")" == "$2 $3" ]]
}
