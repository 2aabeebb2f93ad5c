"""Simulate a gadolinium-enhanced T1w image (T1w-ce) from a real non-contrast T1w (T1w-nce).

``simulate_ce(image, params, seed)`` places every switched-on effect of :mod:`.components` on
the image's anatomy (:mod:`.anatomy`), adds their enhancement, then applies the acquisition
differences of the post-contrast series. The result is on the input's grid, with its affine and
header (data type float32), and is the same for the same seed and parameters.

Randomness: every component draws from its own generator seeded by ``(seed, component)``, so
switching one component off leaves what the others draw unchanged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Literal

import nibabel as nib
import numpy as np

from .. import __version__
from .acquisition import ACQUISITION
from .anatomy import SPACES, Anatomy, build_anatomy
from .components import ANATOMICAL
from .effects import Effect

LOGGER = logging.getLogger(__name__)

#: Anatomical (gadolinium) components, in the order they are drawn.
ANATOMICAL_COMPONENTS: tuple[str, ...] = tuple(ANATOMICAL)
#: Components acting inside the brain / skull (all but the extracranial one).
BRAIN_COMPONENTS: tuple[str, ...] = tuple(c for c in ANATOMICAL_COMPONENTS if c != "extracranial")
#: Acquisition differences of the post-contrast series, in the order they are applied.
ACQUISITION_COMPONENTS: tuple[str, ...] = tuple(ACQUISITION)
COMPONENTS: tuple[str, ...] = ANATOMICAL_COMPONENTS + ACQUISITION_COMPONENTS
QUALITIES: tuple[str, ...] = ("good", "low")

#: Ranges that :func:`sample_parameters` draws from (uniform; integers inclusive) for
#: ``quality="good"``. Intensities are post-contrast intensities as multiples of the image's WM
#: intensity; enhancements are relative signal increases; sizes in mm.
PARAMETER_RANGES: dict[str, tuple[float, float]] = {
    "sinus_intensity": (1.1, 1.5),
    "sinus_radius_scale": (0.8, 1.25),
    "vein_count": (6, 20),
    "vein_intensity": (0.9, 1.3),
    "vein_radius_mm": (0.6, 1.4),
    "artery_intensity": (0.85, 1.3),
    "artery_radius_scale": (0.8, 1.2),
    "choroid_intensity": (1.0, 1.4),
    "choroid_glomus_radius_mm": (3.0, 6.0),
    "dura_intensity": (0.8, 1.1),
    "dura_thickness_mm": (0.8, 1.6),
    "dura_coverage": (0.3, 0.9),
    "pituitary_intensity": (1.1, 1.5),
    "cavernous_intensity": (1.05, 1.45),
    "muscle_enhancement": (0.05, 0.3),
    "mucosa_enhancement": (0.2, 0.8),
    "ring_radius_mm": (8.0, 20.0),
    "ring_necrosis_fraction": (0.3, 0.7),
    "ring_oedema_mm": (5.0, 20.0),
    "ring_intensity": (1.2, 1.7),
    "nodule_count": (1, 8),
    "nodule_intensity": (1.1, 1.6),
    "gm_wm_contrast": (0.85, 1.05),
    "csf_contrast": (0.9, 1.1),
    "slice_thickness_mm": (2.0, 3.0),
    "slice_axis": (0, 2),
    "blur_fwhm_mm": (0.0, 1.0),
    "bias_amplitude": (0.0, 0.08),
    "ghost_amplitude": (0.01, 0.03),
    "ghost_axis": (0, 2),
    "noise_sigma": (0.005, 0.02),
}
#: Overrides of :data:`PARAMETER_RANGES` for ``quality="low"`` (in the spirit of the paper's
#: Test_low: noisier, blurrier, thick slices, flatter contrast, stronger bias, ghosts).
LOW_QUALITY_RANGES: dict[str, tuple[float, float]] = {
    "gm_wm_contrast": (0.6, 0.9),
    "csf_contrast": (0.75, 1.2),
    "slice_thickness_mm": (3.0, 6.0),
    "blur_fwhm_mm": (1.0, 2.5),
    "bias_amplitude": (0.1, 0.25),
    "ghost_amplitude": (0.02, 0.08),
    "noise_sigma": (0.025, 0.06),
}
#: Probability that :func:`sample_parameters` switches each component on, per quality.
COMPONENT_PROBABILITY: dict[str, dict[str, float]] = {
    "good": {
        "venous_sinuses": 1.0,
        "cortical_veins": 0.95,
        "arteries": 0.9,
        "choroid_plexus": 0.95,
        "dura": 0.8,
        "pituitary": 0.9,
        "extracranial": 1.0,
        "contrast_change": 1.0,
        "low_resolution": 0.1,
        "blur": 0.7,
        "bias_field": 0.8,
        "ghosting": 0.0,
        "noise": 1.0,
    },
    "low": {
        "venous_sinuses": 1.0,
        "cortical_veins": 0.9,
        "arteries": 0.9,
        "choroid_plexus": 0.95,
        "dura": 0.8,
        "pituitary": 0.9,
        "extracranial": 1.0,
        "contrast_change": 1.0,
        "low_resolution": 0.8,
        "blur": 1.0,
        "bias_field": 1.0,
        "ghosting": 0.4,
        "noise": 1.0,
    },
}


@dataclass(frozen=True)
class SimulationParameters:
    """Every parameter of one simulation. Defaults: a typical good-quality post-contrast series
    with all normal enhancement and no lesion. Ranges: :data:`PARAMETER_RANGES`."""

    #: How voxels map to MNI: "auto", "mni" or "native" (see :mod:`.anatomy`).
    space: str = "auto"
    #: Label of the preset the parameters come from ("good" or "low"); informative only.
    quality: str = "good"
    # --- switches -------------------------------------------------------------------------
    venous_sinuses: bool = True
    cortical_veins: bool = True
    arteries: bool = True
    choroid_plexus: bool = True
    dura: bool = True
    pituitary: bool = True
    extracranial: bool = True
    ring_lesion: bool = False
    nodular_lesions: bool = False
    contrast_change: bool = True
    low_resolution: bool = False
    blur: bool = True
    bias_field: bool = True
    ghosting: bool = False
    noise: bool = True
    # --- vessels -------------------------------------------------------------------------
    sinus_intensity: float = 1.3
    sinus_radius_scale: float = 1.0
    vein_count: int = 12
    vein_intensity: float = 1.1
    vein_radius_mm: float = 1.0
    artery_intensity: float = 1.1
    artery_radius_scale: float = 1.0
    # --- structures without blood-brain barrier -------------------------------------------
    choroid_intensity: float = 1.2
    choroid_glomus_radius_mm: float = 4.5
    dura_intensity: float = 0.95
    dura_thickness_mm: float = 1.2
    dura_coverage: float = 0.6
    pituitary_intensity: float = 1.3
    cavernous_intensity: float = 1.25
    muscle_enhancement: float = 0.15
    mucosa_enhancement: float = 0.5
    # --- lesions -------------------------------------------------------------------------
    ring_radius_mm: float = 14.0
    ring_necrosis_fraction: float = 0.55
    ring_oedema_mm: float = 12.0
    ring_intensity: float = 1.45
    ring_centre_mni: tuple[float, float, float] | None = None
    nodule_count: int = 4
    nodule_radius_mm: tuple[float, float] = (1.5, 5.0)
    nodule_intensity: float = 1.35
    # --- acquisition ---------------------------------------------------------------------
    gm_wm_contrast: float = 1.0
    csf_contrast: float = 1.0
    slice_thickness_mm: float = 4.0
    slice_axis: int = 2
    blur_fwhm_mm: float = 0.5
    bias_amplitude: float = 0.05
    ghost_amplitude: float = 0.03
    ghost_axis: int = 1
    #: Sd of the Rician noise as a fraction of the WM intensity.
    noise_sigma: float = 0.01

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {self.space!r}")
        if self.quality not in QUALITIES:
            raise ValueError(f"quality must be one of {QUALITIES}, got {self.quality!r}")
        for name in ("slice_axis", "ghost_axis"):
            if getattr(self, name) not in (0, 1, 2):
                raise ValueError(f"{name} must be 0, 1 or 2, got {getattr(self, name)!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in COMPONENTS and not isinstance(value, bool):
                raise TypeError(f"{f.name} must be True or False, got {value!r}")
            if isinstance(value, float) and (not np.isfinite(value) or value < 0):
                raise ValueError(f"{f.name} must be a finite number >= 0, got {value!r}")
        if not 0.0 < self.ring_necrosis_fraction < 1.0:
            raise ValueError("ring_necrosis_fraction must lie in (0, 1)")
        if not 0.0 <= self.dura_coverage <= 1.0:
            raise ValueError("dura_coverage must lie in [0, 1]")
        lo, hi = self.nodule_radius_mm
        if not 0 < lo <= hi:
            raise ValueError(
                "nodule_radius_mm must be (low, high) with 0 < low <= high, "
                f"got {self.nodule_radius_mm}"
            )

    def to_dict(self) -> dict[str, object]:
        """All parameters as a JSON-friendly dict."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> SimulationParameters:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown simulation parameters: {', '.join(unknown)}")
        clean = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**clean)

    def with_components(self, enabled: list[str] | tuple[str, ...]) -> SimulationParameters:
        """A copy with exactly the components in ``enabled`` switched on."""
        unknown = sorted(set(enabled) - set(COMPONENTS))
        if unknown:
            raise ValueError(
                f"unknown components: {', '.join(unknown)} (known: {', '.join(COMPONENTS)})"
            )
        return replace(self, **{name: name in enabled for name in COMPONENTS})

    @property
    def enabled(self) -> tuple[str, ...]:
        """Names of the components switched on."""
        return tuple(name for name in COMPONENTS if getattr(self, name))


