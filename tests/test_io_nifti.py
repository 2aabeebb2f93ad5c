"""Images stored as integers with a NIfTI scale factor, written atomically and compressed."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from ce2nce_pipeline.interfaces.bids_sink import DerivativesDataSink
from ce2nce_pipeline.io import atomic_write_nifti, quantised


def test_int16_keeps_values_within_half_a_step_and_zero_exact(tmp_path, colin27_tiny):
    source = nib.load(colin27_tiny)
    exact = source.get_fdata()
    target = tmp_path / "stored.nii.gz"
    atomic_write_nifti(quantised(source, "int16"), target)
    stored = nib.load(target)
    assert stored.get_data_dtype() == np.int16
    step = float(stored.dataobj.slope)
    assert step == pytest.approx(np.abs(exact).max() / 32767, rel=1e-6)
    assert float(stored.dataobj.inter) == 0.0
    assert np.abs(stored.get_fdata() - exact).max() <= 0.5 * step * (1 + 1e-5)
    np.testing.assert_array_equal(stored.get_fdata() == 0, exact == 0)
    np.testing.assert_array_equal(stored.affine, source.affine)
    assert np.asanyarray(source.dataobj).dtype != np.int16  # the input is not modified
    gzip.decompress(target.read_bytes())  # a real gzip stream
    assert [path.name for path in tmp_path.iterdir()] == ["stored.nii.gz"]


def test_negative_values_keep_their_sign():
    data = np.linspace(-3.0, 5.0, 64, dtype=np.float32).reshape(4, 4, 4)
    stored = quantised(nib.Nifti1Image(data, np.eye(4)), "int16")
    values = nib.Nifti1Image.from_bytes(stored.to_bytes()).get_fdata()
    assert values.min() < 0 and np.abs(values - data).max() <= 0.5 * 5.0 / 32767 * (1 + 1e-5)


def test_the_error_stays_within_half_a_step_up_to_the_largest_integers():
    """The slope is the float32 the header stores: no error growing with the integer."""
    data = np.linspace(0.0, 357.0819, 100_000).astype(np.float32).reshape(100, 100, 10)
    stored = nib.Nifti1Image.from_bytes(
        quantised(nib.Nifti1Image(data, np.eye(4)), "int16").to_bytes()
    )
    step = float(stored.dataobj.slope)
    assert np.abs(stored.get_fdata() - data).max() <= 0.5 * step * (1 + 1e-5)
    assert np.asanyarray(stored.dataobj.get_unscaled()).max() == 32767


def test_uint8_probabilities_step_is_one_255th():
    rng = np.random.default_rng(0)
    data = rng.uniform(0.0, 1.0, (8, 8, 8)).astype(np.float32)
    data[0, 0, 0], data[0, 0, 1] = 0.0, 1.0
    stored = nib.Nifti1Image.from_bytes(
        quantised(nib.Nifti1Image(data, np.eye(4)), "uint8").to_bytes()
    )
    assert stored.get_data_dtype() == np.uint8
    values = stored.get_fdata()
    assert np.abs(values - data).max() <= 0.5 / 255 + 1e-7
    assert values[0, 0, 0] == 0.0 and values[0, 0, 1] == pytest.approx(1.0)


@pytest.mark.parametrize("data", [np.array([[[0.0, np.nan]]]), np.array([[[np.inf, 1.0]]])])
def test_non_finite_values_are_refused(data):
    with pytest.raises(ValueError, match="NaN or infinite"):
        quantised(nib.Nifti1Image(data.astype(np.float32), np.eye(4)), "int16")


def test_unknown_storage_is_refused():
    with pytest.raises(ValueError, match="int16, uint8"):
        quantised(nib.Nifti1Image(np.ones((2, 2, 2), np.float32), np.eye(4)), "float16")


def test_sink_stores_a_copy_as_is_and_a_quantised_image(tmp_path, colin27_tiny):
    """``as-is`` copies the bytes; ``int16`` writes the same values in a smaller file."""
    written = {}
    for storage in ("as-is", "int16"):
        sink = DerivativesDataSink(
            base_directory=str(tmp_path / storage),
            source_entities={"subject": "01"},
            in_file=str(colin27_tiny),
            suffix="T1w",
            desc="Crop",
            storage=storage,
        )
        written[storage] = sink.run().outputs.out_file
    assert open(written["as-is"], "rb").read() == colin27_tiny.read_bytes()
    assert nib.load(written["int16"]).get_data_dtype() == np.int16
    assert written["int16"].endswith("sub-01/anat/sub-01_desc-Crop_T1w.nii.gz")
