"""Intensity scaling and grid resampling between the t1-linear grid and the network grid.

Bottani et al. (2024, §2.2) feed the networks with Clinica ``t1-linear`` images
(169×208×179 voxels, 1 mm isotropic, MNI152NLin2009cSym) min-max scaled to [0, 1] and
resampled to 128×128×128 with PyTorch's trilinear interpolation; the outputs are resampled
back to 169×208×179 the same way before segmentation.

Everything here is a pure function of arrays: NumPy arrays or torch tensors in, the same kind
out, inputs never modified. Resampling always uses
``torch.nn.functional.interpolate(mode="trilinear", align_corners=False)``: voxel *centres*
are mapped so that the two grids cover the same physical extent (the outer voxel *edges*
coincide), which is PyTorch's default and what the paper's code used. No anti-aliasing filter
is applied when downsampling (169 → 128 is a factor 1.32), as in the paper.

A network trained on the t1-linear grid itself (network grid 169×208×179: no resampling, the
default model's) runs on the volume zero-padded to a multiple of :data:`SIZE_MULTIPLE`
(:func:`run_padded`), so no anatomy is blurred by a round trip.

A network on a coarser grid returns to the t1-linear grid one of two ways
(:data:`OUTPUT_RESAMPLINGS`, :func:`keep_detail`): ``"round-trip"`` resamples its output (the
paper; the image loses the detail finer than the network grid), ``"keep-detail"`` resamples
only the change the network made and applies it to the full-resolution input, so anatomy the
network did not touch keeps every voxel's detail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from .grids import (
    NETWORK_SHAPE,
    OUTPUT_RESAMPLINGS,
    RESAMPLING,
    T1_LINEAR_SHAPE,
    OutputResampling,
)

__all__ = [
    "NETWORK_SHAPE",
    "RESAMPLING",
    "OUTPUT_RESAMPLINGS",
    "OutputResampling",
    "SIZE_MULTIPLE",
    "T1_LINEAR_SHAPE",
    "MinMaxParams",
    "check_finite_nonconstant",
    "check_t1_linear_shape",
    "is_t1_linear_shape",
    "keep_detail",
    "minmax_scale",
    "minmax_unscale",
    "network_round_trip",
    "pad_to_multiple",
    "resample_to_shape",
    "run_padded",
    "to_network_grid",
    "to_t1_linear_grid",
]


ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class MinMaxParams:
    """Parameters of a min-max scaling ``scaled = (x - minimum) / (maximum - minimum)``.

    Attributes
    ----------
    minimum, maximum : float
        The input's minimum and maximum (``maximum > minimum``).
    """

    minimum: float
    maximum: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.minimum) and np.isfinite(self.maximum)):
            raise ValueError(f"min-max bounds must be finite, got {self.minimum}, {self.maximum}")
        if not self.maximum > self.minimum:
            raise ValueError(
                f"min-max maximum ({self.maximum}) must exceed minimum ({self.minimum})"
            )

    @property
    def scale(self) -> float:
        """``maximum - minimum``."""
        return self.maximum - self.minimum

    def to_dict(self) -> dict[str, float]:
        """Return ``{"minimum": ..., "maximum": ...}`` (JSON-serialisable)."""
        return {"minimum": self.minimum, "maximum": self.maximum}


def _describe(source: str | None) -> str:
    return f"{source}: " if source else ""


def check_finite_nonconstant(
    data: np.ndarray | torch.Tensor, *, source: str | None = None
) -> None:
    """Raise ``ValueError`` unless ``data`` is non-empty, all finite and not constant.

    Parameters
    ----------
    data : numpy.ndarray or torch.Tensor
        Image intensities.
    source : str, optional
        Name of the image (e.g. its file name), used in the error message.

    Raises
    ------
    ValueError
        If ``data`` is empty, holds NaN or infinite values, or a single value.
    """
    tensor = torch.as_tensor(data)
    if tensor.numel() == 0:
        raise ValueError(f"{_describe(source)}image is empty")
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise ValueError(f"{_describe(source)}image holds {bad} NaN or infinite voxel(s)")
    if bool(tensor.min() == tensor.max()):
        raise ValueError(
            f"{_describe(source)}image is constant (every voxel = {tensor.min().item()}): "
            "it cannot be min-max scaled"
        )


def minmax_scale(data: ArrayT, *, source: str | None = None) -> tuple[ArrayT, MinMaxParams]:
    """Scale intensities linearly to [0, 1] and return the parameters used.

    Parameters
    ----------
    data : numpy.ndarray or torch.Tensor
        Intensities of any shape; must be finite and not constant.
    source : str, optional
        Name of the image for error messages.

    Returns
    -------
    scaled : numpy.ndarray or torch.Tensor
        Same kind and shape as ``data``; floating dtype kept, integer input becomes float32.
        ``scaled.min() == 0`` and ``scaled.max() == 1``.
    params : MinMaxParams
        The input's minimum and maximum, for :func:`minmax_unscale`.

    Raises
    ------
    ValueError
        See :func:`check_finite_nonconstant`.
    """
    check_finite_nonconstant(data, source=source)
    if isinstance(data, torch.Tensor):
        values = data if data.is_floating_point() else data.to(torch.float32)
        params = MinMaxParams(float(values.min().item()), float(values.max().item()))
        return (values - params.minimum) / params.scale, params
    values = np.asarray(data)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float32)
    params = MinMaxParams(float(values.min()), float(values.max()))
    scaled = (values - values.dtype.type(params.minimum)) / values.dtype.type(params.scale)
    return scaled, params


def minmax_unscale(scaled: ArrayT, params: MinMaxParams) -> ArrayT:
    """Map [0, 1]-scaled intensities back to ``[params.minimum, params.maximum]``.

    The inverse of :func:`minmax_scale`: ``x = scaled * (maximum - minimum) + minimum``.
    Values outside [0, 1] are mapped linearly (not clipped).
    """
    if isinstance(scaled, torch.Tensor):
        return scaled * params.scale + params.minimum
    values = np.asarray(scaled)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float32)
    return values * values.dtype.type(params.scale) + values.dtype.type(params.minimum)


def resample_to_shape(volume: ArrayT, shape: tuple[int, int, int]) -> ArrayT:
    """Resample a volume to ``shape`` with trilinear interpolation (``align_corners=False``).

    Parameters
    ----------
    volume : numpy.ndarray or torch.Tensor
        A 3D volume ``D×H×W`` or a batch ``N×C×D×H×W``. Tensors stay on their device.
    shape : tuple of 3 int
        Target spatial shape.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        Same kind and number of dimensions as ``volume``, spatial shape ``shape``. Floating
        dtypes are kept (float16/bfloat16 tensors are interpolated in float32 and cast back);
        integer input becomes float32. Each output voxel is a convex combination of input
        voxels, so the output stays within the input's range.

    Raises
    ------
    ValueError
        If ``volume`` is neither 3D nor 5D, or ``shape`` is not 3 positive integers.
    """
    if len(shape) != 3 or any(int(s) != s or s < 1 for s in shape):
        raise ValueError(f"shape must be 3 positive integers, got {shape!r}")
    is_numpy = not isinstance(volume, torch.Tensor)
    tensor = torch.from_numpy(np.ascontiguousarray(volume)) if is_numpy else volume
    if tensor.ndim not in (3, 5):
        raise ValueError(
            f"expected a 3D volume (D×H×W) or a 5D batch (N×C×D×H×W), got shape "
            f"{tuple(tensor.shape)}"
        )
    out_dtype = tensor.dtype if tensor.is_floating_point() else torch.float32
    work_dtype = torch.float64 if out_dtype == torch.float64 else torch.float32
    batch = tensor.to(work_dtype)
    if tensor.ndim == 3:
        batch = batch[None, None]
    if tuple(batch.shape[2:]) == tuple(shape):
        resampled = batch.clone()
    else:
        resampled = F.interpolate(
            batch, size=tuple(int(s) for s in shape), mode="trilinear", align_corners=False
        )
    if tensor.ndim == 3:
        resampled = resampled[0, 0]
    resampled = resampled.to(out_dtype)
    return resampled.numpy() if is_numpy else resampled


def to_network_grid(volume: ArrayT, shape: tuple[int, int, int] = NETWORK_SHAPE) -> ArrayT:
    """Resample a t1-linear volume (or batch) to the network grid, 128³ by default."""
    return resample_to_shape(volume, shape)


def to_t1_linear_grid(volume: ArrayT, shape: tuple[int, int, int] = T1_LINEAR_SHAPE) -> ArrayT:
    """Resample a network-grid volume (or batch) back to the t1-linear grid 169×208×179."""
    return resample_to_shape(volume, shape)


def is_t1_linear_shape(shape: tuple[int, ...]) -> bool:
    """Return whether ``shape`` is exactly the t1-linear grid's 169×208×179."""
    return tuple(int(s) for s in shape) == T1_LINEAR_SHAPE


