"""Tests of the Predictor: t1-linear image in, synthetic image on the same grid out."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from torch import nn

from ce2nce_pipeline.models import (
    CheckpointError,
    Predictor,
    build_preset,
    resolve_device,
    save_checkpoint,
)
from ce2nce_pipeline.models.checkpoint import WEIGHTS_FILE
from ce2nce_pipeline.science.intensity import WHITE_MATTER_LEVEL, white_matter_region
from ce2nce_pipeline.science.resampling import T1_LINEAR_SHAPE

from ..training import colin_nce

AFFINE = np.array(
    [[-1.0, 0.0, 0.0, 84.0], [0.0, 1.0, 0.0, -120.0], [0.0, 0.0, 1.0, -72.0], [0, 0, 0, 1]]
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def head_like(offset: float = 0.0, scale: float = 1000.0) -> np.ndarray:
    """A smooth head-like volume on the t1-linear grid, intensities in [offset, offset+scale]."""
    axes = [np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in T1_LINEAR_SHAPE]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    radius = x**2 / 0.5 + y**2 / 0.6 + z**2 / 0.55
    volume = np.exp(-radius) * (1 + 0.2 * np.cos(3 * x) * np.sin(2 * y))
    volume = (volume - volume.min()) / (volume.max() - volume.min())
    return (offset + scale * volume).astype(np.float32)


def make_image(data: np.ndarray) -> nib.Nifti1Image:
    image = nib.Nifti1Image(data, AFFINE)
    image.header["descrip"] = b"ce2nce test input"
    image.header.set_xyzt_units("mm")
    return image


class ScaledIdentity(nn.Module):
    """Identity on the network grid (what a perfect 'no change' translator would do)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = build_preset("att_unet", "tiny")
    # Shift the last bias so that the untrained net's tanh output lies inside (0, 1) and is
    # not clipped away: the test then sees real network output in the result.
    with torch.no_grad():
        model.final[0].bias.fill_(0.5)
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "att_unet_tiny")


@pytest.fixture(scope="module")
def tiny_predictor(tiny_checkpoint):
    return Predictor.from_checkpoint(tiny_checkpoint, device="cpu", num_threads=1)


def test_identity_network_reproduces_the_input_through_the_whole_pipeline():
    data = head_like(offset=-50.0, scale=900.0)
    image = make_image(data)
    original = data.copy()
    out = Predictor(ScaledIdentity(), device="cpu").predict(image)
    assert isinstance(out, nib.Nifti1Image)
    assert out.shape == T1_LINEAR_SHAPE
    assert out.get_data_dtype() == np.float32
    np.testing.assert_array_equal(out.affine, image.affine)
    result = out.get_fdata(dtype=np.float32)
    assert result.min() >= data.min() - 1e-3 and result.max() <= data.max() + 1e-3
    # Only the 169×208×179 → 128³ → 169×208×179 resampling separates output from input.
    error = np.abs(result - data)
    assert error.max() < 0.01 * 900.0
    assert error.mean() < 0.001 * 900.0
    np.testing.assert_array_equal(data, original)


