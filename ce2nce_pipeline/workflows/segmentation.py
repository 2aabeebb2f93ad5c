"""GM/WM/CSF segmentation, labels, volumes and TIV of t1-linear images."""

from __future__ import annotations

from nipype.algorithms.misc import Gunzip
from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ..interfaces.segmentation import AntsTissueSegmentation, Spm12NewSegment, SpmTissueOutputs
from ..science.segmentation import (
    CLINICA_WRITE_DEFORMATION_FIELDS,
    SEG_BACKENDS,
    AtroposSettings,
    SpmInstallation,
    clinica_spm_tissues,
)

#: Outputs of the segmentation graph.
_FIELDS = ("gm_probseg", "wm_probseg", "csf_probseg", "dseg", "dseg_tsv", "volumes_tsv")
_VOLUMES_DESC = (
    " Each voxel was given the tissue of maximum probability (background when the remaining "
    "probability was larger); tissue volumes were the voxel counts times the voxel volume, "
    "and the total intracranial volume (TIV) the sum of the GM, WM and CSF volumes."
)
ANTS_DESC = (
    "Gray matter (GM), white matter (WM) and cerebrospinal fluid (CSF) probability maps were "
    "computed in t1-linear space within the brain mask with Atropos [@atropos] ({ants_version}), "
    "initialised and constrained by the ICBM 2009a nonlinear symmetric tissue priors "
    "[@fonov2011] (CSF = 1 - GM - WM; prior weight {prior_weight}, MRF smoothing "
    "{mrf_smoothing}, {iterations} iterations{refine})."
)
SPM_DESC = (
    "Gray matter (GM), white matter (WM) and cerebrospinal fluid (CSF) probability maps were "
    "computed in t1-linear space with the unified segmentation of SPM12 [@ashburner2005] "
    "(through Nipype [@nipype]), with the settings of Clinica's `t1-volume-tissue-segmentation` "
    "[@clinica]: SPM's six-class tissue probability maps with 2, 2, 2, 3, 4 and 2 Gaussians."
)


def init_tissue_segmentation_wf(
    *,
    backend: str,
    atropos: AtroposSettings | None = None,
    spm_installation: SpmInstallation | None = None,
    omp_nthreads: int = 1,
    name: str = "tissue_segmentation_wf",
) -> pe.Workflow:
    """GM/WM/CSF probability maps, maximum-probability labels, volumes and TIV of one image.

    .. workflow::

        from ce2nce_pipeline.workflows.segmentation import init_tissue_segmentation_wf
        wf = init_tissue_segmentation_wf(backend="ants")

    Parameters
    ----------
    backend
        ``ants`` (offline default) or ``spm`` (SPM12 standalone or MATLAB needed).
    atropos
        Settings of the ``ants`` backend (default :class:`AtroposSettings`).
    spm_installation
        Where SPM12 is; required by the ``spm`` backend. The command line finds it once
        (:func:`~ce2nce_pipeline.science.segmentation.find_spm`) before any graph is built.
    omp_nthreads
        ITK threads of Atropos, declared as the node's ``n_procs`` (``ants``).
    name
        Workflow name.

    Inputs
    ------
    t1w
        T1w image on the t1-linear grid.
    mask
        Optional brain mask of the image (``ants``: the template mask when not connected;
        ``spm`` does not use it, as Clinica does not).

    Outputs
    -------
    gm_probseg, wm_probseg, csf_probseg
        float32 probability maps on the input grid.
    dseg
        Maximum-probability labels (1 GM, 2 WM, 3 CSF) and its ``dseg_tsv`` lookup table.
    volumes_tsv
        One-row TSV: GM, WM, CSF volumes and TIV in cm³.
    """
    if backend not in SEG_BACKENDS:
        raise ValueError(f"unknown segmentation backend {backend!r}; choose one of {SEG_BACKENDS}")
    workflow = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=["t1w", "mask"]), name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=list(_FIELDS)), name="outputnode")

    if backend == "ants":
        _connect_ants(workflow, inputnode, outputnode, atropos or AtroposSettings(), omp_nthreads)
    elif spm_installation is None:
        raise ValueError(
            "the spm backend needs spm_installation (science.segmentation.find_spm finds it)"
        )
    else:
        _connect_spm(workflow, inputnode, outputnode, spm_installation)
    return workflow


def _connect_ants(
    workflow: pe.Workflow,
    inputnode: pe.Node,
    outputnode: pe.Node,
    settings: AtroposSettings,
    omp_nthreads: int = 1,
) -> None:
    """Atropos within the brain mask, with its methods paragraph."""
    from ..science.t1_linear import ants_version

    workflow.__desc__ = (
        ANTS_DESC.format(
            ants_version=ants_version(),
            prior_weight=settings.prior_weight,
            mrf_smoothing=settings.mrf_smoothing,
            iterations=settings.iterations,
            refine=", priors warped to the image by a quick SyN" * settings.refine_priors,
        )
        + _VOLUMES_DESC
    )
    segmentation = pe.Node(
        AntsTissueSegmentation(
            prior_weight=settings.prior_weight,
            mrf_smoothing=settings.mrf_smoothing,
            iterations=settings.iterations,
            refine_priors=settings.refine_priors,
        ),
        name="segmentation",
        # Atropos on the t1-linear grid: 1.65-1.7 GB peak (benchmarks/bench_throughput.py).
        mem_gb=1.8,
        n_procs=omp_nthreads,
    )
    workflow.connect([
        (inputnode, segmentation, [("t1w", "in_file"), ("mask", "mask_file")]),
        (segmentation, outputnode, [(field, field) for field in _FIELDS]),
    ])  # fmt: skip


def _connect_spm(
    workflow: pe.Workflow,
    inputnode: pe.Node,
    outputnode: pe.Node,
    installation: SpmInstallation,
) -> None:
    """SPM12's unified segmentation with Clinica's settings, with its methods paragraph."""
    workflow.__desc__ = SPM_DESC + _VOLUMES_DESC
    # SPM reads uncompressed NIfTI only.
    gunzip = pe.Node(Gunzip(), name="gunzip")
    # SPM12 standalone in the MATLAB Runtime: about 2-3 GB (not measurable here: no MCR).
    spm_segment = pe.Node(Spm12NewSegment(), name="spm_segment", mem_gb=3.0)
    spm_segment.inputs.tissues = clinica_spm_tissues(installation.tpm)
    spm_segment.inputs.write_deformation_fields = list(CLINICA_WRITE_DEFORMATION_FIELDS)
    installation.apply_to(spm_segment.interface)
    tissue_outputs = pe.Node(SpmTissueOutputs(), name="tissue_outputs")

    workflow.connect([
        (inputnode, gunzip, [("t1w", "in_file")]),
        (gunzip, spm_segment, [("out_file", "channel_files")]),
        (spm_segment, tissue_outputs, [("native_class_images", "native_class_images")]),
        (tissue_outputs, outputnode, [(field, field) for field in _FIELDS]),
    ])  # fmt: skip
