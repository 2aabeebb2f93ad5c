"""Tests of the discriminator's patch grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ce2nce_pipeline.training.patches import axis_offsets, make_patch_grid


def test_paper_grid_is_8_patches_at_0_and_50_and_misses_114_to_127():
    grid = make_patch_grid((128, 128, 128))
    assert len(grid) == 8
    assert grid.offsets == ((0, 50), (0, 50), (0, 50))
    assert grid.uncovered() == [(114, 127)] * 3
    coverage = grid.coverage()
    # Voxels whose indices are all below 114 are seen; any index >= 114 is never seen.
    assert (coverage[:114, :114, :114] > 0).all()
    for axis in range(3):
        assert (np.take(coverage, np.arange(114, 128), axis=axis) == 0).all()
    assert "voxels 114-127" in grid.describe()


def test_cover_grid_covers_every_voxel():
    grid = make_patch_grid((128, 128, 128), mode="cover")
    assert grid.offsets == ((0, 32, 64),) * 3
    assert len(grid) == 27
    assert (grid.coverage() > 0).all()
    assert grid.uncovered() == [None] * 3
    assert "every voxel is covered" in grid.describe()


@pytest.mark.parametrize("size", [25, 64, 97, 128, 169, 208])
@pytest.mark.parametrize("stride", [7, 50, 64])
def test_cover_mode_never_leaves_a_gap(size, stride):
    patch = min(25, size)
    offsets = axis_offsets(size, patch, stride, "cover")
    assert offsets[0] == 0 and offsets[-1] == size - patch
    assert max(np.diff(offsets), default=0) <= min(stride, patch)
    covered = np.zeros(size, bool)
    for start in offsets:
        covered[start : start + patch] = True
    assert covered.all()


def test_extract_cuts_the_right_voxels_and_keeps_gradients():
    grid = make_patch_grid((40, 36, 32), patch_size=25, stride=10)
    assert grid.offsets == ((0, 10), (0, 10), (0,))
    volume = torch.arange(2 * 40 * 36 * 32, dtype=torch.float32).reshape(2, 1, 40, 36, 32)
    volume.requires_grad_(True)
    patches = grid.extract(volume)
    assert patches.shape == (len(grid) * 2, 1, 25, 25, 25)
    for k, (z, y, x) in enumerate(grid.starts):
        for n in range(2):
            expected = volume[n, :, z : z + 25, y : y + 25, x : x + 25]
            assert torch.equal(patches[k * 2 + n], expected)
    patches.sum().backward()
    assert torch.equal(volume.grad[0], torch.from_numpy(grid.coverage()).float()[None])


def test_bad_grids_are_refused():
    with pytest.raises(ValueError, match="exceeds"):
        make_patch_grid((32, 32, 32), patch_size=64)
    with pytest.raises(ValueError, match="unknown patch mode"):
        make_patch_grid((128, 128, 128), mode="random")
    with pytest.raises(ValueError, match="positive"):
        axis_offsets(128, 64, 0)
    with pytest.raises(ValueError, match="expected"):
        make_patch_grid((32, 32, 32), 16, 16).extract(torch.zeros(1, 1, 32, 32, 31))
