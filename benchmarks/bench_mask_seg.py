"""Time and peak memory of the brain-mask and segmentation backends on one t1-linear image.

Each backend runs in a fresh child process (so that its peak resident memory is its own),
pinned to ``--cores`` CPU cores, on Colin27 placed on the t1-linear grid (or ``--image``).
Masks are compared with the ``template`` mask and, where available, HD-BET and deepbet.

Usage::

    python benchmarks/bench_mask_seg.py [--cores 2] [--image t1linear.nii.gz] [--refine]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

logger = logging.getLogger("bench_mask_seg")
COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")


def _child(kind: str, backend: str, image_path: str, out_path: str, refine: bool) -> None:
    """Run one backend and write ``{"seconds": ...}`` to stdout as JSON."""
    import nibabel as nib

    image = nib.load(image_path)
    start = time.perf_counter()
    if kind == "mask":
        from ce2nce_pipeline.science.brain_mask import compute_brain_mask

        nib.save(compute_brain_mask(image, backend, device="cpu"), out_path)
        extra = {}
    else:
        from ce2nce_pipeline.science.segmentation import AtroposSettings, segment_ants

        mask = nib.load(out_path) if Path(out_path).is_file() else None
        maps = segment_ants(image, mask, AtroposSettings(refine_priors=refine))
        extra = {key.lower(): round(value, 1) for key, value in maps.volumes().as_dict().items()}
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sys.stdout.write(json.dumps({"seconds": seconds, "peak_mb": peak_mb, **extra}) + "\n")


def _run(kind: str, backend: str, image: Path, out: Path, cores: int, refine: bool) -> dict:
    environment = dict(
        os.environ,
        ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=str(cores),
        OMP_NUM_THREADS=str(cores),
        MKL_NUM_THREADS=str(cores),
    )
    command = [sys.executable, __file__, "--child", kind, backend, str(image), str(out)]
    if refine:
        command.append("--refine")
    if hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))[:cores]
        command = ["taskset", "-c", ",".join(map(str, available)), *command]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _colin27_t1_linear(folder: Path) -> Path:
    import nibabel as nib

    from ce2nce_pipeline.science.t1_linear import template_image
    from ce2nce_pipeline.science.templates import CROP_AFFINE, CROP_SHAPE, place_on_grid

    path = folder / "colin27_t1linear.nii.gz"
    data = place_on_grid(nib.load(COLIN27), CROP_SHAPE, CROP_AFFINE)
    nib.save(template_image(data, CROP_AFFINE), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--image", type=Path, help="image on the t1-linear grid")
    parser.add_argument("--refine", action="store_true", help="also time SyN-refined priors")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.child:
        _child(*args.child, refine="--refine" in sys.argv)
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import nibabel as nib
    import numpy as np

    from ce2nce_pipeline.science.brain_mask import MASK_BACKENDS, backend_available
    from ce2nce_pipeline.science.volumes import dice

    with tempfile.TemporaryDirectory(prefix="bench_mask_seg_") as folder:
        work = Path(folder)
        image = args.image or _colin27_t1_linear(work)
        rows, masks = [], {}
        for backend in MASK_BACKENDS:
            if not backend_available(backend):
                rows.append((f"mask {backend}", "not installed", "", ""))
                continue
            out = work / f"mask_{backend}.nii.gz"
            result = _run("mask", backend, image, out, args.cores, False)
            if "error" in result:
                rows.append((f"mask {backend}", result["error"], "", ""))
                continue
            masks[backend] = np.asarray(nib.load(out).dataobj) > 0
            volume = f"{masks[backend].sum() / 1000:.0f} cm3"
            rows.append((f"mask {backend}", f"{result['seconds']:.1f}", f"{result['peak_mb']:.0f}",
                         volume))  # fmt: skip
        variants = [False, True] if args.refine else [False]
        for refine in variants:
            result = _run("seg", "ants", image, work / "mask_template.nii.gz", args.cores, refine)
            label = "seg ants" + (" + SyN priors" if refine else "")
            if "error" in result:
                rows.append((label, result["error"], "", ""))
                continue
            volumes = " ".join(f"{k.upper()} {result[k]}" for k in ("gm", "wm", "csf", "tiv"))
            rows.append((label, f"{result['seconds']:.1f}", f"{result['peak_mb']:.0f}", volumes))
        lines = [f"{'backend':<28}{'s/image':>10}{'peak MB':>10}  result", "-" * 90]
        lines += [f"{name:<28}{sec:>10}{mem:>10}  {note}" for name, sec, mem, note in rows]
        names = sorted(masks)
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                lines.append(f"Dice {first} / {second}: {dice(masks[first], masks[second]):.3f}")
        logger.info("cores: %d, image: %s\n%s", args.cores, image, "\n".join(lines))


if __name__ == "__main__":
    main()
