"""Wall time and peak memory of t1-linear (N4 + affine registration + crop) per real 1 mm head.

Each image runs in a fresh process so that its peak resident memory is its own. Prints a table.

    .venv/bin/python benchmarks/bench_t1_linear.py [--threads 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

WORKER = r"""
import json, os, resource, sys, time, tempfile
from pathlib import Path
import ants, nibabel as nib
from ce2nce_pipeline.science.t1_linear import (
    crop_to_clinica_box, n4_bias_correction, register_affine,
)
from ce2nce_pipeline.science.templates import registration_template
tmp = Path(tempfile.mkdtemp())
template, mask = registration_template()
nib.save(template, tmp / "t.nii.gz"); nib.save(mask, tmp / "m.nii.gz")
fixed, fixed_mask = ants.image_read(str(tmp / "t.nii.gz")), ants.image_read(str(tmp / "m.nii.gz"))
start = time.perf_counter()
corrected = n4_bias_correction(ants.image_read(sys.argv[1]))
n4 = time.perf_counter() - start
warped = register_affine(corrected, fixed, fixed_mask, tmp / "affine.mat")
registration = time.perf_counter() - start - n4
ants.image_write(warped, str(tmp / "w.nii.gz"))
crop_to_clinica_box(nib.load(tmp / "w.nii.gz"))
total = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"n4": n4, "registration": registration, "total": total, "peak_mib": peak}))
"""


def heads() -> dict[str, Path]:
    from ce2nce_pipeline.science.templates import nilearn_template_path

    return {
        "Colin27 (1 mm, with skull)": Path("/usr/share/mricron/templates/ch2.nii.gz"),
        "MNI152 2009a (1 mm, brain)": nilearn_template_path(),
    }


def run_one(path: Path, threads: int) -> dict[str, float]:
    env = dict(os.environ, ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=str(threads))
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", WORKER, str(path)], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if completed.returncode:
        raise RuntimeError(completed.stderr[-2000:])
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["process_wall"] = wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="ITK threads (default 2)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(f"t1-linear per image, {args.threads} ITK thread(s), {os.cpu_count()} CPU(s)")
    print(f"{'image':30s} {'N4 s':>7s} {'reg s':>7s} {'total s':>8s} {'peak MiB':>9s}")
    for name, path in heads().items():
        for _ in range(args.repeat):
            r = run_one(path, args.threads)
            print(
                f"{name:30s} {r['n4']:7.1f} {r['registration']:7.1f} {r['total']:8.1f} "
                f"{r['peak_mib']:9.0f}"
            )


if __name__ == "__main__":
    main()
