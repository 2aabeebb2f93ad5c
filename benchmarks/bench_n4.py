"""N4 bias correction settings on Colin27: core-seconds, peak memory, difference from Clinica's.

Each setting runs in a fresh process (one ITK thread) so that its peak memory is its own. The
difference is the standard deviation (and 99th percentile) of the voxel-wise ratio between the
corrected images inside Colin27's brain (``ch2bet``), each ratio map divided by its median.

    .venv/bin/python benchmarks/bench_n4.py

Numbers are documented in docs/t1_linear.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
COLIN27_BRAIN = Path("/usr/share/mricron/templates/ch2bet.nii.gz")
#: (fitting distance mm, shrink factor); the first is Clinica 0.12's, the reference.
SETTINGS = ((200, 4), (200, 6), (200, 8), (600, 8))

WORKER = r"""
import json, resource, sys, time
import ants
spline, shrink, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
image = ants.image_read(sys.argv[4]).clone("float")
start = time.process_time()
corrected = ants.n4_bias_field_correction(
    image, shrink_factor=shrink, convergence={"iters": [50, 50, 50, 50], "tol": 0.0},
    spline_param=spline,
)
seconds = time.process_time() - start
ants.image_write(corrected, out)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps({"core_seconds": seconds, "peak_gb": peak}))
"""


def main() -> None:
    env = dict(os.environ, ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS="1")
    brain = np.asarray(nib.load(COLIN27_BRAIN).dataobj) > 0
    results, images = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for spline, shrink in SETTINGS:
            out = Path(folder) / f"n4_{spline}_{shrink}.nii.gz"
            done = subprocess.run(
                [sys.executable, "-c", WORKER, str(spline), str(shrink), str(out), str(COLIN27)],
                env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            results[spline, shrink] = json.loads(done.stdout.strip().splitlines()[-1])
            images[spline, shrink] = nib.load(out).get_fdata(dtype=np.float32)[brain]
    reference = images[SETTINGS[0]]
    print(f"{'N4 setting':24s} {'core-s':>7s} {'peak GB':>8s} {'sd %':>6s} {'p99 %':>6s}")
    for key, result in results.items():
        ratio = images[key] / reference
        deviation = np.abs(ratio / np.median(ratio) - 1)
        print(
            f"{key[0]} mm, shrink {key[1]:<9d} {result['core_seconds']:7.1f} "
            f"{result['peak_gb']:8.2f} {100 * np.std(ratio / np.median(ratio)):6.2f} "
            f"{100 * np.percentile(deviation, 99):6.2f}"
        )


if __name__ == "__main__":
    main()
