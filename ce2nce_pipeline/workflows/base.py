"""Top of the participant graph: one sub-workflow per participant, one branch per image."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from nipype.pipeline import engine as pe

from ..bids import T1wImage, pair_images
from ..config import DEFAULT_OUTPUT_LEVEL, RunConfig, TranslationModel
from ..science.segmentation import SpmInstallation
from ..science.t1_linear import DEFAULT_REGISTRATION
from .brain_mask import init_brain_mask_wf, init_union_mask_wf
from .gadolinium import init_gadolinium_wf
from .outputs import (
    init_ds_synthetic_wf,
    init_ds_t1_linear_wf,
    init_ds_tissues_wf,
    init_ds_union_mask_wf,
    source_uri,
)
from .scheduler import apply_scheduler_hints
from .segmentation import init_tissue_segmentation_wf
from .t1_linear import init_t1_linear_wf
from .translate import init_model_translate_wf

_TISSUE_FIELDS = ("gm_probseg", "wm_probseg", "csf_probseg", "dseg", "dseg_tsv", "volumes_tsv")


def node_safe(text: str) -> str:
    """A nipype-safe identifier from a name stem (``ses-M000_ce-gd`` -> ``ses_M000_ce_gd``)."""
    return re.sub(r"\W", "_", text)


def image_stem(image: T1wImage) -> str:
    """The part of an image's sub-workflow names that identifies it (``ses_M000_ce_gd``)."""
    return node_safe(image.image_id.removeprefix(f"sub-{image.subject}").lstrip("_")) or "t1w"


#: The sub-workflows of one image's branch, each named ``<prefix>_<image stem>_wf`` (the ce
#: image's stem for a pair's union mask).
BRANCH_PREFIXES = (
    "t1_linear", "gadolinium", "ds_t1_linear", "brain_mask", "segmentation", "ds_tissues",
    "translate", "ds_synthetic", "brain_mask_synthetic", "segmentation_synthetic",
    "ds_tissues_synthetic", "union_mask", "ds_union_mask",
)  # fmt: skip


def branch_name(prefix: str, image: T1wImage) -> str:
    """The name of one sub-workflow of an image's branch (``t1_linear_ses_M000_ce_gd_wf``)."""
    if prefix not in BRANCH_PREFIXES:
        raise ValueError(f"{prefix!r} is not one of {BRANCH_PREFIXES}")
    return f"{prefix}_{image_stem(image)}_wf"


def images_in_crash_reports(images: Sequence[T1wImage], reports: Sequence[str]) -> list[T1wImage]:
    """The images whose branch a nipype crash report names (``sub_X_wf.<stage>_<stem>_wf.``)."""
    return [
        image
        for image in images
        if any(
            f"sub_{image.subject}_wf." in report and f"_{image_stem(image)}_wf." in report
            for report in reports
        )
    ]


def _tissue_connections(segmentation_wf: pe.Workflow, ds_wf: pe.Workflow) -> tuple:
    return (
        segmentation_wf,
        ds_wf,
        [(f"outputnode.{field}", f"inputnode.{field}") for field in _TISSUE_FIELDS],
    )


@dataclass(frozen=True)
class RunEnvironment:
    """What the machine offers a run, found once by the command line before any graph is built.

    Attributes
    ----------
    device
        Where the networks run: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (``"auto"``: let each
        step choose, for graphs built without the command line).
    spm
        The SPM12 installation, for the ``spm`` segmentation backend.
    """

    device: str = "auto"
    spm: SpmInstallation | None = None


@dataclass(frozen=True)
class _SubjectSettings:
    output_dir: str
    software_versions: dict[str, str]
    translation: TranslationModel | None
    mask_backend: str
    seg_backend: str
    environment: RunEnvironment
    omp_nthreads: int
    registration: str
    output_level: str

    @property
    def mask_device(self) -> str | None:
        return None if self.environment.device == "auto" else self.environment.device

    def brain_mask_wf(self, name: str) -> pe.Workflow:
        return init_brain_mask_wf(
            backend=self.mask_backend,
            device=self.mask_device,
            omp_nthreads=self.omp_nthreads,
            name=name,
        )

    def segmentation_wf(self, name: str) -> pe.Workflow:
        return init_tissue_segmentation_wf(
            backend=self.seg_backend,
            spm_installation=self.environment.spm,
            omp_nthreads=self.omp_nthreads,
            name=name,
        )


