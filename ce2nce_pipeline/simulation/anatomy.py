"""Where things are in a T1w image: the anatomy the gadolinium simulator places its effects on.

Everything comes from what is available offline:

* the ICBM 2009a nonlinear symmetric T1 template and its GM / WM priors shipped in the nilearn
  wheel (skull-stripped, 1 mm, MNI152 space): brain mask, tissue priors, lateral ventricles;
* the image's own intensities: reference WM / GM / CSF levels, the dark CSF inside the brain,
  and the head (foreground) with or without skull and scalp;
* MNI coordinates: structures that the template does not delineate (sinuses, arteries,
  pituitary, ...) are placed in :mod:`.components` at MNI152 coordinates read off the template
  and Colin27, so the midline is MNI x = 0.

How voxels map to MNI coordinates depends on the image's space:

``mni``
    The image's world coordinates are MNI coordinates: Clinica ``t1-linear`` outputs
    (169x208x179, origin (-84, -119, -78), MNI152NLin2009cSym), images on the 2009c/2009a
    grids, and any image the caller knows to be affinely aligned to MNI152NLin2009. Cheap: no
    registration.
``native``
    An affine from the image's world space to MNI is estimated with antspyx (mutual
    information, rigid then affine, at 4 mm, the template's dilated brain as the fixed mask);
    about 5-15 s on 2 cores. Only affine: individual anatomy deviates from the template by
    millimetres, more in atrophied or lesioned brains.
``auto``
    ``mni`` for images on the t1-linear, 2009c or 2009a template grids, else ``native``: even
    images whose sform says MNI are registered, because "MNI" spaces differ in size (Colin27
    is about 3 % larger than the 2009 template).
"""

from __future__ import annotations

import itertools
import logging
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np
from scipy import ndimage

from ..science.templates import (
    CROP_AFFINE,
    CROP_SHAPE,
    MNI2009C_AFFINE,
    MNI2009C_SHAPE,
    nilearn_template_path,
    nilearn_tissue_prior,
)

LOGGER = logging.getLogger(__name__)

Space = Literal["auto", "mni", "native"]
#: Spaces accepted by :func:`build_anatomy`.
SPACES: tuple[str, ...] = ("auto", "mni", "native")

#: Template intensity between its ventricular CSF (~0.28 x WM) and GM (~0.75 x WM).
_TEMPLATE_CSF_THRESHOLD = 0.52
#: Box (MNI mm) holding the lateral and third ventricles of the template.
_VENTRICLE_BOX = ((-36.0, 36.0), (-52.0, 36.0), (-35.0, 36.0))
#: Resolution of the native-space registration (mm).
_REGISTRATION_RESOLUTION_MM = 4.0
#: Volume of non-brain foreground above which an image is taken to show a head (mm^3).
_HEAD_VOLUME_MM3 = 150_000.0


@dataclass(frozen=True)
class TissueIntensities:
    """Reference intensities of an image, in its own units.

    Attributes
    ----------
    wm, gm, csf
        Medians of the image in the template's WM (prior > 0.9), cortical GM (prior > 0.7) and
        ventricles (eroded).
    background
        The 5th percentile of the image outside the dilated head.
    """

    wm: float
    gm: float
    csf: float
    background: float

    @property
    def csf_threshold(self) -> float:
        """Intensity half-way between CSF and GM: darker voxels in the brain are CSF."""
        return 0.5 * (self.csf + self.gm)


