"""Att-U-Net: a 3D U-Net with attention gates (Bottani et al. 2024, §2.3.1, Fig. 1b).

After Oktay et al.: descending blocks of 2 × (Conv3d + BatchNorm + ReLU) separated by max
pooling; ascending blocks Upsample(×2) + Conv3d + ReLU, an attention gate that weights the
skip features, and 2 × (Conv3d + ReLU); a final 1×1×1 Conv3d and activation.
"""

from __future__ import annotations

import torch
from torch import nn

from ._arguments import FINAL_ACTIVATIONS, check_final_activation, positive_int

__all__ = ["AttUNet", "AttentionGate"]


def _double_conv(in_channels: int, out_channels: int, *, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c_in in (in_channels, out_channels):
        layers.append(nn.Conv3d(c_in, out_channels, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm3d(out_channels))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class AttentionGate(nn.Module):
    """Additive attention gate (Oktay et al. 2018).

    ``alpha = sigmoid(psi(relu(W_g g + W_x x)))`` with 1×1×1 convolutions, and the output is
    ``x * alpha``: each skip voxel is weighted by a factor in (0, 1).

    Shapes: ``g`` N×gating×D×H×W and ``x`` N×skip×D×H×W → N×skip×D×H×W.
    """

    def __init__(self, gating_channels: int, skip_channels: int, inter_channels: int) -> None:
        super().__init__()
        self.w_g = nn.Conv3d(gating_channels, inter_channels, 1)
        self.w_x = nn.Conv3d(skip_channels, inter_channels, 1)
        self.relu = nn.ReLU()
        self.psi = nn.Conv3d(inter_channels, 1, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Weight the skip features ``x`` by the attention computed from ``g`` and ``x``."""
        alpha = self.sigmoid(self.psi(self.relu(self.w_g(g) + self.w_x(x))))
        return x * alpha


class AttUNet(nn.Module):
    """3D Attention U-Net generator.

    Level ``i`` (0-based) has ``base_channels * 2**i`` channels: the paper's
    ``base_channels=64, depth=5`` gives 64, 128, 256, 512, 1024. Level 0 works at full
    resolution; each further level max-pools by 2. ``depth - 1`` ascending blocks bring the
    features back to full resolution; each concatenates the attention-gated skip features to
    the upsampled ones.

    Parameters
    ----------
    in_channels, out_channels : int
        Image channels in and out (1 for T1w).
    base_channels : int
        Width: channels of the first level.
    depth : int
        Number of descending blocks (the paper: 5); at least 2. Input sides must be
        divisible by ``2**(depth - 1)``.
    final_activation : {"tanh", "sigmoid", "identity"}
        Last non-linearity; ``tanh`` as the paper's Res-U-Net (see ``docs/models.md``).

    Raises
    ------
    ValueError
        For a non-positive width or channel count, ``depth < 2`` or an unknown activation.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        base_channels: int = 64,
        depth: int = 5,
        final_activation: str = "tanh",
    ) -> None:
        super().__init__()
        positive_int("in_channels", in_channels)
        positive_int("out_channels", out_channels)
        positive_int("base_channels", base_channels)
        positive_int("depth", depth, minimum=2)
        check_final_activation(final_activation)
        self.config = {
            "in_channels": in_channels,
            "out_channels": out_channels,
            "base_channels": base_channels,
            "depth": depth,
            "final_activation": final_activation,
        }
        self.depth = depth
        channels = [base_channels * 2**i for i in range(depth)]

        self.pool = nn.MaxPool3d(2)
        self.encoder = nn.ModuleList()
        previous = in_channels
        for width in channels:
            self.encoder.append(_double_conv(previous, width, batch_norm=True))
            previous = width

        self.up = nn.ModuleList()
        self.gates = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for level in range(depth - 2, -1, -1):
            width = channels[level]
            self.up.append(
                nn.Sequential(
                    nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False),
                    nn.Conv3d(channels[level + 1], width, 3, padding=1),
                    nn.ReLU(),
                )
            )
            self.gates.append(AttentionGate(width, width, max(width // 2, 1)))
            self.decoder.append(_double_conv(2 * width, width, batch_norm=False))

        self.final = nn.Sequential(
            nn.Conv3d(channels[0], out_channels, 1), FINAL_ACTIVATIONS[final_activation]()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate a batch of volumes.

        Parameters
        ----------
        x : torch.Tensor
            ``N × in_channels × D × H × W``, sides divisible by ``2**(depth - 1)``
            (the paper: N×1×128×128×128, min-max scaled to [0, 1]).

        Returns
        -------
        torch.Tensor
            ``N × out_channels × D × H × W`` in the range of ``final_activation``.
        """
        factor = 2 ** (self.depth - 1)
        if x.ndim != 5 or any(s % factor for s in x.shape[2:]):
            raise ValueError(
                f"AttUNet expects N×C×D×H×W with sides divisible by {factor}, got {tuple(x.shape)}"
            )
        skips = []
        for level, block in enumerate(self.encoder):
            x = block(x if level == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, gate, decode in zip(self.up, self.gates, self.decoder, strict=True):
            g = up(x)
            x = decode(torch.cat((gate(g, skips.pop()), g), dim=1))
        return self.final(x)
