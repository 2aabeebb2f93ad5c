"""Brain-mask volume of Colin27 after the real t1-linear, against its own brain extraction.

Colin27's T1w (Debian ``mricron-data`` ``ch2.nii.gz``) goes through ce2nce's t1-linear
(:func:`ce2nce_pipeline.science.t1_linear.t1_linear`: N4, affine registration, crop); its
shipped brain extraction ``ch2bet.nii.gz`` (same grid) is carried into t1-linear space by the
same affine (linear interpolation of its mask, thresholded at 0.5). Each mask backend then masks
the t1-linear T1w; the table gives its volume, its Dice with ch2bet's, and its time.

Usage::

    python benchmarks/bench_mask_tiv.py [--backends hdbet template deepbet] [--work DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
COLIN27_BET = Path("/usr/share/mricron/templates/ch2bet.nii.gz")


def main() -> None:
    import ants

    from ce2nce_pipeline.science.brain_mask import backend_available, compute_brain_mask
    from ce2nce_pipeline.science.t1_linear import crop_to_clinica_box, t1_linear, template_image
    from ce2nce_pipeline.science.templates import MNI2009C_AFFINE, registration_template

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["hdbet", "template", "deepbet"])
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_mask_tiv."))
    cropped, transform = t1_linear(COLIN27, work)
    nib.save(registration_template()[0], work / "template.nii.gz")
    template = ants.image_read(str(work / "template.nii.gz"))
    bet = nib.load(COLIN27_BET)
    bet_mask = nib.Nifti1Image((np.asarray(bet.dataobj) > 0).astype(np.float32), bet.affine)
    nib.save(bet_mask, work / "ch2bet_mask.nii.gz")
    moved = ants.apply_transforms(
        fixed=template,
        moving=ants.image_read(str(work / "ch2bet_mask.nii.gz")),
        transformlist=[str(transform)],
        interpolator="linear",
    )
    ants.image_write(moved, str(work / "ch2bet_registered.nii.gz"))
    registered = np.asarray(nib.load(work / "ch2bet_registered.nii.gz").dataobj)
    reference = (
        np.asarray(crop_to_clinica_box(template_image(registered, MNI2009C_AFFINE)).dataobj) >= 0.5
    )
    voxel_cm3 = abs(np.linalg.det(bet.affine[:3, :3])) / 1000
    native_cm3 = (np.asarray(bet.dataobj) > 0).sum() * voxel_cm3
    registered_cm3 = reference.sum() / 1000
    print(f"ch2bet native: {native_cm3:.0f} cm3; t1-linear space: {registered_cm3:.0f} cm3")
    print("| backend | seconds | volume (cm3) | / ch2bet | Dice with ch2bet |")
    print("|---|---|---|---|---|")
    for backend in args.backends:
        if not backend_available(backend):
            print(f"| {backend} | not installed | | | |")
            continue
        start = time.perf_counter()
        mask = np.asarray(compute_brain_mask(cropped, backend, device="cpu").dataobj) > 0
        seconds = time.perf_counter() - start
        dice = 2 * (mask & reference).sum() / (mask.sum() + reference.sum())
        print(
            f"| {backend} | {seconds:.1f} | {mask.sum() / 1000:.0f} | "
            f"{mask.sum() / reference.sum():.3f} | {dice:.3f} |"
        )


if __name__ == "__main__":
    main()