def _add_image_branch(
    workflow: pe.Workflow, image: T1wImage, settings: _SubjectSettings, paired: bool = False
) -> tuple[pe.Workflow, pe.Workflow]:
    """t1-linear, brain mask and tissues of one image; returns its t1-linear and mask graphs.

    ``paired``: a T1w-ce registered through its session's T1w-nce (connected by the caller).
    """
    t1_linear_wf = init_t1_linear_wf(
        omp_nthreads=settings.omp_nthreads,
        registration=settings.registration,
        paired=paired,
        name=branch_name("t1_linear", image),
    )
    t1_linear_wf.inputs.inputnode.t1w = str(image.path)
    ds_t1_linear_wf = init_ds_t1_linear_wf(
        output_dir=settings.output_dir,
        source_entities=image.output_entities,
        source_relpath=image.relative_path,
        software_versions=settings.software_versions,
        output_level=settings.output_level,
        name=branch_name("ds_t1_linear", image),
    )
    gadolinium_wf = init_gadolinium_wf(
        labelled_ce=image.is_contrast_enhanced and not image.contrast_detected,
        detected_ce=image.contrast_detected,
        name=branch_name("gadolinium", image),
    )
    brain_mask_wf = settings.brain_mask_wf(branch_name("brain_mask", image))
    segmentation_wf = settings.segmentation_wf(branch_name("segmentation", image))
    ds_tissues_wf = init_ds_tissues_wf(
        output_dir=settings.output_dir,
        source_entities=image.output_entities,
        sources=[source_uri(image.relative_path)],
        output_level=settings.output_level,
        name=branch_name("ds_tissues", image),
    )
    workflow.connect([
        (t1_linear_wf, ds_t1_linear_wf, [
            ("outputnode.t1w_registered", "inputnode.t1w_registered"),
            ("outputnode.t1w_crop", "inputnode.t1w_crop"),
            ("outputnode.affine", "inputnode.affine"),
            ("outputnode.qc", "inputnode.qc"),
        ]),
        (t1_linear_wf, gadolinium_wf, [("outputnode.t1w_crop", "inputnode.t1w_crop")]),
        (gadolinium_wf, ds_t1_linear_wf, [("outputnode.metadata", "inputnode.gadolinium")]),
        (t1_linear_wf, brain_mask_wf, [("outputnode.t1w_crop", "inputnode.t1w")]),
        (t1_linear_wf, segmentation_wf, [("outputnode.t1w_crop", "inputnode.t1w")]),
        (brain_mask_wf, segmentation_wf, [("outputnode.mask", "inputnode.mask")]),
        (brain_mask_wf, ds_tissues_wf, [
            ("outputnode.mask", "inputnode.mask"),
            ("outputnode.device", "inputnode.mask_device"),
        ]),
        _tissue_connections(segmentation_wf, ds_tissues_wf),
    ])  # fmt: skip
    return t1_linear_wf, brain_mask_wf