def check_t1_linear_shape(shape: tuple[int, ...], *, source: str | None = None) -> None:
    """Raise ``ValueError`` unless ``shape`` is the t1-linear grid's 169×208×179.

    Parameters
    ----------
    shape : tuple of int
        The image's array shape.
    source : str, optional
        Name of the image for the error message.
    """
    if not is_t1_linear_shape(shape):
        expected = "×".join(map(str, T1_LINEAR_SHAPE))
        got = "×".join(map(str, shape))
        raise ValueError(
            f"{_describe(source)}image of shape {got} is not on the t1-linear grid "
            f"({expected}, 1 mm, MNI152NLin2009cSym); preprocess it with Clinica t1-linear "
            "(or ce2nce's t1-linear stage) first"
        )


#: Every architecture halves its grid five times at most: sides must be multiples of this.
SIZE_MULTIPLE: int = 32


def pad_to_multiple(
    batch: torch.Tensor, multiple: int = SIZE_MULTIPLE
) -> tuple[torch.Tensor, tuple[slice, slice, slice]]:
    """Zero-pad an ``N×C×D×H×W`` batch at the far end of each side to a multiple of ``multiple``.

    A network on the full 169×208×179 t1-linear grid sees 192×224×192; the zeros are the
    scaled images' background (their minimum). Returns the padded batch and the slices that
    crop a network output back to the input's spatial shape. No copy when nothing is padded.
    """
    if batch.ndim != 5:
        raise ValueError(f"expected an N×C×D×H×W batch, got shape {tuple(batch.shape)}")
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"multiple must be a positive integer, got {multiple!r}")
    sides = tuple(int(s) for s in batch.shape[2:])
    extra = [(-side) % multiple for side in sides]
    crop = tuple(slice(0, side) for side in sides)
    if not any(extra):
        return batch, crop
    # F.pad lists the last dimension first, (before, after) for each.
    padding = (0, extra[2], 0, extra[1], 0, extra[0])
    return torch.nn.functional.pad(batch, padding), crop


