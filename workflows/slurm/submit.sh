#!/usr/bin/env bash
# Run ce2nce on a whole BIDS dataset on a SLURM cluster with the Apptainer image:
# one array job over the participants (a few participants per task), then one group job that
# starts when every task has ended (docs/containers.md, "A whole dataset on a cluster").
#
#   workflows/slurm/submit.sh BIDS_DIR OUTPUT_DIR ce2nce.sif [PARTICIPANTS_PER_TASK]
#
# Environment: WORK_ROOT (scratch for the nipype work folders, default OUTPUT_DIR/../work),
# MAX_RUNNING (array tasks at once, default 100), SBATCH_EXTRA (e.g. "--account=x -p cpu"),
# DEVICE (auto; with a GPU partition add "--gres=gpu:1" to SBATCH_EXTRA).
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 BIDS_DIR OUTPUT_DIR ce2nce.sif [PARTICIPANTS_PER_TASK]" >&2
    exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
BIDS=$(realpath "$1")
OUT=$(realpath -m "$2")
SIF=$(realpath "$3")
PER_TASK=${4:-10}
WORK_ROOT=$(realpath -m "${WORK_ROOT:-$OUT/../work}")
MAX_RUNNING=${MAX_RUNNING:-100}
[ -f "$BIDS/dataset_description.json" ] || { echo "$BIDS is not a BIDS dataset" >&2; exit 1; }
[ -f "$SIF" ] || { echo "$SIF: no such image (docs/containers.md builds it)" >&2; exit 1; }
mkdir -p "$OUT/logs/slurm" "$WORK_ROOT"

# Validate the dataset once here, not in every task (each task then skips the validation).
apptainer exec --cleanenv -B "$BIDS:/bids:ro" "$SIF" bids-validator-deno /bids >"$OUT/logs/slurm/validator.txt" \
    || { echo "the BIDS validator reports errors: $OUT/logs/slurm/validator.txt" >&2; exit 1; }

LIST=$OUT/logs/slurm/participants.txt
find "$BIDS" -mindepth 1 -maxdepth 1 -type d -name 'sub-*' -printf '%f\n' | sort >"$LIST"
N=$(wc -l <"$LIST")
[ "$N" -gt 0 ] || { echo "no sub-* folder in $BIDS" >&2; exit 1; }
TASKS=$(( (N + PER_TASK - 1) / PER_TASK ))

export CE2NCE_BIDS=$BIDS CE2NCE_OUT=$OUT CE2NCE_SIF=$SIF CE2NCE_WORK_ROOT=$WORK_ROOT
export CE2NCE_LIST=$LIST CE2NCE_PER_TASK=$PER_TASK CE2NCE_DEVICE=${DEVICE:-auto}
# shellcheck disable=SC2086
array=$(sbatch --parsable ${SBATCH_EXTRA:-} --array="1-$TASKS%$MAX_RUNNING" \
    --output="$OUT/logs/slurm/participant_%A_%a.log" --export=ALL "$HERE/participant.sbatch")
# afterany: the group level runs even if some tasks failed; it names the missing participants.
# shellcheck disable=SC2086
group=$(sbatch --parsable ${SBATCH_EXTRA:-} --dependency="afterany:${array%%;*}" \
    --output="$OUT/logs/slurm/group_%j.log" --export=ALL "$HERE/group.sbatch")
echo "ce2nce: $N participants in $TASKS array tasks (job $array), then the group level (job $group)"
