"""Score a model on t1-linear pairs the way real pairs are scored (docs/full_resolution_model.md).

    python score_pairs.py PAIRS_TSV --split validation [--model CHECKPOINT] [--out TSV]
        [--output-resampling keep-detail|round-trip] [--enhancement-opening]
        [--change-region everywhere|intracranial]

For each pair of the split, the measures of ``ce2nce_pipeline.science.enhancement_removal``
(those of ../shared/tools/real_pairs_report.py): MAE (%) against the T1w-nce of the T1w-ce, of
the T1w-ce blurred by a Gaussian of sigma 1.5 mm and of the synthetic image (robust min-max
scaling in the brain), and the enhancement removed (%) in white-matter units by the synthetic
image and by the blurred T1w-ce. The brain is the pair's ``nce_mask`` column when the TSV has
one, else where the T1w-nce is above the 5th percentile of its non-zero voxels and the T1w-ce is
non-zero. No segmentation: this is the fast score; the participant-level score with volumes is
score_derivatives.py's. With a model, ``mae_nce_in_out`` is the MAE between a T1w-nce fed to the
model and what comes out (a model that blurs anatomy, or changes what gadolinium did not touch,
shows it here).
"""

import argparse
import csv
from pathlib import Path

import nibabel as nib
import numpy as np

from ce2nce_pipeline.models.predictor import Predictor
from ce2nce_pipeline.science.change_region import CHANGE_REGIONS
from ce2nce_pipeline.science.enhancement_removal import (
    intensity_brain,
    pair_scores,
    robust_mae_percent,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs_tsv", type=Path)
    parser.add_argument("--split", default="validation")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--output-resampling", choices=("keep-detail", "round-trip"))
    parser.add_argument(
        "--enhancement-opening", action=argparse.BooleanOptionalAction, default=False
    )
    parser.add_argument("--change-region", choices=CHANGE_REGIONS)
    args = parser.parse_args()
    predictor = (
        Predictor.from_checkpoint(
            args.model,
            device="cpu",
            num_threads=2,
            output_resampling=args.output_resampling,
            enhancement_opening=args.enhancement_opening,
            change_region=args.change_region,
        )
        if args.model
        else None
    )
    with open(args.pairs_tsv, newline="") as stream:
        rows = [r for r in csv.DictReader(stream, delimiter="\t") if r["split"] == args.split]
    results = []
    for row in rows:
        load = lambda p: nib.load(args.pairs_tsv.parent / p).get_fdata(dtype=np.float32)  # noqa
        nce, ce = load(row["nce"]), load(row["ce"])
        brain = load(row["nce_mask"]) > 0.5 if row.get("nce_mask") else intensity_brain(nce, ce)
        synthetic = predictor.predict_array(ce) if predictor else ce
        result = {"pair_id": row["pair_id"], **pair_scores(nce, ce, synthetic, brain)}
        if predictor:
            result["mae_nce_in_out"] = robust_mae_percent(nce, predictor.predict_array(nce), brain)
        results.append(result)
        print("\t".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in result.values()))
    columns = list(results[0])
    means = {c: float(np.nanmean([r[c] for r in results])) for c in columns[1:]}
    print("mean\t" + "\t".join(f"{means[c]:.2f}" for c in columns[1:]))
    better = sum(r["mae_synthetic"] < r["mae_ce"] for r in results)
    print(f"# {better}/{len(results)} pairs: synthetic MAE below the T1w-ce's")
    if args.out:
        with open(args.out, "w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=columns, delimiter="\t")
            writer.writeheader()
            writer.writerows(results)


if __name__ == "__main__":
    main()
