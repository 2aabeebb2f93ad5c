"""Tests of the gadolinium simulator; small real base images shared by its test modules."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.processing import resample_to_output

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")


@lru_cache(maxsize=4)
def _resampled(path: str, voxel_mm: float) -> tuple[np.ndarray, np.ndarray]:
    image = resample_to_output(nib.load(path), voxel_sizes=(voxel_mm,) * 3, order=1)
    return np.clip(image.get_fdata(dtype=np.float32), 0, None), image.affine


def colin27(voxel_mm: float = 3.0) -> nib.Nifti1Image:
    """Colin27 (real T1w with skull) at ``voxel_mm``; a new image object on each call."""
    if not COLIN27.is_file():
        pytest.fail(f"{COLIN27} missing: apt-get install mricron-data")
    data, affine = _resampled(str(COLIN27), voxel_mm)
    image = nib.Nifti1Image(data.copy(), affine.copy())
    image.header.set_xyzt_units("mm")
    return image


def mni152(voxel_mm: float = 3.0) -> nib.Nifti1Image:
    """The nilearn MNI152 2009a template (skull-stripped) at ``voxel_mm``."""
    from ce2nce_pipeline.science.templates import nilearn_template_path

    data, affine = _resampled(str(nilearn_template_path()), voxel_mm)
    image = nib.Nifti1Image(data.copy(), affine.copy())
    image.header.set_xyzt_units("mm")
    return image
