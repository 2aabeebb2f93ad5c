"""Brain masking of t1-linear images, and the union mask of a ce/nce pair."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ..interfaces.brain_mask import BrainMask, UnionMask

BRAIN_MASK_DESC: dict[str, str] = {
    "template": (
        "A brain mask was computed in t1-linear space from the brain mask of the ICBM 2009a "
        "nonlinear symmetric template [@fonov2011] (shipped with nilearn), adapted to the "
        "image by {version}: voxels brighter than the midpoint of the CSF and gray-matter "
        "intensities under the template priors, within 6 mm of the template brain, opened "
        "(3 mm), largest component, closed (6 mm), holes filled and grown by 2 mm."
    ),
    "deepbet": (
        "A brain mask was computed in t1-linear space with deepbet [@fisch2024] ({version}, "
        "weights shipped with the package, threshold 0.5)."
    ),
    "hdbet": (
        "A brain mask was computed in t1-linear space with HD-BET [@isensee2019] "
        "({version}, HD-BET v1 weights shipped with the package; `fast` mode without "
        "test-time augmentation on the CPU, `accurate` mode with it on a GPU, unless set "
        "otherwise), keeping the largest connected component."
    ),
}


#: Methods text of the rule every backend follows for images that arrive skull-stripped.
SKULL_STRIPPED_DESC = (
    "Images that were already skull-stripped (exactly zero over at least half of the t1-linear "
    "field of view, non-zero over at most 2,600 cm³) were masked by their non-zero voxels "
    "instead."
)


#: Peak resident memory of the masking node by backend, rounded up (GB; docs/benchmarks.md):
#: HD-BET 1.6-1.75 GB on CPU (1,592 MiB, and 1,789 MiB for the synthetic image's mask in a
#: worker that ran the translation and two segmentations before;
#: benchmarks/bench_throughput.py), deepbet 1.1 GB, the template mask 0.6 GB.
MEMORY_GB: dict[str, float] = {"hdbet": 1.8, "deepbet": 1.2, "template": 0.7}


def init_brain_mask_wf(
    *,
    backend: str,
    device: str = "auto",
    hdbet_mode: str | None = None,
    hdbet_tta: bool | None = None,
    omp_nthreads: int = 1,
    name: str = "brain_mask_wf",
) -> pe.Workflow:
    """Brain mask of one t1-linear image.

    .. workflow::

        from ce2nce_pipeline.workflows.brain_mask import init_brain_mask_wf
        wf = init_brain_mask_wf(backend="template")

    Parameters
    ----------
    backend
        ``template`` (offline, base install), ``deepbet`` or ``hdbet``.
    device
        ``cpu`` or ``cuda[:N]`` for deepbet/HD-BET; ``auto``: a GPU when PyTorch sees one.
    hdbet_mode, hdbet_tta
        HD-BET's mode (``fast``/``accurate``) and test-time augmentation (default: accurate
        with TTA on a GPU, fast without on the CPU).
    omp_nthreads
        CPU threads of the network (deepbet, HD-BET), declared as the node's ``n_procs``.
    name
        Workflow name.

    Inputs
    ------
    t1w
        T1w image on the t1-linear grid.

    Outputs
    -------
    mask
        uint8 brain mask on the same grid.
    device
        The device the network ran on (``cpu``, ``cuda:0``); empty for ``template``.

    Raises
    ------
    ValueError
        Unknown backend.
    BackendUnavailableError
        The backend's package is not installed (checked when the graph is built).
    """
    from ..science.brain_mask import MASK_BACKENDS, backend_version, require_backend

    if backend not in MASK_BACKENDS:
        raise ValueError(f"unknown mask backend {backend!r}; choose one of {MASK_BACKENDS}")
    require_backend(backend)
    workflow = pe.Workflow(name=name)
    workflow.__desc__ = (
        BRAIN_MASK_DESC[backend].format(version=backend_version(backend))
        + " "
        + SKULL_STRIPPED_DESC
    )
    inputnode = pe.Node(niu.IdentityInterface(fields=["t1w"]), name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=["mask", "device"]), name="outputnode")
    network = backend != "template"
    brain_mask = pe.Node(
        BrainMask(backend=backend, num_threads=omp_nthreads),
        name="brain_mask",
        mem_gb=MEMORY_GB[backend],
        n_procs=omp_nthreads if network else 1,
    )
    if device != "auto":  # left unset, the node resolves it where it runs
        brain_mask.inputs.device = device
    if hdbet_mode is not None:
        brain_mask.inputs.hdbet_mode = hdbet_mode
    if hdbet_tta is not None:
        brain_mask.inputs.hdbet_tta = hdbet_tta

    workflow.connect([
        (inputnode, brain_mask, [("t1w", "in_file")]),
        (brain_mask, outputnode, [("out_file", "mask"), ("device", "device")]),
    ])  # fmt: skip
    return workflow


def init_union_mask_wf(*, name: str = "union_mask_wf") -> pe.Workflow:
    """Union of the brain masks of a T1w-nce and its T1w-ce (the paper's metric mask).

    .. workflow::

        from ce2nce_pipeline.workflows.brain_mask import init_union_mask_wf
        wf = init_union_mask_wf()

    Parameters
    ----------
    name
        Workflow name.

    Inputs
    ------
    mask_nce, mask_ce
        Brain masks of the two images of the pair, on the t1-linear grid.

    Outputs
    -------
    mask
        Their union (uint8).
    """
    workflow = pe.Workflow(name=name)
    workflow.__desc__ = (
        "Image similarity was computed within the union of the brain masks of the T1w-nce "
        "and the T1w-ce of each pair, as in [@ce2nce_paper]."
    )
    inputnode = pe.Node(niu.IdentityInterface(fields=["mask_nce", "mask_ce"]), name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=["mask"]), name="outputnode")
    # Two uint8 masks of the t1-linear grid and their union: well under 0.5 GB.
    union_mask = pe.Node(UnionMask(), name="union_mask", mem_gb=0.5)

    workflow.connect([
        (inputnode, union_mask, [("mask_nce", "mask_nce"), ("mask_ce", "mask_ce")]),
        (union_mask, outputnode, [("out_file", "mask")]),
    ])  # fmt: skip
    return workflow
