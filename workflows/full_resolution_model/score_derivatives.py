"""Score the participant level's outputs on real ce/nce pairs (docs/full_resolution_model.md).

    python score_derivatives.py DERIVATIVES_DIR [--subjects sub-A ...] [--out per_pair.tsv]

Per pair, from the cropped t1-linear T1w-nce and T1w-ce, the synthetic T1w-nce, the T1w-nce's
brain mask and the three label maps the participant level wrote — the same files and measures
as ../shared/tools/real_pairs_report.py, computed by ce2nce_pipeline.science.enhancement_removal:
MAE of the ce, of the ce blurred by sigma 1.5 mm and of the synthetic image; enhancement removed
in white-matter units (the T1w-nce's eroded white matter from its labels); then the volume error
sum over GM, WM and CSF of |V - V_nce| (cm3) of the ce and of the synthetic image, each
segmented inside its own brain mask, and the signed CSF error V - V_nce of each. Prints a table
and the means.
"""

import argparse
import csv
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

from ce2nce_pipeline.science.enhancement_removal import pair_scores

CROP = "_space-MNI152NLin2009cSym_res-1x1x1_desc-Crop_T1w.nii.gz"
SYNTHETIC = "_space-MNI152NLin2009cSym_res-1x1x1_desc-synthetic_T1w.nii.gz"
DSEG = "_space-MNI152NLin2009cSym_res-1x1x1{desc}_dseg.nii.gz"
MASK = "_space-MNI152NLin2009cSym_res-1x1x1_desc-brain_mask.nii.gz"
COLUMNS = ["mae_ce", "mae_blurred_ce", "mae_synthetic", "removed_blurred_ce", "removed_synthetic",
           "core_voxels", "dv_ce", "dv_synthetic", "dcsf_ce", "dcsf_synthetic"]  # fmt: skip


def volumes(path):
    image = nib.load(path)
    labels = np.asarray(image.dataobj)
    voxel_cm3 = abs(np.linalg.det(image.affine[:3, :3])) / 1000
    return np.array([(labels == code).sum() * voxel_cm3 for code in (1, 2, 3)])


def score_subject(folder):
    crops = sorted(folder.rglob(f"*{CROP}"))
    nce = next((p for p in crops if "_ce-" not in p.name), None)
    ce = next((p for p in crops if "_ce-" in p.name), None)
    if nce is None or ce is None:
        return None
    stem_nce, stem_ce = nce.name[: -len(CROP)], ce.name[: -len(CROP)]
    synthetic = ce.parent / f"{stem_ce}{SYNTHETIC}"
    if not synthetic.exists():
        return None
    load = lambda p: nib.load(p).get_fdata(dtype=np.float32)  # noqa: E731
    dseg = {
        "nce": nce.parent / f"{stem_nce}{DSEG.format(desc='')}",
        "ce": ce.parent / f"{stem_ce}{DSEG.format(desc='')}",
        "synthetic": ce.parent / f"{stem_ce}{DSEG.format(desc='_desc-synthetic')}",
    }
    mask = nce.parent / f"{stem_nce}{MASK}"
    labels = np.asarray(nib.load(dseg["nce"]).dataobj) if dseg["nce"].exists() else None
    brain = load(mask) > 0.5 if mask.exists() else None
    row = pair_scores(load(nce), load(ce), load(synthetic), brain, labels)
    if all(p.exists() for p in dseg.values()):
        reference = volumes(dseg["nce"])
        for name in ("ce", "synthetic"):
            error = volumes(dseg[name]) - reference
            row[f"dv_{name}"] = float(np.abs(error).sum())
            row[f"dcsf_{name}"] = float(error[2])
    else:
        for column in ("dv_ce", "dv_synthetic", "dcsf_ce", "dcsf_synthetic"):
            row[column] = float("nan")
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("derivatives", type=Path)
    parser.add_argument("--subjects", nargs="*")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    subjects = args.subjects or sorted(
        p.name for p in args.derivatives.glob("sub-*") if p.is_dir()
    )
    columns = COLUMNS
    print("subject\t" + "\t".join(columns))
    rows = []
    for subject in subjects:
        row = score_subject(args.derivatives / subject)
        if row is None:
            print(f"{subject}\tmissing nce, ce or synthetic output", file=sys.stderr)
            continue
        rows.append({"subject": subject, **row})
        print(subject + "\t" + "\t".join(f"{row[c]:.2f}" for c in columns))
    if not rows:
        sys.exit("no scored pair")
    print("mean\t" + "\t".join(f"{np.nanmean([r[c] for r in rows]):.2f}" for c in columns))
    better = sum(r["mae_synthetic"] < r["mae_ce"] for r in rows)
    print(f"# {better}/{len(rows)} pairs: synthetic MAE below the T1w-ce's")
    if args.out:
        with open(args.out, "w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=["subject", *columns], delimiter="\t")
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
