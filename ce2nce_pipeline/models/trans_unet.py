"""Trans-U-Net: a TransBTS-like 3D U-Net (Bottani et al. 2024, §2.3.1, Fig. 1c).

After Wang et al.'s TransBTS: a CNN encoder of ``depth`` levels (a Conv3d and one to three
BatchNorm + ReLU + Conv3d residual units each), a linear projection of the deepest features
to tokens, transformer layers (multi-head self-attention + feed-forward), and ``depth``
ascending blocks (a Conv3d, BatchNorm + ReLU + Conv3d units, a ConvTranspose3d).

Unlike the authors' code, dropout here lives only in ``nn.Dropout`` modules, so ``eval()``
switches all of it off and inference is deterministic. The paper's final soft-max is replaced
by the same activation as the other generators: a soft-max over a single output channel is
constant.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ._arguments import FINAL_ACTIVATIONS, check_final_activation, positive_int

__all__ = ["PreActResidualUnit", "TransUNet", "TransformerLayer"]


def _int_list(name: str, values: object, length: int, allowed: range) -> list[int]:
    if (
        not isinstance(values, Sequence)
        or isinstance(values, str)
        or len(values) != length
        or any(isinstance(v, bool) or not isinstance(v, int) or v not in allowed for v in values)
    ):
        raise ValueError(
            f"{name} must hold {length} integers in {allowed.start}..{allowed.stop - 1}, "
            f"got {values!r}"
        )
    return list(values)


class PreActResidualUnit(nn.Module):
    """``x + Conv3d(ReLU(BatchNorm(x)))``, 3×3×3, channels unchanged.

    Shapes: N×C×D×H×W → N×C×D×H×W.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm3d(channels), nn.ReLU(), nn.Conv3d(channels, channels, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the pre-activated convolution to ``x``."""
        return x + self.body(x)


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer: multi-head self-attention, then a feed-forward network.

    Dropout is applied by ``nn.Dropout`` modules after the attention projection and inside the
    feed-forward network; attention weights are not dropped.

    Shapes: N×T×dim → N×T×dim.
    """

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.norm_attention = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.projection = nn.Linear(dim, dim)
        self.dropout_attention = nn.Dropout(dropout)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply attention and feed-forward blocks, each with a residual connection."""
        n, t, dim = x.shape
        qkv = self.qkv(self.norm_attention(x))
        q, k, v = qkv.reshape(n, t, 3, self.num_heads, dim // self.num_heads).permute(
            2, 0, 3, 1, 4
        )
        attended = F.scaled_dot_product_attention(q, k, v)
        attended = attended.transpose(1, 2).reshape(n, t, dim)
        x = x + self.dropout_attention(self.projection(attended))
        return x + self.mlp(self.norm_mlp(x))


def _check_arguments(
    *,
    in_channels: int,
    out_channels: int,
    base_channels: int,
    depth: int,
    encoder_units: Sequence[int] | None,
    decoder_units: Sequence[int] | None,
    embed_dim: int,
    num_layers: int,
    num_heads: int,
    mlp_dim: int,
    dropout: float,
    input_size: int,
    final_activation: str,
) -> tuple[list[int], list[int]]:
    """Check the :class:`TransUNet` arguments; return its residual units per level.

    Returns
    -------
    encoder_units, decoder_units : list of int
        The residual units of each descending and ascending block (defaults filled in).

    Raises
    ------
    ValueError
        For any argument outside the ranges :class:`TransUNet` documents.
    """
    for name, value in (
        ("in_channels", in_channels),
        ("out_channels", out_channels),
        ("base_channels", base_channels),
        ("embed_dim", embed_dim),
        ("num_layers", num_layers),
        ("num_heads", num_heads),
        ("mlp_dim", mlp_dim),
        ("input_size", input_size),
    ):
        positive_int(name, value)
    positive_int("depth", depth, minimum=2)
    if embed_dim % num_heads:
        raise ValueError(f"num_heads ({num_heads}) must divide embed_dim ({embed_dim})")
    if (
        isinstance(dropout, bool)
        or not isinstance(dropout, int | float)
        or not 0.0 <= dropout < 1.0
    ):
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
    if input_size % 2 ** (depth - 1):
        raise ValueError(
            f"input_size ({input_size}) must be divisible by 2**(depth - 1) = {2 ** (depth - 1)}"
        )
    if encoder_units is None:
        encoder_units = (1, 2, 2, 3) if depth == 4 else [min(i + 1, 3) for i in range(depth)]
    encoder_units = _int_list("encoder_units", encoder_units, depth, range(1, 4))
    if decoder_units is None:
        decoder_units = [2] + [1] * (depth - 1)
    decoder_units = _int_list("decoder_units", decoder_units, depth, range(1, 3))
    check_final_activation(final_activation)
    return encoder_units, decoder_units


def _encoder(in_channels: int, channels: list[int], units: list[int]) -> nn.ModuleList:
    """The descending blocks: a Conv3d (strided below level 0), then residual units."""
    encoder = nn.ModuleList()
    previous = in_channels
    for level, width in enumerate(channels):
        stride = 1 if level == 0 else 2
        encoder.append(
            nn.Sequential(
                nn.Conv3d(previous, width, 3, stride=stride, padding=1),
                *(PreActResidualUnit(width) for _ in range(units[level])),
            )
        )
        previous = width
    return encoder


def _decoder(embed_dim: int, channels: list[int], units: list[int]) -> nn.ModuleList:
    """The ascending blocks, from the transformer's tokens up to level 0.

    Ascending block k works at level depth-1-k: a Conv3d (3³ from the tokens for the deepest,
    1³ after concatenating the skip otherwise), residual units, then a ConvTranspose3d to the
    next level (none after level 0).
    """
    decoder = nn.ModuleList()
    for k, level in enumerate(range(len(channels) - 1, -1, -1)):
        width = channels[level]
        entry = (
            nn.Conv3d(embed_dim, width, 3, padding=1) if k == 0 else nn.Conv3d(2 * width, width, 1)
        )
        layers: list[nn.Module] = [entry]
        layers += [PreActResidualUnit(width) for _ in range(units[k])]
        if level > 0:
            layers += [
                nn.BatchNorm3d(width),
                nn.ReLU(),
                nn.ConvTranspose3d(width, channels[level - 1], 2, stride=2),
            ]
        decoder.append(nn.Sequential(*layers))
    return decoder


class TransUNet(nn.Module):
    """TransBTS-like 3D generator.

    Level ``i`` of the CNN encoder has ``base_channels * 2**i`` channels; levels after the
    first halve the spatial size, so the transformer sees
    ``(input_size / 2**(depth - 1))**3`` tokens (16³ = 4096 for the paper's 128³ and depth 4)
    of width ``embed_dim`` with a learned position embedding.

    Parameters
    ----------
    in_channels, out_channels : int
        Image channels in and out (1 for T1w).
    base_channels : int
        Width: channels of the first encoder level (TransBTS: 16).
    depth : int
        Number of encoder levels and of ascending blocks (the paper: 4); at least 2.
    encoder_units : sequence of int, optional
        Residual units (BatchNorm + ReLU + Conv3d) per encoder level, 1 to 3 each;
        default ``(1, 2, 2, 3)`` for depth 4, else ``min(i + 1, 3)``.
    decoder_units : sequence of int, optional
        Residual units per ascending block from the deepest, 1 or 2 each; default 2 for the
        deepest block and 1 for the others.
    embed_dim : int
        Token width after the linear projection (TransBTS: 512).
    num_layers : int
        Transformer layers (the paper: 4).
    num_heads : int
        Attention heads; must divide ``embed_dim``.
    mlp_dim : int
        Hidden width of the feed-forward networks (TransBTS: 4096).
    dropout : float
        Dropout probability in [0, 1) of the ``nn.Dropout`` modules (training only).
    input_size : int
        Side of the cubic input (128); fixes the number of position embeddings. Must be
        divisible by ``2**(depth - 1)``.
    final_activation : {"tanh", "sigmoid", "identity"}
        Last non-linearity.

    Raises
    ------
    ValueError
        For any argument outside the ranges above.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        base_channels: int = 16,
        depth: int = 4,
        encoder_units: Sequence[int] | None = None,
        decoder_units: Sequence[int] | None = None,
        embed_dim: int = 512,
        num_layers: int = 4,
        num_heads: int = 8,
        mlp_dim: int = 4096,
        dropout: float = 0.1,
        input_size: int = 128,
        final_activation: str = "tanh",
    ) -> None:
        super().__init__()
        encoder_units, decoder_units = _check_arguments(
            in_channels=in_channels,
            out_channels=out_channels,
            base_channels=base_channels,
            depth=depth,
            encoder_units=encoder_units,
            decoder_units=decoder_units,
            embed_dim=embed_dim,
            num_layers=num_layers,
            num_heads=num_heads,
            mlp_dim=mlp_dim,
            dropout=dropout,
            input_size=input_size,
            final_activation=final_activation,
        )
        self.config = {
            "in_channels": in_channels,
            "out_channels": out_channels,
            "base_channels": base_channels,
            "depth": depth,
            "encoder_units": encoder_units,
            "decoder_units": decoder_units,
            "embed_dim": embed_dim,
            "num_layers": num_layers,
            "num_heads": num_heads,
            "mlp_dim": mlp_dim,
            "dropout": float(dropout),
            "input_size": input_size,
            "final_activation": final_activation,
        }
        self.input_size = input_size
        self.token_grid = input_size // 2 ** (depth - 1)
        channels = [base_channels * 2**i for i in range(depth)]

        self.encoder = _encoder(in_channels, channels, encoder_units)

        # The "linear projection" of TransBTS: BatchNorm + ReLU + a 3×3×3 Conv3d to embed_dim
        # features per token position.
        self.projection = nn.Sequential(
            nn.BatchNorm3d(channels[-1]),
            nn.ReLU(),
            nn.Conv3d(channels[-1], embed_dim, 3, padding=1),
        )
        self.position_embedding = nn.Parameter(torch.zeros(1, self.token_grid**3, embed_dim))
        nn.init.trunc_normal_(self.position_embedding, std=0.02)
        self.embedding_dropout = nn.Dropout(dropout)
        self.transformer = nn.Sequential(
            *(TransformerLayer(embed_dim, num_heads, mlp_dim, dropout) for _ in range(num_layers))
        )
        self.transformer_norm = nn.LayerNorm(embed_dim)

        self.decoder = _decoder(embed_dim, channels, decoder_units)

        self.final = nn.Sequential(
            nn.BatchNorm3d(channels[0]),
            nn.ReLU(),
            nn.Conv3d(channels[0], out_channels, 1),
            FINAL_ACTIVATIONS[final_activation](),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate a batch of volumes.

        Parameters
        ----------
        x : torch.Tensor
            ``N × in_channels × S × S × S`` with ``S = input_size``
            (the paper: N×1×128×128×128, min-max scaled to [0, 1]).

        Returns
        -------
        torch.Tensor
            ``N × out_channels × S × S × S`` in the range of ``final_activation``.
        """
        side = self.input_size
        if x.ndim != 5 or tuple(x.shape[2:]) != (side, side, side):
            raise ValueError(
                f"TransUNet expects N×C×{side}×{side}×{side} (input_size={side}), "
                f"got {tuple(x.shape)}"
            )
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        tokens = self.projection(skips[-1]).flatten(2).transpose(1, 2)
        tokens = self.embedding_dropout(tokens + self.position_embedding)
        tokens = self.transformer_norm(self.transformer(tokens))
        grid = self.token_grid
        x = tokens.transpose(1, 2).reshape(x.shape[0], -1, grid, grid, grid)
        skips.pop()  # the deepest features reach the decoder through the transformer
        for k, block in enumerate(self.decoder):
            if k > 0:
                x = torch.cat((x, skips.pop()), dim=1)
            x = block(x)
        return self.final(x)
