"""Score settings of the enhancement opening on real pairs whose T1w-nce is known.

    python opening_sweep.py PAIRS_TSV [--split train --split validation] [--out TSV]

For each setting of ``ce2nce_pipeline.science.enhancement_opening`` below, the opening alone (no
network) is applied to each pair's t1-linear T1w-ce and to its T1w-nce; prints, per setting, the
means over the pairs of the MAE against the T1w-nce, the enhancement removed (white-matter
units) and the T1w-nce in -> out MAE (what the opening takes from an image without
gadolinium), as score_pairs.py computes them. Only for training and validation pairs.
"""

import argparse
import csv
from dataclasses import asdict
from pathlib import Path

import nibabel as nib
import numpy as np

from ce2nce_pipeline.science.enhancement_opening import OpeningSettings, remove_enhancement
from ce2nce_pipeline.science.enhancement_removal import (
    intensity_brain,
    pair_scores,
    robust_mae_percent,
)

SETTINGS = (
    OpeningSettings(),
    OpeningSettings(radius_voxels=3),
    OpeningSettings(min_excess=0.2),
    OpeningSettings(grow_voxels=0),
    OpeningSettings(above_white_matter=1.1),
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs_tsv", type=Path)
    parser.add_argument("--split", action="append", choices=("train", "validation"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    splits = args.split or ["train", "validation"]
    with open(args.pairs_tsv, newline="") as stream:
        rows = [r for r in csv.DictReader(stream, delimiter="\t") if r["split"] in splits]
    load = lambda p: nib.load(args.pairs_tsv.parent / p).get_fdata(dtype=np.float32)  # noqa
    images = [(row["pair_id"], load(row["nce"]), load(row["ce"])) for row in rows]
    results = []
    for settings in SETTINGS:
        scores = []
        for _, nce, ce in images:
            brain = intensity_brain(nce, ce)
            score = pair_scores(nce, ce, remove_enhancement(ce, settings), brain)
            in_out = robust_mae_percent(nce, remove_enhancement(nce, settings), brain)
            scores.append(
                (score["mae_ce"], score["mae_synthetic"], score["removed_synthetic"], in_out)
            )
        means = np.nanmean(np.array(scores), axis=0)
        result = asdict(settings) | dict(
            zip(
                ("mae_ce", "mae_opened", "removed_opened", "nce_in_out"),
                means.round(2),
                strict=True,
            )
        )
        results.append(result)
        print("\t".join(f"{k}={v}" for k, v in result.items()), flush=True)
    if args.out:
        with open(args.out, "w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=list(results[0]), delimiter="\t")
            writer.writeheader()
            writer.writerows(results)


if __name__ == "__main__":
    main()
