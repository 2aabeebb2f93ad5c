#!/usr/bin/env bash
# make container-test: build the CPU image offline and check that it runs ce2nce as it runs
# outside a container.
#   1. a small BIDS dataset: one Colin27 ce/nce pair at 2 mm (ce2nce simulate --size small);
#   2. the participant and group levels outside the container (the reference), in the
#      background while the image builds;
#   3. the image (containers/build.sh: debootstrapped base, local wheels, cached);
#   4. a build with no package source stops at its first step with one line;
#   5. participant then group levels inside, network off, input read-only, as the calling user;
#   6. a read-only output volume, and an output folder of another user: one line each;
#   7. same files, volumes equal to 0.1 cm3, every output owned by the calling user, input
#      untouched (containers/compare_outputs.py).
# Usage: containers/test.sh     Environment: PYTHON (the Python of the checkout's .venv),
# CE2NCE_CONTAINER_TEST_DIR (kept; default a temporary folder, removed on success).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
IMAGE=localhost/ce2nce:test
WORK=${CE2NCE_CONTAINER_TEST_DIR:-$(mktemp -d /tmp/ce2nce-container-test.XXXXXX)}
CALLER=${SUDO_UID:-$(id -u)}:${SUDO_GID:-$(id -g)}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$ROOT/containers/containers.conf}
# The image's thread settings, so that both runs compute the same way.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

say() { printf 'container test: %s (%d s)\n' "$*" "$SECONDS" >&2; }
fail() { printf 'container test: FAILED: %s\n' "$*" >&2; exit 1; }
ce2nce_here() { PYTHONPATH=$ROOT "$PYTHON" -m ce2nce_pipeline.cli.run "$@"; }
in_container() { podman run --rm --network none "$@"; }

# Runs IMAGE with ARGS, expecting exit code 1 and exactly one line on stderr holding TEXT.
expect_one_line() {
    local text=$1 code=0 err
    shift
    err=$(in_container "$@" 2>&1 >/dev/null) || code=$?
    [ "$code" = 1 ] || fail "expected exit code 1, got $code: $err"
    [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] || fail "expected one line, got: $err"
    [[ $err == *"$text"* ]] || fail "expected '$text', got: $err"
    say "refused in one line: $err"
}

# A build that cannot get packages stops at its first RUN with one line: no network and PyPI
# asked for, or a local wheel folder without wheels.
expect_build_refused() {
    local context=$1 text=$2 log
    shift 2
    log=$WORK/refused-build.log
    if podman build --no-cache --network none --build-arg BASE_IMAGE=localhost/ce2nce-base:bookworm \
        "$@" "$context" >"$log" 2>&1; then
        fail "a build with no package source succeeded ($log)"
    fi
    grep -q "$text" "$log" || fail "the refused build does not say '$text' ($log)"
    grep '^STEP' "$log" | tail -1 | grep -q check_build_sources \
        || fail "the refused build went past its first step ($log)"
    say "build refused at its first step: $(grep "$text" "$log" | head -1)"
}

mkdir -p "$WORK"
SECONDS=0
ce2nce_here simulate "$WORK/bids" --n-subjects 1 --size small --seed 16 >/dev/null 2>&1 \
    || fail "ce2nce simulate failed"
input_checksum=$(cd "$WORK/bids" && find . -type f -exec sha256sum {} + | sort | sha256sum)
say "dataset: one Colin27 ce/nce pair at 2 mm in $WORK/bids"

(
    ce2nce_here "$WORK/bids" "$WORK/out-host" participant --nprocs 2 -w "$WORK/work-host" \
        --mask-backend template \
        && ce2nce_here "$WORK/bids" "$WORK/out-host" group
) >"$WORK/host.log" 2>&1 &
reference=$!

"$ROOT/containers/build.sh" "$IMAGE" >"$WORK/build.log" 2>&1 \
    || { tail -30 "$WORK/build.log" >&2; fail "image build failed ($WORK/build.log)"; }
grep '^container build:' "$WORK/build.log" >&2 || true
say "image $IMAGE built"

expect_build_refused "$ROOT" "cannot reach" --build-arg WHEELS=pypi
empty=$WORK/empty-context
mkdir -p "$empty/containers/wheels"
cp "$ROOT/Dockerfile" "$ROOT/setup.cfg" "$ROOT/pyproject.toml" "$ROOT/README.md" "$empty/"
cp "$ROOT/containers/check_build_sources.sh" "$empty/containers/"
mkdir "$empty/ce2nce_pipeline"
expect_build_refused "$empty" "holds no wheel" --build-arg WHEELS=local

mkdir -p "$WORK/out-container" "$WORK/work-container"
chown "$CALLER" "$WORK/out-container" "$WORK/work-container"
volumes=(-v "$WORK/bids:/bids:ro" -v "$WORK/out-container:/out" -v "$WORK/work-container:/work")
in_container --user "$CALLER" "${volumes[@]}" "$IMAGE" /bids /out participant --nprocs 2 -w /work \
    --mask-backend template \
    >"$WORK/container.log" 2>&1 || { cat "$WORK/container.log" >&2; fail "participant level"; }
say "participant level in the container: $(tail -1 "$WORK/container.log")"
in_container --user "$CALLER" "${volumes[@]}" "$IMAGE" /bids /out group \
    >>"$WORK/container.log" 2>&1 || { cat "$WORK/container.log" >&2; fail "group level"; }
say "group level in the container"
# The two runs use template masks (HD-BET is the dearest step, run by the suite's demo and real
# pair tests); the image's own HD-BET, weights from its wheel and no network, masks the crop.
crop=$(cd "$WORK/out-container" && find . -name '*_ce-*_desc-Crop_T1w.nii.gz' | head -1)
in_container --user "$CALLER" -v "$WORK/out-container:/out:ro" --entrypoint python "$IMAGE" -c \
    "import sys, nibabel as nib; from ce2nce_pipeline.science.brain_mask import hdbet_brain_mask
mask = hdbet_brain_mask(nib.load(sys.argv[1]), device='cpu')
assert 900e3 < mask.sum() < 2200e3, mask.sum()" "/out/$crop" >>"$WORK/container.log" 2>&1 \
    || { tail -20 "$WORK/container.log" >&2; fail "HD-BET in the container"; }
say "HD-BET masks a crop in the container"

mkdir -p "$WORK/out-readonly" "$WORK/out-other"
expect_one_line "OUTPUT_DIR /out is not writable (read-only file system)" --user "$CALLER" \
    -v "$WORK/bids:/bids:ro" -v "$WORK/out-readonly:/out:ro" "$IMAGE" /bids /out participant
chown 0:0 "$WORK/out-other" && chmod 755 "$WORK/out-other"
expect_one_line "OUTPUT_DIR /out is not writable (permission denied)" --user 65534:65534 \
    -v "$WORK/bids:/bids:ro" -v "$WORK/out-other:/out" "$IMAGE" /bids /out participant

wait "$reference" || { cat "$WORK/host.log" >&2; fail "the run outside the container failed"; }
say "reference run outside the container done"
"$PYTHON" "$ROOT/containers/compare_outputs.py" "$WORK/out-host" "$WORK/out-container" \
    --owner "$CALLER" || fail "the container's outputs differ from the reference"
[ "$(cd "$WORK/bids" && find . -type f -exec sha256sum {} + | sort | sha256sum)" = "$input_checksum" ] \
    || fail "the input dataset changed"
say "passed"
[ -n "${CE2NCE_CONTAINER_TEST_DIR:-}" ] || rm -rf "$WORK"
