"""The CAPS layout of ce2nce's outputs, and the checks of a CAPS and a BIDS folder before a run.

Clinica's ``t1-linear`` names are kept exactly, in ``subjects/sub-X/ses-Y/t1_linear/``::

    <src>_space-MNI152NLin2009cSym_desc-Crop_res-1x1x1_T1w.nii.gz   (169x208x179)
    <src>_space-MNI152NLin2009cSym_res-1x1x1_T1w.nii.gz             (193x229x193)
    <src>_space-MNI152NLin2009cSym_res-1x1x1_affine.mat

and ce2nce's own outputs go to ``subjects/sub-X/ses-Y/ce2nce/``: the synthetic T1w-nce named as
Clinica names its cropped image (``desc-synthetic`` in place of ``desc-Crop``), the masks, tissue
maps and volume tables with the names of the BIDS-app output (docs/clinica.md maps one to the
other). No Clinica import here: these functions run without the ``clinica`` extra.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..bids import T1wImage, derivative_dir, derivative_name
from ..errors import InvalidInputError
from ..science.templates import CROP_AFFINE, CROP_SHAPE, TEMPLATE_SPACE

#: Folder of each session's t1-linear outputs (Clinica's name).
T1_LINEAR = "t1_linear"
#: Folder of each session's ce2nce outputs.
CE2NCE = "ce2nce"
RESOLUTION = "1x1x1"


def subjects_dir(caps_dir: Path) -> Path:
    """``CAPS/subjects``: the root under which ``sub-X/ses-Y/<pipeline>/`` folders live."""
    return Path(caps_dir) / "subjects"


def t1_linear_crop(caps_dir: Path, image: T1wImage) -> Path:
    """Where Clinica's ``t1-linear`` writes the cropped image of ``image``."""
    entities = image.output_entities
    name = derivative_name(
        entities, "T1w", ".nii.gz", TEMPLATE_SPACE, "Crop", RESOLUTION, clinica_order=True
    )
    return derivative_dir(subjects_dir(caps_dir), entities, T1_LINEAR) / name


def ce2nce_done_marks(caps_dir: Path, image: T1wImage, translated: bool) -> list[Path]:
    """Files whose presence means ``image`` is done: its volumes table (written last of its
    tissue outputs) and, for a translated T1w-ce, the synthetic image and its volumes table."""
    entities = image.output_entities
    folder = derivative_dir(subjects_dir(caps_dir), entities, CE2NCE)
    marks = [folder / derivative_name(entities, "volumes", ".tsv", TEMPLATE_SPACE, res=RESOLUTION)]
    if translated and image.is_contrast_enhanced:
        marks.append(
            folder
            / derivative_name(
                entities,
                "T1w",
                ".nii.gz",
                TEMPLATE_SPACE,
                "synthetic",
                RESOLUTION,
                clinica_order=True,
            )  # fmt: skip
        )
        marks.append(
            folder
            / derivative_name(entities, "volumes", ".tsv", TEMPLATE_SPACE, "synthetic", RESOLUTION)
        )
    return marks


def check_caps_folder(caps_dir: Path) -> None:
    """Refuse a folder that holds files but is not a CAPS (Clinica would write into it).

    A missing or empty folder is a new CAPS. Otherwise it needs a ``dataset_description.json``
    whose ``DatasetType`` is ``derivative`` and no ``sub-*`` folder at its root (a BIDS folder
    given in the wrong place).
    """
    caps_dir = Path(caps_dir)
    if not caps_dir.exists() or (caps_dir.is_dir() and not any(caps_dir.iterdir())):
        return
    if not caps_dir.is_dir():
        raise InvalidInputError(f"{caps_dir}: not a folder; give a CAPS folder or a new path")
    description = caps_dir / "dataset_description.json"
    fix = "give an existing CAPS folder, an empty folder or a new path"
    try:
        dataset_type = json.loads(description.read_text()).get("DatasetType")
    except FileNotFoundError:
        raise InvalidInputError(
            f"{caps_dir}: not a CAPS folder (no dataset_description.json) and not empty; {fix}"
        ) from None
    except (OSError, ValueError, AttributeError):
        raise InvalidInputError(f"{description}: not readable JSON; {fix}") from None
    if dataset_type != "derivative":
        raise InvalidInputError(
            f"{caps_dir}: not a CAPS folder (DatasetType {dataset_type!r} in "
            f"dataset_description.json, a CAPS has 'derivative'); {fix}"
        )
    if any(path.name.startswith("sub-") for path in caps_dir.iterdir()):
        raise InvalidInputError(
            f"{caps_dir}: holds sub-* folders, so it looks like a BIDS folder; check the order "
            "of BIDS_DIRECTORY and CAPS_DIRECTORY"
        )


def check_sessions(bids_dir: Path) -> None:
    """Refuse a BIDS folder with a participant without ``ses-*`` folders (CAPS needs sessions).

    Clinica would ask on the terminal whether to convert the dataset; a run must not wait for
    an answer nobody gives, nor copy the dataset without being asked.
    """
    bids_dir = Path(bids_dir)
    for subject in sorted(path for path in bids_dir.glob("sub-*") if path.is_dir()):
        folders = [path.name for path in subject.iterdir() if path.is_dir()]
        if not folders or not all(name.startswith("ses-") for name in folders):
            raise InvalidInputError(
                f"{subject}: no ses-* folder; a CAPS needs sessions: move "
                f"{subject.name}/anat to {subject.name}/ses-M000/anat (and add _ses-M000 to "
                "its file names), or run `ce2nce BIDS_DIR OUTPUT_DIR participant` instead"
            )


@dataclass(frozen=True)
class CapsImage:
    """One T1w image to process into a CAPS, with its reused t1-linear output if any."""

    image: T1wImage
    reused_crop: Path | None = None


def reusable_crop(caps_dir: Path, image: T1wImage) -> Path | None:
    """The cropped t1-linear image already in the CAPS for ``image``, if any.

    Raises
    ------
    InvalidInputError
        When it exists but is not a readable 169x208x179 NIfTI (one line, naming the file).
    """
    path = t1_linear_crop(caps_dir, image)
    if not path.exists():
        return None
    import nibabel as nib
    import numpy as np

    try:
        image = nib.load(path)
        data = np.asarray(image.dataobj)
    except Exception as error:  # nibabel raises many types for truncated files
        raise InvalidInputError(
            f"{path}: existing t1-linear output cannot be read ({type(error).__name__}); "
            "delete it to recompute it"
        ) from None
    if data.shape != CROP_SHAPE or not np.all(np.isfinite(data)):
        raise InvalidInputError(
            f"{path}: existing t1-linear output has shape {data.shape} or non-finite values, "
            f"not a {'x'.join(map(str, CROP_SHAPE))} cropped image; delete it to recompute it"
        )
    if not np.allclose(image.affine, CROP_AFFINE, atol=1e-3):
        raise InvalidInputError(
            f"{path}: existing t1-linear output is not on the t1-linear grid (origin "
            f"{tuple(np.round(image.affine[:3, 3], 2).tolist())} mm, expected "
            f"{tuple(CROP_AFFINE[:3, 3].tolist())}); delete it to recompute it"
        )
    return path
