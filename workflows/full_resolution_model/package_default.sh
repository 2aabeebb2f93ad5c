#!/usr/bin/env bash
# Package the shipped default model from the kept enhancement-map chunk (docs/default_model.md):
#
#   make default-model        # or: bash workflows/full_resolution_model/package_default.sh
#
# 1. the simulated held-out pairs (20 good and 10 low quality, MNI152 base, held-out seeds) on
#    the t1-linear grid (ce2nce training-set; its training split, one pair, is not used);
# 2. the chunk re-saved as a candidate with its change region (the network's change kept
#    intracranial, chosen on the simulated validation head with its skull);
# 3. ce2nce-evaluate of the candidate on both sets, with the enhancement opening as the
#    participant level runs it;
# 4. ce2nce package-default-model with those tables and the held-out real pairs' scores through
#    the participant level (docs/enhancement_map_nce_real_test_participant.tsv, scored once), into
#    ce2nce_pipeline/data/default_model.
# Every step keeps what an earlier call finished. The chunk itself is trained by the recipes of
# workflows/full_resolution_model/experiments/ (docs/full_resolution_model.md).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work="$root/work/default_model"
bin=${CE2NCE_BIN:-$root/.venv/bin}
chunk="$here/runs/enhancement_map_2mm_nce_from_chunk2/best"
data="six real BraTS 2018 training pairs (skull-stripped, 1 mm, through the participant level's t1-linear) and four simulated Colin27 pairs (with and without skull, two series each), target the real T1w-nce; validation: two real and two simulated pairs"

"$bin/ce2nce" training-set "$work/data" --n-train 1 --n-validation 1 --n-test-good 20 \
    --n-test-low 10 --processes "${CE2NCE_PROCESSES:-2}"
"$bin/ce2nce" package-default-model "$chunk" --change-region intracranial \
    --data "$data" --target "$work/candidate"
for quality in good low; do
    if [ ! -f "$work/evaluation/enhancement_map_test_$quality/per_pair.tsv" ]; then
        "$bin/ce2nce-evaluate" "$here/evaluate_default_$quality.toml"
    fi
done
"$bin/ce2nce" package-default-model "$chunk" --change-region intracranial \
    --evaluation "Test_good=$work/evaluation/enhancement_map_test_good" \
    --evaluation "Test_low=$work/evaluation/enhancement_map_test_low" \
    --real-pairs "$root/docs/enhancement_map_nce_real_test_participant.tsv" \
    --data "$data" \
    --notes "Trained on one CPU thread in three chunks: enhancement_map_2mm, enhancement_map_2mm_chunk2 (target the T1w-ce without its enhancement), enhancement_map_2mm_nce_from_chunk2 (target the T1w-nce); the weights went through 2,930 steps of 64 mm cubes (910 + 1,100 + 920, best epochs), 7,070 were run; logs in workflows/full_resolution_model/runs/"
