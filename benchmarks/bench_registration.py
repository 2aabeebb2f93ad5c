"""Cost and agreement of cheaper affine registrations against t1-linear's (Clinica's) one.

For each head (Colin27 by default, or N4-corrected images given as arguments), optionally
tilted by ``--tilt`` degrees (pitch, as oblique clinical series are), registers it to the
template with:

- ``clinica``: ``antsRegistrationSyNQuick[a]``, Clinica's t1-linear (rigid then affine, shrink
  8x4x2x1, 1000x500x250x0 iterations), ce2nce's ``clinica`` schedule;
- ``affine-8x4``: one affine stage (ANTsPy ``Affine``), shrink 8x4, 1000x500 iterations;
- ``fast``: t1-linear's default schedule (``science.t1_linear.FAST_LEVELS``): the same two
  stages, the rigid one stopped after shrink 4, the affine one given 20 iterations at shrink 2
  and none at full resolution.

Prints the core-seconds (one ITK thread) and the RMS distance (mm) between where each
registration and the ``clinica`` one send the points of the template's brain mask.

    .venv/bin/python benchmarks/bench_registration.py [--tilt 25] [N4_IMAGE ...]

Numbers are documented in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
from pathlib import Path

os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")

import ants  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

from ce2nce_pipeline.science import t1_linear  # noqa: E402
from ce2nce_pipeline.science.templates import registration_template  # noqa: E402

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
KINDS = ("clinica", "affine-8x4", "fast")


def _core_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def register(kind: str, fixed, moving, mask, folder: Path) -> Path:
    prefix = str(folder / f"{kind}_")
    ants.config._random_seed = t1_linear.REGISTRATION_SEED
    if kind == "fast":
        seed = t1_linear.REGISTRATION_SEED
        return Path(t1_linear._fast_stages(moving, fixed, mask, prefix, seed))
    settings = (
        {"type_of_transform": t1_linear.REGISTRATION_TRANSFORM}
        if kind == "clinica"
        else {
            "type_of_transform": "Affine",
            "aff_iterations": (1000, 500),
            "aff_shrink_factors": (8, 4),
            "aff_smoothing_sigmas": (3, 2),
            "aff_random_sampling_rate": 0.25,
        }
    )
    result = ants.registration(fixed=fixed, moving=moving, mask=mask, outprefix=prefix, **settings)
    return Path(result["fwdtransforms"][0])


def tilted(image, degrees: float):
    if not degrees:
        return image
    data = ndimage.rotate(image.numpy(), degrees, axes=(1, 2), reshape=False, order=1)
    return ants.from_numpy(
        data.astype("float32"),
        origin=image.origin,
        spacing=image.spacing,
        direction=image.direction,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "images", nargs="*", type=Path, help="N4-corrected heads (default: Colin27)"
    )
    parser.add_argument("--tilt", type=float, default=0.0, help="pitch added to each head (deg)")
    parser.add_argument(
        "--kinds",
        nargs="+",
        default=list(KINDS),
        choices=KINDS,
        help="registrations to run (clinica, the reference, always runs first)",
    )
    args = parser.parse_args()
    template, mask = registration_template()
    points = nib.affines.apply_affine(
        template.affine, np.argwhere(np.asarray(mask.dataobj) > 0)[::50]
    )
    print(f"{'head':28s} {'registration':18s} {'core-s':>7s} {'RMS vs clinica mm':>18s}")
    for path in args.images or [None]:
        with tempfile.TemporaryDirectory() as folder_name:
            folder = Path(folder_name)
            nib.save(template, folder / "t.nii.gz")
            nib.save(mask, folder / "m.nii.gz")
            fixed = ants.image_read(str(folder / "t.nii.gz"))
            fixed_mask = ants.image_read(str(folder / "m.nii.gz"))
            if path is None:
                moving = t1_linear.n4_bias_correction(ants.image_read(str(COLIN27)))
                name = "Colin27"
            else:
                moving = ants.image_read(str(path))
                name = "/".join(
                    part for part in (path.parent.parent.name, path.parent.name) if part
                )
            moving = tilted(moving, args.tilt)
            reference = None
            for kind in ["clinica", *(kind for kind in args.kinds if kind != "clinica")]:
                start = _core_seconds()
                transform = register(kind, fixed, moving, fixed_mask, folder)
                seconds = _core_seconds() - start
                moved = t1_linear.ras_points_through_transform(transform, points)
                reference = moved if reference is None else reference
                rms = float(np.sqrt(((moved - reference) ** 2).sum(axis=1).mean()))
                print(f"{name[:28]:28s} {kind:18s} {seconds:7.1f} {rms:18.2f}")


if __name__ == "__main__":
    main()
