"""Segmenting a synthetic image from its T1w-ce's tissue maps instead of from the template.

For each t1-linear T1w-ce given, makes its synthetic T1w-nce with the shipped model and the
HD-BET masks of both (as the participant level does; kept in ``--work`` for re-runs), segments
the T1w-ce, then the synthetic image from scratch (the default: template priors, 3 iterations)
and from the T1w-ce's tissue maps (Atropos initialised and constrained by the T1w-ce's
posteriors instead of the template priors, the template filling in outside the T1w-ce's mask)
with 1 to 3 iterations, or with the posteriors as initialisation only (prior weight 0).
Prints the core-seconds of each synthetic segmentation (one ITK thread), the Dice of each
tissue's labels and each volume's change against the from-scratch one, and, as the scale of
what the product measures, the same change of the T1w-ce's own volumes.

    .venv/bin/python benchmarks/bench_synthetic_segmentation.py CE_T1_LINEAR [...] [--work DIR]

Numbers are documented in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")

import nibabel as nib  # noqa: E402

from ce2nce_pipeline.science import segmentation  # noqa: E402
from ce2nce_pipeline.science.brain_mask import compute_brain_mask  # noqa: E402
from ce2nce_pipeline.science.segmentation import (  # noqa: E402
    AtroposSettings,
    TissueMaps,
    segment_ants,
)
from ce2nce_pipeline.science.templates import tissue_priors  # noqa: E402
from ce2nce_pipeline.science.volumes import dice  # noqa: E402

#: (name, settings, start from the T1w-ce's maps)
OPTIONS = (
    ("from scratch (default)", AtroposSettings(), False),
    ("from the ce, 1 iteration", AtroposSettings(iterations=1), True),
    ("from the ce, 2 iterations", AtroposSettings(iterations=2), True),
    ("from the ce, 3 iterations", AtroposSettings(), True),
    ("from the ce, 1 it., weight 0", AtroposSettings(iterations=1, prior_weight=0.0), True),
)
TISSUES = ((1, "gm"), (2, "wm"), (3, "csf"))


def _core_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _inputs(ce_path: Path, work: Path) -> tuple[nib.Nifti1Image, ...]:
    """The T1w-ce, its synthetic image and their HD-BET masks (made once, kept in ``work``)."""
    stem = f"{ce_path.parent.name}_{ce_path.name.split('.')[0]}"
    files = {kind: work / f"{stem}_{kind}.nii.gz" for kind in ("syn", "ce_mask", "syn_mask")}
    ce = nib.load(ce_path)
    if not files["syn"].exists():
        from ce2nce_pipeline.models import Predictor
        from ce2nce_pipeline.models.default import default_model_path

        predictor = Predictor.from_checkpoint(str(default_model_path()), device="cpu")
        nib.save(predictor.predict(ce), files["syn"])
    syn = nib.load(files["syn"])
    for image, kind in ((ce, "ce_mask"), (syn, "syn_mask")):
        if not files[kind].exists():
            nib.save(compute_brain_mask(image, "hdbet", device="cpu"), files[kind])
    return ce, syn, nib.load(files["ce_mask"]), nib.load(files["syn_mask"])


def _segment_from(
    image: nib.Nifti1Image, mask: nib.Nifti1Image, settings: AtroposSettings, ce: TissueMaps
) -> TissueMaps:
    """Atropos with the T1w-ce's posteriors as priors (template priors outside its mask)."""
    posteriors = (ce.gm, ce.wm, ce.csf)
    covered = np.sum(posteriors, axis=0) > 0
    priors = [
        np.where(covered, post, prior).astype(np.float32)
        for post, prior in zip(posteriors, tissue_priors(), strict=True)
    ]
    brain = np.asarray(mask.dataobj) != 0
    data = np.asarray(image.dataobj, dtype=np.float32)
    with tempfile.TemporaryDirectory() as folder:
        maps = segmentation._run_atropos(data, brain, priors, image.affine, settings, Path(folder))
    gm, wm, csf = (np.clip(p, 0.0, 1.0) * brain for p in maps)
    return TissueMaps(gm=gm, wm=wm, csf=csf, affine=image.affine)


def _agreement(maps: TissueMaps, reference: TissueMaps) -> str:
    labels, volumes = maps.labels(), maps.volumes()
    ref_labels, ref_volumes = reference.labels(), reference.volumes()
    return " ".join(
        f"{tissue}: Dice {dice(labels == code, ref_labels == code):.3f} "
        f"dV {100 * (getattr(volumes, tissue) / getattr(ref_volumes, tissue) - 1):+.2f} %"
        for code, tissue in TISSUES
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", type=Path, help="t1-linear T1w-ce images")
    parser.add_argument("--work", type=Path, help="keep synthetic images and masks here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="ce2nce_bench_synseg_"))
    work.mkdir(parents=True, exist_ok=True)
    for path in args.images:
        name = path.parent.name[:24] or path.name[:24]
        ce, syn, ce_mask, syn_mask = _inputs(path, work)
        ce_maps = segment_ants(ce, ce_mask)
        reference = None
        for label, settings, from_ce in OPTIONS:
            start = _core_seconds()
            if from_ce:
                maps = _segment_from(syn, syn_mask, settings, ce_maps)
            else:
                maps = segment_ants(syn, syn_mask, settings)
            seconds = _core_seconds() - start
            reference = reference or maps
            print(f"{name:24s} {label:30s} {seconds:5.1f} s  {_agreement(maps, reference)}")
        print(f"{name:24s} {'(T1w-ce, own mask)':30s} {'':5s}    {_agreement(ce_maps, reference)}")


if __name__ == "__main__":
    main()