@dataclass(frozen=True, eq=False)
class Anatomy:
    """Maps of an image's anatomy, all on the image's own voxel grid.

    Attributes
    ----------
    shape, affine
        The image grid (voxel -> world, mm).
    vox2mni
        4x4 matrix from voxel indices to MNI152 coordinates (mm).
    space
        ``"mni"`` when world coordinates were taken as MNI, ``"native"`` when registered.
    brain
        Brain mask (template brain, cerebrum + cerebellum + brainstem, ventricles included).
    gm, wm
        Template tissue priors in [0, 1].
    ventricle_region
        Template lateral + third ventricles dilated by 3 mm (holds the choroid plexus).
    ventricles
        Dark CSF voxels of the image inside ``ventricle_region``.
    csf
        Dark CSF voxels of the image inside the brain.
    head
        The image's foreground (filled): the brain alone for a skull-stripped image.
    has_head
        True when the foreground extends well beyond the brain (skull and scalp present).
    depth
        Distance (mm) from the brain's surface, inside the brain; 0 outside.
    outside
        Distance (mm) from the brain, outside it; 0 inside.
    intensities
        Reference tissue intensities of the image.
    registration_seconds
        Time spent estimating the MNI mapping (0 in MNI space).
    """

    shape: tuple[int, int, int]
    affine: np.ndarray
    vox2mni: np.ndarray
    space: str
    brain: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    ventricle_region: np.ndarray
    ventricles: np.ndarray
    csf: np.ndarray
    head: np.ndarray
    has_head: bool
    depth: np.ndarray
    outside: np.ndarray
    intensities: TissueIntensities
    registration_seconds: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def voxel_size(self) -> np.ndarray:
        """Voxel size (mm) along each axis."""
        return np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))

    @property
    def voxel_volume(self) -> float:
        """Volume of one voxel (mm^3)."""
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    def mni_to_voxel(self, points: np.ndarray) -> np.ndarray:
        """Continuous voxel indices (N x 3) of MNI points (N x 3, mm)."""
        points = np.atleast_2d(np.asarray(points, dtype=float))
        mni2vox = np.linalg.inv(self.vox2mni)
        return points @ mni2vox[:3, :3].T + mni2vox[:3, 3]

    def box_around(self, points: np.ndarray, margin_mm: float) -> tuple[slice, slice, slice]:
        """Voxel box holding MNI ``points`` (N x 3) grown by ``margin_mm``, clipped to the grid.

        An empty box (some slice with start >= stop) means the points lie outside the image.
        """
        points = np.atleast_2d(np.asarray(points, dtype=float))
        lo, hi = points.min(axis=0) - margin_mm, points.max(axis=0) + margin_mm
        corners = np.array(list(itertools.product(*zip(lo, hi, strict=True))))
        vox = self.mni_to_voxel(corners)
        start = np.maximum(np.floor(vox.min(axis=0)).astype(int), 0)
        stop = np.minimum(np.ceil(vox.max(axis=0)).astype(int) + 1, self.shape)
        return tuple(slice(int(a), int(max(a, b))) for a, b in zip(start, stop, strict=True))

    def mni_coordinates(self, box: tuple[slice, slice, slice]) -> np.ndarray:
        """MNI coordinates (3, nx, ny, nz) of the voxels of ``box``, float32."""
        axes = [np.arange(s.start, s.stop, dtype=np.float32) for s in box]
        i, j, k = np.meshgrid(*axes, indexing="ij", sparse=True)
        m = self.vox2mni.astype(np.float32)
        return np.stack(
            [m[r, 0] * i + m[r, 1] * j + m[r, 2] * k + m[r, 3] for r in range(3)], axis=0
        )

    def summary(self) -> dict[str, object]:
        """JSON-friendly description (for sidecars and logs)."""
        return {
            "space": self.space,
            "has_head": self.has_head,
            "brain_volume_cm3": round(float(self.brain.sum()) * self.voxel_volume / 1000, 1),
            "ventricle_volume_cm3": round(
                float(self.ventricles.sum()) * self.voxel_volume / 1000, 1
            ),
            "intensities": {
                "wm": round(self.intensities.wm, 4),
                "gm": round(self.intensities.gm, 4),
                "csf": round(self.intensities.csf, 4),
            },
            "registration_seconds": round(self.registration_seconds, 2),
            "notes": list(self.notes),
        }


@dataclass(frozen=True, eq=False)
class _Template:
    affine: np.ndarray
    t1: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    brain: np.ndarray
    ventricles: np.ndarray


