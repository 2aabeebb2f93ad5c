"""Training cubes: same place in ce and nce, half of them where the pair differs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ce2nce_pipeline.training.patch_sampling import patch_centres, sample_patches


def _pair():
    generator = torch.Generator().manual_seed(0)
    nce = torch.rand(1, 60, 70, 80, generator=generator)
    ce = nce.clone()
    ce[0, 40:44, 50:54, 60:64] += 1.0  # one small enhanced blob, far from the centre
    ce[0, 22:30, 10:18, 10:18] -= 1.0  # a larger darker blob: misregistration, not gadolinium
    mask = torch.ones(60, 70, 80, dtype=torch.bool)
    return ce, nce, mask


def test_cubes_are_cut_at_the_same_place_and_every_third_holds_the_difference():
    ce, nce, mask = _pair()
    mask[:20] = False  # the "head" leaves a third of the volume out
    centres = patch_centres(ce, nce, mask)
    cubes_ce, cubes_nce = sample_patches(
        ce, nce, centres, size=16, count=9, generator=torch.Generator().manual_seed(1)
    )
    assert tuple(cubes_ce.shape) == tuple(cubes_nce.shape) == (9, 1, 16, 16, 16)
    difference = (cubes_ce - cubes_nce).abs()
    # Cubes 1, 4, 7 are centred on the enhanced blob (the top 2 % of ce - nce), never on the
    # darker blob, eight times larger, that |ce - nce| would also pick ...
    signed = cubes_ce - cubes_nce
    assert all(float(signed[i].max()) == pytest.approx(1.0) for i in (1, 4, 7))
    assert all(float(signed[i].min()) > -0.5 for i in (1, 4, 7))
    # ... and ce and nce were cut from the same voxels: equal outside the blobs.
    assert float(difference[difference < 0.5].max()) == 0.0
    # The blob fills 64 voxels of 336,000: the other cubes would almost never show it.
    assert sum(float(signed[i].max()) > 0.5 for i in (0, 2, 3, 5, 6, 8)) <= 2


def test_cubes_near_an_edge_stay_inside_and_oversized_cubes_are_refused():
    ce, nce, mask = _pair()
    mask[:] = False
    mask[0, 0, 0] = True  # the only head voxel is a corner
    centres = patch_centres(ce, nce, mask)
    cubes_ce, _ = sample_patches(ce, nce, centres, 16, 2, torch.Generator().manual_seed(0))
    assert torch.equal(cubes_ce[0], ce[:, :16, :16, :16])
    with pytest.raises(ValueError, match="larger than the volume"):
        sample_patches(ce, nce, centres, 64, 1, torch.Generator())
    assert np.all(centres.head == [0])