def _add_translation_branch(
    workflow: pe.Workflow,
    image: T1wImage,
    t1_linear_wf: pe.Workflow,
    settings: _SubjectSettings,
    model: TranslationModel,
) -> None:
    """Translation of a T1w-ce, the synthetic image's own brain mask and its tissues."""
    translate_wf = init_model_translate_wf(
        model,
        device=settings.environment.device,
        num_threads=settings.omp_nthreads,
        name=branch_name("translate", image),
    )
    ds_synthetic_wf = init_ds_synthetic_wf(
        output_dir=settings.output_dir,
        source_entities=image.output_entities,
        source_relpath=image.relative_path,
        model=model.sidecar(),
        software_versions=settings.software_versions,
        output_level=settings.output_level,
        name=branch_name("ds_synthetic", image),
    )
    synthetic_segmentation_wf = settings.segmentation_wf(
        branch_name("segmentation_synthetic", image)
    )
    synthetic_mask_wf = settings.brain_mask_wf(branch_name("brain_mask_synthetic", image))
    ds_synthetic_tissues_wf = init_ds_tissues_wf(
        output_dir=settings.output_dir,
        source_entities=image.output_entities,
        sources=[source_uri(image.relative_path)],
        output_level=settings.output_level,
        desc="synthetic",
        name=branch_name("ds_tissues_synthetic", image),
    )
    workflow.connect([
        (t1_linear_wf, translate_wf, [("outputnode.t1w_crop", "inputnode.t1w_crop")]),
        (translate_wf, ds_synthetic_wf, [
            ("outputnode.t1w_synthetic", "inputnode.t1w_synthetic"),
            ("outputnode.device", "inputnode.device"),
            ("outputnode.t1w_flip_sd", "inputnode.t1w_flip_sd"),
        ]),
        (translate_wf, synthetic_segmentation_wf, [
            ("outputnode.t1w_synthetic", "inputnode.t1w"),
        ]),
        # The synthetic image gets its own mask: enhanced dura and sinuses that the T1w-ce's
        # mask took in must not stay in the synthetic image's TIV and CSF.
        (translate_wf, synthetic_mask_wf, [("outputnode.t1w_synthetic", "inputnode.t1w")]),
        (synthetic_mask_wf, synthetic_segmentation_wf, [
            ("outputnode.mask", "inputnode.mask"),
        ]),
        (synthetic_mask_wf, ds_synthetic_tissues_wf, [
            ("outputnode.mask", "inputnode.mask"),
            ("outputnode.device", "inputnode.mask_device"),
        ]),
        _tissue_connections(synthetic_segmentation_wf, ds_synthetic_tissues_wf),
    ])  # fmt: skip


def _add_union_masks(
    workflow: pe.Workflow,
    images: Sequence[T1wImage],
    masks: dict[str, pe.Workflow],
    output_dir: str,
) -> None:
    """The union of the brain masks of each ce/nce pair of a session."""
    for pair in pair_images(images):
        union_mask_wf = init_union_mask_wf(name=branch_name("union_mask", pair.ce))
        ds_union_mask_wf = init_ds_union_mask_wf(
            output_dir=output_dir,
            source_entities=pair.ce.output_entities,
            sources=[source_uri(pair.nce.relative_path), source_uri(pair.ce.relative_path)],
            name=branch_name("ds_union_mask", pair.ce),
        )
        mask_nce, mask_ce = masks[str(pair.nce.path)], masks[str(pair.ce.path)]
        workflow.connect([
            (mask_nce, union_mask_wf, [("outputnode.mask", "inputnode.mask_nce")]),
            (mask_ce, union_mask_wf, [("outputnode.mask", "inputnode.mask_ce")]),
            (union_mask_wf, ds_union_mask_wf, [("outputnode.mask", "inputnode.mask")]),
        ])  # fmt: skip


