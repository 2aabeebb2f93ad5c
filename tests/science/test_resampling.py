"""Tests of min-max scaling and t1-linear ↔ network grid resampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ce2nce_pipeline.science.resampling import (
    NETWORK_SHAPE,
    OUTPUT_RESAMPLINGS,
    RESAMPLING,
    T1_LINEAR_SHAPE,
    MinMaxParams,
    check_finite_nonconstant,
    check_t1_linear_shape,
    is_t1_linear_shape,
    keep_detail,
    minmax_scale,
    minmax_unscale,
    network_round_trip,
    resample_to_shape,
    to_network_grid,
    to_t1_linear_grid,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def smooth_volume(shape: tuple[int, int, int] = T1_LINEAR_SHAPE) -> np.ndarray:
    """A smooth, brain-sized field: a Gaussian blob plus a slow oscillation, in [0, ~1.1]."""
    axes = [np.linspace(-1.0, 1.0, n, dtype=np.float64) for n in shape]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    blob = np.exp(-(x**2 / 0.35 + y**2 / 0.45 + z**2 / 0.4))
    return (blob + 0.1 * np.cos(np.pi * x) * np.sin(np.pi * y)).astype(np.float32)


def test_constants_match_the_paper():
    assert T1_LINEAR_SHAPE == (169, 208, 179)
    assert NETWORK_SHAPE == (128, 128, 128)
    assert RESAMPLING["method"] == "trilinear"
    assert RESAMPLING["align_corners"] is False


def test_minmax_scale_reaches_zero_and_one_and_inverts():
    data = np.random.default_rng(0).normal(300.0, 80.0, size=(20, 21, 22)).astype(np.float32)
    original = data.copy()
    scaled, params = minmax_scale(data)
    assert scaled.dtype == np.float32
    assert scaled.min() == 0.0
    assert scaled.max() == pytest.approx(1.0, abs=1e-6)
    assert params == MinMaxParams(float(original.min()), float(original.max()))
    np.testing.assert_allclose(minmax_unscale(scaled, params), original, rtol=0, atol=1e-3)
    np.testing.assert_array_equal(data, original)  # input untouched


def test_minmax_scale_torch_matches_numpy_and_int_becomes_float():
    data = np.arange(24, dtype=np.int16).reshape(2, 3, 4) * 7 - 11
    scaled_np, params_np = minmax_scale(data)
    scaled_t, params_t = minmax_scale(torch.from_numpy(data))
    assert scaled_np.dtype == np.float32 and scaled_t.dtype == torch.float32
    assert params_np == params_t == MinMaxParams(-11.0, 23 * 7 - 11.0)
    np.testing.assert_allclose(scaled_t.numpy(), scaled_np, atol=1e-7)
    restored = minmax_unscale(scaled_t, params_t)
    np.testing.assert_allclose(restored.numpy(), data, atol=1e-4)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.full((4, 4, 4), 3.0, dtype=np.float32), "constant"),
        (np.array([0.0, np.nan, 1.0], dtype=np.float32), "NaN or infinite"),
        (np.array([0.0, np.inf, 1.0], dtype=np.float32), "NaN or infinite"),
        (np.zeros((0, 3, 3), dtype=np.float32), "empty"),
    ],
)
def test_minmax_scale_rejects_unusable_data_naming_the_source(values, message):
    with pytest.raises(ValueError, match=message) as info:
        minmax_scale(values, source="sub-01_T1w.nii.gz")
    assert "sub-01_T1w.nii.gz" in str(info.value)
    with pytest.raises(ValueError, match=message):
        check_finite_nonconstant(torch.from_numpy(values))


def test_minmax_params_validate():
    with pytest.raises(ValueError):
        MinMaxParams(1.0, 1.0)
    with pytest.raises(ValueError):
        MinMaxParams(float("nan"), 1.0)
    assert MinMaxParams(-1.0, 3.0).scale == 4.0
    assert MinMaxParams(-1.0, 3.0).to_dict() == {"minimum": -1.0, "maximum": 3.0}


def test_round_trip_of_a_smooth_volume_has_small_error():
    volume = smooth_volume()
    original = volume.copy()
    small = to_network_grid(volume)
    assert small.shape == NETWORK_SHAPE and small.dtype == np.float32
    back = to_t1_linear_grid(small)
    assert back.shape == T1_LINEAR_SHAPE and back.dtype == np.float32
    error = np.abs(back - volume)
    value_range = float(volume.max() - volume.min())
    # Measured: max ≈ 0.22 %, mean ≈ 0.006 % of the range; the bounds leave a margin.
    assert error.max() < 0.005 * value_range
    assert error.mean() < 0.0005 * value_range
    np.testing.assert_array_equal(volume, original)  # input untouched


def test_resampling_keeps_constants_and_stays_within_range():
    constant = np.full(T1_LINEAR_SHAPE, 7.25, dtype=np.float32)
    np.testing.assert_allclose(to_network_grid(constant), 7.25, rtol=0, atol=1e-5)
    noise = np.random.default_rng(1).random(NETWORK_SHAPE, dtype=np.float32)
    up = to_t1_linear_grid(noise)
    assert up.min() >= noise.min() and up.max() <= noise.max()


def test_align_corners_false_maps_voxel_centres():
    """With align_corners=False, output voxel i samples input coordinate (i + ½)·n/m − ½."""
    n_in, n_out = 169, 128
    ramp = np.broadcast_to(np.arange(n_in, dtype=np.float64)[:, None, None], (n_in, 4, 4)).copy()
    out = resample_to_shape(ramp, (n_out, 4, 4))
    assert out.dtype == np.float64
    expected = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    # Interior voxels (coordinates inside [0, n_in - 1]) are exact for a linear ramp.
    inside = (expected >= 0) & (expected <= n_in - 1)
    np.testing.assert_allclose(out[inside, 0, 0], expected[inside], atol=1e-9)


def test_resample_batches_tensors_and_matches_numpy():
    volume = smooth_volume((40, 44, 36))
    batch = torch.from_numpy(np.stack([volume, 2 * volume]))[:, None]
    out = resample_to_shape(batch, (32, 32, 32))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 1, 32, 32, 32)
    single = resample_to_shape(volume, (32, 32, 32))
    np.testing.assert_allclose(out[0, 0].numpy(), single, atol=1e-6)
    np.testing.assert_allclose(out[1, 0].numpy(), 2 * single, atol=1e-5)
    half = resample_to_shape(batch.half(), (32, 32, 32))
    assert half.dtype == torch.float16


@pytest.mark.parametrize("shape", [(128, 128), (1, 128, 128, 128), (0, 128, 128)])
def test_resample_rejects_bad_shapes(shape):
    with pytest.raises(ValueError):
        resample_to_shape(np.zeros((4, 4, 4, 4)), (8, 8, 8))
    with pytest.raises(ValueError):
        resample_to_shape(np.zeros((4, 4, 4)), shape)


def test_t1_linear_grid_check():
    assert is_t1_linear_shape((169, 208, 179))
    assert not is_t1_linear_shape((193, 229, 193))
    check_t1_linear_shape((169, 208, 179))
    with pytest.raises(ValueError, match=r"sub-02\.nii\.gz.*193×229×193.*t1-linear"):
        check_t1_linear_shape((193, 229, 193), source="sub-02.nii.gz")
    with pytest.raises(ValueError, match="169×208×179×1"):
        check_t1_linear_shape((169, 208, 179, 1))


def test_keep_detail_applies_only_the_networks_change_and_keeps_fine_detail():
    rng = np.random.default_rng(0)
    shape = (40, 44, 36)
    volume = rng.random(shape, dtype=np.float32)  # all detail, finer than any coarser grid
    coarse = (16, 16, 16)
    round_trip_input = network_round_trip(volume, coarse)
    # A network that changes nothing: the volume comes back exactly, noise and all, where the
    # round trip alone loses most of it.
    same = keep_detail(volume, round_trip_input, round_trip_input)
    np.testing.assert_array_equal(same, volume)
    assert np.abs(round_trip_input - volume).mean() > 0.1
    # A network that darkens a region by 0.3 on its grid: exactly that change, resampled, is
    # subtracted; the full-resolution detail stays everywhere.
    on_grid = resample_to_shape(volume, coarse)
    darkened = on_grid.copy()
    darkened[4:10, 4:10, 4:10] -= 0.3
    change = resample_to_shape(darkened - on_grid, shape)
    result = keep_detail(volume, round_trip_input, resample_to_shape(darkened, shape))
    np.testing.assert_allclose(result - volume, change, atol=1e-6)
    assert change.min() == pytest.approx(-0.3, abs=0.01) and change.max() == pytest.approx(0)
    # Torch tensors too, and three volumes of one shape only.
    as_tensor = keep_detail(
        torch.from_numpy(volume),
        torch.from_numpy(round_trip_input),
        torch.from_numpy(np.asarray(resample_to_shape(darkened, shape))),
    )
    np.testing.assert_allclose(as_tensor.numpy(), result, atol=1e-6)
    with pytest.raises(ValueError, match="one shape"):
        keep_detail(volume, on_grid, on_grid)
    assert OUTPUT_RESAMPLINGS == ("round-trip", "keep-detail")
