"""The gadolinium detector of one t1-linear image, as a nipype graph."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from ..interfaces.gadolinium import DetectGadolinium

#: Peak memory of the detector (GB): the image, its filtered copies and the cached template.
MEMORY_GB = 0.5

GADOLINIUM_DESC = (
    "Each t1-linear image was given a probability of carrying gadolinium by a logistic "
    "regression on the fraction of bright (above 1.2 times white matter) and vessel-like voxels "
    "in the lateral ventricles and the deep brain of the template, fitted by ce2nce on real "
    "BraTS 2018 and simulated pre/post-contrast images; where it contradicts the BIDS label the "
    "image is flagged (qc_contrast_mismatch)."
)


def init_gadolinium_wf(
    *, labelled_ce: bool, detected_ce: bool = False, name: str = "gadolinium_wf"
) -> pe.Workflow:
    """Probability of gadolinium of one t1-linear image, as sidecar fields.

    .. workflow::

        from ce2nce_pipeline.workflows.gadolinium import init_gadolinium_wf
        wf = init_gadolinium_wf(labelled_ce=True)

    Parameters
    ----------
    labelled_ce
        Whether the BIDS metadata (``ce-`` entity or ``ContrastBolusIngredient``) call the
        image contrast-enhanced: a call of the detector against it is a contrast mismatch.
    detected_ce
        The image had no label and is translated on the detector's word (``--contrast-from
        both``): the sidecar records it.
    name
        Workflow name.

    Inputs
    ------
    t1w_crop
        The t1-linear image (169x208x179, MNI152NLin2009cSym).

    Outputs
    -------
    metadata
        ``GadoliniumProbability`` and ``GadoliniumDetection`` (docs/gadolinium_detector.md).
    """
    workflow = pe.Workflow(name=name)
    workflow.__desc__ = GADOLINIUM_DESC
    inputnode = pe.Node(niu.IdentityInterface(fields=["t1w_crop"]), name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=["metadata"]), name="outputnode")
    detect = pe.Node(
        DetectGadolinium(labelled_ce=labelled_ce, detected_ce=detected_ce),
        name="detect",
        mem_gb=MEMORY_GB,
    )
    workflow.connect([
        (inputnode, detect, [("t1w_crop", "in_file")]),
        (detect, outputnode, [("metadata", "metadata")]),
    ])  # fmt: skip
    return workflow
