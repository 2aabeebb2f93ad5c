"""Full-resolution inference: zero-padding to the networks' size multiple and back."""

from __future__ import annotations

import pytest
import torch

from ce2nce_pipeline.science.resampling import SIZE_MULTIPLE, pad_to_multiple, run_padded


def test_t1_linear_grid_pads_to_192_224_192_and_crops_back():
    batch = torch.rand(1, 1, 169, 208, 179)
    padded, crop = pad_to_multiple(batch)
    assert SIZE_MULTIPLE == 32
    assert tuple(padded.shape) == (1, 1, 192, 224, 192)
    # The image sits at the origin corner, zeros after it.
    assert torch.equal(padded[:, :, :169, :208, :179], batch)
    assert float(padded[:, :, 169:].abs().sum()) == 0.0
    assert float(padded[:, :, :, 208:].abs().sum()) == 0.0
    assert float(padded[..., 179:].abs().sum()) == 0.0
    assert torch.equal(padded[(slice(None), slice(None), *crop)], batch)


def test_run_padded_sees_a_padded_grid_and_returns_the_input_grid():
    seen = []

    def network(x):
        seen.append(tuple(x.shape))
        return x * 2

    batch = torch.rand(2, 1, 33, 64, 5)
    out = run_padded(network, batch)
    assert seen == [(2, 1, 64, 64, 32)]
    assert torch.equal(out, batch * 2)


def test_no_copy_when_nothing_to_pad_and_bad_input_refused():
    batch = torch.rand(1, 1, 64, 32, 96)
    padded, _ = pad_to_multiple(batch)
    assert padded is batch
    with pytest.raises(ValueError, match="N×C×D×H×W"):
        pad_to_multiple(torch.rand(4, 4, 4))
    with pytest.raises(RuntimeError, match="network returned shape"):
        run_padded(lambda x: x[:, :, :-1], batch)
