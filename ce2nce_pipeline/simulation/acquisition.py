"""Acquisition differences between the pre- and the post-contrast series.

Each effect acts on a whole array and returns a new one (float32): contrast change, thick
slices, blur, bias field, ghosting and Rician noise. :data:`ACQUISITION` lists them, in the
order the simulator applies them, with their parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from .anatomy import Anatomy
from .effects import from_parameters, parameter

__all__ = [
    "ACQUISITION",
    "AcquisitionEffect",
    "bias_field",
    "blur",
    "contrast_change",
    "ghosting",
    "lower_resolution",
    "rician_noise",
]


def contrast_change(
    data: np.ndarray, anatomy: Anatomy, *, gm_wm_factor: float = 1.0, csf_factor: float = 1.0
) -> np.ndarray:
    """Change the grey/white and CSF/grey contrast with a monotone piecewise-linear map.

    WM keeps its intensity; GM moves to ``WM - gm_wm_factor * (WM - GM)``; CSF to
    ``GM' - csf_factor * (GM - CSF)``. Factors < 1 flatten the contrast, as on many
    post-contrast gradient-echo series.
    """
    lv = anatomy.intensities
    gm = lv.wm - gm_wm_factor * (lv.wm - lv.gm)
    csf = max(gm - csf_factor * (lv.gm - lv.csf), 0.05 * lv.wm)
    top = max(float(data.max()), 2.0 * lv.wm)
    xs = np.array([min(0.0, float(data.min())), 0.0, lv.csf, lv.gm, lv.wm, top])
    ys = np.array([xs[0], 0.0, csf, gm, lv.wm, top])
    return np.interp(data, xs, ys).astype(np.float32)


def lower_resolution(
    data: np.ndarray, voxel_size: np.ndarray, *, axis: int = 2, thickness_mm: float = 4.0
) -> np.ndarray:
    """Thick-slice acquisition along ``axis``: average slabs of ``thickness_mm``, keep one
    sample per slab, interpolate back linearly."""
    step = max(1, int(round(thickness_mm / float(voxel_size[axis]))))
    if step == 1:
        return data.astype(np.float32, copy=True)
    slab = ndimage.uniform_filter1d(data.astype(np.float32), step, axis=axis, mode="nearest")
    n = data.shape[axis]
    samples = np.arange(0, n, step)
    if samples[-1] != n - 1:
        samples = np.append(samples, n - 1)
    coarse = np.take(slab, samples, axis=axis)
    position = np.interp(np.arange(n), samples, np.arange(len(samples)))
    lo = np.floor(position).astype(int)
    hi = np.minimum(lo + 1, len(samples) - 1)
    frac = (position - lo).astype(np.float32)
    shape = [1, 1, 1]
    shape[axis] = n
    frac = frac.reshape(shape)
    return np.take(coarse, lo, axis=axis) * (1 - frac) + np.take(coarse, hi, axis=axis) * frac


def blur(data: np.ndarray, voxel_size: np.ndarray, *, fwhm_mm: float = 1.0) -> np.ndarray:
    """Isotropic Gaussian blur of ``fwhm_mm``."""
    if fwhm_mm <= 0:
        return data.astype(np.float32, copy=True)
    sigma = fwhm_mm / 2.3548 / np.asarray(voxel_size, dtype=float)
    return ndimage.gaussian_filter(data.astype(np.float32), sigma, mode="nearest")


def bias_field(
    shape: tuple[int, int, int], rng: np.random.Generator, *, amplitude: float = 0.05
) -> np.ndarray:
    """Smooth multiplicative field ``exp(amplitude * f)``, f a random Legendre polynomial of
    degree <= 3 scaled to max |f| = 1."""
    axes = [np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in shape]
    legendre = [np.polynomial.legendre.legvander(a, 3).astype(np.float32) for a in axes]
    field_ = np.zeros(shape, dtype=np.float32)
    for i in range(4):
        for j in range(4 - i):
            for k in range(4 - i - j):
                if i + j + k == 0:
                    continue
                c = rng.normal(0.0, 1.0 / (i + j + k))
                field_ += c * (
                    legendre[0][:, i, None, None]
                    * legendre[1][None, :, j, None]
                    * legendre[2][None, None, :, k]
                )
    field_ /= max(float(np.abs(field_).max()), 1e-6)
    return np.exp(amplitude * field_).astype(np.float32)


def ghosting(data: np.ndarray, *, axis: int = 1, amplitude: float = 0.03) -> np.ndarray:
    """Motion / N/2 ghosts: faint copies shifted by half and a quarter of the field of view
    along the phase-encoding ``axis``."""
    n = data.shape[axis]
    data = data.astype(np.float32)
    ghost = amplitude * np.roll(data, n // 2, axis=axis)
    ghost += 0.5 * amplitude * np.roll(data, n // 4, axis=axis)
    return data + ghost


def rician_noise(data: np.ndarray, rng: np.random.Generator, *, sigma: float) -> np.ndarray:
    """Rician noise of parameter ``sigma`` (magnitude of a complex Gaussian signal)."""
    if sigma <= 0:
        return data.astype(np.float32, copy=True)
    real = data + rng.normal(0.0, sigma, data.shape).astype(np.float32)
    imag = rng.normal(0.0, sigma, data.shape).astype(np.float32)
    return np.sqrt(real**2 + imag**2).astype(np.float32)


@dataclass(frozen=True)
class ContrastChangeParameters:
    """Parameters of :func:`contrast_change` (factors < 1 flatten the contrast)."""

    gm_wm_factor: float = parameter(1.0, "gm_wm_contrast")
    csf_factor: float = parameter(1.0, "csf_contrast")


@dataclass(frozen=True)
class LowResolutionParameters:
    """Parameters of :func:`lower_resolution`: slice axis and thickness (mm)."""

    axis: int = parameter(2, "slice_axis")
    thickness_mm: float = parameter(4.0, "slice_thickness_mm")


@dataclass(frozen=True)
class BlurParameters:
    """Parameters of :func:`blur`: its full width at half maximum (mm)."""

    fwhm_mm: float = parameter(0.5, "blur_fwhm_mm")


@dataclass(frozen=True)
class BiasFieldParameters:
    """Parameters of :func:`bias_field`: its amplitude (log scale)."""

    amplitude: float = parameter(0.05, "bias_amplitude")


@dataclass(frozen=True)
class GhostingParameters:
    """Parameters of :func:`ghosting`: phase-encoding axis and ghost amplitude."""

    axis: int = parameter(1, "ghost_axis")
    amplitude: float = parameter(0.03, "ghost_amplitude")


@dataclass(frozen=True)
class NoiseParameters:
    """Parameters of :func:`rician_noise`: its sigma as a fraction of the WM intensity."""

    sigma: float = parameter(0.01, "noise_sigma")


def _apply_contrast_change(
    data: np.ndarray, anatomy: Anatomy, params: Any, rng: np.random.Generator
) -> np.ndarray:
    return contrast_change(
        data, anatomy, gm_wm_factor=params.gm_wm_factor, csf_factor=params.csf_factor
    )


def _apply_low_resolution(
    data: np.ndarray, anatomy: Anatomy, params: Any, rng: np.random.Generator
) -> np.ndarray:
    return lower_resolution(
        data, anatomy.voxel_size, axis=params.axis, thickness_mm=params.thickness_mm
    )


def _apply_blur(
    data: np.ndarray, anatomy: Anatomy, params: Any, rng: np.random.Generator
) -> np.ndarray:
    return blur(data, anatomy.voxel_size, fwhm_mm=params.fwhm_mm)


def _apply_bias_field(
    data: np.ndarray, anatomy: Anatomy, params: Any, rng: np.random.Generator
) -> np.ndarray:
    return data * bias_field(anatomy.shape, rng, amplitude=params.amplitude)


def _apply_ghosting(
    data: np.ndarray, anatomy: Anatomy, params: Any, rng: np.random.Generator
) -> np.ndarray:
    return ghosting(data, axis=params.axis, amplitude=params.amplitude)


def _apply_noise(
    data: np.ndarray, anatomy: Anatomy, params: Any, rng: np.random.Generator
) -> np.ndarray:
    return rician_noise(data, rng, sigma=params.sigma * anatomy.intensities.wm)


@dataclass(frozen=True)
class AcquisitionEffect:
    """An acquisition difference of the post-contrast series.

    Attributes
    ----------
    name
        Its name (a switch of ``SimulationParameters``).
    function
        ``function(data, anatomy, parameters, rng) -> data``.
    parameters
        Its parameter dataclass, whose fields name the ``SimulationParameters`` they come from.
    """

    name: str
    function: Callable[[np.ndarray, Anatomy, Any, np.random.Generator], np.ndarray]
    parameters: type

    def apply(
        self, data: np.ndarray, anatomy: Anatomy, rng: np.random.Generator, values: object
    ) -> np.ndarray:
        """Apply the effect with the parameters read from ``values`` (``SimulationParameters``)."""
        return self.function(data, anatomy, from_parameters(self.parameters, values), rng)


#: Acquisition differences by name, in the order they are applied (the order also seeds each
#: one's random generator: do not reorder).
ACQUISITION: dict[str, AcquisitionEffect] = {
    effect.name: effect
    for effect in (
        AcquisitionEffect("contrast_change", _apply_contrast_change, ContrastChangeParameters),
        AcquisitionEffect("low_resolution", _apply_low_resolution, LowResolutionParameters),
        AcquisitionEffect("blur", _apply_blur, BlurParameters),
        AcquisitionEffect("bias_field", _apply_bias_field, BiasFieldParameters),
        AcquisitionEffect("ghosting", _apply_ghosting, GhostingParameters),
        AcquisitionEffect("noise", _apply_noise, NoiseParameters),
    )
}
