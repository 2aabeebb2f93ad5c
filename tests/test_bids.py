"""Discovery and pairing of contrast-enhanced and non-enhanced T1w images with pybids."""

from __future__ import annotations

import logging

import pytest

from ce2nce_pipeline.bids import collect_t1w_images, entities_to_stem, pair_images, validate_label
from ce2nce_pipeline.errors import InvalidInputError

from .conftest import write_dataset


def test_session_with_both_ce_and_nce_is_kept_and_paired(tmp_path, colin27_tiny):
    root = write_dataset(
        tmp_path / "bids",
        {
            "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz": colin27_tiny,
            "sub-01/ses-M000/anat/sub-01_ses-M000_ce-gadolinium_T1w.nii.gz": colin27_tiny,
            "sub-01/ses-M024/anat/sub-01_ses-M024_ce-gado_T1w.nii.gz": colin27_tiny,
            "sub-02/ses-M000/anat/sub-02_ses-M000_T1w.nii.gz": colin27_tiny,
        },
    )
    images = collect_t1w_images(root)
    assert [image.image_id for image in images] == [
        "sub-01_ses-M000",
        "sub-01_ses-M000_ce-gadolinium",
        "sub-01_ses-M024_ce-gado",
        "sub-02_ses-M000",
    ]
    assert [image.contrast_agent for image in images] == [None, "gadolinium", "gado", None]
    pairs = pair_images(images)
    assert len(pairs) == 1
    assert pairs[0].ce.path.name == "sub-01_ses-M000_ce-gadolinium_T1w.nii.gz"
    assert pairs[0].nce.path.name == "sub-01_ses-M000_T1w.nii.gz"
    assert (
        pairs[0].ce.relative_path
        == "sub-01/ses-M000/anat/sub-01_ses-M000_ce-gadolinium_T1w.nii.gz"
    )


def test_dataset_without_sessions(tmp_path, colin27_tiny):
    root = write_dataset(
        tmp_path / "bids",
        {
            "sub-01/anat/sub-01_T1w.nii.gz": colin27_tiny,
            "sub-01/anat/sub-01_ce-gadolinium_T1w.nii.gz": colin27_tiny,
        },
    )
    images = collect_t1w_images(root)
    assert [image.session for image in images] == [None, None]
    (pair,) = pair_images(images)
    assert pair.ce.image_id == "sub-01_ce-gadolinium"
    assert pair.nce.image_id == "sub-01"


def test_contrast_from_sidecar_when_entity_missing(tmp_path, colin27_tiny, caplog):
    root = write_dataset(
        tmp_path / "bids",
        {
            "sub-01/anat/sub-01_acq-post_T1w.nii.gz": colin27_tiny,
            "sub-01/anat/sub-01_acq-pre_T1w.nii.gz": colin27_tiny,
        },
        sidecars={
            "sub-01/anat/sub-01_acq-post_T1w.json": {"ContrastBolusIngredient": "GADOLINIUM"}
        },
    )
    with caplog.at_level(logging.WARNING):
        images = collect_t1w_images(root)
    post, pre = images
    assert post.contrast_agent == "gadolinium" and post.contrast_from_sidecar
    assert pre.contrast_agent is None
    # Derivatives of the sidecar-only image carry the ce entity, in BIDS order.
    assert post.image_id == "sub-01_acq-post_ce-gadolinium"
    assert "ContrastBolusIngredient" in caplog.text
    # acq differs (post vs pre) and both carry it: no pair.
    assert pair_images(images) == []


def test_pairing_respects_run_when_both_carry_it(tmp_path, colin27_tiny):
    root = write_dataset(
        tmp_path / "bids",
        {
            "sub-01/anat/sub-01_run-1_T1w.nii.gz": colin27_tiny,
            "sub-01/anat/sub-01_run-2_T1w.nii.gz": colin27_tiny,
            "sub-01/anat/sub-01_ce-gd_run-2_T1w.nii.gz": colin27_tiny,
        },
    )
    (pair,) = pair_images(collect_t1w_images(root))
    assert pair.nce.path.name == "sub-01_run-2_T1w.nii.gz"


def test_participant_and_session_filters(tmp_path, colin27_tiny):
    root = write_dataset(
        tmp_path / "bids",
        {
            "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz": colin27_tiny,
            "sub-01/ses-M012/anat/sub-01_ses-M012_T1w.nii.gz": colin27_tiny,
            "sub-02/ses-M000/anat/sub-02_ses-M000_T1w.nii.gz": colin27_tiny,
        },
    )
    images = collect_t1w_images(root, ["01"], ["M012"])
    assert [image.image_id for image in images] == ["sub-01_ses-M012"]
    with pytest.raises(
        InvalidInputError, match="no participant.*sub-03.*available: sub-01, sub-02"
    ):
        collect_t1w_images(root, ["03"])


def test_no_t1w_is_an_input_error(tmp_path):
    root = write_dataset(tmp_path / "bids", {})
    with pytest.raises(InvalidInputError, match="no T1w image found"):
        collect_t1w_images(root)


@pytest.mark.parametrize(("label", "expected"), [("01", "01"), ("sub-01", "01"), ("ABC2", "ABC2")])
def test_valid_labels(label, expected):
    assert validate_label(label) == expected


@pytest.mark.parametrize("label", ["../01", "01/..", "a b", "sub-", "", "01_ses", "sub-0-1", "~"])
def test_labels_with_path_characters_are_refused(label):
    with pytest.raises(InvalidInputError, match="letters and digits"):
        validate_label(label)


def test_entities_follow_bids_order():
    stem = entities_to_stem(
        {"run": "1", "ceagent": "gd", "subject": "01", "acquisition": "mp", "session": "A"}
    )
    assert stem == "sub-01_ses-A_acq-mp_ce-gd_run-1"
