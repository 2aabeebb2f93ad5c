"""The QC flags' science on arrays whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ce2nce_pipeline.science import qc


def test_removal_inside_the_parenchyma_is_the_fraction_of_the_removed_signal():
    ce = np.full((10, 10, 10), 100.0, dtype=np.float32)
    synthetic = ce.copy()
    parenchyma = np.zeros(ce.shape, bool)
    parenchyma[2:8, 2:8, 2:8] = True
    synthetic[0, 0, :4] -= 60  # 4 voxels x 60 outside (dura, vessels)
    synthetic[5, 5, 5] -= 80  # 1 voxel x 80 inside
    synthetic[5, 5, 6] -= 3  # below 5% of the 99th percentile (100): noise, not counted
    fraction = qc.unexpected_removal_fraction(ce, synthetic, parenchyma)
    assert fraction == pytest.approx(80 / (4 * 60 + 80))
    assert np.isnan(qc.unexpected_removal_fraction(ce, ce, parenchyma))


def test_parenchyma_is_the_eroded_mask_within_gm_and_wm():
    brain = np.zeros((20, 20, 20), bool)
    brain[2:18, 2:18, 2:18] = True
    labels = np.where(brain, 2, 0)
    labels[9:11, 9:11, 9:11] = 3  # a ventricle
    inside = qc.parenchyma_mask(brain, labels)
    assert inside[10, 3:, 3].sum() == 0  # x=10 column at the edge: eroded away
    assert not inside[9:11, 9:11, 9:11].any() and inside[6, 6, 6]
    assert inside.sum() == 10**3 - 8  # 16 - 2*3 = 10 voxels a side, minus the ventricle


def test_flip_uncertainty_is_the_mean_sd_relative_to_the_median():
    a = np.full((4, 4, 4), 200.0)
    b = a + 8.0
    sd = qc.flip_sd(a, b)
    assert np.all(sd == 4.0)
    mask = np.ones(a.shape, bool)
    assert qc.flip_uncertainty(sd, a, mask) == pytest.approx(2.0)  # 4 / 200 in percent
    assert np.isnan(qc.flip_uncertainty(sd, a, np.zeros(a.shape)))


def test_robust_zscores_use_the_median_and_mad():
    values = np.array([[10.0], [11.0], [12.0], [13.0], [14.0], [40.0]])
    z = qc.robust_zscores(values)
    # median 12.5, MAD 1.5 -> sd 2.2239
    assert z[5, 0] == pytest.approx((40 - 12.5) / (1.4826 * 1.5))
    assert z[0, 0] == pytest.approx((10 - 12.5) / (1.4826 * 1.5))
    assert np.isnan(qc.robust_zscores(values[:4])).all()  # too few for a group


def test_tissue_fractions_divide_by_tiv():
    fractions = qc.tissue_fractions([[500.0, 400.0, 100.0, 1000.0]])
    np.testing.assert_allclose(fractions, [[0.5, 0.4, 0.1, 1000.0]])
