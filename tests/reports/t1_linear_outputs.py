"""A small derivatives dataset on the real t1-linear grid (Colin27), written without ANTs.

Colin27 resampled onto Clinica's 169x208x179 crop grid plays the real T1w-nce; the T1w-ce is
that image with enhancement added in a shell at the brain's edge (dura, sinuses) and, in
``lesion`` sessions, a bright blob deep in the white matter; the synthetic image is the nce with
a little noise (or the ce itself when ``translation_failed``). Masks, tissue maps, volumes, the
flip-sd map, sidecars and the logs are written with the participant level's file names, so the
reports and the group level read them as they read a real run.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.processing import resample_from_to
from scipy import ndimage

from ce2nce_pipeline import __version__
from ce2nce_pipeline.science.templates import CROP_AFFINE, CROP_SHAPE

from ..conftest import require_colin27

SP = "space-MNI152NLin2009cSym"


@lru_cache(maxsize=1)
def colin_on_crop_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Colin27 on the t1-linear grid, its brain mask and a 3-class tissue map."""
    image = resample_from_to(nib.load(require_colin27()), (CROP_SHAPE, CROP_AFFINE), order=1)
    data = np.clip(np.asarray(image.dataobj, dtype=np.float32), 0, None)
    smooth = ndimage.gaussian_filter(data, 2)
    head = smooth > 0.35 * np.percentile(smooth, 99)
    brain = ndimage.binary_erosion(ndimage.binary_fill_holes(head), iterations=8)
    labels, count = ndimage.label(brain)
    brain = labels == (1 + int(np.argmax(ndimage.sum(brain, labels, range(1, count + 1)))))
    inside = data[brain]
    low, high = np.percentile(inside, [30, 65])
    tissues = np.where(brain, np.where(data < low, 3, np.where(data < high, 1, 2)), 0)
    return data, brain, tissues.astype(np.uint8)


def _save(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, CROP_AFFINE), str(path))


def _volumes(path: Path, labels: np.ndarray, scale: float = 1.0, gm_factor: float = 1.0) -> None:
    gm, wm, csf = (float(np.sum(labels == v)) / 1000 * scale for v in (1, 2, 3))
    gm *= gm_factor
    path.write_text(
        f"GM_cm3\tWM_cm3\tCSF_cm3\tTIV_cm3\n{gm}\t{wm}\t{csf}\t{gm + wm + csf}\n", encoding="utf-8"
    )


def _real(folder: Path, stem: str, data: np.ndarray, brain, tissues, scale: float) -> None:
    _save(data, folder / f"{stem}_{SP}_res-1x1x1_desc-Crop_T1w.nii.gz")
    (folder / f"{stem}_{SP}_res-1x1x1_desc-Crop_T1w.json").write_text(
        json.dumps({"ProcessingSoftwareVersions": {"ce2nce": __version__, "ANTsPy": "0.6.3"}})
    )
    _save(brain.astype(np.uint8), folder / f"{stem}_{SP}_res-1x1x1_desc-brain_mask.nii.gz")
    _save(tissues, folder / f"{stem}_{SP}_res-1x1x1_dseg.nii.gz")
    _volumes(folder / f"{stem}_{SP}_res-1x1x1_volumes.tsv", tissues, scale)


def write_session(
    output_dir: Path,
    sub: str,
    ses: str | None = "M000",
    *,
    real_nce: bool = True,
    lesion: bool = False,
    translation_failed: bool = False,
    synthetic_gm_factor: float = 1.0,
    seed: int = 0,
) -> str:
    """One session: a real nce (optional), a ce and its synthetic image; returns the ce stem."""
    data, brain, tissues = colin_on_crop_grid()
    rng = np.random.default_rng(seed)
    folder = Path(output_dir) / f"sub-{sub}" / (f"ses-{ses}" if ses else "") / "anat"
    base = f"sub-{sub}" + (f"_ses-{ses}" if ses else "")
    ce_stem = f"{base}_ce-gadolinium"
    scale = 1.0 + 0.02 * seed
    if real_nce:
        _real(folder, base, data, brain, tissues, scale)
    shell = brain & ~ndimage.binary_erosion(brain)
    enhancement = np.where(shell, 0.15 * np.percentile(data, 99), 0.0).astype(np.float32)
    if lesion:
        deep = np.zeros(data.shape, bool)
        deep[55:85, 95:125, 85:110] = True
        enhancement[deep & (tissues == 2)] = 0.8 * np.percentile(data, 99)
    ce = data + enhancement
    _real(folder, ce_stem, ce, brain, tissues, scale * 0.97)
    noise = rng.normal(0, 0.01 * np.percentile(data, 99), data.shape).astype(np.float32)
    synthetic = ce if translation_failed else np.clip(data + noise, 0, None)
    prefix = folder / f"{ce_stem}_{SP}"
    _save(synthetic.astype(np.float32), Path(f"{prefix}_res-1x1x1_desc-synthetic_T1w.nii.gz"))
    model = {"Architecture": "AttUNet", "Checkpoint": "w.safetensors", "WeightsSha256": "a" * 64}
    Path(f"{prefix}_res-1x1x1_desc-synthetic_T1w.json").write_text(
        json.dumps({"TranslationModel": model, "ProcessingSoftwareVersions": {"ce2nce": "x"}})
    )
    _save(brain.astype(np.uint8), Path(f"{prefix}_res-1x1x1_desc-union_mask.nii.gz"))
    _save(brain.astype(np.uint8), Path(f"{prefix}_res-1x1x1_desc-syntheticbrain_mask.nii.gz"))
    _save(tissues, folder / f"{ce_stem}_{SP}_res-1x1x1_desc-synthetic_dseg.nii.gz")
    _volumes(Path(f"{prefix}_res-1x1x1_desc-synthetic_volumes.tsv"), tissues, scale,
             synthetic_gm_factor)  # fmt: skip
    sd = np.abs(noise) * (3.0 if lesion else 0.5)
    _save(sd.astype(np.float32), folder / f"{ce_stem}_{SP}_res-1x1x1_desc-flipsd_T1w.nii.gz")
    return ce_stem


def write_logs(output_dir: Path, *, version: str = __version__, crash_for: str = "") -> None:
    """dataset_description.json, a run's settings, CITATION.md and optionally a crash file."""
    output_dir = Path(output_dir)
    (output_dir / "dataset_description.json").write_text(json.dumps({
        "Name": "ce2nce outputs", "BIDSVersion": "1.10.0", "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "ce2nce", "Version": version}],
    }))  # fmt: skip
    logs = output_dir / "logs"
    logs.mkdir(exist_ok=True)
    (logs / "ce2nce_20260101-000000_abc_config.toml").write_text(
        'analysis_level = "participant"\nnprocs = 2\n[translation]\nmodel = "default"\n'
    )
    (logs / "CITATION.md").write_text("Results included in this manuscript come from ce2nce.\n")
    if crash_for:
        (logs / "crash-20260101-000000-root-translate-1.txt").write_text(
            f"Node: translate\nWorking directory: /work/{crash_for}_wf\n\nTraceback:\n"
            "ce2nce_pipeline.errors.InvalidInputError: the image is constant\n"
        )
