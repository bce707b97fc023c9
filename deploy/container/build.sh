#!/usr/bin/env bash
# Builds the Rask OCI image with no base image (see Containerfile):
#
#   deploy/container/build.sh [--release] [--binary PATH] [--tag TAG] [--builder podman|docker|buildah]
#
# --binary takes a binary already built (default: builds `rask`, debug, or
# release with --release); the libraries it links are found with ldd and
# copied from this machine. Prints the tag last.
set -euo pipefail
cd "$(dirname "$0")/../.."

profile=debug
binary=
tag=localhost/rask:latest
builder=${BUILDER:-podman}
while [ $# -gt 0 ]; do
    case "$1" in
        --release) profile=release ;;
        --binary) binary=$2; shift ;;
        --tag) tag=$2; shift ;;
        --builder) builder=$2; shift ;;
        *) echo "build.sh: unknown argument $1" >&2; exit 64 ;;
    esac
    shift
done
if [ -z "$binary" ]; then
    if [ "$profile" = release ]; then
        cargo build -q --release -p rask-cli
    else
        cargo build -q -p rask-cli
    fi
    binary=${CARGO_TARGET_DIR:-target}/$profile/rask
fi

ctx=$(mktemp -d /tmp/rask-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp"
chmod 1777 "$root/tmp"
cp "$binary" "$root/usr/local/bin/rask"
strip --strip-debug "$root/usr/local/bin/rask" 2>/dev/null || true
# The libraries it links, and the loader, at the paths it looks for them.
for lib in $(ldd "$binary" | awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
# Names: /etc/hosts first, then DNS (Kubernetes mounts resolv.conf and hosts).
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
printf 'root:x:0:0::/root:/sbin/nologin\nrask:x:10001:10001::/tmp:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nrask:x:10001:\n' > "$root/etc/group"
cp deploy/container/Containerfile "$ctx/Containerfile"
"$builder" build -q -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
echo "$tag"
