"""Tests of pair discovery, the seeded split and the network-grid volumes."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from ce2nce_pipeline.errors import InvalidInputError
from ce2nce_pipeline.science.resampling import minmax_scale, resample_to_shape
from ce2nce_pipeline.training.datasets import (
    PairedVolumeDataset,
    fallback_head_mask,
    load_brain_mask,
    prepare_volume,
)
from ce2nce_pipeline.training.pairs import (
    ImagePair,
    find_dataset_pairs,
    read_pairs_tsv,
    split_pairs,
)

from . import colin_nce, write_pairs

SMALL = (12, 14, 10)


def save(path, data, affine=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(
        nib.Nifti1Image(np.asarray(data, np.float32), np.eye(4) if affine is None else affine),
        path,
    )
    return path


def test_tsv_paths_are_relative_to_the_tsv(tmp_path):
    save(tmp_path / "img" / "a_ce.nii", np.random.default_rng(0).random(SMALL))
    save(tmp_path / "img" / "a.nii", np.random.default_rng(1).random(SMALL))
    save(tmp_path / "img" / "a_mask.nii", np.ones(SMALL))
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text(
        "participant_id\tce\tnce\tmask\tsplit\tnote\n"
        "sub-01\timg/a_ce.nii\timg/a.nii\timg/a_mask.nii\tVal\tignored\n"
    )
    (pair,) = read_pairs_tsv(tsv)
    assert pair.ce == tmp_path / "img" / "a_ce.nii" and pair.nce == tmp_path / "img" / "a.nii"
    assert pair.mask == tmp_path / "img" / "a_mask.nii" and pair.ce_mask is None
    assert pair.split == "validation" and pair.participant_id == "sub-01"
    assert pair.pair_id == "a_ce"


def test_tsv_errors_name_the_file_and_line(tmp_path):
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("ce\tnce\nmissing_ce.nii\tmissing.nii\n")
    with pytest.raises(InvalidInputError, match=r"pairs.tsv, line 2: ce file .*missing_ce.nii"):
        read_pairs_tsv(tsv)
    tsv.write_text("ce\tnc\na\tb\n")
    with pytest.raises(InvalidInputError, match=r"missing column\(s\) \['nce'\]"):
        read_pairs_tsv(tsv)
    with pytest.raises(InvalidInputError, match="no such TSV"):
        read_pairs_tsv(tmp_path / "nothing.tsv")
    save(tmp_path / "a.nii", np.ones(SMALL))
    tsv.write_text("ce\tnce\tsplit\na.nii\ta.nii\ttrain\na.nii\ta.nii\t\n")
    with pytest.raises(InvalidInputError, match="filled for some pairs only"):
        read_pairs_tsv(tsv)
    tsv.write_text("ce\tnce\na.nii\ta.nii\na.nii\ta.nii\n")
    with pytest.raises(InvalidInputError, match="appears twice"):
        read_pairs_tsv(tsv)


def test_dataset_pairs_ce_with_the_same_name_without_ce(tmp_path):
    suffix = "space-MNI152NLin2009cSym_res-1x1x1_desc-Crop_T1w.nii.gz"
    anat = tmp_path / "sub-01" / "ses-M000" / "anat"
    for name in (f"sub-01_ses-M000_ce-gadolinium_{suffix}", f"sub-01_ses-M000_{suffix}"):
        save(anat / name, np.ones(SMALL))
    # A ce image without its nce partner, and a partner in another folder: not paired.
    save(tmp_path / "sub-02" / "anat" / f"sub-02_ce-gado_{suffix}", np.ones(SMALL))
    save(tmp_path / "sub-02" / "other" / f"sub-02_{suffix}", np.ones(SMALL))
    (pair,) = find_dataset_pairs(tmp_path)
    assert pair.pair_id == "sub-01_ses-M000_ce-gadolinium"
    assert pair.nce == anat / f"sub-01_ses-M000_{suffix}"
    assert (pair.participant_id, pair.session_id) == ("sub-01", "ses-M000")
    with pytest.raises(InvalidInputError, match="no pair"):
        find_dataset_pairs(tmp_path / "sub-02")


def test_dataset_pairs_from_a_caps_folder_in_clinicas_names(tmp_path):
    suffix = "space-MNI152NLin2009cSym_desc-Crop_res-1x1x1_T1w.nii.gz"
    t1_linear = tmp_path / "subjects" / "sub-01" / "ses-M000" / "t1_linear"
    for name in (f"sub-01_ses-M000_ce-gadolinium_{suffix}", f"sub-01_ses-M000_{suffix}"):
        save(t1_linear / name, np.ones(SMALL))
    (pair,) = find_dataset_pairs(tmp_path)
    assert pair.pair_id == "sub-01_ses-M000_ce-gadolinium"
    assert pair.nce == t1_linear / f"sub-01_ses-M000_{suffix}"
    assert (pair.participant_id, pair.session_id) == ("sub-01", "ses-M000")


def pairs(count):
    return [ImagePair(f"p{i}", f"ce{i}", f"nce{i}") for i in range(count)]


def test_split_is_seeded_disjoint_and_complete():
    train, validation = split_pairs(pairs(10), 0.2, seed=3)
    assert len(validation) == 2 and len(train) == 8
    assert {p.pair_id for p in train} | {p.pair_id for p in validation} == {
        p.pair_id for p in pairs(10)
    }
    assert split_pairs(pairs(10), 0.2, seed=3) == (train, validation)
    assert split_pairs(pairs(10), 0.2, seed=4) != (train, validation)
    with pytest.raises(InvalidInputError, match="at least 2"):
        split_pairs(pairs(1), 0.2)
    assert len(split_pairs(pairs(2), 0.2)[1]) == 1


def test_split_column_wins_and_other_splits_are_left_out():
    marked = [
        ImagePair("a", "a", "a", split="train"),
        ImagePair("b", "b", "b", split="test"),
        ImagePair("c", "c", "c", split="validation"),
    ]
    train, validation = split_pairs(marked, 0.5, seed=0)
    assert [p.pair_id for p in train] == ["a"] and [p.pair_id for p in validation] == ["c"]
    with pytest.raises(InvalidInputError, match="0 validation"):
        split_pairs(marked[:2], 0.5)


def test_volumes_are_minmax_scaled_then_resampled_like_the_predictor(tmp_path):
    tsv = write_pairs(tmp_path, 1, with_masks=True)
    (pair,) = read_pairs_tsv(tsv)
    dataset = PairedVolumeDataset([pair], (32, 32, 32))
    item = dataset[0]
    nce, _ = colin_nce()
    expected = resample_to_shape(minmax_scale(nce)[0], (32, 32, 32))
    assert item["ce"].shape == (1, 32, 32, 32) and item["ce"].dtype == torch.float32
    np.testing.assert_array_equal(item["nce"][0].numpy(), expected)
    np.testing.assert_array_equal(prepare_volume(nce, (32, 32, 32)), expected)
    assert 0.0 <= item["ce"].min() and item["ce"].max() <= 1.0
    assert item["mask_source"] == "union(ce_mask, nce_mask)"
    assert item["mask"].dtype == torch.bool and 0.1 < item["mask"].float().mean() < 0.9
    assert dataset[0] is item  # cached


def test_volumes_off_the_t1_linear_grid_are_refused(tmp_path):
    save(tmp_path / "ce.nii", np.random.default_rng(0).random(SMALL))
    save(tmp_path / "nce.nii", np.random.default_rng(1).random(SMALL))
    pair = ImagePair("p", tmp_path / "ce.nii", tmp_path / "nce.nii")
    with pytest.raises(InvalidInputError, match="not on the t1-linear grid"):
        PairedVolumeDataset([pair], (8, 8, 8))[0]
    assert PairedVolumeDataset([pair], (8, 8, 8), check_grid=False)[0]["ce"].shape == (1, 8, 8, 8)
    shifted = np.eye(4)
    shifted[0, 3] = 5.0
    save(tmp_path / "nce.nii", np.random.default_rng(1).random(SMALL), shifted)
    with pytest.raises(InvalidInputError, match="not on the grid of its T1w-nce"):
        PairedVolumeDataset([pair], (8, 8, 8), check_grid=False)[0]


def test_fallback_is_a_head_mask_of_the_nce():
    nce, _ = colin_nce()
    mask = fallback_head_mask(nce)
    assert mask.shape == nce.shape and mask.dtype == bool
    assert 0.3 < mask.mean() < 0.8  # the head, not the background
    assert mask[84, 104, 90]  # the centre of the head
    pair = ImagePair("p", "ce", "nce")
    same, source = load_brain_mask(pair, nce.shape, nce)
    assert source == "otsu_head(nce)" and np.array_equal(same, mask)


def test_the_enhancement_only_target_is_the_ce_darkened_where_the_nce_is_darker(tmp_path):
    tsv = write_pairs(tmp_path, 1, with_masks=True)
    (pair,) = read_pairs_tsv(tsv)
    paper = PairedVolumeDataset([pair], (32, 32, 32), normalisation="white-matter")[0]
    item = PairedVolumeDataset(
        [pair], (32, 32, 32), normalisation="white-matter", target="ce-without-enhancement"
    )[0]
    ce, target = item["ce"][0].numpy(), item["nce"][0].numpy()
    np.testing.assert_array_equal(ce, paper["ce"][0].numpy())
    assert np.all(target <= ce + 1e-6)
    brain = item["mask"].numpy()
    # The test pairs' ce is the nce brightened smoothly (up to 50 %: mostly a change of scale,
    # which the histogram matching absorbs) and at spots: what is taken away is where the ce is
    # brightest relative to the nce (top tenth: 0.035, ten times the rest's 0.003).
    taken, ratio = (ce - target)[brain], (ce / (paper["nce"][0].numpy() + 1e-3))[brain]
    most_enhanced = ratio > np.percentile(ratio, 90)
    assert taken[most_enhanced].mean() > 5 * taken[~most_enhanced].mean() > 0
    assert np.median(taken) < 0.01 * np.median(ce[brain])
    # ... and the target keeps the ce's intensities, not the nce's.
    assert not np.allclose(target, paper["nce"][0].numpy(), atol=1e-3)
    with pytest.raises(ValueError, match="target must be one of"):
        PairedVolumeDataset([pair], (32, 32, 32), target="t1w")
