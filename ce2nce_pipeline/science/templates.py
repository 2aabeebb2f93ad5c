"""The MNI152NLin2009cSym grids of Clinica's t1-linear and the registration template.

Clinica registers to the whole-head ICBM 2009c nonlinear symmetric template, which it downloads
at run time. ce2nce runs offline, so it registers to the ICBM 2009a nonlinear symmetric template
shipped inside the nilearn wheel (same stereotaxic space, skull-stripped, 1 mm), placed on the
2009c grid and matched inside a dilated brain mask, so that the skull of the moving image cannot
pull the affine (see ``docs/t1_linear.md`` for the measurements behind this choice).

The 2009a grid (197x233x189, origin (-98, -134, -72)) and the 2009c grid (193x229x193, origin
(-96, -132, -78)) differ by whole voxels, so moving the template onto the 2009c grid is a pure
index shift: no interpolation.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

#: Shape of the MNI152NLin2009cSym 1 mm grid Clinica registers to.
MNI2009C_SHAPE: tuple[int, int, int] = (193, 229, 193)
#: Affine of that grid (origin (-96, -132, -78) mm, 1 mm RAS axes).
MNI2009C_AFFINE: np.ndarray = np.array(
    [[1.0, 0.0, 0.0, -96.0], [0.0, 1.0, 0.0, -132.0], [0.0, 0.0, 1.0, -78.0], [0, 0, 0, 1.0]]
)
#: Clinica's crop box in voxel indices of the 2009c grid.
CROP_SLICES: tuple[slice, slice, slice] = (slice(12, 181), slice(13, 221), slice(0, 179))
#: Shape of Clinica's cropped t1-linear image.
CROP_SHAPE: tuple[int, int, int] = (169, 208, 179)
#: Affine of Clinica's cropped image (origin (-84, -119, -78) mm).
CROP_AFFINE: np.ndarray = MNI2009C_AFFINE.copy()
CROP_AFFINE[:3, 3] += np.array([s.start for s in CROP_SLICES], dtype=float)

#: Name of the template space written into file names and sidecars.
TEMPLATE_SPACE = "MNI152NLin2009cSym"
#: Dilation (mm) of the template brain mask used as the registration's fixed-image mask.
REGISTRATION_MASK_DILATION_MM = 10

_NILEARN_T1 = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
_NILEARN_GM = "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"
_NILEARN_WM = "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"


def nilearn_template_path() -> Path:
    """Path of the ICBM 2009a symmetric T1 template shipped in the nilearn wheel."""
    from nilearn import datasets

    path = Path(datasets.__file__).parent / "data" / _NILEARN_T1
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: reinstall nilearn (pip install --force-reinstall nilearn), "
            "which ships the MNI152 2009 template ce2nce registers to"
        )
    return path


def place_on_grid(
    image: nib.Nifti1Image, shape: tuple[int, int, int], affine: np.ndarray
) -> np.ndarray:
    """Copy ``image`` onto a grid that differs from its own by a whole-voxel shift only.

    Parameters
    ----------
    image
        3D image with the same axes and voxel size as the target grid.
    shape, affine
        The target grid.

    Returns
    -------
    numpy.ndarray
        float32 array of ``shape``; voxels outside ``image`` are zero.

    Raises
    ------
    ValueError
        If the two grids are not related by an integer translation.
    """
    offset = np.linalg.solve(affine, image.affine)  # image voxel -> target voxel
    if not np.allclose(offset[:3, :3], np.eye(3)) or not np.allclose(
        offset[:3, 3], np.round(offset[:3, 3])
    ):
        raise ValueError("grids differ by more than a whole-voxel translation")
    shift = np.round(offset[:3, 3]).astype(int)
    data = np.asarray(image.dataobj, dtype=np.float32)
    out = np.zeros(shape, dtype=np.float32)
    src, dst = [], []
    for axis in range(3):
        start = max(0, shift[axis])
        stop = min(shape[axis], shift[axis] + data.shape[axis])
        dst.append(slice(start, stop))
        src.append(slice(start - shift[axis], stop - shift[axis]))
    out[tuple(dst)] = data[tuple(src)]
    return out


@lru_cache(maxsize=1)
def registration_template() -> tuple[nib.Nifti1Image, nib.Nifti1Image]:
    """The fixed image and fixed-image mask of the affine registration, on the 2009c grid.

    Returns
    -------
    template, mask
        float32 T1 template (2009a symmetric, skull-stripped) and the binary mask of its brain
        dilated by :data:`REGISTRATION_MASK_DILATION_MM` mm, both on :data:`MNI2009C_AFFINE`.
    """
    data = template_on_grid(MNI2009C_SHAPE, MNI2009C_AFFINE)
    brain = data > 0
    mask = ndimage.binary_dilation(brain, iterations=REGISTRATION_MASK_DILATION_MM)
    template = nib.Nifti1Image(data, MNI2009C_AFFINE)
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), MNI2009C_AFFINE)
    for img in (template, mask_img):
        img.header.set_xyzt_units("mm")
        img.header.set_qform(MNI2009C_AFFINE, code=4)
        img.header.set_sform(MNI2009C_AFFINE, code=4)
    return template, mask_img


def template_on_grid(shape: tuple[int, int, int], affine: np.ndarray) -> NDArray[np.float32]:
    """The skull-stripped ICBM 2009a T1 template on a 1 mm grid aligned with its own.

    Parameters
    ----------
    shape, affine
        The grid (e.g. :data:`CROP_SHAPE` and an image's affine on it).

    Returns
    -------
    numpy.ndarray
        float32 intensities, zero outside the template's field of view.
    """
    return place_on_grid(nib.load(nilearn_template_path()), shape, affine)


def nilearn_tissue_prior(tissue: str) -> nib.Nifti1Image:
    """nilearn's ICBM 2009a ``gm`` or ``wm`` probability map (uint8, 0-255, its own grid).

    Raises
    ------
    FileNotFoundError
        When nilearn's data folder lacks it (one line saying how to reinstall).
    """
    name = {"gm": _NILEARN_GM, "wm": _NILEARN_WM}[tissue]
    path = nilearn_template_path().with_name(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: reinstall nilearn (pip install --force-reinstall nilearn), "
            "which ships the ICBM 2009a tissue priors"
        )
    return nib.load(path)


@lru_cache(maxsize=1)
def template_brain_and_priors() -> tuple[
    NDArray[np.bool_], NDArray[np.float32], NDArray[np.float32]
]:
    """The ICBM 2009a brain mask and GM/WM priors on the t1-linear grid.

    Returns
    -------
    brain, gm, wm
        Boolean brain mask (non-zero voxels of nilearn's skull-stripped template) and the GM and
        WM probability maps in [0, 1], float32, all of shape :data:`~.templates.CROP_SHAPE`.
        Cached: do not modify them.
    """
    brain = template_on_grid(CROP_SHAPE, CROP_AFFINE) > 0
    # nilearn stores the priors as uint8 0-255 without a scale factor.
    gm = place_on_grid(nilearn_tissue_prior("gm"), CROP_SHAPE, CROP_AFFINE) / np.float32(255)
    wm = place_on_grid(nilearn_tissue_prior("wm"), CROP_SHAPE, CROP_AFFINE) / np.float32(255)
    for array in (brain, gm, wm):
        array.flags.writeable = False
    return brain, gm, wm


@lru_cache(maxsize=1)
def tissue_priors() -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """GM, WM and CSF priors on the t1-linear grid (ICBM 2009a, CSF = 1 - GM - WM).

    Returns
    -------
    gm, wm, csf
        float32 maps in [0, 1] summing to 1 everywhere. Cached: do not modify them.
    """
    _, gm, wm = template_brain_and_priors()
    total = gm + wm
    # The two priors overlap by a rounding error in a few voxels: keep the sum at most 1.
    scale = np.where(total > 1.0, 1.0 / np.maximum(total, 1e-6), 1.0).astype(np.float32)
    gm, wm = gm * scale, wm * scale
    csf = np.clip(1.0 - gm - wm, 0.0, 1.0).astype(np.float32)
    for array in (gm, wm, csf):
        array.flags.writeable = False
    return gm, wm, csf


def clear_cached_templates() -> None:
    """Forget the cached templates and priors (about 130 MB), e.g. before a memory-heavy step.

    The next call of :func:`registration_template`, :func:`template_brain_and_priors` or
    :func:`tissue_priors` loads them again (a fraction of a second).
    """
    for cached in (registration_template, template_brain_and_priors, tissue_priors):
        cached.cache_clear()
