"""Clinica's t1-linear as a nipype graph: N4, affine registration to MNI152NLin2009cSym, crop."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ..interfaces.t1_linear import (
    AffineRegistration,
    CropToClinicaBox,
    N4BiasCorrection,
    PairRegistration,
)
from ..science.t1_linear import DEFAULT_REGISTRATION

#: Peak resident memory of each node's process, rounded up (GB), so that nipype's MultiProc
#: packs images by memory: N4 with a 200 mm fitting distance 0.89 GB (benchmarks/bench_n4.py),
#: 0.93 GB as a node; registration 0.90 GB with either schedule, crop 0.47 GB
#: (benchmarks/bench_throughput.py, docs/benchmarks.md).
MEMORY_GB: dict[str, float] = {"n4_correction": 1.0, "registration": 1.0, "crop": 0.5}

T1_LINEAR_DESC = (
    "Each T1w image was processed as Clinica's `t1-linear` pipeline does [@clinica; @wen2020]: "
    "bias field correction with N4ITK [@n4] (B-spline fitting distance 200 mm, shrink factor "
    "8), affine registration to the ICBM 2009c nonlinear symmetric template (MNI152NLin2009cSym) "
    "[@fonov2011] with ANTs {ants_version} [@ants] {schedule} "
    "(rigid then affine stages, Mattes mutual information), run in-process through ANTsPy, "
    "the template being the ICBM 2009a symmetric brain shipped with nilearn, matched within its "
    "brain mask dilated by 10 mm; the registered image was cropped to 169x208x179 voxels of "
    "1 mm. The registration's quality was measured as the normalised mutual information of the "
    "registered image and the template (both smoothed by 2 mm) inside the template's dilated "
    "brain mask and the image's field of view; when the default schedule's centre-of-mass "
    "start scored below "
    "{threshold}, starts pitched by up to 30 degrees were tried and the best-scoring result "
    "kept, and images still below were flagged."
)
#: Added for a T1w-ce registered through the T1w-nce of its session.
PAIR_DESC = (
    "Each contrast-enhanced T1w was aligned rigidly (Mattes mutual information) to the "
    "non-enhanced T1w of its session in native space, and that alignment was composed with the "
    "non-enhanced image's template transform, so that the two series were compared voxel to "
    "voxel."
)
#: How the methods text names each registration schedule.
SCHEDULE_DESC: dict[str, str] = {
    "clinica": "as `antsRegistrationSyNQuick.sh -t a`",
    "fast": (
        "with the stages of `antsRegistrationSyNQuick.sh -t a` on fewer levels (rigid: "
        "shrink factors 8 and 4, 1000 and 500 iterations; affine: shrink factors 8, 4 and 2, "
        "1000, 500 and 20 iterations)"
    ),
}


def init_t1_linear_wf(
    *,
    omp_nthreads: int = 1,
    registration: str = DEFAULT_REGISTRATION,
    paired: bool = False,
    name: str = "t1_linear_wf",
) -> pe.Workflow:
    """Build Clinica's t1-linear for one T1w image.

    .. workflow::

        from ce2nce_pipeline.workflows.t1_linear import init_t1_linear_wf
        wf = init_t1_linear_wf()

    Parameters
    ----------
    omp_nthreads
        ITK threads of N4 and the registration (``ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS``, set by
        the command line), declared as their ``n_procs`` so that nipype's plugins reserve them.
    registration
        ``fast`` (default: Clinica's two stages on fewer levels, within 1 mm RMS of it) or
        ``clinica`` (``antsRegistrationSyNQuick[a]`` exactly); docs/t1_linear.md.
    paired
        A T1w-ce whose session holds a T1w-nce: aligned rigidly to it in native space and
        composed with its template transform (``registration`` is then the T1w-nce's).
    name
        Workflow name.

    Inputs
    ------
    t1w
        Raw T1w image (NIfTI).
    pair_n4, pair_affine
        With ``paired``: the T1w-nce's ``t1w_n4`` and ``affine`` outputs.

    Outputs
    -------
    t1w_registered
        Bias-corrected image affinely registered to the 193x229x193 MNI152NLin2009cSym grid.
    t1w_crop
        The same, cropped to Clinica's 169x208x179 box.
    affine
        ANTs affine transform (ITK ``.mat``), template points to T1w points.
    t1w_n4
        The bias-corrected image in native space (a pair's T1w-ce is aligned to it).
    qc
        The registration's quality (and a pair's consistency), as the sidecars record it.
    """
    from ..science.registration_quality import REGISTRATION_QUALITY_THRESHOLD
    from ..science.t1_linear import REGISTRATION_SCHEDULES, ants_version

    if registration not in REGISTRATION_SCHEDULES:
        raise ValueError(
            f"unknown registration schedule {registration!r}; choose one of "
            f"{REGISTRATION_SCHEDULES}"
        )
    workflow = pe.Workflow(name=name)
    workflow.__desc__ = T1_LINEAR_DESC.format(
        ants_version=ants_version(),
        schedule=SCHEDULE_DESC[registration],
        threshold=REGISTRATION_QUALITY_THRESHOLD,
    ) + (f" {PAIR_DESC}" if paired else "")
    inputnode = pe.Node(
        niu.IdentityInterface(fields=["t1w", *(["pair_n4", "pair_affine"] if paired else [])]),
        name="inputnode",
    )
    outputnode = pe.Node(
        niu.IdentityInterface(fields=["t1w_registered", "t1w_crop", "affine", "t1w_n4", "qc"]),
        name="outputnode",
    )
    n4_correction = pe.Node(
        N4BiasCorrection(),
        name="n4_correction",
        mem_gb=MEMORY_GB["n4_correction"],
        n_procs=omp_nthreads,
    )
    registration = pe.Node(
        PairRegistration() if paired else AffineRegistration(schedule=registration),
        name="registration",
        mem_gb=MEMORY_GB["registration"],
        n_procs=omp_nthreads,
    )
    crop = pe.Node(CropToClinicaBox(), name="crop", mem_gb=MEMORY_GB["crop"])

    workflow.connect([
        (inputnode, n4_correction, [("t1w", "in_file")]),
        (n4_correction, registration, [("out_file", "in_file")]),
        (n4_correction, outputnode, [("out_file", "t1w_n4")]),
        (registration, crop, [("out_file", "in_file")]),
        (registration, outputnode, [
            ("out_file", "t1w_registered"), ("out_matrix", "affine"), ("qc", "qc"),
        ]),
        (crop, outputnode, [("out_file", "t1w_crop")]),
    ])  # fmt: skip
    if paired:
        workflow.connect([
            (inputnode, registration, [
                ("pair_n4", "reference_n4"), ("pair_affine", "reference_affine"),
            ]),
        ])  # fmt: skip
    return workflow
