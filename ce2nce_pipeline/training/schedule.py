"""Learning-rate schedules of a training run, as pure functions of the epoch.

The paper trains with a constant learning rate. ``cosine`` keeps the learning rate constant
for ``lr_decay_start_epoch`` epochs, then lowers it along half a cosine to
``min_learning_rate`` at the end of ``epochs``. The rate of an epoch depends only on its
number and the settings, so an interrupted run resumes with the same rates, and extending a
finished run (more ``epochs``, a decay from where it stopped) is one change in the recipe.
"""

from __future__ import annotations

import math

__all__ = ["LR_SCHEDULES", "learning_rate_factor"]

LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")


def learning_rate_factor(
    epoch: int,
    epochs: int,
    schedule: str = "constant",
    decay_start_epoch: int = 0,
    min_factor: float = 0.0,
) -> float:
    """Factor applied to the base learning rate during ``epoch`` (1-based).

    Parameters
    ----------
    epoch : int
        The epoch about to run, 1 to ``epochs``.
    epochs : int
        Number of epochs of the run.
    schedule : {"constant", "cosine"}
    decay_start_epoch : int
        Epochs run at the full rate before the cosine decay starts.
    min_factor : float
        ``min_learning_rate / learning_rate``: the factor the decay tends to after the last
        epoch.

    Returns
    -------
    float
        1 for ``constant`` and for the epochs up to ``decay_start_epoch``; then
        ``min + (1 - min) * (1 + cos(pi * t)) / 2`` with ``t = (epoch - 1 - decay_start_epoch)
        / (epochs - decay_start_epoch)``, which goes from 1 (first decayed epoch) towards
        ``min_factor``.
    """
    if schedule not in LR_SCHEDULES:
        raise ValueError(
            f"unknown learning-rate schedule {schedule!r}; choose one of {list(LR_SCHEDULES)}"
        )
    if epoch < 1:
        raise ValueError(f"epochs are numbered from 1, got {epoch}")
    if schedule == "constant" or epoch <= decay_start_epoch or epochs <= decay_start_epoch:
        return 1.0
    progress = (epoch - 1 - decay_start_epoch) / (epochs - decay_start_epoch)
    return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))
