"""How much of the scored excess brightness any enhancement removal could take away.

    python ceiling.py PAIRS_TSV --split train [--split validation] [--out TSV]

The enhancement removed of score_pairs.py (white-matter units,
ce2nce_pipeline.science.enhancement_removal) is scored where the T1w-ce is brighter than both
white matter and its T1w-nce; what two series registered one at a time and acquired with
different sequences differ by lands there too. This script scores, on pairs whose T1w-nce is
known, syntheses that use that T1w-nce, so no model can do better than them (both images on
their white-matter level, as the full-resolution models see them):

- ``min``: the T1w-ce wherever it is not brighter than the T1w-nce, the T1w-nce elsewhere (every
  bit of the positive difference subtracted, voxel by voxel);
- ``min_smooth``: the positive difference smoothed by a Gaussian of sigma 1 mm, then subtracted
  (what a network whose correction is built at half resolution could at best give);
- ``histogram``: the T1w-ce given the T1w-nce's intensity histogram in the brain (a global,
  monotone intensity change and nothing local);
- ``histogram_min``: both;
- ``min_matched``: the T1w-ce wherever it is not brighter than the T1w-nce given the T1w-ce's
  histogram, that matched T1w-nce elsewhere (an enhancement removed in the T1w-ce's own
  intensities: the training target of ``target = "ce-without-enhancement"``).

Only for training and validation pairs: choosing anything on test pairs would spoil them.
"""

import argparse
import csv
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from ce2nce_pipeline.science.enhancement_removal import intensity_brain, pair_scores
from ce2nce_pipeline.science.enhancement_target import histogram_matched
from ce2nce_pipeline.science.intensity import white_matter_region

SYNTHESES = ("min", "min_smooth", "histogram", "histogram_min", "min_matched")


def on_white_matter(image):
    """``image`` divided by its median in the MNI152 white-matter prior."""
    region = white_matter_region(image.shape) & (image > 0)
    return image / np.median(image[region])


def syntheses(nce, ce):
    """The five syntheses of the module docstring, in the white-matter units of ``ce``."""
    a, b = on_white_matter(nce), on_white_matter(ce)
    brain = ce > 0
    matched = np.where(brain, histogram_matched(b, a, brain), 0.0)
    return {
        "min": np.minimum(b, a),
        "min_smooth": b - ndimage.gaussian_filter(np.maximum(b - a, 0), 1.0),
        "histogram": matched,
        "histogram_min": np.minimum(matched, a),
        "min_matched": np.minimum(b, np.where(brain, histogram_matched(a, b, brain), 0.0)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs_tsv", type=Path)
    parser.add_argument("--split", action="append", choices=("train", "validation"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    splits = args.split or ["train", "validation"]
    with open(args.pairs_tsv, newline="") as stream:
        rows = [r for r in csv.DictReader(stream, delimiter="\t") if r["split"] in splits]
    results = []
    print("pair_id\tsplit\tmae_ce\t" + "\t".join(f"mae_{s}\tremoved_{s}" for s in SYNTHESES))
    for row in rows:
        load = lambda p: nib.load(args.pairs_tsv.parent / p).get_fdata(dtype=np.float32)  # noqa
        nce, ce = load(row["nce"]), load(row["ce"])
        result = {"pair_id": row["pair_id"], "split": row["split"]}
        brain = intensity_brain(nce, ce)
        for name, synthetic in syntheses(nce, ce).items():
            scores = pair_scores(nce, ce, synthetic, brain)
            result["mae_ce"] = scores["mae_ce"]
            result[f"mae_{name}"] = scores["mae_synthetic"]
            result[f"removed_{name}"] = scores["removed_synthetic"]
        results.append(result)
        print("\t".join(f"{v:.1f}" if isinstance(v, float) else v for v in result.values()))
    columns = list(results[0])
    print("mean\t\t" + "\t".join(f"{np.mean([r[c] for r in results]):.1f}" for c in columns[2:]))
    if args.out:
        with open(args.out, "w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=columns, delimiter="\t")
            writer.writeheader()
            writer.writerows(results)


if __name__ == "__main__":
    main()