def sample_parameters(
    rng: np.random.Generator,
    quality: Literal["good", "low"] = "good",
    *,
    lesion_probability: float = 0.2,
    space: str = "auto",
) -> SimulationParameters:
    """Draw random simulation parameters.

    Parameters
    ----------
    rng
        Source of randomness (the draw is a pure function of its state).
    quality
        ``"good"``: :data:`PARAMETER_RANGES`; ``"low"``: with :data:`LOW_QUALITY_RANGES`.
    lesion_probability
        Probability of a ring-enhancing mass, and independently of small nodules.
    space
        Passed to :class:`SimulationParameters`.

    Returns
    -------
    SimulationParameters
    """
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {QUALITIES}, got {quality!r}")
    if not 0.0 <= lesion_probability <= 1.0:
        raise ValueError(f"lesion_probability must lie in [0, 1], got {lesion_probability}")
    ranges = dict(PARAMETER_RANGES)
    if quality == "low":
        ranges.update(LOW_QUALITY_RANGES)
    values: dict[str, object] = {"quality": quality, "space": space}
    for name in COMPONENTS:
        p = COMPONENT_PROBABILITY[quality].get(name, lesion_probability)
        values[name] = bool(rng.random() < p)
    defaults = {f.name: f.default for f in fields(SimulationParameters)}
    for name, (lo, hi) in ranges.items():
        if isinstance(defaults[name], int) and not isinstance(defaults[name], bool):
            values[name] = int(rng.integers(int(lo), int(hi) + 1))
        else:
            values[name] = round(float(rng.uniform(lo, hi)), 4)
    return SimulationParameters(**values)