def test_white_matter_checkpoint_scales_inputs_on_the_white_matter_not_the_maximum():
    # Colin27 with an "enhanced vessel" at 4.5 x its white matter: min-max scaling maps the
    # vessel to 1, white-matter scaling clips it at 1 / WHITE_MATTER_LEVEL = 4 x the white matter.
    data, _ = colin_nce()
    wm_median = float(np.median(data[white_matter_region(data.shape)]))
    data[60:110, 100:104, 140:144] = 4.5 * wm_median
    image = make_image(data)
    metadata = {"preprocessing": {"intensity_normalisation": {"method": "white-matter"}}}
    outputs = {
        method: Predictor(ScaledIdentity(), metadata=meta, device="cpu").predict(image)
        for method, meta in (("min-max", None), ("white-matter", metadata))
    }
    vessel = (slice(70, 100), slice(101, 103), slice(141, 143))
    brain = white_matter_region(data.shape)
    for method, clip in (("min-max", 4.5), ("white-matter", 1.0 / WHITE_MATTER_LEVEL)):
        result = outputs[method].get_fdata(dtype=np.float32)
        assert result[vessel].max() == pytest.approx(clip * wm_median, rel=1e-3), method
        # Elsewhere only the resampling to 128³ and back separates output from input.
        assert abs(np.median(result[brain]) - wm_median) < 0.01 * wm_median, method
    # white-matter-input: the same input, but the output is read as min-max scaled (the
    # network's target), so an identity network puts the white matter at 0.25 x the maximum.
    metadata["preprocessing"]["intensity_normalisation"]["method"] = "white-matter-input"
    predictor = Predictor(ScaledIdentity(), metadata=metadata, device="cpu")
    assert predictor.normalisation == "white-matter-input"
    result = predictor.predict(image).get_fdata(dtype=np.float32)
    assert np.median(result[brain]) == pytest.approx(WHITE_MATTER_LEVEL * data.max(), rel=0.01)
    assert result[vessel].max() == pytest.approx(data.max(), rel=1e-3)


def test_checkpoint_predictor_output_geometry_range_and_determinism(tiny_predictor):
    image = make_image(head_like(offset=20.0, scale=500.0))
    first = tiny_predictor.predict(image)
    second = tiny_predictor.predict(image)
    assert first.shape == T1_LINEAR_SHAPE
    np.testing.assert_array_equal(first.affine, AFFINE)
    assert first.get_data_dtype() == np.float32
    assert first.header["descrip"] == image.header["descrip"]
    assert first.header.get_xyzt_units() == ("mm", "unknown")
    values = first.get_fdata(dtype=np.float32)
    assert np.isfinite(values).all()
    assert values.min() >= 20.0 - 1e-3 and values.max() <= 520.0 + 1e-3
    assert values.std() > 0  # real network output, not a clipped constant
    np.testing.assert_array_equal(values, second.get_fdata(dtype=np.float32))
    assert tiny_predictor.architecture == "att_unet"
    assert len(tiny_predictor.weights_sha256) == 64
    assert tiny_predictor.device == torch.device("cpu")


def test_written_image_keeps_affine_shape_and_dtype(tmp_path):
    source = tmp_path / "sub-01_ses-M000_ce-gadolinium_desc-Crop_T1w.nii.gz"
    stored = nib.Nifti1Image(np.round(head_like(scale=3000.0)).astype(np.int16), AFFINE)
    stored.header.set_slope_inter(0.5, 10.0)
    nib.save(stored, source)
    image = nib.load(source)
    out = Predictor(ScaledIdentity(), device="cpu").predict(image)
    target = tmp_path / "synthetic.nii.gz"
    nib.save(out, target)
    written = nib.load(target)
    assert written.shape == T1_LINEAR_SHAPE
    assert written.get_data_dtype() == np.float32
    np.testing.assert_allclose(written.affine, image.affine)
    data_in = image.get_fdata()
    data_out = written.get_fdata()
    # The input's scaled intensity range (scl_slope/inter applied) is the output's range.
    assert data_out.min() >= data_in.min() - 1e-2 and data_out.max() <= data_in.max() + 1e-2
    assert np.abs(data_out - data_in).mean() < 0.001 * np.ptp(data_in)


def test_predict_batch_matches_single_predictions():
    predictor = Predictor(ScaledIdentity(), device="cpu", batch_size=2)
    images = [make_image(head_like(0.0, 100.0)), make_image(head_like(5.0, 3.0)[::-1].copy())]
    batch = predictor.predict_batch(images)
    assert len(batch) == 2
    for image, result in zip(images, batch, strict=True):
        single = predictor.predict(image)
        np.testing.assert_allclose(result.get_fdata(), single.get_fdata(), rtol=0, atol=1e-4)
        np.testing.assert_array_equal(result.affine, image.affine)
    assert predictor.predict_batch([]) == []


