"""Does a T1w image carry gadolinium? A probability from its t1-linear image.

ce2nce knows which images are contrast-enhanced from the BIDS ``ce-`` entity or the sidecar's
``ContrastBolusIngredient``; in a clinical warehouse that metadata is often missing or wrong.
This module estimates it from the image itself.

Gadolinium shows, in every patient, where the blood-brain barrier does not hold it back or where
blood pools: the choroid plexus, the cortical and deep veins, the dural sinuses, the pituitary
and the cavernous sinuses. On a T1w-nce nothing inside the brain is much brighter than white
matter; on a T1w-ce these structures reach 1.2 to 3 times the white matter. The detector
measures, on the t1-linear grid (MNI152NLin2009cSym, 169x208x179 mm), in the lateral
ventricles and the deep brain read off the template's priors, how many voxels are brighter than
white matter and how bright vessel-like voxels are against their surroundings
(:data:`FEATURES`):

- only voxels inside the template's brain eroded by :data:`BRAIN_EROSION_MM`, so that the scalp,
  the skull's marrow and the convexity dura of a whole-head image (fat is 2-3 times the white
  matter without any contrast) stay out, and a skull-stripped image is measured on the same
  voxels as a whole head;
- intensities in units of the median of the white matter of the template's prior, after a
  :data:`SMOOTHING_MM` box filter, so that noise alone does not make bright voxels.

A logistic regression on those features, fitted on training images, its threshold chosen on the
training and validation images (``workflows/gadolinium_detector/fit.py``,
``docs/gadolinium_detector.md``),
turns them into a probability; its parameters ship as ``data/gadolinium_detector.json``.

An image the registration did not place on the template (its correlation with the template
around the brain below :data:`MIN_TEMPLATE_CORRELATION`) gets no probability:
:func:`detect_gadolinium` returns ``None`` with the reason, never a guess. Everything here is a
pure function of arrays.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from .grids import T1_LINEAR_SHAPE

__all__ = [
    "CONFIDENT_PROBABILITY",
    "CONTRAST_SOURCES",
    "ContrastFrom",
    "FEATURES",
    "MIN_TEMPLATE_CORRELATION",
    "GadoliniumDetector",
    "GadoliniumResult",
    "default_detector",
    "detect_gadolinium",
    "detection_metadata",
    "gadolinium_features",
    "placement_problem",
    "template_correlation",
    "treat_as_contrast_enhanced",
]

#: Regions of the t1-linear grid, read off the template's priors: name -> description.
REGIONS: dict[str, str] = {
    "brain": "template brain eroded by BRAIN_EROSION_MM",
    "deep": "template brain eroded by DEEP_EROSION_MM (deep veins, choroid plexus, lesions)",
    "ventricles": "CSF prior > 0.8 10 mm inside the brain, dilated 3 mm (choroid plexus), "
    "within the brain region",
}
#: The template brain is eroded by this much (mm) before anything is measured.
BRAIN_EROSION_MM = 4
#: Erosion (mm) of the ``deep`` region, far from the scalp, skull and dura.
DEEP_EROSION_MM = 8
#: Side (voxels of 1 mm) of the box filter applied to the image before anything is measured.
SMOOTHING_MM = 2
#: Side (mm) of the box whose mean is the local background of a voxel: a vessel or the choroid
#: plexus is bright against it, a bias field or a brighter white matter is not.
BACKGROUND_MM = 9
#: The features: name -> (region, measure, value), in white-matter units.
#: ``above``: ``log10(fraction of the region's voxels above value + FRACTION_FLOOR)``;
#: ``local_above``: the same for the voxel minus its local background;
#: ``local_percentile``: that percentile of the voxel minus its local background.
FEATURES: dict[str, tuple[str, str, float]] = {
    "bright_ventricles": ("ventricles", "above", 1.2),
    "vessels_ventricles": ("ventricles", "local_above", 0.3),
    "vessels_deep": ("deep", "local_percentile", 99.9),
}
#: Added to each fraction before its logarithm (one voxel in 10,000).
FRACTION_FLOOR = 1e-4
#: Below this correlation with the template (smoothed, in its brain dilated by 2 mm), t1-linear
#: did not place the image. Placed images measured 0.60-0.90 (real BraTS, simulated whole heads
#: and skull-stripped ones); the same shifted by 15 mm, rotated by 25 degrees or flipped
#: 0.37-0.57 (25 of 30 below 0.55), shifted by 8 mm 0.40-0.67: gross failures are mostly
#: caught, small ones are not (docs/gadolinium_detector.md).
MIN_TEMPLATE_CORRELATION = 0.55
#: Name of the shipped parameters in ``ce2nce_pipeline/data``.
PARAMETERS_FILE = "gadolinium_detector.json"


@dataclass(frozen=True)
class _Regions:
    masks: dict[str, NDArray[np.bool_]]
    white_matter: NDArray[np.bool_]
    around_brain: NDArray[np.bool_]  # 2 mm grid
    template: NDArray[np.float64]  # 2 mm grid, smoothed, inside around_brain


def _coarse(data: NDArray[np.floating]) -> NDArray[np.float32]:
    """2x2x2 block means (the odd last plane dropped), then a Gaussian of 1.5 voxels (3 mm)."""
    x, y, z = (size // 2 * 2 for size in data.shape)
    blocks = np.asarray(data[:x, :y, :z], dtype=np.float32)
    blocks = blocks.reshape(x // 2, 2, y // 2, 2, z // 2, 2).mean(axis=(1, 3, 5))
    return ndimage.gaussian_filter(blocks, 1.5)


@lru_cache(maxsize=1)
def _regions() -> _Regions:
    from .intensity import white_matter_region  # torch: loaded with the detector, not its choices
    from .templates import (
        CROP_AFFINE,
        CROP_SHAPE,
        template_brain_and_priors,
        template_on_grid,
        tissue_priors,
    )

    brain, _, _ = template_brain_and_priors()
    _, _, csf = tissue_priors()
    inner = ndimage.binary_erosion(brain, iterations=BRAIN_EROSION_MM)
    deep = ndimage.binary_erosion(brain, iterations=DEEP_EROSION_MM)
    deepest = ndimage.binary_erosion(brain, iterations=10)
    ventricles = ndimage.binary_dilation((csf > 0.8) & deepest, iterations=3) & inner
    around = _coarse(ndimage.binary_dilation(brain, iterations=2).astype(np.float32)) > 0.5
    template = _coarse(template_on_grid(CROP_SHAPE, CROP_AFFINE))[around].astype(np.float64)
    template -= template.mean()
    masks = {"brain": inner, "deep": deep, "ventricles": ventricles}
    for array in (*masks.values(), around, template):
        array.flags.writeable = False
    return _Regions(masks, white_matter_region(T1_LINEAR_SHAPE), around, template)


def _check_grid(values: NDArray[np.floating]) -> str | None:
    if values.shape != T1_LINEAR_SHAPE:
        return f"not on the t1-linear grid (shape {values.shape}, expected {T1_LINEAR_SHAPE})"
    if not np.isfinite(values).all():
        return "holds NaN or infinite voxels"
    return None


def template_correlation(data: ArrayLike) -> float:
    """Correlation of a t1-linear image with the template around the template's brain.

    Both on a 2 mm grid smoothed by a Gaussian of 3 mm, the image clipped at the 99th
    percentile of the template's brain (scalp fat would dominate a whole head), over the
    template's brain dilated by 2 mm (so the brain's outline counts, skull-stripped or not).
    """
    values = np.asarray(data, dtype=np.float32)
    problem = _check_grid(values)
    if problem:
        raise ValueError(f"image {problem}")
    regions = _regions()
    ceiling = float(np.percentile(values[regions.masks["brain"]], 99))
    image = _coarse(np.minimum(values, ceiling))[regions.around_brain].astype(np.float64)
    image -= image.mean()
    denominator = math.sqrt(float(image @ image) * float(regions.template @ regions.template))
    return float(image @ regions.template) / denominator if denominator > 0 else 0.0


def placement_problem(data: ArrayLike) -> str | None:
    """Why the detector cannot judge a t1-linear image, or None when it can.

    Not on the t1-linear grid, non-finite, no signal in the template's white matter, or a
    correlation with the template below :data:`MIN_TEMPLATE_CORRELATION` (t1-linear did not
    place it).
    """
    values = np.asarray(data, dtype=np.float32)
    problem = _check_grid(values)
    if problem:
        return problem
    regions = _regions()
    reference = float(np.median(values[regions.white_matter]))
    if not reference > float(values.min()):
        return "no signal in the template's white matter: t1-linear did not place the image"
    correlation = template_correlation(values)
    if correlation < MIN_TEMPLATE_CORRELATION:
        return (
            f"correlation with the template {correlation:.2f} < {MIN_TEMPLATE_CORRELATION}: "
            "t1-linear did not place the image on MNI152NLin2009cSym"
        )
    return None


def gadolinium_features(data: ArrayLike) -> dict[str, float]:
    """The detector's :data:`FEATURES` of a t1-linear image.

    Parameters
    ----------
    data : array_like
        A t1-linear image (169x208x179, MNI152NLin2009cSym), any intensity scale.

    Returns
    -------
    dict
        Feature name -> value (:data:`FEATURES`), in :data:`FEATURES` order.

    Raises
    ------
    ValueError
        If the image is not on the t1-linear grid, holds non-finite values or has no signal in
        the template's white matter.
    """
    values = np.asarray(data, dtype=np.float32)
    problem = _check_grid(values)
    if problem:
        raise ValueError(f"image {problem}")
    regions = _regions()
    reference = float(np.median(values[regions.white_matter]))
    low = float(values.min())
    if not reference > low:
        raise ValueError("no signal in the template's white matter: is it a t1-linear image?")
    ratio = ndimage.uniform_filter((values - low) / (reference - low), SMOOTHING_MM)
    local = ratio - ndimage.uniform_filter(ratio, BACKGROUND_MM)
    features = {}
    for name, (region, measure, value) in FEATURES.items():
        mask = regions.masks[region]
        if measure == "local_percentile":
            features[name] = float(np.percentile(local[mask], value))
            continue
        voxels = (ratio if measure == "above" else local)[mask]
        fraction = float(np.count_nonzero(voxels > value)) / voxels.size
        features[name] = math.log10(fraction + FRACTION_FLOOR)
    return features


@dataclass(frozen=True)
class GadoliniumDetector:
    """A logistic regression on standardised features, and its decision threshold.

    ``probability = 1 / (1 + exp(-(intercept + sum(coef * (x - mean) / scale))))``; an image is
    called contrast-enhanced when the probability is at least ``threshold``.
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coefficients: tuple[float, ...]
    intercept: float
    threshold: float
    provenance: dict[str, Any]

    def __post_init__(self) -> None:
        n = len(self.features)
        if not n or any(len(v) != n for v in (self.mean, self.scale, self.coefficients)):
            raise ValueError("detector parameters: features, mean, scale, coefficients differ")
        unknown = [name for name in self.features if name not in FEATURES]
        if unknown:
            raise ValueError(f"detector parameters: unknown features {unknown}")
        if any(not s > 0 for s in self.scale) or not 0.0 < self.threshold < 1.0:
            raise ValueError("detector parameters: scales must be > 0, threshold in (0, 1)")

    def probability(self, features: dict[str, float]) -> float:
        """Probability of gadolinium from :func:`gadolinium_features`' output."""
        z = self.intercept + sum(
            c * (features[name] - m) / s
            for name, m, s, c in zip(
                self.features, self.mean, self.scale, self.coefficients, strict=True
            )
        )
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def to_json(self) -> str:
        """The parameters as JSON (the format of ``data/gadolinium_detector.json``)."""
        return (
            json.dumps(
                {
                    "features": list(self.features),
                    "mean": list(self.mean),
                    "scale": list(self.scale),
                    "coefficients": list(self.coefficients),
                    "intercept": self.intercept,
                    "threshold": self.threshold,
                    "provenance": self.provenance,
                },
                indent=2,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, path: str | Path) -> GadoliniumDetector:
        """Read parameters written by :meth:`to_json` (``ValueError`` naming the file)."""
        try:
            raw = json.loads(Path(path).read_text())
            return cls(
                features=tuple(raw["features"]),
                mean=tuple(float(v) for v in raw["mean"]),
                scale=tuple(float(v) for v in raw["scale"]),
                coefficients=tuple(float(v) for v in raw["coefficients"]),
                intercept=float(raw["intercept"]),
                threshold=float(raw["threshold"]),
                provenance=dict(raw.get("provenance", {})),
            )
        except (OSError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: not gadolinium detector parameters ({error})") from None


@lru_cache(maxsize=1)
def default_detector() -> GadoliniumDetector:
    """The detector shipped in ``ce2nce_pipeline/data/gadolinium_detector.json``."""
    path = resources.files("ce2nce_pipeline") / "data" / PARAMETERS_FILE
    return GadoliniumDetector.from_json(Path(str(path)))


@dataclass(frozen=True)
class GadoliniumResult:
    """What the detector says of one image.

    ``probability`` and ``enhanced`` are None, and ``reason`` says why, when the image could
    not be judged (:func:`placement_problem`).
    """

    probability: float | None
    enhanced: bool | None
    threshold: float
    features: dict[str, float]
    reason: str | None = None


def detect_gadolinium(
    data: ArrayLike, detector: GadoliniumDetector | None = None
) -> GadoliniumResult:
    """Probability that a t1-linear image carries gadolinium (None with a reason if unplaced).

    Parameters
    ----------
    data : array_like
        A t1-linear image (169x208x179, MNI152NLin2009cSym).
    detector : GadoliniumDetector, optional
        Default: :func:`default_detector`.
    """
    detector = detector or default_detector()
    problem = placement_problem(data)
    if problem:
        return GadoliniumResult(None, None, detector.threshold, {}, problem)
    features = gadolinium_features(data)
    probability = detector.probability(features)
    return GadoliniumResult(
        probability, probability >= detector.threshold, detector.threshold, features
    )


def detection_metadata(
    result: GadoliniumResult, labelled_ce: bool, detected_ce: bool = False
) -> dict[str, Any]:
    """The sidecar fields of a t1-linear image: the probability and how it was reached.

    ``detected_ce``: the image had no contrast label and the run treated it as
    contrast-enhanced on the detector's word (``--contrast-from both``), recorded as
    ``GadoliniumDetection.TreatedAs`` ``ce`` with ``ContrastFrom``.

    ``GadoliniumProbability`` is the probability rounded to 4 decimals, or ``"n/a"`` when the
    image could not be judged (``GadoliniumDetection.Reason`` says why).
    ``GadoliniumDetection.ContrastMismatch`` is true when the detector's call (probability at
    least the threshold) contradicts the label of the BIDS metadata, ``"n/a"`` without a call.
    """
    label = "ce" if labelled_ce else "nce"
    detection: dict[str, Any] = {
        "Label": label,
        "Threshold": round(result.threshold, 4),
        "Parameters": f"ce2nce_pipeline/data/{PARAMETERS_FILE}",
    }
    if detected_ce:
        detection |= {
            "TreatedAs": "ce",
            "ContrastFrom": f"the detector (--contrast-from both, probability >= "
            f"{CONFIDENT_PROBABILITY})",
        }
    if result.probability is None:
        detection |= {"Called": "n/a", "ContrastMismatch": "n/a", "Reason": result.reason}
        return {"GadoliniumProbability": "n/a", "GadoliniumDetection": detection}
    called = "ce" if result.enhanced else "nce"
    detection |= {
        "Called": called,
        "ContrastMismatch": called != label,
        "Features": {name: round(value, 4) for name, value in result.features.items()},
    }
    probability = round(result.probability, 4)
    return {"GadoliniumProbability": probability, "GadoliniumDetection": detection}


#: How the participant level decides which images to translate (``--contrast-from``):
#: ``labels`` (the BIDS metadata only) or ``both`` (the labels, and an unlabelled image the
#: detector is confident about).
ContrastFrom = Literal["labels", "both"]
CONTRAST_SOURCES: tuple[str, ...] = get_args(ContrastFrom)
#: With ``--contrast-from both``, an unlabelled image is treated as contrast-enhanced from this
#: probability on. On the training and validation images every image at or above it was
#: contrast-enhanced but one real T1w-nce (sub-TCIA03265, 0.98); the faint low-quality simulated
#: T1w-ce below it (0.56, 0.10) stay untranslated (docs/gadolinium_detector.md).
CONFIDENT_PROBABILITY = 0.9


def treat_as_contrast_enhanced(
    labelled_ce: bool, result: GadoliniumResult, contrast_from: str
) -> tuple[bool, str | None]:
    """Whether to translate an image, and the line that says so when the detector decided.

    Parameters
    ----------
    labelled_ce
        Whether the BIDS metadata call the image contrast-enhanced.
    result
        What :func:`detect_gadolinium` said of its t1-linear image.
    contrast_from
        One of :data:`CONTRAST_SOURCES`.

    Returns
    -------
    treat, line
        ``line`` is None when the label decides unchanged.
    """
    if contrast_from not in CONTRAST_SOURCES:
        raise ValueError(f"contrast_from {contrast_from!r} is not one of {CONTRAST_SOURCES}")
    if labelled_ce or contrast_from == "labels":
        return labelled_ce, None
    if result.probability is None:
        return False, f"no contrast label and gadolinium n/a ({result.reason}): not translated"
    if result.probability >= CONFIDENT_PROBABILITY:
        return True, (
            f"no contrast label, gadolinium probability {result.probability:.3f} >= "
            f"{CONFIDENT_PROBABILITY}: treated as contrast-enhanced and translated"
        )
    return False, None