@lru_cache(maxsize=1)
def _template() -> _Template:
    """The 2009a template, its priors and ventricles on its own 1 mm grid (cached)."""
    t1_image = nib.load(nilearn_template_path())
    t1 = np.asarray(t1_image.dataobj, dtype=np.float32)
    priors = {
        tissue: np.asarray(nilearn_tissue_prior(tissue).dataobj, dtype=np.float32) / 255.0
        for tissue in ("gm", "wm")
    }
    brain = t1 > 0
    t1 = t1 / float(np.median(t1[priors["wm"] > 0.9]))
    depth = ndimage.distance_transform_edt(brain)
    ijk = np.indices(t1.shape, sparse=True)
    mni = [t1_image.affine[r, r] * ijk[r] + t1_image.affine[r, 3] for r in range(3)]
    in_box = np.ones(t1.shape, dtype=bool)
    for r, (lo, hi) in enumerate(_VENTRICLE_BOX):
        in_box &= (mni[r] >= lo) & (mni[r] <= hi)
    dark = brain & (t1 < _TEMPLATE_CSF_THRESHOLD) & in_box & (depth > 8)
    labels, n = ndimage.label(dark)
    sizes = ndimage.sum(dark, labels, index=np.arange(1, n + 1))
    keep = np.flatnonzero(sizes >= 400) + 1
    ventricles = np.isin(labels, keep)
    return _Template(t1_image.affine, t1, priors["gm"], priors["wm"], brain, ventricles)


def is_t1_linear_grid(image: nib.Nifti1Image) -> bool:
    """True if ``image`` lies on Clinica's cropped t1-linear grid (169x208x179, 1 mm)."""
    return tuple(image.shape[:3]) == CROP_SHAPE and np.allclose(image.affine, CROP_AFFINE)


def is_template_grid(image: nib.Nifti1Image) -> bool:
    """True on the t1-linear crop, the 2009c (193x229x193) or the 2009a (197x233x189) grid."""
    if is_t1_linear_grid(image):
        return True
    grids = [(MNI2009C_SHAPE, MNI2009C_AFFINE), (_template().t1.shape, _template().affine)]
    return any(
        tuple(image.shape[:3]) == tuple(shape) and np.allclose(image.affine, affine)
        for shape, affine in grids
    )


def _resample_to_image(
    volume: np.ndarray, source_affine: np.ndarray, vox2mni: np.ndarray, shape, order: int
) -> np.ndarray:
    """Sample a template-grid ``volume`` at the MNI position of every image voxel."""
    matrix = np.linalg.solve(source_affine, vox2mni)  # image voxel -> template voxel
    rounded = np.round(matrix)
    if np.allclose(matrix[:3, :3], np.eye(3)) and np.allclose(matrix[:3, 3], rounded[:3, 3]):
        # Whole-voxel shift (t1-linear grid, Colin27 grid): copy, no interpolation.
        shift = rounded[:3, 3].astype(int)
        out = np.zeros(shape, dtype=volume.dtype)
        src, dst = [], []
        for axis in range(3):
            start = max(0, -shift[axis])
            stop = min(shape[axis], volume.shape[axis] - shift[axis])
            dst.append(slice(start, max(start, stop)))
            src.append(slice(start + shift[axis], max(start, stop) + shift[axis]))
        out[tuple(dst)] = volume[tuple(src)]
        return out
    data = volume.astype(np.float32) if volume.dtype == bool else volume
    out = ndimage.affine_transform(
        data, matrix[:3, :3], offset=matrix[:3, 3], output_shape=shape, order=order, cval=0.0
    )
    return out > 0.5 if volume.dtype == bool else out.astype(np.float32)


def _ants_image(image: nib.Nifti1Image):
    """The antspyx image of a 3D NIfTI image, its units stated (mm, s) where they were unknown.

    ANTsPy assumes exactly these for unknown units, but says so on stdout for every image.
    """
    import ants

    spatial, temporal = image.header.get_xyzt_units()
    header = image.header.copy()
    header.set_xyzt_units(
        "mm" if spatial == "unknown" else spatial, "sec" if temporal == "unknown" else temporal
    )
    return ants.from_nibabel_nifti(nib.Nifti1Image(image.dataobj, image.affine, header))