def test_predict_array_matches_predict():
    data = head_like(1.0, 10.0)
    predictor = Predictor(ScaledIdentity(), device="cpu")
    np.testing.assert_array_equal(
        predictor.predict_array(data), predictor.predict(make_image(data)).get_fdata()
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.ones((128, 128, 128), dtype=np.float32), "not on the t1-linear grid"),
        (np.ones((193, 229, 193), dtype=np.float32), "193×229×193"),
        (np.ones((*T1_LINEAR_SHAPE, 2), dtype=np.float32), "expected a 3D image"),
        (np.zeros(T1_LINEAR_SHAPE, dtype=np.float32), "constant"),
    ],
)
def test_unusable_images_are_rejected_naming_the_file(tmp_path, data, message):
    path = tmp_path / "sub-09_T1w.nii.gz"
    nib.save(nib.Nifti1Image(data, AFFINE), path)
    predictor = Predictor(ScaledIdentity(), device="cpu")
    with pytest.raises(ValueError, match=message) as info:
        predictor.predict(nib.load(path))
    assert str(path) in str(info.value)


def test_nan_images_are_rejected():
    data = head_like()
    data[80, 100, 90] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite voxel"):
        Predictor(ScaledIdentity(), device="cpu").predict(make_image(data))
    with pytest.raises(ValueError, match="in-memory image"):
        Predictor(ScaledIdentity(), device="cpu").predict(make_image(data))
    with pytest.raises(TypeError, match="nibabel image"):
        Predictor(ScaledIdentity(), device="cpu").predict(data)


def test_a_batch_with_one_bad_image_translates_nothing():
    calls = []

    class Counting(ScaledIdentity):
        def forward(self, x):
            calls.append(x.shape[0])
            return super().forward(x)

    bad = make_image(np.zeros(T1_LINEAR_SHAPE, dtype=np.float32))
    with pytest.raises(ValueError, match="constant"):
        Predictor(Counting(), device="cpu").predict_batch([make_image(head_like()), bad])
    assert calls == []


def test_tampered_checkpoint_is_refused_by_the_predictor(tmp_path):
    path = save_checkpoint(build_preset("res_unet", "tiny"), tmp_path / "res")
    weights = path / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        Predictor.from_checkpoint(path, device="cpu")


def test_device_and_argument_validation():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="num_threads"):
        Predictor(ScaledIdentity(), device="cpu", num_threads=0)
    with pytest.raises(ValueError, match="batch_size"):
        Predictor(ScaledIdentity(), device="cpu", batch_size=0)
    assert not Predictor(ScaledIdentity(), device="cpu").mixed_precision  # CUDA only


def test_network_returning_the_wrong_shape_is_an_error():
    class Shrinking(nn.Module):
        def forward(self, x):
            return x[..., 1:]

    with pytest.raises(RuntimeError, match="network returned shape"):
        Predictor(Shrinking(), device="cpu").predict(make_image(head_like()))


def test_deterministic_cudnn_sets_and_restores_only_its_two_flags():
    from ce2nce_pipeline.models.predictor import deterministic_cudnn

    cudnn = torch.backends.cudnn
    before = (cudnn.enabled, cudnn.deterministic, cudnn.benchmark, cudnn.allow_tf32)
    cudnn.benchmark = True
    try:
        with deterministic_cudnn():
            assert cudnn.deterministic and not cudnn.benchmark
            assert cudnn.enabled == before[0] and cudnn.allow_tf32 == before[3]
        assert cudnn.benchmark and cudnn.deterministic == before[1]
    finally:
        cudnn.benchmark = before[2]


