"""Simulated gadolinium enhancement of real non-contrast T1w images.

No real contrast-enhanced image can be installed offline, so ce2nce turns real non-contrast
T1w images (Colin27, the MNI152 2009a template, or the user's) into paired, simulated
contrast-enhanced ones. See ``docs/simulation.md``.

Public API
----------
:func:`simulate_ce`, :class:`SimulationParameters`, :func:`sample_parameters`,
:class:`SimulationInfo` (:mod:`.simulator`); :func:`build_anatomy` (:mod:`.anatomy`);
:func:`augment`, :func:`sample_augmentation`, :class:`AugmentationParameters`
(:mod:`.augmentation`); :func:`load_base_image`, :func:`available_base_images`,
:data:`HELD_OUT_BASE`, :data:`TRAINING_BASES` (:mod:`.base_images`);
:func:`write_bids_dataset`, :class:`SimulatedSession` (:mod:`.bids_writer`).
"""

from .anatomy import Anatomy, build_anatomy
from .augmentation import AugmentationParameters, augment, sample_augmentation
from .base_images import (
    HELD_OUT_BASE,
    HELD_OUT_SEEDS,
    TRAINING_BASES,
    available_base_images,
    load_base_image,
)
from .bids_writer import SimulatedSession, write_bids_dataset
from .simulator import (
    COMPONENTS,
    SimulationInfo,
    SimulationParameters,
    sample_parameters,
    simulate_ce,
)

__all__ = [
    "COMPONENTS",
    "HELD_OUT_BASE",
    "HELD_OUT_SEEDS",
    "TRAINING_BASES",
    "Anatomy",
    "AugmentationParameters",
    "SimulatedSession",
    "SimulationInfo",
    "SimulationParameters",
    "augment",
    "available_base_images",
    "build_anatomy",
    "load_base_image",
    "sample_augmentation",
    "sample_parameters",
    "simulate_ce",
    "write_bids_dataset",
]
