"""Seconds per image of the gadolinium detector (read the t1-linear image, check, score).

    python benchmarks/bench_gadolinium_detector.py [T1_LINEAR_IMAGE ...] [--repeat 3]

Without images, times the ICBM 2009a template on the t1-linear grid. Prints, per image, the
first call (which also loads the template and priors, once per process) and the median of the
next ``--repeat`` calls, as wall-clock and CPU seconds (the CPU seconds of one process do not
grow when other jobs share the cores; ``OMP_NUM_THREADS=1`` keeps it to one thread).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

from ce2nce_pipeline.science.gadolinium import detect_gadolinium  # noqa: E402
from ce2nce_pipeline.science.templates import (  # noqa: E402
    CROP_AFFINE,
    CROP_SHAPE,
    template_on_grid,
)


def _once(path: Path) -> tuple[float, float, float | None]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = detect_gadolinium(np.asarray(nib.load(path).dataobj, dtype=np.float32))
    return time.perf_counter() - wall, time.process_time() - cpu, result.probability


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", type=Path, nargs="*")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        images = args.images
        if not images:
            images = [Path(scratch) / "template.nii.gz"]
            nib.save(nib.Nifti1Image(template_on_grid(CROP_SHAPE, CROP_AFFINE), CROP_AFFINE),
                     images[0])  # fmt: skip
        print("| image | first call wall (s) | first call CPU (s) | next calls wall (s) "
              "| next calls CPU (s) | probability |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- |")
        for path in images:
            first = _once(path)
            rest = [_once(path) for _ in range(args.repeat)]
            wall = statistics.median(r[0] for r in rest)
            cpu = statistics.median(r[1] for r in rest)
            p = "n/a" if first[2] is None else f"{first[2]:.3f}"
            print(f"| {path.parent.name}/{path.name} | {first[0]:.2f} | {first[1]:.2f} | "
                  f"{wall:.2f} | {cpu:.2f} | {p} |")  # fmt: skip


if __name__ == "__main__":
    main()