def init_single_subject_wf(
    *,
    subject: str,
    images: Sequence[T1wImage],
    output_dir: str,
    software_versions: dict[str, str],
    translation: TranslationModel | None = None,
    mask_backend: str = "hdbet",
    seg_backend: str = "ants",
    environment: RunEnvironment | None = None,
    omp_nthreads: int = 1,
    registration: str = DEFAULT_REGISTRATION,
    output_level: str = DEFAULT_OUTPUT_LEVEL,
    name: str | None = None,
) -> pe.Workflow:
    """Process every T1w image of one participant.

    Each image gets its own branch — t1-linear, brain mask, tissue segmentation, and for a
    contrast-enhanced image its translation, the synthetic image's own brain mask and its
    segmentation — so that a failing image leaves the other branches running. Each ce/nce pair
    of a session also gets the union of the two brain masks (the mask of the paper's image
    metrics).

    Parameters
    ----------
    subject
        Participant label (without ``sub-``).
    images
        The participant's T1w images (contrast-enhanced or not).
    output_dir
        Root of the derivatives dataset.
    software_versions
        Versions recorded in the sidecars.
    translation
        The checked translation model; ``None`` leaves contrast-enhanced images untranslated.
    mask_backend, seg_backend
        Brain masking (``template``, ``deepbet``, ``hdbet``) and segmentation (``ants``,
        ``spm``) backends.
    environment
        The device the networks run on and the SPM installation (default: each step chooses
        its device; no SPM).
    omp_nthreads
        CPU threads of the networks.
    registration
        t1-linear's affine registration schedule, ``fast`` or ``clinica`` (docs/t1_linear.md).
    output_level
        What is written of each image: ``minimal``, ``standard`` or ``full``
        (:data:`~.outputs.OUTPUT_POLICIES`, docs/outputs.md#output-levels).
    name
        Workflow name (default ``sub_<label>_wf``).
    """
    workflow = pe.Workflow(name=name or f"sub_{subject}_wf")
    settings = _SubjectSettings(
        output_dir=output_dir,
        software_versions=software_versions,
        translation=translation,
        mask_backend=mask_backend,
        seg_backend=seg_backend,
        environment=environment or RunEnvironment(),
        omp_nthreads=omp_nthreads,
        registration=registration,
        output_level=output_level,
    )
    masks: dict[str, pe.Workflow] = {}
    t1_linear: dict[str, pe.Workflow] = {}
    references = {str(pair.ce.path): pair.nce for pair in pair_images(images)}
    for image in images:
        t1_linear_wf, masks[str(image.path)] = _add_image_branch(
            workflow, image, settings, paired=str(image.path) in references
        )
        t1_linear[str(image.path)] = t1_linear_wf
        if translation is not None and image.is_contrast_enhanced:
            _add_translation_branch(workflow, image, t1_linear_wf, settings, translation)
    # A T1w-ce is registered through its session's T1w-nce, so that the pair stays in register.
    for ce_path, nce in references.items():
        workflow.connect([
            (t1_linear[str(nce.path)], t1_linear[ce_path], [
                ("outputnode.t1w_n4", "inputnode.pair_n4"),
                ("outputnode.affine", "inputnode.pair_affine"),
            ]),
        ])  # fmt: skip
    _add_union_masks(workflow, images, masks, output_dir)
    return workflow


def init_ce2nce_wf(
    config: RunConfig,
    images: Sequence[T1wImage],
    software_versions: dict[str, str],
    translation: TranslationModel | None = None,
    environment: RunEnvironment | None = None,
) -> pe.Workflow:
    """The whole participant-level graph of a run.

    Parameters
    ----------
    config
        The run's settings (the only place they are read).
    images
        Discovered, checked T1w images to process.
    software_versions
        Versions recorded in the sidecars.
    translation
        The checked translation model, or ``None``.
    environment
        What the command line found on the machine (default: ``config.device``, no SPM).
    """
    workflow = pe.Workflow(name="ce2nce_wf")
    if config.work_dir is not None:
        workflow.base_dir = str(config.work_dir)
    workflow.config["execution"].update(
        {
            "crashdump_dir": str(config.output_dir / "logs"),
            "crashfile_format": "txt",
            "stop_on_first_crash": config.stop_on_first_crash,
            "remove_unnecessary_outputs": False,
        }
    )
    for subject in sorted({image.subject for image in images}):
        workflow.add_nodes([
            init_single_subject_wf(
                subject=subject,
                images=[image for image in images if image.subject == subject],
                output_dir=str(config.output_dir),
                software_versions=software_versions,
                translation=translation,
                mask_backend=config.mask_backend,
                seg_backend=config.seg_backend,
                environment=environment or RunEnvironment(device=config.device),
                omp_nthreads=config.omp_nthreads,
                registration=config.registration,
                output_level=config.output_level,
            )
        ])  # fmt: skip
    # nipype's SLURM and SGE plugins submit each node as a job: give it the node's hints.
    apply_scheduler_hints(workflow, config.plugin)
    return workflow


def collect_descriptions(workflow: pe.Workflow) -> list[str]:
    """Methods paragraphs (``__desc__``) of a graph and its sub-graphs, each once, in order."""
    found: list[str] = []

    def visit(current: pe.Workflow) -> None:
        description = getattr(current, "__desc__", None)
        if description and description not in found:
            found.append(description)
        for node in current._graph.nodes():  # nipype exposes sub-workflows only here
            if isinstance(node, pe.Workflow):
                visit(node)

    visit(workflow)
    return found
