#!/usr/bin/env bash
# Re-train ce2nce's previous default model, trained on simulated pairs only, from scratch
# (docs/default_model.md, "The previous default"):
#
#   bash workflows/default_model/build.sh
#   bash workflows/default_model/build.sh --max-minutes 60   # training in resumable chunks
#
# 1. simulate 176 training/validation pairs (Colin27) and 30 held-out pairs (MNI152) on the
#    t1-linear grid; 2. train (resumes a run found in work/default_model/run); 3. evaluate the
#    best checkpoint on the held-out pairs; 4. package it into work/default_model/packaged (a checkpoint for --model; the shipped default
#    is packaged by workflows/full_resolution_model/package_default.sh).
# Arguments are passed to ce2nce-train. Every step keeps what an earlier call finished.
set -euo pipefail

# Seconds spent training, summed over every call of a resumed run (last column of log.tsv).
training_seconds() {
    awk -F'\t' 'NR > 1 { total += $NF } END { printf "%d", total }' "$work/run/log.tsv"
}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work="$root/work/default_model"
bin=${CE2NCE_BIN:-$root/.venv/bin}

"$bin/ce2nce" training-set "$work/data" --processes "${CE2NCE_PROCESSES:-2}"
"$bin/ce2nce-train" "$here/train.toml" --no-progress "$@"
if [ ! -f "$work/run/model_card.md" ]; then
    echo "training not finished yet: run the same command again to resume"
    exit 0
fi
"$bin/ce2nce-evaluate" "$here/evaluate_good.toml"
"$bin/ce2nce-evaluate" "$here/evaluate_low.toml"
"$bin/ce2nce" package-default-model "$work/run/best" --target "$work/packaged" \
    --warning "Trained on simulated gadolinium enhancement only: this model has never seen a real contrast-enhanced image." \
    --evaluation "Test_good=$work/evaluation/test_good" \
    --evaluation "Test_low=$work/evaluation/test_low" \
    --data "simulated pairs on the t1-linear grid: 160 training + 16 validation pairs from Colin27 (with and without skull, 30 % low quality, 20 % lesions), ce2nce training-set defaults" \
    --notes "Trained on $(nproc) CPU core(s) or a GPU as available: $(training_seconds) s of training over all calls (log.tsv)"
