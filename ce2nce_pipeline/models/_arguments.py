"""Constructor-argument checks shared by the architectures."""

from __future__ import annotations

from torch import nn

# ``tanh`` (the paper's) covers the [0, 1] range of min-max scaled targets with its positive
# half and reaches 0, the background, exactly; see docs/models.md.
FINAL_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}


def positive_int(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer ``>= minimum`` (not a bool), else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_final_activation(name: str) -> None:
    """Raise ValueError unless ``name`` is one of :data:`FINAL_ACTIVATIONS`."""
    if name not in FINAL_ACTIVATIONS:
        raise ValueError(
            f"final_activation must be one of {tuple(FINAL_ACTIVATIONS)}, got {name!r}"
        )
