"""T1w-ce -> synthetic T1w-nce translation of a t1-linear image, as a nipype graph."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ..interfaces.translate import TranslateCeToNce
from ..models.translation import TranslationModel
from ..science.change_region import INTRACRANIAL_CHANGE_MARGIN_VOXELS
from ..science.intensity import WHITE_MATTER_LEVEL

TRANSLATE_DESC = (
    "Each contrast-enhanced T1w image in t1-linear space was translated into a synthetic "
    "non-contrast-enhanced T1w image with a {architecture} network (weights sha256 "
    "{sha256_short}) following Bottani et al. [@ce2nce_paper]: intensities {scaling}, "
    "{grid} and mapped back to the input's intensity units. The network was also applied to "
    "the image mirrored left-right; the voxel-wise standard deviation of the two outputs was "
    "kept as a measure of the translation's uncertainty."
)
CHANGE_REGION_DESC = (
    " The network's change was kept only inside the intracranial space (the template's brain "
    "grown by {margin} mm); outside it the input was kept as it was."
)
OPENING_DESC = (
    " What the network left of the enhancement was then removed: thin structures brighter "
    "than white matter, found as the excess of the synthetic image over its grey-level "
    "opening by a ball of 4 mm radius where that excess exceeded 0.35 times the white-matter "
    "median, were brought down to the opening's level."
)
#: The paper's round trip through the network grid, or none (network on the t1-linear grid).
GRID_DESC = {
    "169x208x179": "translated at full resolution on the t1-linear grid (zero-padded to "
    "192x224x192, no resampling)",
}
ROUND_TRIP_DESC = (
    "image resampled to {grid} (trilinear), translated, resampled back to 169x208x179 (trilinear)"
)
KEEP_DETAIL_DESC = (
    "image resampled to {grid} (trilinear) and translated; the network's change (output minus "
    "input on that grid) was resampled back to 169x208x179 (trilinear) and added to the "
    "full-resolution image, so that detail finer than the network grid was kept"
)
#: How each intensity normalisation is described in the methods text.
_WHITE_MATTER_DESC = (
    f"scaled so that the median in the MNI152 white-matter prior was {WHITE_MATTER_LEVEL} "
    "(minimum 0, clipped to [0, 1]"
)
SCALING_DESC = {
    "min-max": "min-max scaled to [0, 1]",
    "white-matter": f"{_WHITE_MATTER_DESC})",
    "white-matter-input": f"{_WHITE_MATTER_DESC}; the network was trained to output min-max "
    "scaled images)",
}


def init_translate_wf(
    *,
    checkpoint: str,
    architecture: str,
    weights_sha256: str,
    normalisation: str = "min-max",
    network_grid: str = "128x128x128",
    output_resampling: str = "round-trip",
    enhancement_opening: bool = False,
    change_region: str = "everywhere",
    device: str = "auto",
    num_threads: int = 1,
    name: str = "translate_wf",
) -> pe.Workflow:
    """Build the translation of one T1w-ce image.

    .. workflow::

        from ce2nce_pipeline.workflows.translate import init_translate_wf
        wf = init_translate_wf(checkpoint=".", architecture="att_unet", weights_sha256="0")

    Parameters
    ----------
    checkpoint
        Checkpoint directory (checked: its sha256 is verified when loaded).
    architecture, weights_sha256
        Recorded in the methods text.
    normalisation
        The checkpoint's intensity normalisation (``"min-max"``, ``"white-matter"`` or
        ``"white-matter-input"``), for the methods text.
    network_grid
        The checkpoint's network grid (``"128x128x128"``: the paper's round trip;
        ``"169x208x179"``: full resolution), for the methods text.
    output_resampling
        How the output of a network on a coarser grid comes back to the t1-linear grid:
        ``"round-trip"`` (the paper) or ``"keep-detail"``
        (:func:`~ce2nce_pipeline.science.resampling.keep_detail`).
    enhancement_opening
        Subtract, after the network, the enhancement that a grey-level opening finds in its
        output (:mod:`~ce2nce_pipeline.science.enhancement_opening`).
    change_region
        Where the network's change is kept (``"everywhere"`` or ``"intracranial"``,
        :mod:`~ce2nce_pipeline.science.change_region`).
    device
        ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    num_threads
        torch CPU threads.
    name
        Workflow name.

    Inputs
    ------
    t1w_crop
        The T1w-ce after t1-linear (169x208x179).

    Outputs
    -------
    t1w_synthetic
        The synthetic T1w-nce on the same grid.
    device
        The device the network ran on (``cpu``, ``cuda:0``), for the sidecar.
    t1w_flip_sd
        The voxel-wise sd of the network's outputs on the image and on its left-right mirror
        (the flip uncertainty of the QC flags, docs/qc.md).
    """
    workflow = pe.Workflow(name=name)
    workflow.__desc__ = (
        TRANSLATE_DESC.format(
            architecture=architecture,
            sha256_short=weights_sha256[:12],
            scaling=SCALING_DESC[normalisation],
            grid=GRID_DESC.get(
                network_grid,
                (
                    KEEP_DETAIL_DESC if output_resampling == "keep-detail" else ROUND_TRIP_DESC
                ).format(grid=network_grid),
            ),
        )
        + (
            CHANGE_REGION_DESC.format(margin=INTRACRANIAL_CHANGE_MARGIN_VOXELS)
            if change_region == "intracranial"
            else ""
        )
        + (OPENING_DESC if enhancement_opening else "")
    )
    inputnode = pe.Node(niu.IdentityInterface(fields=["t1w_crop"]), name="inputnode")
    outputnode = pe.Node(
        niu.IdentityInterface(fields=["t1w_synthetic", "device", "t1w_flip_sd"]),
        name="outputnode",
    )
    translate = pe.Node(
        TranslateCeToNce(
            checkpoint=checkpoint,
            device=device,
            num_threads=num_threads,
            output_resampling=output_resampling,
            enhancement_opening=enhancement_opening,
            change_region=change_region,
        ),
        name="translate",
        n_procs=num_threads,
        # 1.3 GB measured for a small Res-U-Net on the 128³ grid (benchmarks/bench_throughput.py)
        # for one volume; the image and its mirror go through in one pass (twice the
        # activations); a network on the whole t1-linear grid holds about 3.4x more.
        mem_gb=8.0 if network_grid == "169x208x179" else 2.6,
    )
    workflow.connect([
        (inputnode, translate, [("t1w_crop", "in_file")]),
        (translate, outputnode, [
            ("out_file", "t1w_synthetic"),
            ("device", "device"),
            ("sd_file", "t1w_flip_sd"),
        ]),
    ])  # fmt: skip
    return workflow


def init_model_translate_wf(
    model: TranslationModel, *, device: str, num_threads: int, name: str
) -> pe.Workflow:
    """:func:`init_translate_wf` for a checked translation model (its recorded settings).

    .. workflow::

        from pathlib import Path
        from ce2nce_pipeline.models.translation import TranslationModel
        from ce2nce_pipeline.workflows.translate import init_model_translate_wf
        model = TranslationModel(Path("."), architecture="res_unet", weights_sha256="0")
        wf = init_model_translate_wf(model, device="cpu", num_threads=1, name="translate_wf")
    """
    return init_translate_wf(
        checkpoint=str(model.checkpoint),
        architecture=model.architecture,
        weights_sha256=model.weights_sha256,
        normalisation=model.normalisation,
        network_grid=model.network_grid,
        output_resampling=model.output_resampling,
        enhancement_opening=model.enhancement_opening,
        change_region=model.change_region,
        device=device,
        num_threads=num_threads,
        name=name,
    )