@dataclass(frozen=True, eq=False)
class SimulationInfo:
    """What :func:`simulate_ce` did.

    Attributes
    ----------
    seed, parameters
        The inputs.
    nce_image
        The non-contrast image of the pair (float32, same grid and header as the input): the
        input itself unless lesions were placed (necrosis and oedema are dark before contrast).
    enhancement
        Intensity added by gadolinium before acquisition effects (float32, >= 0):
        ``nce + enhancement`` is the post-contrast image before contrast change, blur, bias,
        ghosts and noise.
    masks
        Per anatomical component, where it acts.
    details
        Per anatomical component, what was placed (positions, sizes).
    anatomy
        Summary of the anatomy used (space, intensities, head or not).
    seconds
        Wall time of the simulation.
    """

    seed: int
    parameters: SimulationParameters
    nce_image: nib.Nifti1Image
    enhancement: np.ndarray
    masks: dict[str, np.ndarray]
    details: dict[str, dict[str, object]]
    anatomy: dict[str, object]
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def enhanced(self) -> np.ndarray:
        """Voxels that gadolinium made brighter (before acquisition effects)."""
        return self.enhancement > 0

    def sidecar(self) -> dict[str, object]:
        """JSON-friendly record of the simulation, for the ce image's BIDS sidecar."""
        voxel_volume = float(abs(np.linalg.det(self.nce_image.affine[:3, :3])))
        summary = {}
        for name, mask in self.masks.items():
            enh = self.enhancement[mask]
            summary[name] = {
                "volume_mm3": round(float(mask.sum()) * voxel_volume, 1),
                "mean_enhancement": round(float(enh.mean()), 4) if enh.size else 0.0,
                **self.details.get(name, {}),
            }
        return {
            "SimulationSoftware": f"ce2nce {__version__}",
            "SimulationSeed": int(self.seed),
            "SimulationParameters": self.parameters.to_dict(),
            "SimulationComponents": summary,
            "SimulationAnatomy": self.anatomy,
        }


def _component_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), COMPONENTS.index(name)])


