#!/usr/bin/env bash
# deploy/base-image.sh — makes sure the base image of deploy/Dockerfile exists, without an image
# registry: when the image named by BASE is missing, builds a minimal Debian 12 (bookworm) root
# filesystem with debootstrap from this machine's apt mirror and imports it into Docker.
#
#   deploy/base-image.sh                      # BASE=gregor/debian:bookworm-local
#   BASE=debian:bookworm-slim deploy/base-image.sh
#
# Environment (all optional):
#   BASE     the image to provide (default gregor/debian:bookworm-local).  A name under gregor/
#            is built here with debootstrap; any other name (debian:bookworm-slim, ...) is
#            pulled from its registry, the ordinary route for machines that can reach one.
#   MIRROR   the Debian mirror debootstrap downloads from (default: the first bookworm mirror
#            of /etc/apt/sources.list(.d), else http://deb.debian.org/debian)
#   SECURITY_MIRROR  where the image's apt finds bookworm-security (default: the one of
#            /etc/apt/sources.list(.d); none if it names none)
#   SUITE    the Debian suite (default bookworm)
#
# Nothing is cached in the repository: the root filesystem is built in a temporary directory
# that is removed afterwards; the result lives only in Docker's image store
# (`docker rmi gregor/debian:bookworm-local` to build it again).
set -euo pipefail

BASE=${BASE:-gregor/debian:bookworm-local}
SUITE=${SUITE:-bookworm}

say() { echo "base-image: $*"; }
die() {
    echo "base-image: $*" >&2
    exit 1
}

command -v docker >/dev/null || die "docker is not installed (make docker-deps installs it)"

if docker image inspect "$BASE" >/dev/null 2>&1; then
    say "$BASE is present"
    exit 0
fi

if [[ $BASE != gregor/* ]]; then
    say "$BASE is missing: pulling it"
    docker pull "$BASE" ||
        die "cannot pull $BASE; without a registry use the default BASE=gregor/debian:bookworm-local"
    exit 0
fi

SUDO=""
[[ $(id -u) == 0 ]] || SUDO=sudo

# The mirror this machine's apt uses for suite $1 (deb822 .sources files first, then one-line
# sources.list entries); prints nothing if none names it.
find_mirror() {
    local suite=$1 f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        # deb822 stanzas: take the URIs of a stanza whose Suites name the plain suite
        uri=$(awk -v suite="$suite" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uris = ""; ok = 0; types = 0
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); uris = $i }
                    if ($i ~ /^Types:/ && $i ~ /(^|[ \t])deb([ \t]|$)/) types = 1
                    if ($i ~ /^Suites:/) {
                        n = split($i, s, /[ \t]+/)
                        for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1
                    }
                }
                if (ok && types && uris != "") { split(uris, u, /[ \t]+/); print u[1]; exit }
            }' "$f")
        if [[ -n $uri ]]; then
            echo "$uri"
            return
        fi
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        uri=$(awk -v suite="$suite" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit }
            }' "$f")
        if [[ -n $uri ]]; then
            echo "$uri"
            return
        fi
    done
}

MIRROR=${MIRROR:-$(find_mirror "$SUITE")}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-$(find_mirror "$SUITE-security")}

if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq debootstrap >/dev/null
fi

ROOTFS=$(mktemp -d /tmp/gregor-rootfs.XXXXXX)
cleanup() { $SUDO rm -rf --one-file-system "$ROOTFS"; }
trap cleanup EXIT

say "$BASE is missing: building a $SUITE root filesystem from $MIRROR (debootstrap, minbase)"
start=$SECONDS
if ! $SUDO debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1; then
    tail -n 30 "$ROOTFS.log" >&2
    rm -f "$ROOTFS.log"
    die "debootstrap failed"
fi
rm -f "$ROOTFS.log"

# What an image needs and a plain debootstrap tree lacks or should not keep: the apt lists and
# downloaded packages (the Dockerfile runs apt-get update itself), logs, machine identity.
$SUDO rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
    "$ROOTFS"/var/log/*.log "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/etc/machine-id
$SUDO touch "$ROOTFS"/etc/machine-id
# Documentation, manual pages and translations go, as in Debian's -slim images (copyright
# files stay); the dpkg configuration below keeps later installs from bringing them back.
$SUDO find "$ROOTFS"/usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
$SUDO find "$ROOTFS"/usr/share/doc -mindepth 1 -type d -empty -delete
$SUDO rm -rf "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/usr/share/locale/*
# The image's apt sources: the main archive and its updates, and security updates when this
# machine's apt has them.
{
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    [[ -z $SECURITY_MIRROR ]] || echo "deb $SECURITY_MIRROR $SUITE-security main"
} | $SUDO tee "$ROOTFS"/etc/apt/sources.list >/dev/null
# apt inside image builds, as in Docker's debian images: no recommends, no package caches
# (pkgcache.bin and srcpkgcache.bin alone are 70 MB), no downloaded .deb left behind.
$SUDO tee "$ROOTFS"/etc/apt/apt.conf.d/90gregor-image >/dev/null <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
EOF
$SUDO tee "$ROOTFS"/etc/dpkg/dpkg.cfg.d/90gregor-image >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF

$SUDO tar --numeric-owner --xattrs -C "$ROOTFS" -c . |
    docker import -c 'CMD ["bash"]' -m "debootstrap --variant=minbase $SUITE $MIRROR" - "$BASE" \
        >/dev/null
say "imported $BASE in $((SECONDS - start)) s ($(docker image inspect -f '{{.Size}}' "$BASE" |
    awk '{printf "%.1f MB", $1 / 1e6}'))"