class DarkenBlob(nn.Module):
    """Removes 0.2 from a cube of the network grid: an 'enhancement' the network takes away."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        out[..., 50:70, 60:80, 60:80] -= 0.2
        return out


def test_keep_detail_returns_real_anatomy_untouched_and_applies_the_change_at_1mm():
    data, _ = colin_nce()
    image = make_image(data)
    value_range = float(data.max() - data.min())
    outputs = {
        mode: Predictor(ScaledIdentity(), device="cpu", output_resampling=mode).predict(image)
        for mode in ("round-trip", "keep-detail")
    }
    head = data > 0.1 * data.max()
    error = {
        mode: 100 * np.abs(out.get_fdata(dtype=np.float32) - data)[head].mean() / value_range
        for mode, out in outputs.items()
    }
    # The paper's round trip blurs Colin27 by over 1 % of its range; keep-detail gives it back.
    assert error["round-trip"] > 1.0
    assert error["keep-detail"] < 1e-4
    darkened = (
        Predictor(DarkenBlob(), device="cpu", output_resampling="keep-detail")
        .predict(image)
        .get_fdata(dtype=np.float32)
    )
    change = darkened - data
    # Only where the network darkened (the cube, 1.32 x 1.63 x 1.40 larger on the t1-linear
    # grid: 66-92, 98-130, 84-112)...
    assert np.abs(change[:60]).max() < 1e-3 * value_range
    inside = (slice(70, 88), slice(102, 126), slice(88, 108))
    assert np.median(change[inside]) == pytest.approx(-0.2 * value_range, rel=0.02)
    # ... and what stays there is the 1 mm anatomy, not its 128³ copy.
    unclipped = data[inside] > 0.25 * value_range
    assert np.std(change[inside][unclipped]) < 0.01 * value_range < np.std(data[inside])


def test_output_resampling_comes_from_the_checkpoint_and_can_be_overridden(tmp_path):
    model = build_preset("res_unet", "tiny")
    recorded = save_checkpoint(model, tmp_path / "kd", output_resampling="keep-detail")
    legacy = save_checkpoint(model, tmp_path / "rt")
    assert Predictor.from_checkpoint(recorded, device="cpu").output_resampling == "keep-detail"
    assert Predictor.from_checkpoint(legacy, device="cpu").output_resampling == "round-trip"
    overridden = Predictor.from_checkpoint(recorded, device="cpu", output_resampling="round-trip")
    assert overridden.output_resampling == "round-trip"
    with pytest.raises(ValueError, match="unknown output resampling"):
        Predictor(ScaledIdentity(), device="cpu", output_resampling="nearest")
    with pytest.raises(ValueError, match="unknown output resampling"):
        save_checkpoint(model, tmp_path / "bad", output_resampling="nearest")
    # A checkpoint from a newer ce2nce with a way this one does not know: refused on loading.
    metadata_file = recorded / "metadata.json"
    metadata_file.write_text(
        metadata_file.read_text().replace('"output": "keep-detail"', '"output": "spline"')
    )
    with pytest.raises(CheckpointError, match="unknown output resampling 'spline'"):
        Predictor.from_checkpoint(recorded, device="cpu")


def test_voxels_without_signal_stay_empty_in_the_synthetic_image():
    """Where the T1w-ce is exactly zero (skull-stripped, outside the field of view), the synthetic
    image is zero too; elsewhere the network's output is kept."""
    data = head_like(offset=10.0, scale=900.0)
    data[:40] = 0.0  # a slab with no signal
    image = make_image(data)
    predictor = Predictor(ScaledIdentity(), device="cpu")
    out = predictor.predict(image).get_fdata(dtype=np.float32)
    assert np.all(out[:40] == 0.0)
    # the round trip's blur would have spread the edge into the empty slab
    assert np.abs(out[40:] - data[40:]).mean() < 0.01 * 900.0
    assert np.all(out[41:] > 0.0)
    np.testing.assert_array_equal(predictor.predict_array(data)[:40], 0.0)


