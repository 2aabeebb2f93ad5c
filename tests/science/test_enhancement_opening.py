"""The grey-level opening that removes thin structures brighter than white matter."""

import numpy as np
import pytest

from ce2nce_pipeline.science.enhancement_opening import (
    OpeningSettings,
    enhancement_excess,
    intracranial_region,
    remove_enhancement,
    white_matter_median,
)
from ce2nce_pipeline.science.intensity import white_matter_region

#: A coarse grid over the t1-linear field of view (the white-matter prior is resampled to it).
SHAPE = (56, 69, 60)


@pytest.fixture(scope="module")
def tissue():
    """White matter at 100, a slab of grey matter at 70 (wider than the ball), noise 2 %."""
    rng = np.random.default_rng(0)
    image = np.full(SHAPE, 100.0, np.float32)
    image[:, 14:30] = 70.0
    assert white_matter_region(SHAPE)[:, 35:].any()
    image[image > 0] *= 1 + 0.02 * rng.standard_normal(np.count_nonzero(image)).astype(np.float32)
    return image


def test_a_thin_bright_vessel_comes_down_to_what_surrounds_it(tissue):
    image = tissue.copy()
    vessel = (slice(10, 50), slice(20, 22), slice(30, 32))  # 2 voxels wide, 40 long
    surround = np.median(tissue[vessel])
    image[vessel] = 180.0
    removed = remove_enhancement(image)
    assert np.abs(removed[vessel] - surround).mean() < 0.1 * surround
    # Nowhere is anything added, and far from the vessel nothing changes.
    assert (removed <= image + 1e-4).all()
    far = np.ones(SHAPE, bool)
    far[5:55, 12:30, 24:38] = False
    np.testing.assert_array_equal(removed[far], image[far])


def test_normal_tissue_and_wide_bright_regions_are_kept(tissue):
    """Noise in white matter is below min_excess; a bright region wider than the ball is not
    thin, so the opening keeps it (a solid lesion is the network's job, not this one's)."""
    image = tissue.copy()
    block = (slice(20, 36), slice(40, 56), slice(20, 36))  # 16 voxels a side
    image[block] = 160.0
    excess = enhancement_excess(image)
    assert excess[block][4:-4, 4:-4, 4:-4].max() == 0.0
    assert np.count_nonzero(enhancement_excess(tissue)) < 1e-3 * tissue.size


def test_levels_are_in_white_matter_units(tissue):
    """The same image at another scanner scale loses the same share."""
    image = tissue.copy()
    image[10:50, 20:22, 30:32] = 180.0
    np.testing.assert_allclose(
        remove_enhancement(image * 37.0), remove_enhancement(image) * 37.0, rtol=1e-4
    )
    assert white_matter_median(image * 37.0) == pytest.approx(37.0 * white_matter_median(image))


def test_a_dim_thin_structure_is_not_enhancement(tissue):
    """Thin but not brighter than white matter (a gyrus' grey matter): untouched."""
    image = tissue.copy()
    image[10:50, 20:22, 30:32] = 95.0
    assert enhancement_excess(image, OpeningSettings(above_white_matter=1.0))[
        10:50, 20:22, 30:32
    ].max() == pytest.approx(0.0)


@pytest.mark.parametrize(
    "settings", [{"radius_voxels": 0}, {"min_excess": -1.0}, {"grow_voxels": -1}]
)
def test_bad_settings_are_refused(settings):
    with pytest.raises(ValueError):
        OpeningSettings(**settings)


def test_an_image_empty_in_white_matter_is_refused():
    with pytest.raises(ValueError, match="white-matter prior"):
        white_matter_median(np.zeros(SHAPE, np.float32))


def test_bright_thin_structures_outside_the_skull_are_left_alone(tissue):
    """Scalp fat and marrow of a whole head: outside the template's brain and its margin."""
    image = tissue.copy()
    outside = ~intracranial_region(SHAPE, OpeningSettings().intracranial_margin_voxels)
    assert outside[:, :2].any()
    image[:, :2] = 180.0  # a thin bright sheet along one face of the field of view
    excess = enhancement_excess(image)
    assert excess[outside].max() == 0.0