def _register_to_mni(image: nib.Nifti1Image) -> np.ndarray:
    """World -> MNI affine of ``image`` by a quick antspyx affine registration (4 mm)."""
    import ants

    from ..science.t1_linear import ras_points_through_transform
    from ..science.templates import registration_template

    template, mask = registration_template()
    res = (_REGISTRATION_RESOLUTION_MM,) * 3
    data = np.asarray(image.dataobj, dtype=np.float32)
    moving_nib = nib.Nifti1Image(data, image.affine)
    fixed = ants.resample_image(_ants_image(template), res, False, 0)
    fixed_mask = ants.resample_image(_ants_image(mask), res, False, 1)
    moving = ants.resample_image(_ants_image(moving_nib), res, False, 0)
    previous_seed = ants.config._random_seed
    ants.config._random_seed = 20240315
    try:
        result = ants.registration(
            fixed=fixed,
            moving=moving,
            type_of_transform="Affine",
            mask=fixed_mask,
            aff_iterations=(200, 200, 50),
            aff_shrink_factors=(4, 2, 1),
            aff_smoothing_sigmas=(2, 1, 0),
        )
    finally:
        ants.config._random_seed = previous_seed
    transform = Path(result["fwdtransforms"][0])
    # The transform maps template (fixed) points to image (moving) points.
    points = np.array([[0, 0, 0], [50, 0, 0], [0, 50, 0], [0, 0, 50]], dtype=float)
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "affine.mat"
        copy.write_bytes(transform.read_bytes())
        moved = ras_points_through_transform(copy, points)
    mni2world = np.eye(4)
    mni2world[:3, :3] = ((moved[1:] - moved[0]) / 50.0).T
    mni2world[:3, 3] = moved[0]
    return np.linalg.inv(mni2world)


def _tissue_intensities(
    data: np.ndarray, gm: np.ndarray, wm: np.ndarray, ventricles: np.ndarray, head: np.ndarray
) -> TissueIntensities:
    def median(mask: np.ndarray, fallback: float) -> float:
        return float(np.median(data[mask])) if mask.sum() >= 10 else fallback

    wm_level = median(wm > 0.9, float(np.percentile(data[head], 90)) if head.any() else 1.0)
    gm_level = median((gm > 0.7) & (wm < 0.1), 0.75 * wm_level)
    core = ndimage.binary_erosion(ventricles) if ventricles.sum() > 50 else ventricles
    csf_level = median(core, 0.3 * wm_level)
    outside = ~ndimage.binary_dilation(head, iterations=2)
    background = float(np.percentile(data[outside], 5)) if outside.any() else 0.0
    if not wm_level > gm_level > csf_level:
        LOGGER.warning(
            "unusual tissue intensities (WM %.3g, GM %.3g, CSF %.3g): is this a T1w image?",
            wm_level,
            gm_level,
            csf_level,
        )
    return TissueIntensities(wm_level, gm_level, csf_level, background)


def _head_mask(data: np.ndarray, brain: np.ndarray, wm_level: float) -> np.ndarray:
    """Foreground of the image: above 8 % of WM, largest component, holes filled per slice."""
    foreground = data > 0.08 * wm_level
    foreground = ndimage.binary_opening(foreground, iterations=1)
    labels, n = ndimage.label(foreground)
    if n > 1:
        sizes = ndimage.sum(foreground, labels, index=np.arange(1, n + 1))
        foreground = labels == (int(np.argmax(sizes)) + 1)
    foreground = ndimage.binary_closing(foreground, iterations=2)
    filled = np.zeros_like(foreground)
    for k in range(foreground.shape[2]):
        filled[:, :, k] = ndimage.binary_fill_holes(foreground[:, :, k])
    return filled | brain


