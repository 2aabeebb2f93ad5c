"""Real non-contrast T1w images available offline, the bases of simulated subjects.

What an installed system offers (checked on Debian 13 with ``mricron-data`` and the nilearn
wheel; nothing else installable ships a human T1w head offline):

=================  ==========================================  ==========================
name               file                                        source
=================  ==========================================  ==========================
``colin27``        ``/usr/share/mricron/templates/ch2.nii.gz``  Debian ``mricron-data``
``colin27-brain``  ``.../ch2bet.nii.gz`` (same subject,         Debian ``mricron-data``
                   skull-stripped)
``mni152``         nilearn ``mni_icbm152_t1_tal_nlin_sym_09a``  PyPI ``nilearn``
                   (average of 152 subjects, skull-stripped)
=================  ==========================================  ==========================

Colin27 (one subject scanned 27 times, averaged; 1 mm, with skull and scalp) is the training
base. The MNI152 2009a average (a different anatomy, smooth, brain only) is held out for
testing: :data:`HELD_OUT_BASE`. ``ch2better.nii.gz`` (Colin27 again, 0.5 mm) and
``inia19-t1-brain.nii.gz`` (a macaque template) in the same folder are not used.

A path to any other 3D T1w NIfTI image is accepted as a base too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from ..errors import BackendUnavailableError, InvalidInputError

MRICRON_TEMPLATES = Path("/usr/share/mricron/templates")


@dataclass(frozen=True)
class BaseImage:
    """A real T1w image usable as a simulation base.

    Attributes
    ----------
    name
        Short name (``--base`` on the command line).
    subject
        Who was scanned: bases with the same subject are not independent.
    path
        Where the file lives once installed.
    has_head
        True when skull and scalp are present.
    install_hint
        How to install it when missing.
    description
        One line for logs and sidecars.
    """

    name: str
    subject: str
    path: Path
    has_head: bool
    install_hint: str
    description: str


def _nilearn_data() -> Path:
    from nilearn import datasets

    return Path(datasets.__file__).parent / "data"


def base_images() -> dict[str, BaseImage]:
    """Every known base image, installed or not, by name."""
    mricron = "apt-get install mricron-data (Debian/Ubuntu package)"
    return {
        "colin27": BaseImage(
            "colin27",
            "colin27",
            MRICRON_TEMPLATES / "ch2.nii.gz",
            True,
            mricron,
            "Colin27 (Holmes et al. 1998), 27 averaged scans of one subject, 1 mm, with skull",
        ),
        "colin27-brain": BaseImage(
            "colin27-brain",
            "colin27",
            MRICRON_TEMPLATES / "ch2bet.nii.gz",
            False,
            mricron,
            "Colin27 skull-stripped (same subject as colin27)",
        ),
        "mni152": BaseImage(
            "mni152",
            "mni152",
            _nilearn_data() / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
            False,
            "pip install --force-reinstall nilearn",
            "ICBM 2009a nonlinear symmetric T1 template (Fonov et al. 2011), skull-stripped",
        ),
    }


#: The base kept out of training, for held-out tests (a different anatomy from Colin27).
HELD_OUT_BASE = "mni152"
#: Bases used to make training subjects.
TRAINING_BASES: tuple[str, ...] = ("colin27", "colin27-brain")
#: Seeds reserved for held-out simulations: training recipes must not use them.
HELD_OUT_SEEDS: tuple[int, ...] = tuple(range(900_000, 900_050))


def available_base_images() -> list[str]:
    """Names of the base images installed on this machine."""
    return [name for name, base in base_images().items() if base.path.is_file()]


def base_image_path(name: str) -> Path:
    """Path of base image ``name``.

    Raises
    ------
    InvalidInputError
        If the name is unknown.
    BackendUnavailableError
        If its package is not installed (the message names the package).
    """
    known = base_images()
    if name not in known:
        raise InvalidInputError(
            f"unknown base image {name!r}: choose one of {', '.join(known)} or give a path"
        )
    base = known[name]
    if not base.path.is_file():
        raise BackendUnavailableError(
            f"base image {name!r} needs {base.path}, which is missing: {base.install_hint}"
        )
    return base.path


def load_base_image(name_or_path: str | Path) -> nib.Nifti1Image:
    """Load a base image by name (see :func:`base_images`) or from a NIfTI path.

    Returns
    -------
    nibabel.Nifti1Image
        The image as stored (3D), with a float32 array in memory.

    Raises
    ------
    InvalidInputError
        Unknown name, unreadable file, or not a 3D image.
    BackendUnavailableError
        A named base whose package is not installed.
    """
    text = str(name_or_path)
    path = Path(text) if text not in base_images() else base_image_path(text)
    if not path.is_file():
        raise InvalidInputError(
            f"base image {text!r} is neither a known name ({', '.join(base_images())}) "
            "nor an existing file"
        )
    try:
        image = nib.load(path)
        data = np.asarray(image.dataobj, dtype=np.float32)
    except Exception as error:  # nibabel raises many types for unreadable files
        raise InvalidInputError(f"cannot read {path} as NIfTI: {error}") from None
    data = np.squeeze(data)
    if data.ndim != 3:
        raise InvalidInputError(f"{path} is not a 3D image (shape {image.shape})")
    check_head(data, image.affine, path)
    header = image.header.copy()
    header.set_data_dtype(np.float32)
    out = nib.Nifti1Image(data, image.affine, header)
    out.header.set_slope_inter(None, None)
    return out


#: The field of view a training head must cover at least (mm): the t1-linear crop box.
CROP_BOX_MM = (169.0, 208.0, 179.0)
#: A T1w head's histogram has peaks (background, white matter); noise or a constant ramp is flat:
#: the fullest of 64 bins of the non-zero voxels must hold at least this many times 1/64.
MIN_HISTOGRAM_PEAK = 2.5


def check_head(data: np.ndarray, affine: np.ndarray, source: str | Path) -> None:
    """Refuse, in one line naming ``source``, a base that cannot make a training head.

    Raises
    ------
    InvalidInputError
        When the field of view is smaller than the t1-linear crop box (after sorting the axes:
        any orientation), when the image is constant, or when its histogram is flat (not a
        T1w-like image: uniform noise, a ramp).
    """
    extent = np.sort(np.asarray(data.shape[:3]) * np.linalg.norm(affine[:3, :3], axis=0))
    if np.any(extent < np.sort(CROP_BOX_MM) * 0.9):
        raise InvalidInputError(
            f"{source}: field of view {' x '.join(f'{e:.0f}' for e in extent)} mm is smaller "
            f"than the t1-linear crop box {' x '.join(f'{e:.0f}' for e in CROP_BOX_MM)} mm; "
            "use a whole-head or whole-brain image"
        )
    values = data[data > 0]
    if values.size == 0 or values.max() <= values.min():
        raise InvalidInputError(f"{source}: empty or constant image; use a T1w head")
    counts, _ = np.histogram(values, bins=64)
    if counts.max() < MIN_HISTOGRAM_PEAK * values.size / 64:
        raise InvalidInputError(
            f"{source}: flat intensity histogram (no tissue peak): not a T1w-like image"
        )


def base_subject(name_or_path: str | Path) -> str:
    """Who was scanned for a named base; the file stem for a path."""
    known = base_images()
    text = str(name_or_path)
    if text in known:
        return known[text].subject
    return Path(text).name.split(".")[0]
