"""Losses of the generator and cGAN protocols (Bottani et al. 2024, §2.3).

- Generators: the L1 loss between the synthetic and the real T1w-nce.
- cGANs: least-squares GAN (LSGAN, Mao et al.) losses with **soft labels** drawn at every
  call: *real* ~ U(0, 0.3) and *fake* ~ U(0.7, 1) (the paper's convention: real is the low
  label). The generator loss is ``L1(generated, true) + LSGAN(D(generated), real label)``; the
  discriminator loss is the mean of ``LSGAN(D(true), real label)`` and
  ``LSGAN(D(generated), fake label)``.
- A generator with a global gain (Res-U-Net ``global_gain``, not in the paper) can also be
  supervised on its gain: L1 between the predicted gain and :func:`gain_target`, the pair's
  median intensity ratio T1w-nce / T1w-ce.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "FAKE_LABEL_RANGE",
    "REAL_LABEL_RANGE",
    "SoftLabels",
    "GAIN_FOREGROUND_FRACTION",
    "discriminator_loss",
    "gain_loss",
    "gain_target",
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


#: Voxels brighter than this fraction of the T1w-ce's maximum count in :func:`gain_target`
#: (leaves out the background).
GAIN_FOREGROUND_FRACTION: float = 0.1


def gain_target(ce: torch.Tensor, nce: torch.Tensor) -> torch.Tensor:
    """The gain that maps each T1w-ce onto its T1w-nce: median of ``nce / ce`` in the foreground.

    Computed per image and channel over the voxels where the (scaled) T1w-ce exceeds
    :data:`GAIN_FOREGROUND_FRACTION` of its maximum. The median ignores the enhanced voxels (a
    small minority) and follows the bulk of the tissue: with the ``white-matter-input``
    normalisation it is the target's contrast over the input's, about 1.7 for an image with a
    head and 3.3 for a skull-stripped one.

    Parameters
    ----------
    ce, nce : torch.Tensor
        ``N × C × ...`` network input and target, same shape.

    Returns
    -------
    torch.Tensor
        ``N × C``, detached (a target).
    """
    if ce.shape != nce.shape or ce.ndim < 3:
        raise ValueError(f"ce {tuple(ce.shape)} and nce {tuple(nce.shape)} must be N×C×... alike")
    with torch.no_grad():
        flat_ce = ce.detach().flatten(2)
        flat_nce = nce.detach().flatten(2)
        peak = flat_ce.amax(dim=2, keepdim=True)
        gains = torch.empty(flat_ce.shape[:2], dtype=ce.dtype, device=ce.device)
        for n in range(flat_ce.shape[0]):
            for c in range(flat_ce.shape[1]):
                inside = flat_ce[n, c] > GAIN_FOREGROUND_FRACTION * peak[n, c, 0]
                if not bool(inside.any()):
                    gains[n, c] = 1.0
                    continue
                gains[n, c] = torch.median(flat_nce[n, c][inside] / flat_ce[n, c][inside])
    return gains


def gain_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between predicted and target gains (``N × C`` each)."""
    if predicted.shape != target.shape:
        raise ValueError(
            f"predicted gain {tuple(predicted.shape)} and target {tuple(target.shape)} differ"
        )
    return F.l1_loss(predicted, target)


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
