"""Checks that an input file is a usable 3D T1w image, with one-line errors."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from .errors import InvalidInputError

#: A stack with fewer slices than this along an axis is too thin to register.
MIN_SLICES = 10
#: A stack covering less than this (mm) along an axis is too thin to register.
MIN_EXTENT_MM = 60.0

#: Plausible voxel sizes (mm) of a T1w image; outside, the header is almost surely wrong.
MIN_VOXEL_MM = 0.05
MAX_VOXEL_MM = 20.0


def load_t1w(path: str | Path) -> nib.Nifti1Image:
    """Load a T1w NIfTI image and check it can be processed.

    A 4D image whose fourth dimension is 1 is accepted and squeezed to 3D.

    Raises
    ------
    InvalidInputError
        Unreadable or corrupt file, not 3D, empty or non-finite data. The message names the file
        and what to do.
    """
    path = Path(path)
    try:
        image = nib.load(path)
        data = np.asarray(image.dataobj)
    except Exception as error:  # nibabel raises many types for truncated/corrupt files
        raise InvalidInputError(
            f"{path}: cannot be read as NIfTI ({type(error).__name__}: {error}); "
            "re-export it from DICOM or remove it from the dataset"
        ) from None
    squeezed = data.ndim == 4 and data.shape[3] == 1
    if squeezed:
        data = data[..., 0]
    if data.ndim != 3 or min(data.shape) < 2:
        raise InvalidInputError(
            f"{path}: a T1w image must be 3D, this one has shape {data.shape}; "
            "split the series or remove it from the dataset"
        )
    zooms = np.asarray(image.header.get_zooms()[:3], dtype=float)
    if np.any(zooms < MIN_VOXEL_MM) or np.any(zooms > MAX_VOXEL_MM):
        raise InvalidInputError(
            f"{path}: voxel size {tuple(np.round(zooms, 4))} mm is implausible for a T1w "
            f"(expected {MIN_VOXEL_MM}-{MAX_VOXEL_MM} mm); fix the NIfTI header"
        )
    if not np.all(np.isfinite(data)):
        raise InvalidInputError(
            f"{path}: contains NaN or infinite values; fix the conversion or remove the image"
        )
    if float(data.max()) <= float(data.min()):
        raise InvalidInputError(f"{path}: image is constant (empty); remove it from the dataset")
    if squeezed:
        image = nib.Nifti1Image(data, image.affine)
    return image


def check_t1w(path: str | Path) -> None:
    """Raise :class:`InvalidInputError` unless ``path`` is a usable 3D T1w image.

    Beyond :func:`load_t1w`, a stack too thin to register (fewer than 10 slices or less than
    60 mm of coverage along an axis) is refused.
    """
    check_stack_extent(load_t1w(path), path)


def check_stack_extent(image: nib.Nifti1Image, path: str | Path) -> None:
    """Refuse an image too thin to register, naming it.

    Raises
    ------
    InvalidInputError
        Fewer than :data:`MIN_SLICES` voxels or less than :data:`MIN_EXTENT_MM` of coverage
        along one of the three axes.
    """
    shape = np.asarray(image.shape[:3])
    extent = shape * np.asarray(image.header.get_zooms()[:3], dtype=float)
    for axis in range(3):
        if shape[axis] < MIN_SLICES or extent[axis] < MIN_EXTENT_MM:
            raise InvalidInputError(
                f"{path}: too thin to register ({shape[axis]} slices covering "
                f"{extent[axis]:.0f} mm along axis {axis}; at least {MIN_SLICES} slices and "
                f"{MIN_EXTENT_MM:.0f} mm are needed); acquire or export a stack covering the "
                "whole brain, or remove it from the dataset"
            )
