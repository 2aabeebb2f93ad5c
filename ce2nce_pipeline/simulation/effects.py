"""What an anatomical gadolinium effect is, and the steps every effect shares.

Each anatomical effect returns an :class:`Effect`: the enhancement (intensity added by the
contrast agent, >= 0) and the mask of the voxels where the effect acts, both on the image grid;
the enhancement is zero outside the mask. Lesions also change the non-contrast image (necrosis
and oedema are dark before injection too): that change is ``Effect.nce_change``.

Enhancement model: a voxel that holds a fraction ``w`` (partial volume, 0-1) of an enhancing
structure whose post-contrast intensity is ``T`` (a multiple of the image's WM intensity) goes
from ``I`` to ``I + w * max(T - I, 0)`` (:func:`toward`, :func:`enhance`); tissues that enhance
in proportion to their signal (muscle, mucosa) go to ``I * (1 + w * k)``. Where the structure is
already brighter than ``T`` nothing changes.

Each effect's parameters are a frozen dataclass whose fields name, in their metadata, the
:class:`~.simulator.SimulationParameters` field they come from (:func:`parameter`,
:func:`from_parameters`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "Effect",
    "both_sides",
    "enhance",
    "from_parameters",
    "make_effect",
    "parameter",
    "toward",
]

#: Key of a parameter field's metadata naming its ``SimulationParameters`` field.
SOURCE = "simulation_parameter"

P = TypeVar("P")


@dataclass(frozen=True, eq=False)
class Effect:
    """One gadolinium effect on the image grid.

    Attributes
    ----------
    name
        Component name.
    mask
        Boolean map of the voxels where the effect acts.
    enhancement
        float32 intensity added by the contrast agent (>= 0, zero outside ``mask``).
    nce_change
        float32 change of the non-contrast image (lesions only), else ``None``.
    details
        JSON-friendly description of what was placed (positions, sizes).
    """

    name: str
    mask: np.ndarray
    enhancement: np.ndarray
    nce_change: np.ndarray | None = None
    details: dict[str, object] = field(default_factory=dict)


def make_effect(
    name: str,
    weight: np.ndarray,
    delta: np.ndarray,
    nce_change: np.ndarray | None = None,
    **details: object,
) -> Effect:
    """An :class:`Effect` acting where ``weight > 0``, adding ``max(delta, 0)`` there."""
    enhancement = np.where(weight > 0, np.maximum(delta, 0.0), 0.0).astype(np.float32)
    return Effect(name, weight > 0, enhancement, nce_change, dict(details))


def toward(nce: np.ndarray, weight: np.ndarray, target: np.ndarray | float) -> np.ndarray:
    """Enhancement that brings a fraction ``weight`` of each voxel to ``target``."""
    return weight * np.maximum(np.asarray(target, dtype=np.float32) - nce, 0.0)


def enhance(
    name: str,
    nce: np.ndarray,
    weight: np.ndarray,
    region: np.ndarray,
    target: float,
    **details: object,
) -> Effect:
    """The effect of a structure of partial-volume ``weight`` kept to ``region``, whose voxels
    go toward the post-contrast intensity ``target`` (the step most effects share).

    Parameters
    ----------
    name
        Component name.
    nce
        The non-contrast image.
    weight
        Partial-volume weight (0-1) of the structure.
    region
        Where it may act (the head, the ventricles, ...), multiplied into ``weight``.
    target
        Post-contrast intensity of the structure (already a multiple of the WM intensity).
    details
        Recorded in ``Effect.details``.
    """
    weight = weight * region
    return make_effect(name, weight, toward(nce, weight, target), **details)


def both_sides(
    shape: tuple[int, ...],
    draw: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray | None = None,
) -> np.ndarray:
    """The voxelwise maximum of ``draw(flip)`` for the right then the left side.

    Parameters
    ----------
    shape
        Grid of the weights.
    draw
        Draws the weight of one side; ``flip`` is ``[1, 1, 1]`` (right) then ``[-1, 1, 1]``
        (left), to multiply right-side MNI points with. Random draws happen in that order.
    start
        A weight to start from (zeros if None).
    """
    weight = np.zeros(shape, dtype=np.float32) if start is None else start
    for side in (1.0, -1.0):
        weight = np.maximum(weight, draw(np.array([side, 1.0, 1.0])))
    return weight


def parameter(default: Any, source: str) -> Any:
    """A parameter field with ``default``, read from ``SimulationParameters.<source>``."""
    return field(default=default, metadata={SOURCE: source})


def from_parameters(cls: type[P], values: object) -> P:
    """An instance of the parameter dataclass ``cls`` from a ``SimulationParameters``.

    Fields without a source keep their defaults.
    """
    kwargs = {
        f.name: getattr(values, f.metadata[SOURCE]) for f in fields(cls) if SOURCE in f.metadata
    }
    return cls(**kwargs)
