#!/usr/bin/env bash
# Train a full-resolution translation model on real and simulated pairs
# (docs/full_resolution_model.md):
#
#   make full-resolution-model                                 # the whole recipe
#   bash workflows/full_resolution_model/build.sh --max-minutes 30   # training in chunks
#
# 1. simulate 24 pairs from the training heads (Colin27 with and without skull) as two series
#    each (own acquisition for the nce, rigid motion of the ce), in native space, and keep 16 of
#    them (12 train, 4 validation: the t1-linear of all 24 did not fit the 2-core budget);
# 2. run every image of the simulated pairs and of the real pairs (REAL_PAIRS_BIDS, default the
#    twelve BraTS 2018 pairs of ../shared/data/brats18-pairs) through the participant level's own
#    t1-linear, with the subject splits below (chosen before training, never changed);
# 3. train on the train split, choosing the epoch on the validation split (resumes a run found in
#    work/full_resolution_model/run);
# 4. score the best checkpoint once on the real test subjects through the whole participant
#    level (t1-linear, translation, HD-BET masks, segmentation) and package it with that table
#    into work/full_resolution_model/packaged (a checkpoint for --model; it replaces the
#    shipped default only by hand, once its tables beat the default's).
# Arguments are passed to ce2nce-train. Every step keeps what an earlier call finished.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work="$root/work/full_resolution_model"
bin=${CE2NCE_BIN:-$root/.venv/bin}
real_bids=${REAL_PAIRS_BIDS:-$root/../shared/data/brats18-pairs}
processes=${CE2NCE_PROCESSES:-2}
# Subject splits of the real pairs: two institutions' worth of validation, four test subjects
# from four institutions. Simulated subjects 21-24 validate; the MNI152 head is never used.
real_validation=(sub-TCIA01499 sub-TCIA03265)
real_test=(sub-B2013x20 sub-CBICAALU sub-TCIA02370 sub-TCIA10639)

# Seconds spent training, summed over every call of a resumed run (last column of log.tsv).
training_seconds() {
    awk -F'\t' 'NR > 1 { total += $NF } END { printf "%d", total }' "$work/run/log.tsv"
}

mkdir -p "$work"
if [ ! -f "$work/sim_bids/dataset_description.json" ]; then
    "$bin/ce2nce" simulate "$work/sim_bids" --n-subjects 24 --seed 1000 \
        --base colin27 colin27-brain --low-quality-fraction 0.3 --lesion-probability 0.3 \
        --separate-series --overwrite
fi
"$bin/ce2nce" real-pairs "$work/sim_bids" "$work/sim_pairs" --processes "$processes" \
    --participant-label 01 02 03 04 05 06 07 08 09 10 11 12 21 22 23 24 \
    --validation sub-21 sub-22 sub-23 sub-24
"$bin/ce2nce" real-pairs "$real_bids" "$work/real_pairs" --processes "$processes" \
    --validation "${real_validation[@]}" --test "${real_test[@]}"
"$bin/python" "$here/merge_pairs.py" "$work" "$work/real_pairs/pairs.tsv" "$work/sim_pairs/pairs.tsv"

"$bin/ce2nce-train" "$here/train.toml" --no-progress "$@"
if [ ! -f "$work/run/model_card.md" ]; then
    echo "training not finished yet: run the same command again to resume"
    exit 0
fi

# The test subjects, once, through the whole participant level.
"$bin/ce2nce" "$real_bids" "$work/real_test" participant --model "$work/run/best" \
    --participant-label "${real_test[@]}" -w "$work/real_test_work" --nprocs "$processes"
"$bin/python" "$here/score_derivatives.py" "$work/real_test" --out "$work/real_test_scores.tsv"
"$bin/ce2nce" package-default-model "$work/run/best" --target "$work/packaged" \
    --real-pairs "$work/real_test_scores.tsv" \
    --data "$(wc -l < "$work/pairs.tsv") training/validation pairs (pairs.tsv): real BraTS 2018 pre/post-gadolinium pairs (train: 6 subjects, validation: ${real_validation[*]}) and simulated pairs from Colin27 with and without skull as two series (12 train, 4 validation); held-out test: ${real_test[*]}" \
    --notes "Trained on $(nproc) CPU core(s) or a GPU as available: $(training_seconds) s of training over all calls (log.tsv)"
