"""What gadolinium does to a T1w image: the registry of the simulator's components.

The anatomical components, grouped by kind, each place one effect (:class:`~.effects.Effect`)
on the image's anatomy:

- vessels (:mod:`.vessels`): ``venous_sinuses``, ``cortical_veins``, ``arteries``;
- structures without a blood-brain barrier (:mod:`.structures`): ``choroid_plexus``, ``dura``,
  ``pituitary``;
- outside the skull (:mod:`.extracranial`): ``extracranial`` (muscle and mucosa);
- lesions (:mod:`.lesions`): ``ring_lesion``, ``nodular_lesions``.

The acquisition differences of the post-contrast series (:mod:`.acquisition`) act on the whole
image afterwards. :data:`ANATOMICAL` maps each anatomical component's name to its function and
its parameter dataclass, in the order the simulator draws them (the order also seeds each
component's random generator: do not reorder).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .acquisition import (
    bias_field,
    blur,
    contrast_change,
    ghosting,
    lower_resolution,
    rician_noise,
)
from .anatomy import Anatomy
from .effects import Effect, from_parameters
from .extracranial import ExtracranialParameters, extracranial
from .lesions import NodularLesionParameters, RingLesionParameters, nodular_lesions, ring_lesion
from .structures import (
    ChoroidPlexusParameters,
    DuraParameters,
    PituitaryParameters,
    choroid_plexus,
    dura,
    pituitary,
)
from .vessels import (
    ArteryParameters,
    CorticalVeinParameters,
    VenousSinusParameters,
    arteries,
    cortical_veins,
    venous_sinuses,
)

__all__ = [
    "ANATOMICAL",
    "Component",
    "Effect",
    "bias_field",
    "blur",
    "contrast_change",
    "ghosting",
    "lower_resolution",
    "rician_noise",
]


@dataclass(frozen=True)
class Component:
    """An anatomical component of the simulator.

    Attributes
    ----------
    name
        Its name (a switch of ``SimulationParameters``).
    function
        ``function(anatomy, nce, rng, parameters) -> Effect``.
    parameters
        Its parameter dataclass, whose fields name the ``SimulationParameters`` they come from.
    """

    name: str
    function: Callable[..., Effect]
    parameters: type

    def place(
        self, anatomy: Anatomy, nce: np.ndarray, rng: np.random.Generator, values: object
    ) -> Effect:
        """Place the effect with the parameters read from ``values`` (``SimulationParameters``)."""
        return self.function(anatomy, nce, rng, from_parameters(self.parameters, values))


#: Anatomical components by name, in the order they are drawn.
ANATOMICAL: dict[str, Component] = {
    component.name: component
    for component in (
        Component("venous_sinuses", venous_sinuses, VenousSinusParameters),
        Component("cortical_veins", cortical_veins, CorticalVeinParameters),
        Component("arteries", arteries, ArteryParameters),
        Component("choroid_plexus", choroid_plexus, ChoroidPlexusParameters),
        Component("dura", dura, DuraParameters),
        Component("pituitary", pituitary, PituitaryParameters),
        Component("extracranial", extracranial, ExtracranialParameters),
        Component("ring_lesion", ring_lesion, RingLesionParameters),
        Component("nodular_lesions", nodular_lesions, NodularLesionParameters),
    )
}
