"""Tests of ce2nce_pipeline.training, and the small real image pairs they (and the evaluation
tests) train and evaluate on."""

from __future__ import annotations

import csv
from pathlib import Path

import nibabel as nib
import numpy as np

from ce2nce_pipeline.science.resampling import T1_LINEAR_SHAPE

#: Colin27 (Debian package mricron-data): a real 1 mm T1w, 181×217×181, in MNI space.
COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
#: Its brain-extracted version (same grid): the brain masks of the evaluation tests.
COLIN27_BRAIN = Path("/usr/share/mricron/templates/ch2bet.nii.gz")
#: Its box on the t1-linear grid 169×208×179 (the MNI152 1 mm grid less 6/4/1 voxels a side).
_CROP = (slice(6, 175), slice(4, 212), slice(1, 180))


def colin_nce(flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Colin27 cropped to the t1-linear grid (float32) and its affine; ``flip``: left-right."""
    image = nib.load(COLIN27)
    data = np.asarray(image.dataobj, dtype=np.float32)[_CROP]
    if flip:
        data = data[::-1].copy()
    affine = image.affine.copy()
    affine[:3, 3] = image.affine[:3, :3] @ np.array([6.0, 4.0, 1.0]) + image.affine[:3, 3]
    assert data.shape == T1_LINEAR_SHAPE
    return data, affine


def colin_brain_mask(flip: bool = False) -> np.ndarray:
    """Colin27's brain mask (from ch2bet) on the t1-linear grid."""
    mask = np.asarray(nib.load(COLIN27_BRAIN).dataobj)[_CROP] > 0
    return mask[::-1].copy() if flip else mask


def brightened(nce: np.ndarray, strength: float = 0.5, phase: float = 0.0) -> np.ndarray:
    """An artificial "T1w-ce": the T1w-nce brightened by a smooth spatial pattern in the head,
    plus small bright spots (vessel-like enhancement)."""
    axes = [np.arange(n, dtype=np.float32) for n in nce.shape]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    pattern = 0.5 + 0.5 * np.sin(x / 9.0 + phase) * np.cos(y / 13.0) * np.sin(z / 11.0 + 1.0)
    head = nce > 0.2 * nce.max()
    ce = nce * (1.0 + strength * pattern * head)
    spots = (np.sin(x / 3.1) * np.sin(y / 2.9) * np.sin(z / 3.3) > 0.9) & head
    ce[spots] += 0.4 * nce.max()
    return ce.astype(np.float32)


def write_pairs(
    folder: Path, count: int = 2, *, with_masks: bool = False, splits: list[str] | None = None
) -> Path:
    """Write ``count`` Colin27-based pairs as uncompressed NIfTI and a ``pairs.tsv``."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(count):
        nce, affine = colin_nce(flip=bool(index % 2))
        nce = np.roll(nce, 3 * (index // 2), axis=1)
        ce = brightened(nce, phase=0.7 * index)
        names = {"ce": f"sub-{index:02d}_ce-gado_T1w.nii", "nce": f"sub-{index:02d}_T1w.nii"}
        nib.save(nib.Nifti1Image(ce, affine), folder / names["ce"])
        nib.save(nib.Nifti1Image(nce, affine), folder / names["nce"])
        row = dict(names)
        if with_masks:
            # The two "HD-BET" masks of a pair differ slightly, as real ones do.
            nce_mask = np.roll(colin_brain_mask(flip=bool(index % 2)), 3 * (index // 2), axis=1)
            ce_mask = np.roll(nce_mask, 2, axis=0)
            nce_mask, ce_mask = nce_mask.astype(np.uint8), ce_mask.astype(np.uint8)
            for key, mask in (("ce_mask", ce_mask), ("nce_mask", nce_mask)):
                row[key] = f"sub-{index:02d}_{key}.nii"
                nib.save(nib.Nifti1Image(mask, affine), folder / row[key])
        if splits is not None:
            row["split"] = splits[index]
        rows.append(row)
    path = folder / "pairs.tsv"
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_small_pairs(folder: Path, rows: list[tuple[np.ndarray, np.ndarray, str]]) -> Path:
    """Write small volumes ``rows = [(ce, nce, split), ...]`` (identity affine) and a TSV."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["ce\tnce\tsplit"]
    for index, (ce, nce, split) in enumerate(rows):
        for kind, data in (("ce", ce), ("nce", nce)):
            image = nib.Nifti1Image(np.asarray(data, np.float32), np.eye(4))
            nib.save(image, folder / f"{index}_{kind}.nii")
        lines.append(f"{index}_ce.nii\t{index}_nce.nii\t{split}")
    (folder / "pairs.tsv").write_text("\n".join(lines) + "\n")
    return folder / "pairs.tsv"


def smooth_rows(count: int = 4, side: int = 20) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Small smooth pairs (the last one for validation): nce, and ce = nce brightened."""
    rng = np.random.default_rng(0)
    x, y, z = np.meshgrid(*[np.linspace(0, 1, side)] * 3, indexing="ij")
    rows = []
    for index in range(count):
        nce = np.sin(3 * x + index) * np.cos(2 * y) + z + 0.1 * rng.random((side,) * 3)
        rows.append((nce * (1.5 + 0.5 * x), nce, "validation" if index == count - 1 else "train"))
    return rows
