"""3D patch discriminator of the cGANs (Bottani et al. 2024, §2.3.2).

A pix2pix-style (Isola et al.) patch CNN shared by the three cGANs: its input is a candidate
patch (real or synthetic T1w-nce) concatenated along channels with the matching T1w-ce patch;
three blocks Conv3d (stride 2) + LeakyReLU(0.2), then a Conv3d to one channel and an average
pool give one score per patch. Scores are unbounded (no sigmoid): the cGANs use the
least-squares (LSGAN) loss.

The paper cut 8 patches of 64³ from the 128³ volume with stride 50 (offsets 0 and 50 per
axis), which never show the discriminator voxels 114–127 of any axis; patch extraction belongs
to the training code, which must say so or cover the volume.
"""

from __future__ import annotations

import torch
from torch import nn

from ._arguments import positive_int

__all__ = ["PatchDiscriminator"]


class PatchDiscriminator(nn.Module):
    """Score (candidate, condition) patch pairs.

    Block ``i`` is Conv3d(3³, stride 2, padding 1) + LeakyReLU(0.2) with
    ``base_channels * 2**i`` channels; the head is Conv3d(4³, no padding) to one channel and a
    global average pool. A 64³ patch goes 32³ → 16³ → 8³ → 5³ → one score.

    Parameters
    ----------
    in_channels : int
        Channels of candidate and condition together (2: one T1w-nce + one T1w-ce).
    base_channels : int
        Width of the first block (the paper's code: 64).
    depth : int
        Number of Conv3d + LeakyReLU blocks (the paper: 3).
    negative_slope : float
        LeakyReLU slope (the paper: 0.2).

    Raises
    ------
    ValueError
        For non-positive sizes or a negative slope.
    """

    def __init__(
        self,
        in_channels: int = 2,
        base_channels: int = 64,
        depth: int = 3,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        positive_int("in_channels", in_channels, minimum=2)
        positive_int("base_channels", base_channels)
        positive_int("depth", depth)
        if (
            isinstance(negative_slope, bool)
            or not isinstance(negative_slope, int | float)
            or negative_slope < 0
        ):
            raise ValueError(f"negative_slope must be a number >= 0, got {negative_slope!r}")
        self.config = {
            "in_channels": in_channels,
            "base_channels": base_channels,
            "depth": depth,
            "negative_slope": float(negative_slope),
        }
        self.in_channels = in_channels
        # ceil(side / 2**depth) >= 4 leaves the head a 4³ map
        self.min_patch_size = 3 * 2**depth + 1

        layers: list[nn.Module] = []
        previous = in_channels
        for level in range(depth):
            width = base_channels * 2**level
            layers += [
                nn.Conv3d(previous, width, 3, stride=2, padding=1),
                nn.LeakyReLU(negative_slope),
            ]
            previous = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv3d(previous, 1, 4)
        self.pool = nn.AdaptiveAvgPool3d(1)

    def forward(self, candidate: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """Score patch pairs.

        Parameters
        ----------
        candidate : torch.Tensor
            ``N × c₁ × D × H × W``: real or synthetic T1w-nce patches.
        condition : torch.Tensor
            ``N × c₂ × D × H × W``: the matching T1w-ce patches; ``c₁ + c₂ = in_channels``.
            Sides must leave at least a 4³ map after the stride-2 blocks (≥ 25 for depth 3;
            the paper: 64³).

        Returns
        -------
        torch.Tensor
            ``N × 1``: one unbounded score per patch pair.
        """
        if candidate.ndim != 5 or condition.ndim != 5:
            raise ValueError(
                "PatchDiscriminator expects two N×C×D×H×W tensors, got shapes "
                f"{tuple(candidate.shape)} and {tuple(condition.shape)}"
            )
        if candidate.shape[0] != condition.shape[0] or candidate.shape[2:] != condition.shape[2:]:
            raise ValueError(
                "candidate and condition must share batch and spatial sizes, got "
                f"{tuple(candidate.shape)} and {tuple(condition.shape)}"
            )
        if candidate.shape[1] + condition.shape[1] != self.in_channels:
            raise ValueError(
                f"candidate and condition must have {self.in_channels} channels together, got "
                f"{candidate.shape[1]} + {condition.shape[1]}"
            )
        if min(candidate.shape[2:]) < self.min_patch_size:
            raise ValueError(
                f"patches must have sides >= {self.min_patch_size}, got {tuple(candidate.shape)}"
            )
        pair = torch.cat((candidate, condition), dim=1)
        return self.pool(self.head(self.features(pair))).flatten(1)
