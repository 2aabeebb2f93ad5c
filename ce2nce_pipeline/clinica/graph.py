"""What is Clinica's in the participant graph written into a CAPS: the layout and the reused crops.

The graph itself is ce2nce's :func:`~ce2nce_pipeline.workflows.base.init_single_subject_wf`:
t1-linear outputs go to ``t1_linear/`` with Clinica's names, everything else to ``ce2nce/``
(:mod:`.caps`), and an image whose cropped t1-linear image is already in the CAPS starts from
it. No Clinica import: the graph runs without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nipype.pipeline import engine as pe

from ..workflows.base import SubjectSettings, init_single_subject_wf
from ..workflows.outputs import OutputLayout
from .caps import CE2NCE, T1_LINEAR, CapsImage, subjects_dir

#: A CAPS is written at the ``full`` output level: Clinica's t1-linear writes the uncropped
#: image and float32 images, and later pipelines (and a re-run reusing ``t1_linear/``) read them.
CAPS_OUTPUT_LEVEL = "full"


def caps_layout(caps_dir: Path | str) -> OutputLayout:
    """The CAPS layout: ``subjects/sub-X/ses-Y/{t1_linear,ce2nce}/``, Clinica's t1-linear names."""
    return OutputLayout(
        output_dir=str(subjects_dir(Path(caps_dir))),
        datatype=CE2NCE,
        t1_linear_datatype=T1_LINEAR,
        desc_before_res=True,
        clinica_t1_linear=True,
    )


def init_caps_subject_wf(
    *,
    subject: str,
    images: Sequence[CapsImage],
    settings: SubjectSettings,
    name: str | None = None,
) -> pe.Workflow:
    """Process every T1w image of one participant into the CAPS of ``settings.layout``.

    .. workflow::

        from pathlib import Path
        from ce2nce_pipeline.bids import T1wImage
        from ce2nce_pipeline.clinica.caps import CapsImage
        from ce2nce_pipeline.clinica.graph import caps_layout, init_caps_subject_wf
        from ce2nce_pipeline.workflows.base import SubjectSettings
        image = T1wImage(Path("sub-01_ses-M000_T1w.nii.gz"),
                         "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz",
                         {"subject": "01", "session": "M000"}, None)
        settings = SubjectSettings(layout=caps_layout("caps"), software_versions={},
                                   mask_backend="template", output_level="full")
        wf = init_caps_subject_wf(subject="01", images=[CapsImage(image)], settings=settings)
    """
    return init_single_subject_wf(
        subject=subject,
        images=[item.image for item in images],
        settings=settings,
        reused_crops={
            str(item.image.path): item.reused_crop
            for item in images
            if item.reused_crop is not None
        },
        name=name,
    )
