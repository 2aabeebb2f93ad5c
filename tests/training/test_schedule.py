"""Tests of the learning-rate schedules (pure functions of the epoch)."""

from __future__ import annotations

import math

import pytest

from ce2nce_pipeline.training.schedule import learning_rate_factor


def test_constant_schedule_never_changes_the_rate():
    assert [learning_rate_factor(e, 5) for e in range(1, 6)] == [1.0] * 5


def test_cosine_schedule_holds_then_decays_to_the_minimum():
    factors = [learning_rate_factor(e, 12, "cosine", 4, 0.1) for e in range(1, 13)]
    assert factors[:5] == [1.0] * 5  # epochs 1-4 held, epoch 5 is the decay's start (t = 0)
    # Then strictly decreasing.
    assert all(a > b for a, b in zip(factors[4:-1], factors[5:], strict=True))
    # Half-way through the 8 decayed epochs (epoch 9, t = 0.5) the factor is half-way.
    assert factors[8] == pytest.approx(0.1 + 0.9 * 0.5)
    # The last epoch (t = 7/8) is near, and above, the minimum.
    assert factors[11] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 7 / 8)))
    assert 0.1 < factors[11] < 0.15


def test_cosine_schedule_without_hold_starts_at_the_full_rate():
    assert learning_rate_factor(1, 10, "cosine") == 1.0
    assert learning_rate_factor(6, 10, "cosine") == pytest.approx(0.5)


def test_bad_schedule_settings_are_refused():
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'linear'"):
        learning_rate_factor(1, 10, "linear")
    with pytest.raises(ValueError, match="numbered from 1"):
        learning_rate_factor(0, 10, "cosine")
