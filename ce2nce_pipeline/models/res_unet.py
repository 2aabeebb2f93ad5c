"""Res-U-Net: a 3D U-Net with residual modules (Bottani et al. 2024, §2.3.1, Fig. 1a).

After Milletari et al.'s V-Net and Bône et al.: descending blocks Conv3d (stride 2) +
InstanceNorm + LeakyReLU(0.2); ascending blocks ConvTranspose3d (stride 2) + ReLU; every block
followed by a residual module of one to three Conv3d + LeakyReLU(0.2); a final layer
Upsample(×2) + Conv3d + Tanh.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._arguments import FINAL_ACTIVATIONS, check_final_activation, positive_int

__all__ = ["ENHANCEMENT_START", "GAIN_SCALE", "NORMALISATIONS", "ResUNet", "ResidualModule"]

#: The gain branch's linear output is multiplied by this, so that Adam at the paper's rate
#: (steps of about 1e-4 per parameter) can move the gain by 1 within a few hundred steps; at
#: scale 1 it stayed within 0.002 of 1 after 320 steps (docs/default_model.md).
GAIN_SCALE = 25.0

#: With ``enhancement_map``, the enhancement an untrained network subtracts everywhere (scaled
#: units; white matter sits at 0.25). Zero would be exact identity but a rectifier at exactly
#: zero passes no gradient, so the map could never start to grow.
ENHANCEMENT_START = 1e-3


def _straight_through_rectifier(x: torch.Tensor) -> torch.Tensor:
    """``relu(x)`` forward; backward, the gradient passes as if it were the identity.

    A plain rectifier passes no gradient where its input is negative: trained with L1 on pairs
    whose enhancement fills a few percent of the volume, the rest pushes the whole map below
    zero within a few steps and it never comes back (measured on a small synthetic blob). The
    forward value, hence inference, is exactly ``relu(x)``.
    """
    return x + (torch.relu(x) - x).detach()


class _GainBranch(nn.Module):
    """Per-image gain features: ``N×C×D×H×W`` → ``N × out_channels`` (0 at initialisation).

    A stride-4 convolution without normalisation (absolute levels are kept), then global
    average pooling (how much tissue and head there is) and global max pooling (the brightest
    tissue: scalp fat sets a head's T1w-nce maximum), then a small MLP whose last layer starts
    at zero.
    """

    def __init__(self, in_channels: int, width: int, out_channels: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv3d(in_channels, width, 3, stride=4, padding=1), nn.LeakyReLU(0.2)
        )
        self.head = nn.Sequential(
            nn.Linear(2 * width, width), nn.LeakyReLU(0.2), nn.Linear(width, out_channels)
        )
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x).flatten(2)
        return self.head(torch.cat((features.mean(dim=2), features.amax(dim=2)), dim=1))


#: Normalisation after each descending convolution. ``"instance"`` (the paper) normalises by
#: statistics of the whole input, which differ between a training cube and a whole padded
#: volume; ``"none"`` keeps the network purely local, so a network trained on cubes gives the
#: same output on a whole volume (the full-resolution default model).
NORMALISATIONS = {"instance": nn.InstanceNorm3d, "none": lambda width: nn.Identity()}


class ResidualModule(nn.Module):
    """``x + body(x)`` where ``body`` is ``num_convs`` × (Conv3d 3³ + LeakyReLU(0.2)).

    Shapes: N×C×D×H×W → N×C×D×H×W.
    """

    def __init__(self, channels: int, num_convs: int, negative_slope: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(num_convs):
            layers += [nn.Conv3d(channels, channels, 3, padding=1), nn.LeakyReLU(negative_slope)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the residual branch to ``x``."""
        return x + self.body(x)


def _check_arguments(
    *,
    in_channels: int,
    out_channels: int,
    base_channels: int,
    depth: int,
    residual_convs: Sequence[int] | None,
    final_activation: str,
    global_residual: bool,
    global_gain: bool,
    normalisation: str,
    enhancement_map: bool,
) -> list[int]:
    """Check the :class:`ResUNet` arguments; return the convolutions per residual module.

    Raises
    ------
    ValueError
        For any argument :class:`ResUNet` refuses.
    """
    positive_int("in_channels", in_channels)
    positive_int("out_channels", out_channels)
    positive_int("base_channels", base_channels)
    positive_int("depth", depth, minimum=2)
    if residual_convs is None:
        residual_convs = [min(i + 1, 3) for i in range(depth)]
    if (
        not isinstance(residual_convs, Sequence)
        or isinstance(residual_convs, str)
        or len(residual_convs) != depth
        or any(isinstance(n, bool) or n not in (1, 2, 3) for n in residual_convs)
    ):
        raise ValueError(
            f"residual_convs must hold {depth} integers in 1..3, got {residual_convs!r}"
        )
    residual_convs = [int(n) for n in residual_convs]
    check_final_activation(final_activation)
    if not isinstance(global_residual, bool):
        raise ValueError(f"global_residual must be a bool, got {global_residual!r}")
    if global_residual and in_channels != out_channels:
        raise ValueError("global_residual needs in_channels == out_channels")
    if not isinstance(global_gain, bool):
        raise ValueError(f"global_gain must be a bool, got {global_gain!r}")
    if global_gain and not global_residual:
        raise ValueError("global_gain needs global_residual=True")
    if normalisation not in NORMALISATIONS:
        raise ValueError(
            f"normalisation must be one of {list(NORMALISATIONS)}, got {normalisation!r}"
        )
    if not isinstance(enhancement_map, bool):
        raise ValueError(f"enhancement_map must be a bool, got {enhancement_map!r}")
    if enhancement_map and (not global_residual or global_gain):
        raise ValueError("enhancement_map needs global_residual=True and global_gain=False")
    return residual_convs


def _descending(
    in_channels: int, channels: list[int], residual_convs: list[int], normalisation: str
) -> tuple[nn.ModuleList, nn.ModuleList]:
    """The descending blocks (strided Conv3d, normalisation, LeakyReLU), their residual modules."""
    down = nn.ModuleList()
    down_res = nn.ModuleList()
    previous = in_channels
    for level, width in enumerate(channels):
        down.append(
            nn.Sequential(
                nn.Conv3d(previous, width, 3, stride=2, padding=1),
                NORMALISATIONS[normalisation](width),
                nn.LeakyReLU(0.2),
            )
        )
        down_res.append(ResidualModule(width, residual_convs[level]))
        previous = width
    return down, down_res


def _ascending(
    channels: list[int], residual_convs: list[int]
) -> tuple[nn.ModuleList, nn.ModuleList]:
    """The ascending blocks (ConvTranspose3d, ReLU) and their residual modules.

    Ascending block k produces level depth-2-k; its input is the bottleneck (k = 0) or the
    previous ascending output concatenated with the encoder skip of that level.
    """
    depth = len(channels)
    up = nn.ModuleList()
    up_res = nn.ModuleList()
    for level in range(depth - 2, -1, -1):
        in_width = channels[level + 1] if level == depth - 2 else 2 * channels[level + 1]
        up.append(
            nn.Sequential(
                nn.ConvTranspose3d(in_width, channels[level], 4, stride=2, padding=1),
                nn.ReLU(),
            )
        )
        up_res.append(ResidualModule(channels[level], residual_convs[level]))
    return up, up_res


class ResUNet(nn.Module):
    """3D Res-U-Net generator.

    Level ``i`` (0-based) of the encoder has ``base_channels * 2**min(i, depth - 2)``
    channels, so the paper's ``base_channels=64, depth=5`` gives 64, 128, 256, 512, 512.
    Each descending block halves the spatial size; ``depth - 1`` ascending blocks and the
    final Upsample(×2) (trilinear) bring it back. Skip connections concatenate the encoder
    features of the same level to the decoder features.

    Parameters
    ----------
    in_channels, out_channels : int
        Image channels in and out (1 for T1w).
    base_channels : int
        Width: channels of the first level.
    depth : int
        Number of descending blocks (the paper: 5); at least 2. Input sides must be
        divisible by ``2**depth``.
    residual_convs : sequence of int, optional
        Number of Conv3d + LeakyReLU in the residual module of each level (1 to 3), length
        ``depth``; the ascending block that produces level ``i`` reuses ``residual_convs[i]``.
        Default ``min(i + 1, 3)``: 1, 2, 3, 3, 3 as in the authors' code.
    final_activation : {"tanh", "sigmoid", "identity"}
        Last non-linearity. The paper used Tanh.
    global_residual : bool
        Add the input to the output (the network then learns a correction; its last
        convolution starts at zero, so an untrained network is the identity). Not in the
        paper: its first layer is strided, so without this the output is rebuilt from
        half-resolution features only. Needs ``in_channels == out_channels``.
    normalisation : {"instance", "none"}
        After each descending convolution: InstanceNorm3d (the paper) or nothing
        (:data:`NORMALISATIONS`: a network trained on cubes then behaves the same on a whole
        volume).
    global_gain : bool
        With ``global_residual``, multiply the added input by a gain computed per image from the
        whole input (a strided convolution without normalisation, global average and max
        pooling and a small MLP whose last layer starts at zero, so the gain starts at 1; its
        output is multiplied by :data:`GAIN_SCALE`): ``output = gain(x) * x + body(x)``. For
        targets scaled differently from the input (the ``white-matter-input`` normalisation),
        the full-resolution detail can then come through at the target's contrast instead of
        being rebuilt from half-resolution features. Not in the paper; learned from the L1 loss
        alone it hardly moved from 1 (docs/default_model.md), so training supervises it with
        each pair's measured intensity ratio (``gain_loss_weight``). The shipped default model
        uses it.
    enhancement_map : bool
        With ``global_residual``, the network's output is a non-negative enhancement map that
        is subtracted from the input: ``output = x - relu(body(x))`` (the rectifier passes
        gradients where it is zero, so the map can grow back where it was pushed below zero;
        :func:`_straight_through_rectifier`). Gadolinium only
        brightens, so the network can darken what was enhanced and can neither brighten nor
        change tissue it leaves alone: a T1w-nce fed in comes out (nearly) unchanged. Its last
        convolution starts at zero weights and bias :data:`ENHANCEMENT_START`. Not in the
        paper.

    Raises
    ------
    ValueError
        For a non-positive width or channel count, ``depth < 2``, a ``residual_convs`` of the
        wrong length or with values outside 1–3, or an unknown activation.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        base_channels: int = 64,
        depth: int = 5,
        residual_convs: Sequence[int] | None = None,
        final_activation: str = "tanh",
        global_residual: bool = False,
        global_gain: bool = False,
        normalisation: str = "instance",
        enhancement_map: bool = False,
    ) -> None:
        super().__init__()
        residual_convs = _check_arguments(
            in_channels=in_channels,
            out_channels=out_channels,
            base_channels=base_channels,
            depth=depth,
            residual_convs=residual_convs,
            final_activation=final_activation,
            global_residual=global_residual,
            global_gain=global_gain,
            normalisation=normalisation,
            enhancement_map=enhancement_map,
        )
        self.global_residual = global_residual
        self.enhancement_map = enhancement_map
        self.config = {
            "in_channels": in_channels,
            "out_channels": out_channels,
            "base_channels": base_channels,
            "depth": depth,
            "residual_convs": residual_convs,
            "final_activation": final_activation,
            "global_residual": global_residual,
            "global_gain": global_gain,
            "normalisation": normalisation,
            "enhancement_map": enhancement_map,
        }
        self.depth = depth
        channels = [base_channels * 2 ** min(i, depth - 2) for i in range(depth)]

        self.down, self.down_res = _descending(
            in_channels, channels, residual_convs, normalisation
        )
        self.up, self.up_res = _ascending(channels, residual_convs)

        self.final = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False),
            nn.Conv3d(2 * channels[0], out_channels, 3, padding=1),
            FINAL_ACTIVATIONS[final_activation](),
        )
        if global_residual:
            nn.init.zeros_(self.final[1].weight)
            nn.init.zeros_(self.final[1].bias)
        if enhancement_map:
            nn.init.constant_(self.final[1].bias, ENHANCEMENT_START)
        # Global statistics of the input (no normalisation, so absolute levels are kept) to one
        # gain per image and channel; the last layer starts at zero: gain 1, the plain residual.
        self.gain: _GainBranch | None = None
        if global_gain:
            self.gain = _GainBranch(in_channels, base_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate a batch of volumes.

        Parameters
        ----------
        x : torch.Tensor
            ``N × in_channels × D × H × W``, sides divisible by ``2**depth``
            (the paper: N×1×128×128×128, min-max scaled to [0, 1]).

        Returns
        -------
        torch.Tensor
            ``N × out_channels × D × H × W`` in the range of ``final_activation``.
        """
        factor = 2**self.depth
        if x.ndim != 5 or any(s % factor for s in x.shape[2:]):
            raise ValueError(
                f"ResUNet expects N×C×D×H×W with sides divisible by {factor}, got {tuple(x.shape)}"
            )
        image = x
        skips = []
        for down, res in zip(self.down, self.down_res, strict=True):
            x = res(down(x))
            skips.append(x)
        x = skips.pop()
        for up, res in zip(self.up, self.up_res, strict=True):
            x = torch.cat((res(up(x)), skips.pop()), dim=1)
        out = self.final(x)
        if not self.global_residual:
            return out
        if self.enhancement_map:
            return image - _straight_through_rectifier(out)
        gain = self.predict_gain(image)
        if gain is not None:
            image = image * gain[:, :, None, None, None]
        return image + out

    def predict_gain(self, x: torch.Tensor) -> torch.Tensor | None:
        """The ``global_gain`` of each image and channel (``N × out_channels``), or None.

        Training can supervise it (``[optimization] gain_loss_weight``) with
        :func:`~ce2nce_pipeline.training.losses.gain_target` of each pair.
        """
        if self.gain is None:
            return None
        return 1.0 + GAIN_SCALE * self.gain(x)
