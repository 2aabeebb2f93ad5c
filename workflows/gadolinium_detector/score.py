"""Score the shipped gadolinium detector on labelled images: confusion table and per-image TSV.

    python score.py --real-pairs PAIRS_TSV --split test [--table TSV] [--source real]
    python score.py --bids BIDS_DIR --work WORK_DIR [--table TSV]

``--real-pairs``: both t1-linear images of every pair of ``--split`` (comma-separated; the test
split is scored once, after fit.py chose everything); a pairs table of simulated images in the
same format (``--source`` names them in the table) is scored the same way. ``--bids``: every
T1w image of a BIDS dataset (e.g. the demo's, ``ce2nce simulate``), labelled by its ``ce-``
entity only (sidecars are not read), put through t1-linear
(``ce2nce_pipeline.science.t1_linear``, cached in WORK_DIR). Prints the confusion table
(docs/gadolinium_detector.md) and, with ``--table``, writes the per-image table.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import nibabel as nib
from common import confusion_lines, real_pair_images, score_rows, with_features, write_rows

from ce2nce_pipeline.science.gadolinium import FEATURES, default_detector


def bids_images(bids_dir: Path, work_dir: Path) -> list[dict]:
    """Every ``*_T1w.nii.gz`` of ``bids_dir`` put through t1-linear, labelled by ``_ce-``."""
    from ce2nce_pipeline.science.t1_linear import t1_linear

    work_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for raw in sorted(bids_dir.glob("sub-*/**/anat/*_T1w.nii.gz")):
        target = work_dir / raw.name.replace(".nii.gz", "_t1_linear.nii.gz")
        if not target.exists():
            with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
                image, _ = t1_linear(raw, Path(scratch))
                nib.save(image, target)
        name = raw.name.removesuffix(".nii.gz")
        rows.append({"image": name, "source": "bids", "split": bids_dir.name,
                     "label": int("_ce-" in raw.name), "path": target})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-pairs", type=Path)
    parser.add_argument("--split", default="test", help="split(s), comma-separated")
    parser.add_argument("--source", default="real", help="name of the pairs' images")
    parser.add_argument("--bids", type=Path)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--table", type=Path)
    args = parser.parse_args()
    if bool(args.real_pairs) == bool(args.bids):
        parser.error("give --real-pairs or --bids")
    if args.bids and not args.work:
        parser.error("--bids needs --work (where the t1-linear images are cached)")
    if args.real_pairs:
        rows = real_pair_images(args.real_pairs, set(args.split.split(",")), args.source)
        title = f"{args.split} split of {args.real_pairs.name}"
    else:
        rows = bids_images(args.bids, args.work)
        title = f"T1w images of {args.bids}"
    detector = default_detector()
    rows = score_rows(with_features(rows), detector)
    print(f"threshold {detector.threshold:.3f}")
    print("\n".join(confusion_lines(rows, title)))
    seconds = [r["seconds"] for r in rows]
    print(f"\nper image (read, placement check, features): max {max(seconds):.2f} s")
    for row in rows:
        p = "n/a" if row["probability"] is None else f"{row['probability']:.3f}"
        print(f"{row['image']}\tlabel {row['label']}\tprobability {p}\t{row['reason'] or ''}")
    if args.table:
        write_rows(rows, args.table, tuple(FEATURES))


if __name__ == "__main__":
    main()
