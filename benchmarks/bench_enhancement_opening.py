"""CPU cost of the enhancement opening on one t1-linear image (169×208×179).

    python benchmarks/bench_enhancement_opening.py [CROP.nii.gz] [--repeats 3]

Times :func:`ce2nce_pipeline.science.enhancement_opening.remove_enhancement` (what the
Predictor runs after the network with ``enhancement_opening``) on a t1-linear crop — by default
Colin27 placed on the t1-linear grid (it is in MNI space) — and prints the CPU seconds of the
first call (which also builds the cached template regions) and the median of the calls after
it, with the share of voxels changed. Numbers are documented in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import nibabel as nib
import numpy as np

from ce2nce_pipeline.science.enhancement_opening import remove_enhancement
from ce2nce_pipeline.science.templates import CROP_AFFINE, CROP_SHAPE, place_on_grid

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crop", type=Path, nargs="?")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.crop:
        data = nib.load(args.crop).get_fdata(dtype=np.float32)
    else:
        data = np.asarray(place_on_grid(nib.load(COLIN27), CROP_SHAPE, CROP_AFFINE), np.float32)
    times = []
    for _ in range(args.repeats + 1):
        start = time.process_time()
        opened = remove_enhancement(data)
        times.append(time.process_time() - start)
    changed = float(np.mean(opened != data)) * 100
    print("| image | first call (CPU s) | next calls, median (CPU s) | voxels changed (%) |")
    print("|---|---|---|---|")
    name = args.crop.name if args.crop else "Colin27 on the t1-linear grid"
    print(f"| {name} | {times[0]:.2f} | {statistics.median(times[1:]):.2f} | {changed:.2f} |")


if __name__ == "__main__":
    main()