def _world_to_mni(
    image: nib.Nifti1Image, space: str, notes: list[str]
) -> tuple[np.ndarray, float]:
    """The image's world-to-MNI affine and the seconds spent estimating it (``"native"``)."""
    start = time.perf_counter()
    if space == "native":
        world2mni = _register_to_mni(image)
        notes.append("MNI mapping estimated by an antspyx affine registration at 4 mm")
    else:
        world2mni = np.eye(4)
    seconds = time.perf_counter() - start if space == "native" else 0.0
    return world2mni, seconds


def _template_maps(
    vox2mni: np.ndarray, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The template's brain, GM, WM, ventricle region and ventricles on the image's grid."""
    template = _template()
    brain = _resample_to_image(template.brain, template.affine, vox2mni, shape, 1)
    gm = _resample_to_image(template.gm, template.affine, vox2mni, shape, 1)
    wm = _resample_to_image(template.wm, template.affine, vox2mni, shape, 1)
    region_tpl = ndimage.binary_dilation(template.ventricles, iterations=3)
    region = _resample_to_image(region_tpl, template.affine, vox2mni, shape, 1)
    ventricles = _resample_to_image(template.ventricles, template.affine, vox2mni, shape, 1)
    return brain, gm, wm, region, ventricles


def build_anatomy(image: nib.Nifti1Image, space: Space = "auto") -> Anatomy:
    """Locate the brain, tissues, ventricles and head of ``image``.

    Parameters
    ----------
    image
        3D T1w image without contrast (any orientation; 1 mm or coarser voxels).
    space
        ``"mni"``: world coordinates are MNI152 coordinates (t1-linear outputs, Colin27, images
        already roughly in MNI space); ``"native"``: estimate an affine to MNI with antspyx;
        ``"auto"``: ``"mni"`` on the t1-linear, 2009c or 2009a template grids, else
        ``"native"``.

    Returns
    -------
    Anatomy
        Maps on the image's grid; the image is not modified.

    Raises
    ------
    ValueError
        If the image is not 3D or ``space`` is unknown.
    """
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    if len(image.shape) != 3:
        raise ValueError(f"expected a 3D image, got shape {image.shape}")
    shape = tuple(int(n) for n in image.shape)
    data = np.asarray(image.dataobj, dtype=np.float32)
    notes: list[str] = []
    if space == "auto":
        space = "mni" if is_template_grid(image) else "native"
    world2mni, seconds = _world_to_mni(image, space, notes)
    vox2mni = world2mni @ image.affine
    brain, gm, wm, region, vent_tpl = _template_maps(vox2mni, shape)

    provisional_head = data > np.percentile(data, 50)
    levels = _tissue_intensities(data, gm, wm, vent_tpl, provisional_head | brain)
    head = _head_mask(data, brain, levels.wm)
    levels = _tissue_intensities(data, gm, wm, vent_tpl & brain, head)
    csf = brain & (data < levels.csf_threshold)
    ventricles = region & csf
    sampling = np.sqrt((image.affine[:3, :3] ** 2).sum(axis=0))
    depth = ndimage.distance_transform_edt(brain, sampling=sampling).astype(np.float32)
    outside = ndimage.distance_transform_edt(~brain, sampling=sampling).astype(np.float32)
    voxel_volume = float(abs(np.linalg.det(image.affine[:3, :3])))
    extra = float((head & (outside > 5)).sum()) * voxel_volume
    has_head = extra > _HEAD_VOLUME_MM3
    if not has_head:
        notes.append("no head around the brain (skull-stripped?): extracranial effects idle")
    return Anatomy(
        shape=shape,
        affine=image.affine.copy(),
        vox2mni=vox2mni,
        space=space,
        brain=brain,
        gm=gm,
        wm=wm,
        ventricle_region=region,
        ventricles=ventricles,
        csf=csf,
        head=head,
        has_head=has_head,
        depth=depth,
        outside=outside,
        intensities=levels,
        registration_seconds=seconds,
        notes=tuple(notes),
    )