class LeftBright(nn.Module):
    """Adds 0.1 in the first half of the first axis: a network that is not mirror-symmetric."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        out[:, :, : x.shape[2] // 2] += 0.1
        return out


def test_flip_sd_is_zero_for_a_symmetric_network_and_half_the_asymmetry_otherwise():
    image = make_image(head_like(0.0, 100.0))
    synthetic, sd = Predictor(ScaledIdentity(), device="cpu").predict_with_flip_sd(image)
    # The synthetic image is the plain prediction; identity commutes with the mirror.
    np.testing.assert_array_equal(
        synthetic.get_fdata(), Predictor(ScaledIdentity(), device="cpu").predict(image).get_fdata()
    )
    assert float(np.asarray(sd.dataobj).max()) < 1e-3 * 100
    np.testing.assert_array_equal(sd.affine, image.affine)
    _, sd = Predictor(LeftBright(), device="cpu").predict_with_flip_sd(image)
    values = np.asarray(sd.dataobj)
    # Away from the middle, one output has +0.1 (x100 intensity units) and the other not.
    assert np.median(values[:60]) == pytest.approx(5.0, abs=0.5)
    assert np.median(values[110:]) == pytest.approx(5.0, abs=0.5)


def test_enhancement_opening_takes_thin_bright_structures_out_of_the_network_output():
    """With ``enhancement_opening`` the output is the plain one with the opening's excess
    subtracted: a thin bright tube drawn into the head comes down, the rest is unchanged."""
    from ce2nce_pipeline.science.enhancement_opening import remove_enhancement

    data = head_like(scale=900.0)
    data[60:110, 100:102, 90:92] = 1.6 * data[60:110, 100:102, 90:92].max()
    plain = Predictor(ScaledIdentity(), device="cpu", output_resampling="keep-detail")
    opened = Predictor(
        ScaledIdentity(), device="cpu", output_resampling="keep-detail", enhancement_opening=True
    )
    before, after = plain.predict_array(data), opened.predict_array(data)
    np.testing.assert_allclose(after, remove_enhancement(before), atol=1e-3)
    tube = (slice(62, 108), slice(100, 102), slice(90, 92))
    assert after[tube].mean() < 0.8 * before[tube].mean()
    assert (after <= before + 1e-3).all()


class Darken(nn.Module):
    """Lowers every voxel: a translation that changes the whole head."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.8 * x


def test_an_intracranial_change_region_gives_the_scalp_back_unchanged(tmp_path):
    """A checkpoint recording ``change_region="intracranial"`` keeps the network's change only
    inside the template's grown brain: a head-like image comes out darkened in the brain and
    untouched outside, while the same network recorded without it darkens both."""
    from ce2nce_pipeline.science.change_region import INTRACRANIAL_CHANGE_MARGIN_VOXELS
    from ce2nce_pipeline.science.enhancement_opening import intracranial_region

    data = head_like(scale=900.0)
    inside = intracranial_region(T1_LINEAR_SHAPE, INTRACRANIAL_CHANGE_MARGIN_VOXELS)
    head = data > 0
    assert (head & ~inside).sum() > 10_000  # the phantom has a scalp outside the region
    everywhere = Predictor(Darken(), device="cpu", output_resampling="keep-detail")
    torch.manual_seed(0)
    checkpoint = save_checkpoint(
        build_preset("res_unet", "tiny"), tmp_path / "res", change_region="intracranial"
    )
    assert Predictor.from_checkpoint(checkpoint, device="cpu").change_region == "intracranial"
    confined = Predictor(
        Darken(), device="cpu", output_resampling="keep-detail", change_region="intracranial"
    )
    free, kept = everywhere.predict_array(data), confined.predict_array(data)
    outside = head & ~inside
    assert np.abs(free[outside] - data[outside]).mean() > 10.0
    np.testing.assert_array_equal(kept[outside], data[outside])
    np.testing.assert_allclose(kept[inside], free[inside], atol=1e-3)
    with pytest.raises(ValueError, match="unknown change region"):
        Predictor(Darken(), device="cpu", change_region="brain")
