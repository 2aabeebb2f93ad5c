"""Bad input: one-line errors naming the file and the fix, non-zero exit, nothing written."""

from __future__ import annotations

import gzip
import os

import nibabel as nib
import numpy as np
import pytest

from ce2nce_pipeline.cli.run import main
from ce2nce_pipeline.errors import InvalidInputError
from ce2nce_pipeline.image_checks import load_t1w

from .conftest import tree_checksums, write_dataset


@pytest.fixture
def dataset(tmp_path, colin27_tiny):
    return write_dataset(
        tmp_path / "bids", {"sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz": colin27_tiny}
    )


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("ce2nce: error: ")
    return err


def _exit_code(argv) -> int:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    return raised.value.code


def test_missing_bids_dir(tmp_path, capsys):
    assert _exit_code([str(tmp_path / "nope"), str(tmp_path / "out"), "participant"]) == 2
    assert "does not exist" in _one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_not_a_bids_dataset(tmp_path, capsys):
    (tmp_path / "plain").mkdir()
    assert _exit_code([str(tmp_path / "plain"), str(tmp_path / "out"), "participant"]) == 2
    assert "no dataset_description.json" in _one_line_error(capsys)


def test_output_inside_bids_dir(dataset, capsys):
    before = tree_checksums(dataset)
    argv = [str(dataset), str(dataset / "derivatives" / "ce2nce"), "participant"]
    assert _exit_code(argv) == 2
    assert "inside BIDS_DIR" in _one_line_error(capsys)
    assert tree_checksums(dataset) == before
    assert not (dataset / "derivatives").exists()


@pytest.mark.parametrize("label", ["../sub-02", "01;rm", "sub-01/..", "*"])
def test_participant_label_with_path_characters(dataset, tmp_path, capsys, label):
    argv = [str(dataset), str(tmp_path / "out"), "participant", "--participant_label", label]
    assert _exit_code(argv) == 2
    assert "letters and digits" in _one_line_error(capsys)


def test_unknown_participant_label(dataset, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(dataset), str(out), "participant", "--participant-label", "sub-09"]) == 1
    err = _one_line_error(capsys)
    assert "no participant(s) sub-09" in err and "available: sub-01" in err
    assert not out.exists()


def test_bad_plugin_args(dataset, tmp_path, capsys):
    argv = [str(dataset), str(tmp_path / "o"), "participant", "--plugin-args", "[1]"]
    assert _exit_code(argv) == 2
    assert "JSON object" in _one_line_error(capsys)


def test_no_t1w_found(tmp_path, capsys):
    root = write_dataset(tmp_path / "bids", {})
    out = tmp_path / "out"
    assert main([str(root), str(out), "participant", "--skip-bids-validation"]) == 1
    assert "no T1w image found" in _one_line_error(capsys)
    assert not out.exists()


@pytest.mark.slow
def test_invalid_bids_dataset_is_refused_unless_skipped(tmp_path, colin27_tiny, capsys):
    root = write_dataset(tmp_path / "bids", {"sub-01/anat/sub-01_T1w.nii.gz": colin27_tiny})
    (root / "dataset_description.json").write_text("{}")  # Name and BIDSVersion missing
    assert main([str(root), str(tmp_path / "out"), "participant"]) == 1
    err = _one_line_error(capsys)
    assert "is not valid BIDS" in err and "--skip-bids-validation" in err


def test_group_level_without_participant_outputs(dataset, tmp_path, capsys):
    assert main([str(dataset), str(tmp_path / "out"), "group"]) == 1
    assert "participant" in _one_line_error(capsys)


def test_output_folder_under_a_file_is_refused_in_one_line(dataset, tmp_path, capsys):
    (tmp_path / "taken").write_text("a file where a folder is expected")
    out = tmp_path / "taken" / "out"
    assert main([str(dataset), str(out), "participant"]) == 1
    err = _one_line_error(capsys)
    assert f"OUTPUT_DIR {out}" in err and "is a file, not a folder" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("level", ["participant", "group"])