def run_padded(
    network: Callable[[torch.Tensor], torch.Tensor],
    batch: torch.Tensor,
    multiple: int = SIZE_MULTIPLE,
) -> torch.Tensor:
    """Apply ``network`` to ``batch`` zero-padded to a multiple of ``multiple``; crop back."""
    padded, crop = pad_to_multiple(batch, multiple)
    output = network(padded)
    if tuple(output.shape[2:]) != tuple(padded.shape[2:]):
        raise RuntimeError(
            f"network returned shape {tuple(output.shape)} for input {tuple(padded.shape)}"
        )
    return output[(slice(None), slice(None), *crop)]


def network_round_trip(volume: ArrayT, shape: tuple[int, int, int] = NETWORK_SHAPE) -> ArrayT:
    """Resample a volume to the network grid and back (trilinear both ways).

    What the paper's pipeline does to every image it translates, and what its evaluation did
    to the reference T1w-nce and the T1w-ce as well (the paper-compatible metrics).
    """
    original = tuple(int(s) for s in np.shape(volume)[-3:])
    return resample_to_shape(resample_to_shape(volume, shape), original)


def keep_detail(volume: ArrayT, round_trip_input: ArrayT, round_trip_output: ArrayT) -> ArrayT:
    """Apply a network's change, resampled to the input grid, to the full-resolution input.

    ``volume + (round_trip_output - round_trip_input)``, where ``round_trip_input`` is the
    volume taken to the network grid and back and ``round_trip_output`` the network's output
    on that grid brought back the same way. Trilinear resampling is linear, so this is the
    network's change on its own grid, resampled; the detail finer than the network grid
    (``volume - round_trip_input``), which the round trip alone would remove, stays. Where the
    network changes nothing the volume comes back exactly. All three in the same intensity
    units and shape; nothing is clipped.
    """
    shapes = {tuple(np.shape(x)) for x in (volume, round_trip_input, round_trip_output)}
    if len(shapes) != 1:
        raise ValueError(f"keep_detail needs three volumes of one shape, got {sorted(shapes)}")
    return volume + (round_trip_output - round_trip_input)
