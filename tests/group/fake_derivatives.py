"""A small, real derivatives tree with the participant level's file names (20³ images)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

SP = "space-MNI152NLin2009cSym"
SHAPE = (20, 20, 20)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
#: The shipped model, as a sidecar records it: a name and a digest, no path.
MODEL = {"Model": "ce2nce-default", "Architecture": "AttUNet", "WeightsSha256": "a" * 64}
#: A model of the user's: its checkpoint folder, relative to the run's working directory.
OTHER_MODEL = {
    "Model": "res",
    "Checkpoint": "models/res",
    "Architecture": "ResUNet",
    "WeightsSha256": "b" * 64,
}


def labels_with_gm_thickness(thickness: int) -> np.ndarray:
    """Label map: GM in x < thickness, WM in 10 <= x < 15, CSF in 15 <= x < 18."""
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[:thickness] = 1
    labels[10:15] = 2
    labels[15:18] = 3
    return labels


def _save(array: np.ndarray, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, AFFINE), str(path))
    return path


def _volumes(path: Path, gm: float, wm: float, csf: float) -> None:
    path.write_text(
        f"GM_cm3\tWM_cm3\tCSF_cm3\tTIV_cm3\n{gm}\t{wm}\t{csf}\t{gm + wm + csf}\n",
        encoding="utf-8",
    )


def folder_of(output_dir: Path, sub: str, ses: str | None) -> Path:
    folder = Path(output_dir) / f"sub-{sub}"
    return (folder / f"ses-{ses}" if ses else folder) / "anat"


def write_real(
    output_dir: Path,
    src: str,
    *,
    sub: str,
    ses: str | None,
    volumes: tuple[float, float, float] | None = (600.0, 450.0, 250.0),
    labels: np.ndarray | None = None,
    seed: int = 0,
    mask: bool = True,
) -> np.ndarray:
    """Write a real image's t1-linear output, brain mask, dseg and volumes; return the image."""
    folder = folder_of(output_dir, sub, ses)
    rng = np.random.default_rng(seed)
    image = rng.uniform(0.0, 1.0, SHAPE).astype(np.float32)
    _save(image, folder / f"{src}_{SP}_res-1x1x1_desc-Crop_T1w.nii.gz")
    raw = f"bids:raw:sub-{sub}/" + (f"ses-{ses}/" if ses else "") + f"anat/{src}_T1w.nii.gz"
    (folder / f"{src}_{SP}_res-1x1x1_desc-Crop_T1w.json").write_text(
        json.dumps({"Sources": [raw]}), encoding="utf-8"
    )
    if mask:
        brain = np.zeros(SHAPE, dtype=np.uint8)
        brain[3:17, 3:17, 3:17] = 1
        _save(brain, folder / f"{src}_{SP}_res-1x1x1_desc-brain_mask.nii.gz")
    if labels is not None:
        _save(labels.astype(np.uint8), folder / f"{src}_{SP}_res-1x1x1_dseg.nii.gz")
    if volumes is not None:
        _volumes(folder / f"{src}_{SP}_res-1x1x1_volumes.tsv", *volumes)
    return image


def write_synthetic(
    output_dir: Path,
    ce_src: str,
    *,
    sub: str,
    ses: str | None,
    volumes: tuple[float, float, float] | None = (590.0, 455.0, 255.0),
    labels: np.ndarray | None = None,
    model: dict | None = None,
    seed: int = 1,
    union_mask: bool = True,
) -> np.ndarray:
    """Write a synthetic image, its sidecar, own brain mask, dseg, volumes and the union mask.

    ``union_mask`` False: no union mask, as for a session without a real T1w-nce.
    """
    folder = folder_of(output_dir, sub, ses)
    image = np.random.default_rng(seed).uniform(0.0, 1.0, SHAPE).astype(np.float32)
    _save(image, folder / f"{ce_src}_{SP}_res-1x1x1_desc-synthetic_T1w.nii.gz")
    (folder / f"{ce_src}_{SP}_res-1x1x1_desc-synthetic_T1w.json").write_text(
        json.dumps({"TranslationModel": model or MODEL}), encoding="utf-8"
    )
    union = np.zeros(SHAPE, dtype=np.uint8)
    union[2:18, 2:18, 2:18] = 1
    _save(union, folder / f"{ce_src}_{SP}_res-1x1x1_desc-syntheticbrain_mask.nii.gz")
    if union_mask:
        _save(union, folder / f"{ce_src}_{SP}_res-1x1x1_desc-union_mask.nii.gz")
    if labels is not None:
        _save(
            labels.astype(np.uint8), folder / f"{ce_src}_{SP}_res-1x1x1_desc-synthetic_dseg.nii.gz"
        )
    if volumes is not None:
        _volumes(folder / f"{ce_src}_{SP}_res-1x1x1_desc-synthetic_volumes.tsv", *volumes)
    return image


def write_pair_session(
    output_dir: Path,
    sub: str,
    ses: str | None = "M000",
    *,
    nce_volumes: tuple[float, float, float] = (600.0, 450.0, 250.0),
    ce_volumes: tuple[float, float, float] = (630.0, 440.0, 190.0),
    synthetic_volumes: tuple[float, float, float] | None = (605.0, 448.0, 240.0),
    model: dict | None = None,
    seed: int = 0,
) -> None:
    """A session with a real nce, a real ce and (optionally) the ce's synthetic nce."""
    base = f"sub-{sub}" + (f"_ses-{ses}" if ses else "")
    ce_src = f"{base}_ce-gadolinium"
    write_real(output_dir, base, sub=sub, ses=ses, volumes=nce_volumes,
               labels=labels_with_gm_thickness(10), seed=seed)  # fmt: skip
    write_real(output_dir, ce_src, sub=sub, ses=ses, volumes=ce_volumes,
               labels=labels_with_gm_thickness(8), seed=seed + 100)  # fmt: skip
    if synthetic_volumes is not None:
        write_synthetic(
            output_dir,
            ce_src,
            sub=sub,
            ses=ses,
            volumes=synthetic_volumes,
            labels=labels_with_gm_thickness(9),
            model=model,
            seed=seed + 200,
        )