def test_unwritable_output_folder_is_refused_in_one_line(dataset, tmp_path, capsys, level):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert main([str(dataset), str(out), level]) == 1
    finally:
        out.chmod(0o755)
    err = _one_line_error(capsys)
    assert f"OUTPUT_DIR {out} is not writable (permission denied)" in err
    assert list(out.iterdir()) == []


def test_version(capsys):
    assert _exit_code(["--version"]) == 0
    assert capsys.readouterr().out.startswith("ce2nce ")


# --- load_t1w: each kind of bad image gets its own message naming the file -----------------


def _save(path, data, zooms=(1.0, 1.0, 1.0)):
    affine = np.diag([*zooms, 1.0])
    nib.save(nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine), path)
    return path


def test_corrupt_nifti(tmp_path, colin27_tiny):
    path = tmp_path / "sub-01_T1w.nii.gz"
    path.write_bytes(colin27_tiny.read_bytes()[:200])  # truncated gzip stream
    with pytest.raises(InvalidInputError, match=r"sub-01_T1w.nii.gz: cannot be read as NIfTI"):
        load_t1w(path)
    path.write_bytes(gzip.compress(b"not a nifti header at all" * 20))
    with pytest.raises(InvalidInputError, match="cannot be read as NIfTI"):
        load_t1w(path)


def test_4d_and_2d_images(tmp_path):
    with pytest.raises(InvalidInputError, match=r"must be 3D, this one has shape \(8, 8, 8, 2\)"):
        load_t1w(_save(tmp_path / "a.nii.gz", np.ones((8, 8, 8, 2))))
    with pytest.raises(InvalidInputError, match="must be 3D"):
        load_t1w(_save(tmp_path / "b.nii.gz", np.ones((8, 8, 1))))
    squeezed = load_t1w(_save(tmp_path / "c.nii.gz", np.arange(512.0).reshape(8, 8, 8, 1)))
    assert squeezed.shape == (8, 8, 8)


def test_nan_constant_and_implausible_voxels(tmp_path):
    data = np.arange(512.0).reshape(8, 8, 8)
    with_nan = data.copy()
    with_nan[0, 0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        load_t1w(_save(tmp_path / "n.nii.gz", with_nan))
    with pytest.raises(InvalidInputError, match="constant"):
        load_t1w(_save(tmp_path / "k.nii.gz", np.full((8, 8, 8), 3.0)))
    with pytest.raises(InvalidInputError, match="voxel size .* implausible"):
        load_t1w(_save(tmp_path / "v.nii.gz", data, zooms=(0.01, 0.01, 0.01)))


def test_malformed_bids_filter_file_is_one_line(dataset, tmp_path, capsys):
    bad = tmp_path / "filter.json"
    bad.write_text('{"t1w": {"acquisition": "mprage"')
    out = tmp_path / "out"
    argv = [str(dataset), str(out), "participant", "--bids-filter-file", str(bad)]
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"--bids-filter-file {bad}: not valid JSON" in err
    assert not out.exists()


def test_bids_filter_selecting_nothing_is_one_line(dataset, tmp_path, capsys):
    path = tmp_path / "filter.json"
    path.write_text('{"t1w": {"acquisition": "mprage"}}')
    out = tmp_path / "out"
    argv = [str(dataset), str(out), "participant", "--skip-bids-validation"]
    assert main([*argv, "--bids_filter_file", str(path)]) == 1
    err = _one_line_error(capsys)
    assert f"--bids-filter-file {path}: query 't1w'" in err and "selects none of the 1" in err
    assert not out.exists()


def test_unknown_output_level_is_one_line(dataset, tmp_path, capsys):
    out = tmp_path / "out"
    assert _exit_code([str(dataset), str(out), "participant", "--output-level", "tiny"]) == 2
    err = _one_line_error(capsys)
    assert "--output-level" in err and "minimal" in err and "full" in err
    assert not out.exists()


def test_output_level_reaches_the_run_settings(dataset, tmp_path):
    from ce2nce_pipeline.cli.parser import parse_args

    argv = [str(dataset), str(tmp_path / "out"), "participant"]
    assert parse_args(argv).output_level == "standard"
    assert parse_args([*argv, "--output-level", "minimal"]).output_level == "minimal"
