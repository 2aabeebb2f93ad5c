"""Losses of the generator and cGAN protocols (Bottani et al. 2024, §2.3).

- Generators: the L1 loss between the synthetic and the real T1w-nce.
- cGANs: least-squares GAN (LSGAN, Mao et al.) losses with **soft labels** drawn at every
  call: *real* ~ U(0, 0.3) and *fake* ~ U(0.7, 1) (the paper's convention: real is the low
  label). The generator loss is ``L1(generated, true) + LSGAN(D(generated), real label)``; the
  discriminator loss is the mean of ``LSGAN(D(true), real label)`` and
  ``LSGAN(D(generated), fake label)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "FAKE_LABEL_RANGE",
    "REAL_LABEL_RANGE",
    "SoftLabels",
    "discriminator_loss",
    "generator_adversarial_loss",
    "l1_loss",
    "lsgan_loss",
]

#: Soft label range of real (true T1w-nce) patches.
REAL_LABEL_RANGE: tuple[float, float] = (0.0, 0.3)
#: Soft label range of fake (synthetic) patches.
FAKE_LABEL_RANGE: tuple[float, float] = (0.7, 1.0)


def l1_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over every element (the generators' loss)."""
    if prediction.shape != target.shape:
        raise ValueError(
            f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ"
        )
    return F.l1_loss(prediction, target)


def lsgan_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN loss: ``mean((scores - labels)**2)``."""
    if scores.shape != labels.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and labels {tuple(labels.shape)} differ")
    return F.mse_loss(scores, labels)


class SoftLabels:
    """Draw soft real/fake labels from uniform ranges with a dedicated random generator.

    Parameters
    ----------
    real_range, fake_range : tuple of 2 float
        ``(low, high)`` of the uniform distributions (paper: (0, 0.3) and (0.7, 1)).
    generator : torch.Generator, optional
        CPU generator the labels are drawn from (the trainer seeds one per epoch, so that a
        resumed run draws the same labels). Default: a new generator seeded with 0.
    """

    def __init__(
        self,
        real_range: tuple[float, float] = REAL_LABEL_RANGE,
        fake_range: tuple[float, float] = FAKE_LABEL_RANGE,
        generator: torch.Generator | None = None,
    ) -> None:
        for name, (low, high) in (("real_range", real_range), ("fake_range", fake_range)):
            if not 0.0 <= low <= high <= 1.0:
                raise ValueError(f"{name} must satisfy 0 <= low <= high <= 1, got {(low, high)}")
        self.real_range = (float(real_range[0]), float(real_range[1]))
        self.fake_range = (float(fake_range[0]), float(fake_range[1]))
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)

    def _draw(self, like: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
        low, high = bounds
        # Drawn on the CPU generator then moved: the same labels on CPU and CUDA.
        values = torch.rand(like.shape, generator=self.generator, dtype=torch.float32)
        return (low + (high - low) * values).to(device=like.device, dtype=like.dtype)

    def real(self, like: torch.Tensor) -> torch.Tensor:
        """Labels of real pairs, shaped like ``like`` (e.g. the discriminator's scores)."""
        return self._draw(like, self.real_range)

    def fake(self, like: torch.Tensor) -> torch.Tensor:
        """Labels of fake pairs, shaped like ``like``."""
        return self._draw(like, self.fake_range)


def discriminator_loss(
    real_scores: torch.Tensor, fake_scores: torch.Tensor, labels: SoftLabels
) -> torch.Tensor:
    """Mean of ``LSGAN(D(true), real label)`` and ``LSGAN(D(generated), fake label)``."""
    return 0.5 * (
        lsgan_loss(real_scores, labels.real(real_scores))
        + lsgan_loss(fake_scores, labels.fake(fake_scores))
    )


def generator_adversarial_loss(fake_scores: torch.Tensor, labels: SoftLabels) -> torch.Tensor:
    """``LSGAN(D(generated), real label)``: the generator wants its images scored as real."""
    return lsgan_loss(fake_scores, labels.real(fake_scores))
