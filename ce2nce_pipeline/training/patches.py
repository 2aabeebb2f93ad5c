"""The cubic patches the cGANs' discriminator scores.

``paper`` mode (Bottani et al. 2024, §2.3.2): patches of 64³ every 50 voxels from the 128³
volume, i.e. offsets 0 and 50 per axis and 2³ = **8 patches**. The last patch of an axis ends at
voxel 113, so **voxels 114–127 of every axis are never shown to the discriminator**: the
adversarial loss says nothing about the last 14 slices of each axis (the L1 loss still does).
:meth:`PatchGrid.uncovered` reports this for any grid.

``cover`` mode: per axis, the fewest patches whose step exceeds neither the stride nor the
patch side, spread evenly from the first to the last voxel, so that every voxel is in at
least one patch (128³, 64³, stride 50: offsets 0, 32, 64 per axis, 27 patches).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["PatchGrid", "axis_offsets", "make_patch_grid"]


def axis_offsets(size: int, patch_size: int, stride: int, mode: str = "paper") -> tuple[int, ...]:
    """Start indices of the patches along one axis.

    Parameters
    ----------
    size : int
        Length of the axis (voxels).
    patch_size : int
        Side of the patches; at most ``size``.
    stride : int
        Step between patches (``paper``) or largest step allowed (``cover``).
    mode : {"paper", "cover"}
        ``paper``: ``0, stride, 2·stride, ...`` while the patch fits (may leave the end
        uncovered). ``cover``: ``ceil((size - patch_size) / min(stride, patch_size)) + 1``
        offsets spread evenly from 0 to ``size - patch_size``, so that consecutive patches
        touch or overlap.

    Raises
    ------
    ValueError
        For non-positive sizes, a patch larger than the axis or an unknown mode.
    """
    for name, value in (("size", size), ("patch_size", patch_size), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if patch_size > size:
        raise ValueError(f"patch_size {patch_size} exceeds the volume side {size}")
    if mode == "paper":
        return tuple(range(0, size - patch_size + 1, stride))
    if mode == "cover":
        last = size - patch_size
        # A step larger than the patch would leave gaps between patches.
        count = math.ceil(last / min(stride, patch_size)) + 1
        return tuple(int(round(v)) for v in np.linspace(0, last, count))
    raise ValueError(f"unknown patch mode {mode!r}; use 'paper' or 'cover'")


@dataclass(frozen=True)
class PatchGrid:
    """Where cubic patches are cut from a volume.

    Attributes
    ----------
    shape : tuple of 3 int
        Volume shape (spatial).
    patch_size : int
        Side of the patches.
    offsets : tuple of 3 tuples of int
        Start indices along each axis; the patches are all their combinations.
    mode : str
        ``"paper"`` or ``"cover"``.
    """

    shape: tuple[int, int, int]
    patch_size: int
    offsets: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
    mode: str

    @property
    def starts(self) -> list[tuple[int, int, int]]:
        """Start corner of every patch, axis 0 slowest."""
        return list(itertools.product(*self.offsets))

    def __len__(self) -> int:
        return math.prod(len(axis) for axis in self.offsets)

    def coverage(self) -> np.ndarray:
        """Number of patches containing each voxel (``int`` array of ``shape``)."""
        counts = np.zeros(self.shape, dtype=np.int32)
        p = self.patch_size
        for z, y, x in self.starts:
            counts[z : z + p, y : y + p, x : x + p] += 1
        return counts

    def uncovered(self) -> list[tuple[int, int] | None]:
        """Per axis, the inclusive range of trailing indices no patch reaches (``None``: all
        covered). Patches start at 0, so only the end of an axis can be missed."""
        gaps: list[tuple[int, int] | None] = []
        for size, axis in zip(self.shape, self.offsets, strict=True):
            end = max(axis) + self.patch_size
            gaps.append((end, size - 1) if end < size else None)
        return gaps

    def describe(self) -> str:
        """One line: number of patches and what they miss."""
        gaps = [
            f"axis {i}: voxels {gap[0]}-{gap[1]}"
            for i, gap in enumerate(self.uncovered())
            if gap is not None
        ]
        text = (
            f"{len(self)} patches of {self.patch_size}³ ({self.mode} mode; offsets "
            f"{[list(axis) for axis in self.offsets]})"
        )
        if gaps:
            return text + "; never seen by the discriminator: " + ", ".join(gaps)
        return text + "; every voxel is covered"

    def extract(self, volume: torch.Tensor) -> torch.Tensor:
        """Cut the patches out of a batch.

        Parameters
        ----------
        volume : torch.Tensor
            ``N×C×D×H×W`` with ``(D, H, W) == shape``.

        Returns
        -------
        torch.Tensor
            ``(P·N)×C×p×p×p``, patch-major: rows ``k·N … k·N + N − 1`` are patch ``k`` of
            every volume. Gradients flow to ``volume``.
        """
        if volume.ndim != 5 or tuple(volume.shape[2:]) != tuple(self.shape):
            raise ValueError(
                f"expected N×C×{'×'.join(map(str, self.shape))}, got {tuple(volume.shape)}"
            )
        p = self.patch_size
        return torch.cat(
            [volume[:, :, z : z + p, y : y + p, x : x + p] for z, y, x in self.starts], dim=0
        )


def make_patch_grid(
    shape: Sequence[int], patch_size: int = 64, stride: int = 50, mode: str = "paper"
) -> PatchGrid:
    """Build the patch grid of a volume shape (defaults: the paper's 64³ patches, stride 50).

    Raises
    ------
    ValueError
        As :func:`axis_offsets`, or if ``shape`` is not 3 sizes.
    """
    if len(shape) != 3:
        raise ValueError(f"shape must have 3 sizes, got {tuple(shape)}")
    sizes = tuple(int(s) for s in shape)
    offsets = tuple(axis_offsets(s, patch_size, stride, mode) for s in sizes)
    return PatchGrid(sizes, patch_size, offsets, mode)  # type: ignore[arg-type]
