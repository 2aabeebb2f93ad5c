"""Random training patches of full-resolution volumes.

A network trained on the t1-linear grid itself (no 128³ round trip) sees whole volumes only at
inference; on 2 CPU cores it is trained on cubes cut from them. A third of the cubes are
centred on a random voxel of the head, a third on a voxel where the T1w-ce is brightest above
the T1w-nce (enhanced vessels, dura, lesions: the differences the network must learn are a few
percent of the brain, and uniform patches would mostly show it that nothing changes; gadolinium
only brightens, so where the T1w-ce is the darker one the two series differ by registration or
sequence, not by contrast agent), a third
anywhere in the volume, background included (a network that never saw the background fills it
with its biases at inference: validation L1 went from 0.012 to 0.46 in one run).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["DIFFERENCE_QUANTILE", "PatchCentres", "patch_centres", "sample_patches"]

#: Voxels whose ce - nce (scaled units) is above this quantile of the head's differences are
#: "where they differ".
DIFFERENCE_QUANTILE = 0.98


class PatchCentres:
    """Flat indices of the voxels a pair's patches may be centred on."""

    def __init__(self, head: np.ndarray, different: np.ndarray, shape: tuple[int, ...]) -> None:
        self.head = head
        self.different = different if different.size else head
        self.shape = tuple(int(s) for s in shape)


def patch_centres(ce: torch.Tensor, nce: torch.Tensor, mask: torch.Tensor) -> PatchCentres:
    """Candidate centres of a pair: its mask, and where ``ce - nce`` is largest within it.

    Parameters
    ----------
    ce, nce : torch.Tensor
        ``1×D×H×W`` scaled volumes.
    mask : torch.Tensor
        ``D×H×W`` bool: the head (or brain) of the pair.
    """
    inside = mask.numpy().reshape(-1)
    if not inside.any():
        inside = np.ones_like(inside)
    difference = (ce[0] - nce[0]).numpy().reshape(-1)
    head = np.flatnonzero(inside)
    threshold = np.quantile(difference[head], DIFFERENCE_QUANTILE)
    different = head[difference[head] > threshold]
    return PatchCentres(head, different, tuple(mask.shape))


def sample_patches(
    ce: torch.Tensor,
    nce: torch.Tensor,
    centres: PatchCentres,
    size: int,
    count: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut ``count`` cubes of side ``size`` at the same place in ``ce`` and ``nce``.

    Cube ``i`` is centred in the head (``i % 3 == 0``), where the pair differs (``1``) or
    anywhere in the volume (``2``); a cube is shifted inside the volume when its centre is near
    an edge.

    Returns
    -------
    ce_patches, nce_patches : torch.Tensor
        ``count×1×size×size×size`` each.
    """
    shape = centres.shape
    if any(size > side for side in shape):
        raise ValueError(f"training patch {size} is larger than the volume {shape}")
    ce_cubes, nce_cubes = [], []
    for number in range(count):
        kind = number % 3
        if kind == 2:
            anywhere = int(torch.randint(int(np.prod(shape)), (1,), generator=generator))
            centre = np.unravel_index(anywhere, shape)
        else:
            pool = centres.head if kind == 0 else centres.different
            pick = int(torch.randint(len(pool), (1,), generator=generator))
            centre = np.unravel_index(int(pool[pick]), shape)
        starts = [
            min(max(int(c) - size // 2, 0), side - size)
            for c, side in zip(centre, shape, strict=True)
        ]
        box = (slice(None), *(slice(start, start + size) for start in starts))
        ce_cubes.append(ce[box])
        nce_cubes.append(nce[box])
    return torch.stack(ce_cubes), torch.stack(nce_cubes)
