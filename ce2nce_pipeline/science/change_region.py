"""Where a translation may change the image: everywhere, or only inside the head's intracranial
space.

Gadolinium also brightens what lies outside the brain (scalp vessels, muscles, the nasal
mucosa), and a network that learnt its correction on skull-stripped pairs darkens a whole
head's scalp fat and marrow as if they were enhancement. Tissue volumes need only the
intracranial space, so a model whose output shares its input's units (the enhancement maps) can
record ``"intracranial"``: its change is kept inside the template's brain grown by
:data:`INTRACRANIAL_CHANGE_MARGIN_VOXELS` (the dura, the sinuses and the vessels on the brain's
surface included) and the input is given back unchanged outside. Measured on the simulated
validation head with skull in docs/full_resolution_model.md ("Where the change is kept").

Pure functions of arrays.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from .enhancement_opening import intracranial_region

__all__ = [
    "CHANGE_REGIONS",
    "INTRACRANIAL_CHANGE_MARGIN_VOXELS",
    "ChangeRegion",
    "check_change_region",
    "confine_change",
]

#: Where a translation may change the image.
ChangeRegion = Literal["everywhere", "intracranial"]
CHANGE_REGIONS: tuple[str, ...] = get_args(ChangeRegion)

#: How far beyond the template's brain (voxels of the 1 mm t1-linear grid) a change is kept.
INTRACRANIAL_CHANGE_MARGIN_VOXELS = 8


def check_change_region(change_region: str) -> None:
    """Raise ``ValueError`` (one line, naming the choices) unless ``change_region`` is known."""
    if change_region not in CHANGE_REGIONS:
        raise ValueError(
            f"unknown change region {change_region!r}; choose one of {list(CHANGE_REGIONS)}"
        )


def confine_change(
    output: NDArray[np.floating], source: NDArray[np.floating], change_region: str
) -> NDArray[np.float32]:
    """``output`` where ``change_region`` allows a change, ``source`` elsewhere (float32).

    Raises
    ------
    ValueError
        For an unknown region or arrays of different shapes.
    """
    check_change_region(change_region)
    output = np.asarray(output, dtype=np.float32)
    source = np.asarray(source, dtype=np.float32)
    if output.shape != source.shape:
        raise ValueError(f"output {output.shape} and source {source.shape} differ in shape")
    if change_region == "everywhere":
        return output
    inside = intracranial_region(output.shape, INTRACRANIAL_CHANGE_MARGIN_VOXELS)
    return np.where(inside, output, source).astype(np.float32)
