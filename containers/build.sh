#!/usr/bin/env bash
# Build the CPU image of ce2nce with podman, with no registry and no network inside the build:
#   1. a Debian 12 base image made by debootstrap (python3 3.11, Colin27), imported into podman;
#   2. the wheels of ce2nce's pinned dependencies, fetched here with pip (the host's pip
#      configuration, its CPU torch included);
#   3. podman build --network none --build-arg BASE_IMAGE=<1> --build-arg WHEELS=local.
# Steps 1 and 2 are cached in $CE2NCE_CONTAINER_CACHE (default ~/.cache/ce2nce/containers): the
# base image as a tarball, the wheels in one folder per version of setup.cfg and pyproject.toml;
# podman keeps the image layers, so a second build reinstalls only what changed.
#
# Usage: containers/build.sh [IMAGE]        (default localhost/ce2nce:latest)
# Environment: PYTHON (a Python 3.11 with pip, default python3), DEBIAN_MIRROR, CONTAINERS_CONF.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMAGE=${1:-localhost/ce2nce:latest}
CACHE=${CE2NCE_CONTAINER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ce2nce/containers}
BASE_IMAGE=localhost/ce2nce-base:bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PYTHON=${PYTHON:-python3}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/containers/containers.conf}

say() { printf 'container build: %s\n' "$*" >&2; }
fail() { say "error: $*"; exit 1; }

for tool in podman debootstrap; do
    command -v "$tool" >/dev/null \
        || fail "$tool is missing: apt-get install podman runc debootstrap (make container-deps)"
done
mkdir -p "$CACHE"

base_image() {
    local tarball=$CACHE/base-bookworm.tar
    if podman image exists "$BASE_IMAGE"; then
        say "base image $BASE_IMAGE: cached"
        return
    fi
    if [ ! -s "$tarball" ]; then
        say "base image: debootstrap bookworm from $MIRROR (about 2 minutes)"
        local rootfs=$CACHE/rootfs.partial
        rm -rf "$rootfs"
        debootstrap --variant=minbase --include=python3,python3-venv,mricron-data \
            bookworm "$rootfs" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
            || fail "debootstrap failed (no network to $MIRROR?): see $CACHE/debootstrap.log"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -cf "$tarball.partial" . && mv "$tarball.partial" "$tarball"
        rm -rf "$rootfs"
    fi
    podman import --quiet "$tarball" "$BASE_IMAGE" >/dev/null
    say "base image $BASE_IMAGE: imported from $tarball"
}

# The requirements of the image: setup.cfg's pins and the build requirements of pyproject.toml.
requirements() {
    "$PYTHON" - "$ROOT" <<'EOF'
import configparser, sys, tomllib
from pathlib import Path
root = Path(sys.argv[1])
config = configparser.ConfigParser()
config.read(root / "setup.cfg")
print(config["options"]["install_requires"].strip())
print("\n".join(tomllib.loads((root / "pyproject.toml").read_text())["build-system"]["requires"]))
EOF
}

wheels() {
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
        || fail "the image runs Python 3.11 and $PYTHON is not: give PYTHON=python3.11"
    local key folder
    key=$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)
    folder=$CACHE/wheels-$key
    if ! ls "$folder"/*.whl >/dev/null 2>&1; then
        say "wheels: fetching the pinned dependencies into $folder"
        rm -rf "$folder.partial"
        requirements >"$CACHE/requirements-$key.txt"
        "$PYTHON" -m pip wheel --quiet --progress-bar off -w "$folder.partial" \
            -r "$CACHE/requirements-$key.txt" 2>"$CACHE/wheels.log" \
            || fail "cannot fetch the wheels (no network?) and none are cached: see $CACHE/wheels.log"
        mv "$folder.partial" "$folder"
    else
        say "wheels: cached in $folder"
    fi
    # The build context's wheel folder: hard links (a copy across file systems).
    rm -f "$ROOT"/containers/wheels/*.whl
    cp -l "$folder"/*.whl "$ROOT/containers/wheels/" 2>/dev/null \
        || cp "$folder"/*.whl "$ROOT/containers/wheels/"
}

SECONDS=0
base_image
say "base image ready after ${SECONDS} s"
wheels
say "wheels ready after ${SECONDS} s"
podman build --network none --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg WHEELS=local \
    -t "$IMAGE" "$ROOT"
say "image $IMAGE built after ${SECONDS} s"
