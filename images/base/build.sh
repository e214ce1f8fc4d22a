#!/usr/bin/env bash
# Build the local Debian base image that every kdlab Dockerfile starts FROM.
#
# There is no container registry to pull from, so the base is made here:
# debootstrap a minimal Debian suite into a scratch directory and `docker import`
# it under the tag the Dockerfiles name. Where a registry exists, the same tag can
# be pulled instead and this script is not needed.
#
# Usage: images/base/build.sh [SUITE] [TAG]     (defaults: trixie, kdlab/debian:trixie)
set -euo pipefail

suite="${1:-trixie}"
tag="${2:-kdlab/debian:${suite}}"
mirror="${KDLAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "base image $tag already present"
    exit 0
fi
if ! command -v debootstrap >/dev/null; then
    echo "debootstrap is missing: install it (apt-get install debootstrap) and run again" >&2
    exit 1
fi

root="$(mktemp -d /var/tmp/kdlab-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
echo "debootstrap $suite (minbase) into $root ..."
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
    tail -20 "$root.log" >&2
    exit 1
}
rm -f "$root.log"
# Same sources layout as Debian's official images, plus backports (linux-source-7.3).
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: $suite $suite-updates $suite-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
# As in Debian's official images: dpkg need not fsync every file in an image build
# (the layer is committed afterwards anyway; this saves minutes on overlay storage),
# and apt fetches no translations.
echo 'force-unsafe-io' >"$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
echo "docker import as $tag ..."
tar -C "$root" -c . | docker import -c 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "base image $tag ready"
