"""A BIDS dataset of simulated T1w-ce / T1w-nce pairs (``ce2nce simulate``).

Each subject is a real base image (Colin27 by default) augmented with its own seed; its session
holds the augmented T1w (nce) and a simulated gadolinium-enhanced T1w (ce), or the ce only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np

from ..errors import Ce2nceError, InvalidInputError
from .bids_writer import SimulatedSession

LOGGER = logging.getLogger(__name__)

#: Descriptions of the ``participants.tsv`` columns of a simulated dataset.
PARTICIPANT_COLUMNS = {
    "base_image": "real T1w image the subject was made from",
    "base_subject": "person scanned for the base image (same value: same anatomy)",
    "ce_quality": "preset of the simulated ce image: good or low",
    "has_nce": "whether the session holds a non-contrast T1w image",
    "lesions": "simulated enhancing lesions",
}


@dataclass(frozen=True)
class DatasetSettings:
    """What ``ce2nce simulate`` makes (its options; see ``docs/simulation.md``).

    Attributes
    ----------
    n_subjects, seed
        Number of subjects and the master seed.
    bases
        Base images used in turn: names of :func:`~.base_images.load_base_image` or paths.
    low_quality_fraction, ce_only_fraction, lesion_probability
        Share of low-quality ce images and of sessions without nce; chance of lesions.
    components
        Only these simulator components (others off); ``None``: all.
    size
        ``full`` (the base's grid) or ``small`` (2 mm).
    space
        How the simulator maps the image to MNI.
    session
        Session label; ``None``: no ``ses-`` level.
    augmentation, separate_series, overwrite
        Augment the bases; give each pair two series; write into a non-empty folder.
    """

    n_subjects: int = 4
    seed: int = 0
    bases: tuple[str, ...] = ("colin27",)
    low_quality_fraction: float = 0.25
    ce_only_fraction: float = 0.0
    lesion_probability: float = 0.2
    components: tuple[str, ...] | None = None
    size: Literal["full", "small"] = "full"
    space: Literal["auto", "mni", "native"] = "auto"
    session: str | None = "M000"
    augmentation: bool = True
    separate_series: bool = False
    overwrite: bool = False


def _check_destination(out: Path, settings: DatasetSettings) -> None:
    if out.exists() and not out.is_dir():
        raise Ce2nceError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not settings.overwrite:
        raise Ce2nceError(f"{out} is not empty: choose an empty folder or pass --overwrite")
    if settings.session is not None and not settings.session.isalnum():
        raise Ce2nceError(f"session label {settings.session!r} must be alphanumeric")


def load_bases(
    names: Sequence[str], size: str, on_skipped: Callable[[str], None]
) -> dict[str, nib.Nifti1Image]:
    """Load each base image once (resampled to 2 mm for ``small``); skip the unusable ones.

    Raises
    ------
    Ce2nceError
        When no base image is usable.
    """
    from nibabel.processing import resample_to_output

    from .base_images import load_base_image

    bases, unusable = {}, []
    for name in dict.fromkeys(names):
        try:
            image = load_base_image(name)
        except InvalidInputError as error:  # one unusable head: say so, go on with the others
            unusable.append(f"{name}: {error}")
            continue
        if size == "small":
            image = resample_to_output(image, voxel_sizes=2.0, order=1)
            image = nib.Nifti1Image(np.asarray(image.dataobj, np.float32), image.affine)
            image.header.set_xyzt_units("mm")
        bases[name] = image
    if not bases:
        raise Ce2nceError("no usable base image: " + "; ".join(unusable))
    for reason in unusable:
        on_skipped(reason)
    return bases


def _pick(rng: np.random.Generator, n: int, fraction: float) -> set[int]:
    count = 0 if fraction <= 0 else max(1, int(round(fraction * n)))
    return set(rng.permutation(n)[: min(count, n)].tolist())


@dataclass(frozen=True)
class _Subject:
    index: int
    label: str
    base_name: str
    base: nib.Nifti1Image
    quality: str
    ce_only: bool


def _simulate_subject(subject: _Subject, settings: DatasetSettings) -> SimulatedSession:
    """The augmented nce and simulated ce of one subject, with their provenance."""
    from .anatomy import build_anatomy
    from .augmentation import augment, sample_augmentation
    from .base_images import base_subject
    from .simulator import sample_parameters, simulate_ce

    aug_seed, sim_seed, param_seed = (
        int(v) for v in np.random.SeedSequence([settings.seed, subject.index]).generate_state(3)
    )
    if settings.augmentation:
        aug_params = sample_augmentation(np.random.default_rng(aug_seed))
        nce = augment(subject.base, aug_params, seed=aug_seed)
    else:
        nce, aug_params = subject.base, None
    params = sample_parameters(
        np.random.default_rng(param_seed),
        subject.quality,
        lesion_probability=settings.lesion_probability,
        space=settings.space,
    )
    if settings.components:
        params = params.with_components(settings.components)
    anatomy = build_anatomy(nce, params.space)
    ce, info = simulate_ce(nce, params, seed=sim_seed, anatomy=anatomy)
    nce_image = info.nce_image
    provenance = {
        "SimulationBaseImage": str(subject.base_name),
        "AugmentationSeed": aug_seed if aug_params else None,
        "AugmentationParameters": aug_params.to_dict() if aug_params else None,
    }
    nce_extra, ce_extra = {}, {}
    if settings.separate_series:
        from .series import acquire_nce_series, move_rigidly

        nce_image, nce_extra["SimulationAcquisition"] = acquire_nce_series(
            nce_image, anatomy, sim_seed
        )
        ce, ce_extra["SimulationMotion"] = move_rigidly(ce, sim_seed)
    lesions = [c for c in ("ring_lesion", "nodular_lesions") if getattr(params, c)]
    return SimulatedSession(
        subject=subject.label,
        session=settings.session,
        nce=None if subject.ce_only else nce_image,
        ce=ce,
        nce_sidecar={**provenance, **nce_extra},
        ce_sidecar={**provenance, **info.sidecar(), **ce_extra},
        participant={
            "base_image": subject.base_name,
            "base_subject": base_subject(subject.base_name),
            "ce_quality": subject.quality,
            "has_nce": not subject.ce_only,
            "lesions": "+".join(lesions) if lesions else "none",
        },
    )


def _subjects(settings: DatasetSettings, bases: dict[str, nib.Nifti1Image]) -> list[_Subject]:
    """Each subject's base, quality and whether it has an nce, drawn from the master seed."""
    usable = [name for name in settings.bases if name in bases]
    master = np.random.default_rng(settings.seed)
    low = _pick(master, settings.n_subjects, settings.low_quality_fraction)
    ce_only = _pick(master, settings.n_subjects, settings.ce_only_fraction)
    width = max(2, len(str(settings.n_subjects)))
    return [
        _Subject(
            index=i,
            label=f"{i + 1:0{width}d}",
            base_name=usable[i % len(usable)],
            base=bases[usable[i % len(usable)]],
            quality="low" if i in low else "good",
            ce_only=i in ce_only,
        )
        for i in range(settings.n_subjects)
    ]


def simulate_dataset(
    out: Path,
    settings: DatasetSettings,
    *,
    on_skipped: Callable[[str], None] = lambda reason: None,
) -> list[Path]:
    """Write a BIDS dataset of simulated pairs into ``out``.

    Parameters
    ----------
    out : Path
        The dataset's folder (created; must be empty unless ``settings.overwrite``).
    settings : DatasetSettings
        What to simulate.
    on_skipped : callable, optional
        Called with one line per unusable base image (the others are used).

    Returns
    -------
    list of Path
        The images written.

    Raises
    ------
    Ce2nceError
        On an unusable destination, session label or set of base images.
    """
    from .bids_writer import write_bids_dataset

    _check_destination(out, settings)
    bases = load_bases(settings.bases, settings.size, on_skipped)
    sessions = []
    for subject in _subjects(settings, bases):
        start = time.perf_counter()
        sessions.append(_simulate_subject(subject, settings))
        LOGGER.info(
            "sub-%s from %s (%s quality) in %.1f s",
            subject.label,
            subject.base_name,
            subject.quality,
            time.perf_counter() - start,
        )
    return write_bids_dataset(
        out, sessions, overwrite=settings.overwrite, column_descriptions=PARTICIPANT_COLUMNS
    )