def _anatomical_effect(
    name: str, anatomy: Anatomy, nce: np.ndarray, p: SimulationParameters, seed: int
) -> Effect:
    """Place the anatomical component ``name`` (:data:`~.components.ANATOMICAL`)."""
    return ANATOMICAL[name].place(anatomy, nce, _component_rng(seed, name), p)


def apply_acquisition(
    data: np.ndarray, anatomy: Anatomy, params: SimulationParameters, seed: int
) -> np.ndarray:
    """The post-contrast series' acquisition differences, in :data:`ACQUISITION_COMPONENTS`
    order, on a copy of ``data``."""
    out = np.asarray(data, dtype=np.float32)
    for name, effect in ACQUISITION.items():
        if getattr(params, name):
            out = effect.apply(out, anatomy, _component_rng(seed, name), params)
    return np.maximum(out, 0.0).astype(np.float32)


def _like(image: nib.Nifti1Image, data: np.ndarray) -> nib.Nifti1Image:
    header = image.header.copy()
    header.set_data_dtype(np.float32)
    out = nib.Nifti1Image(np.asarray(data, dtype=np.float32), image.affine.copy(), header)
    out.header.set_slope_inter(None, None)
    return out


def simulate_ce(
    image: nib.Nifti1Image,
    params: SimulationParameters | None = None,
    seed: int = 0,
    *,
    anatomy: Anatomy | None = None,
) -> tuple[nib.Nifti1Image, SimulationInfo]:
    """Turn a real non-contrast T1w image into a paired, simulated contrast-enhanced one.

    Parameters
    ----------
    image
        3D T1w-nce image (native space or Clinica t1-linear space; see
        :func:`~.anatomy.build_anatomy` for ``params.space``). Not modified.
    params
        Simulation parameters; :class:`SimulationParameters` defaults if None.
    seed
        Non-negative integer; the same seed, parameters and image give the same output.
    anatomy
        Anatomy of ``image`` computed beforehand (to simulate many times on one image);
        built here if None.

    Returns
    -------
    ce_image
        float32 image on the input's grid, with its affine and header.
    info
        :class:`SimulationInfo`, including the pair's non-contrast image ``info.nce_image``.

    Raises
    ------
    ValueError
        If the image is not 3D, holds non-finite values, or ``seed`` is negative.
    """
    if params is None:
        params = SimulationParameters()
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    start = time.perf_counter()
    if len(image.shape) != 3:
        raise ValueError(f"expected a 3D image, got shape {image.shape}")
    nce = np.asarray(image.dataobj, dtype=np.float32)
    if not np.isfinite(nce).all():
        raise ValueError("the image holds NaN or infinite values")
    timings: dict[str, float] = {}
    if anatomy is None:
        anatomy = build_anatomy(image, space=params.space)
    elif anatomy.shape != nce.shape or not np.allclose(anatomy.affine, image.affine):
        raise ValueError("the anatomy given was built for another grid")
    timings["anatomy"] = time.perf_counter() - start

    nce_pair = nce
    effects: list[Effect] = []
    for name in ANATOMICAL_COMPONENTS:
        if not getattr(params, name):
            continue
        t0 = time.perf_counter()
        effect = _anatomical_effect(name, anatomy, nce, params, seed)
        effects.append(effect)
        if effect.nce_change is not None:
            nce_pair = nce_pair + effect.nce_change
        timings[name] = time.perf_counter() - t0
    nce_pair = np.maximum(nce_pair, 0.0)
    # Lesions change the baseline: enhancement is re-expressed against the pair's nce image and
    # overlapping effects take the strongest enhancement, not the sum.
    enhancement = np.zeros(nce.shape, dtype=np.float32)
    for effect in effects:
        if effect.nce_change is not None:  # already relative to the lesioned image
            local = effect.enhancement
        else:
            local = np.where(effect.mask, np.maximum(nce + effect.enhancement - nce_pair, 0), 0)
        np.maximum(enhancement, local, out=enhancement)
    t0 = time.perf_counter()
    ce = apply_acquisition(nce_pair + enhancement, anatomy, params, seed)
    timings["acquisition"] = time.perf_counter() - t0
    seconds = time.perf_counter() - start
    info = SimulationInfo(
        seed=int(seed),
        parameters=params,
        nce_image=_like(image, nce_pair),
        enhancement=enhancement,
        masks={e.name: e.mask for e in effects},
        details={e.name: e.details for e in effects},
        anatomy=anatomy.summary(),
        seconds=seconds,
        timings={k: round(v, 3) for k, v in timings.items()},
    )
    LOGGER.info("simulated a T1w-ce in %.1f s (%s)", seconds, ", ".join(params.enabled))
    return _like(image, ce), info
