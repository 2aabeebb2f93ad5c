"""Tests of the tissue segmentation backends, their volumes and the SPM set-up."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from ce2nce_pipeline.errors import BackendUnavailableError
from ce2nce_pipeline.science import segmentation as seg
from ce2nce_pipeline.science.t1_linear import template_image
from ce2nce_pipeline.science.templates import (
    CROP_AFFINE,
    CROP_SHAPE,
    nilearn_template_path,
    place_on_grid,
    tissue_priors,
)
from ce2nce_pipeline.science.volumes import dice


@pytest.fixture(scope="module")
def mni_template() -> nib.Nifti1Image:
    data = place_on_grid(nib.load(nilearn_template_path()), CROP_SHAPE, CROP_AFFINE)
    return template_image(data, CROP_AFFINE)


@pytest.fixture(scope="module")
def mni_maps(mni_template) -> seg.TissueMaps:
    return seg.segment_ants(mni_template)


@pytest.mark.slow
def test_ants_maps_of_the_mni_template_agree_with_its_priors(mni_maps) -> None:
    gm_prior, wm_prior, _ = tissue_priors()
    # Measured 0.96 (GM) and 0.97 (WM). The priors initialise Atropos, but the posterior is
    # mostly the image's likelihood (prior weight 0.25): a wrong class order, a misplaced
    # prior or an intensity model gone astray each fall far below 0.8.
    assert dice(mni_maps.gm > 0.5, gm_prior > 0.5) >= 0.80
    assert dice(mni_maps.wm > 0.5, wm_prior > 0.5) >= 0.80


@pytest.mark.slow
def test_ants_maps_are_probabilities_on_the_input_grid(mni_maps, mni_template) -> None:
    images = mni_maps.images()
    for name in ("GM", "WM", "CSF"):
        assert images[name].get_data_dtype() == np.float32
        assert images[name].shape == CROP_SHAPE
        np.testing.assert_allclose(images[name].affine, mni_template.affine)
    total = mni_maps.gm + mni_maps.wm + mni_maps.csf
    assert total.max() <= 1.0 + 1e-4 and total.min() >= 0.0
    labels = np.asarray(images["dseg"].dataobj)
    assert images["dseg"].get_data_dtype() == np.uint8
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    # The ventricles are CSF, the centrum semiovale WM, the cortex at the vertex GM.
    volumes = mni_maps.volumes()
    assert volumes.tiv == pytest.approx(volumes.gm + volumes.wm + volumes.csf)


def _world_to_voxel(x: float, y: float, z: float) -> tuple[int, int, int]:
    ijk = np.linalg.solve(CROP_AFFINE, [x, y, z, 1.0])[:3]
    return tuple(int(round(v)) for v in ijk)


@pytest.mark.slow
def test_ants_labels_put_known_structures_in_the_right_class(mni_maps) -> None:
    labels = mni_maps.labels()
    assert labels[_world_to_voxel(-4, 5, 15)] == 3  # left lateral ventricle, frontal horn
    assert labels[_world_to_voxel(-25, -10, 30)] == 2  # left corona radiata
    assert labels[_world_to_voxel(-10, 5, 15)] == 1  # left caudate head
    assert labels[_world_to_voxel(0, -60, -30)] == 1  # cerebellar vermis


def test_tissue_priors_sum_to_one() -> None:
    gm, wm, csf = tissue_priors()
    np.testing.assert_allclose(gm + wm + csf, 1.0, atol=1e-5)
    assert gm.shape == CROP_SHAPE and gm.dtype == np.float32


def test_segment_refuses_bad_inputs(mni_template) -> None:
    with pytest.raises(ValueError, match="not on the t1-linear grid"):
        seg.segment_ants(nib.Nifti1Image(np.ones((10, 10, 10), np.float32), np.eye(4)))
    empty = nib.Nifti1Image(np.zeros(CROP_SHAPE, np.uint8), CROP_AFFINE)
    with pytest.raises(ValueError, match="mask is empty"):
        seg.segment_ants(mni_template, empty)
    with pytest.raises(ValueError, match="prior_weight"):
        seg.AtroposSettings(prior_weight=2.0)
    with pytest.raises(ValueError, match="iterations"):
        seg.AtroposSettings(iterations=0)


def test_tables() -> None:
    text = seg.volumes_tsv(seg.TissueVolumes(gm=600.0, wm=500.0, csf=300.0))
    header, row = text.splitlines()
    assert header.split("\t") == ["GM_cm3", "WM_cm3", "CSF_cm3", "TIV_cm3"]
    assert [float(v) for v in row.split("\t")] == [600.0, 500.0, 300.0, 1400.0]
    lookup = seg.dseg_tsv().splitlines()
    assert lookup[0] == "index\tname\tabbreviation"
    assert lookup[1:] == [
        "1\tGray Matter\tGM",
        "2\tWhite Matter\tWM",
        "3\tCerebrospinal Fluid\tCSF",
    ]


def test_spm_maps_read_from_scaled_uint8_files(tmp_path) -> None:
    # SPM writes c1-c3 as uint8 with a scale factor (nibabel picks one here too).
    shape = (4, 4, 4)
    paths = []
    for k, value in enumerate((0.6, 0.3, 0.1), start=1):
        data = np.full(shape, value, dtype=np.float32)
        data[0, 0, 0] = 1.0 if k == 1 else 0.0
        image = nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0]))
        image.header.set_data_dtype(np.uint8)
        paths.append(tmp_path / f"c{k}t1.nii")
        nib.save(image, paths[-1])
    assert nib.load(paths[0]).get_data_dtype() == np.uint8
    maps = seg.tissue_maps_from_files(*paths)
    np.testing.assert_allclose(maps.gm[1, 1, 1], 0.6, atol=0.01)
    assert np.all(maps.labels() == 1)
    assert maps.volumes().gm == pytest.approx(64 * 8 / 1000)


def test_clinica_spm_tissues() -> None:
    tissues = seg.clinica_spm_tissues("/spm/tpm/TPM.nii")
    assert [t[0] for t in tissues] == [("/spm/tpm/TPM.nii", k) for k in range(1, 7)]
    assert [t[1] for t in tissues] == [2, 2, 2, 3, 4, 2]
    assert [t[2] for t in tissues] == [(True, True)] * 3 + [(False, False)] * 3
    assert [t[3] for t in tissues] == [(True, False)] * 3 + [(False, False)] * 3


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _tpm(folder: Path) -> Path:
    tpm = folder / "tpm" / "TPM.nii"
    tpm.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2, 6), np.float32), np.eye(4)), tpm)
    return tpm


def test_find_spm_absent_gives_a_one_line_error() -> None:
    with pytest.raises(BackendUnavailableError) as error:
        seg.find_spm({"PATH": os.defpath})
    message = str(error.value)
    assert "\n" not in message
    assert "SPMMCRCMD" in message and "--seg-backend ants" in message


def test_find_spm_standalone_through_nipype_variables(tmp_path) -> None:
    script = _executable(tmp_path / "spm12" / "run_spm12.sh")
    tpm = _tpm(tmp_path / "spm12" / "spm12_mcr" / "spm12" / "spm12")
    command = f"{script} /opt/mcr/v97 script"
    found = seg.find_spm({"SPMMCRCMD": command, "FORCE_SPMMCR": "1"})
    assert found == seg.SpmInstallation(command, True, tpm)


def test_find_spm_standalone_through_clinica_variables(tmp_path) -> None:
    script = _executable(tmp_path / "spm12" / "run_spm12.sh")
    tpm = _tpm(tmp_path / "spm12" / "spm12_mcr" / "spm12")
    mcr = tmp_path / "mcr" / "v97"
    mcr.mkdir(parents=True)
    found = seg.find_spm({"SPMSTANDALONE_HOME": str(script.parent), "MCR_HOME": str(mcr)})
    assert found.matlab_cmd == f"{script} {mcr} script"
    assert found.use_mcr and found.tpm == tpm
    with pytest.raises(BackendUnavailableError, match="missing"):
        seg.find_spm({"SPMSTANDALONE_HOME": str(tmp_path / "nowhere"), "MCR_HOME": str(mcr)})


def test_find_spm_with_matlab(tmp_path) -> None:
    _executable(tmp_path / "bin" / "matlab")
    home = tmp_path / "spm12"
    tpm = _tpm(home)
    (home / "spm.m").write_text("% SPM\n")
    found = seg.find_spm({"PATH": str(tmp_path / "bin"), "SPM_HOME": str(home)})
    assert not found.use_mcr and found.paths == (str(home),) and found.tpm == tpm
    assert found.matlab_cmd.startswith("matlab")


def test_atropos_in_the_masks_box_gives_the_whole_grids_posteriors(
    mni_template, tmp_path, monkeypatch
) -> None:
    """Atropos on the mask's bounding box: the same posteriors, to the bit, on the full grid."""
    step = (slice(None, None, 3),) * 3  # the template at 3 mm: a real brain, quick to segment
    data = np.asarray(mni_template.dataobj, dtype=np.float32)[step]
    priors = [prior[step] for prior in tissue_priors()]
    brain = np.zeros(data.shape, dtype=bool)
    brain[8:40, 10:50, 12:45] = data[8:40, 10:50, 12:45] > 0  # off-centre: a box with margins
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    boxed = seg._run_atropos(data, brain, priors, affine, seg.AtroposSettings(), tmp_path)
    assert seg._bounding_box(brain, margin=2) != tuple(slice(0, n) for n in data.shape)
    monkeypatch.setattr(
        seg, "_bounding_box", lambda mask, margin: tuple(slice(0, n) for n in mask.shape)
    )
    whole = seg._run_atropos(data, brain, priors, affine, seg.AtroposSettings(), tmp_path)
    for inside, reference in zip(boxed, whole, strict=True):
        assert inside.shape == data.shape
        np.testing.assert_array_equal(inside * brain, reference * brain)
        assert inside[brain].std() > 0.1  # real probabilities, not a constant
