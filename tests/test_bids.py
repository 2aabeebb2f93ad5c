"""Discovery and pairing of contrast-enhanced and non-enhanced T1w images with pybids."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ce2nce_pipeline.bids import (
    collect_t1w_images,
    entities_to_stem,
    load_bids_filters,
    pair_images,
    validate_label,
)
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


# --- a dataset anywhere on disk --------------------------------------------------------------

_TWO_IMAGES = {
    "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz": "image",
    "sub-01/ses-M000/anat/sub-01_ses-M000_ce-gd_T1w.nii.gz": "image",
}


def _two_images(root, colin27_tiny):
    return write_dataset(root, {relative: colin27_tiny for relative in _TWO_IMAGES})


def _found(images):
    return [(image.image_id, image.relative_path, image.path.is_file()) for image in images]


_EXPECTED = [
    ("sub-01_ses-M000", "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.nii.gz", True),
    ("sub-01_ses-M000_ce-gd", "sub-01/ses-M000/anat/sub-01_ses-M000_ce-gd_T1w.nii.gz", True),
]


@pytest.mark.parametrize(
    "parents",
    ["perf/bids", "x/anat/ds", "sub-study/ses-2/bids", "my studies/raw data", "run-3_T1w/bids"],
)
def test_parent_folders_named_like_bids_entities_or_with_spaces(tmp_path, colin27_tiny, parents):
    root = _two_images(tmp_path / parents, colin27_tiny)
    images = collect_t1w_images(root)
    assert _found(images) == _EXPECTED
    assert all(str(image.path).startswith(str(root)) for image in images)
    assert collect_t1w_images(root, ["01"], ["M000"])[0].image_id == "sub-01_ses-M000"


def test_dataset_behind_symbolic_links(tmp_path, colin27_tiny):
    real = _two_images(tmp_path / "store" / "perf" / "real", colin27_tiny)
    link = tmp_path / "linked dataset"
    link.symlink_to(real, target_is_directory=True)
    # An image that is itself a link (git-annex, DataLad) to a file outside the dataset.
    annexed = real / "sub-02/anat/sub-02_T1w.nii.gz"
    annexed.parent.mkdir(parents=True)
    annexed.symlink_to(colin27_tiny)
    images = collect_t1w_images(link)
    assert _found(images) == [*_EXPECTED, ("sub-02", "sub-02/anat/sub-02_T1w.nii.gz", True)]
    assert all(str(image.path).startswith(str(link)) for image in images)


def test_dataset_given_as_a_relative_path(tmp_path, colin27_tiny, monkeypatch):
    _two_images(tmp_path / "anat" / "bids", colin27_tiny)
    monkeypatch.chdir(tmp_path / "anat")
    images = collect_t1w_images(Path("bids"))
    assert _found(images) == _EXPECTED
    assert all(image.path.is_absolute() for image in images)


def test_t1w_outside_anat_folders_is_not_an_anat_image(tmp_path, colin27_tiny):
    root = _two_images(tmp_path / "bids", colin27_tiny)
    stray = root / "sub-01/ses-M000/perf/sub-01_ses-M000_T1w.nii.gz"
    stray.parent.mkdir()
    stray.write_bytes(colin27_tiny.read_bytes())
    assert _found(collect_t1w_images(root)) == _EXPECTED


def test_excluded_files_and_unreadable_sidecars(tmp_path, colin27_tiny):
    root = _two_images(tmp_path / "bids", colin27_tiny)
    broken = root / "sub-01/ses-M000/anat/sub-01_ses-M000_T1w.json"
    broken.write_text('{"RepetitionTime": ')
    with pytest.raises(InvalidInputError, match="sub-01_ses-M000_T1w.json") as raised:
        collect_t1w_images(root)
    assert len(str(raised.value).splitlines()) == 1
    excluded = ["sub-01/ses-M000/anat/sub-01_ses-M000_T1w.json", _EXPECTED[0][1]]
    assert _found(collect_t1w_images(root, excluded=excluded)) == _EXPECTED[1:]


def _repeats_dataset(tmp_path, colin27_tiny):
    """A session with repeats and reformats: two nce (mprage, a localiser), a ce and its rec."""
    return write_dataset(
        tmp_path / "bids",
        {
            "sub-01/ses-M000/anat/sub-01_ses-M000_acq-mprage_T1w.nii.gz": colin27_tiny,
            "sub-01/ses-M000/anat/sub-01_ses-M000_acq-localiser_T1w.nii.gz": colin27_tiny,
            "sub-01/ses-M000/anat/sub-01_ses-M000_acq-mprage_ce-gd_T1w.nii.gz": colin27_tiny,
            "sub-01/ses-M000/anat/sub-01_ses-M000_acq-mprage_ce-gd_rec-sag_T1w.nii.gz": (
                colin27_tiny
            ),
            "sub-02/anat/sub-02_acq-mprage_run-1_T1w.nii.gz": colin27_tiny,
            "sub-02/anat/sub-02_acq-mprage_run-2_T1w.nii.gz": colin27_tiny,
        },
    )


def test_bids_filter_chooses_the_images_of_each_kind(tmp_path, colin27_tiny):
    root = _repeats_dataset(tmp_path, colin27_tiny)
    filters = load_bids_filters(
        _write_json(
            tmp_path / "filter.json",
            {
                "t1w": {"acquisition": "mprage", "run": [None, 2]},
                "t1w_ce": {"reconstruction": None, "ceagent": "*"},
            },
        )
    )
    images = collect_t1w_images(root, bids_filters=filters)
    assert [image.image_id for image in images] == [
        "sub-01_ses-M000_acq-mprage",
        "sub-01_ses-M000_acq-mprage_ce-gd",
        "sub-02_acq-mprage_run-2",  # run 2 asked as a number, named run-2
    ]
    (pair,) = pair_images(images)
    assert pair.nce.image_id == "sub-01_ses-M000_acq-mprage"


def test_bids_filter_query_applies_to_its_kind_only(tmp_path, colin27_tiny):
    root = _repeats_dataset(tmp_path, colin27_tiny)
    images = collect_t1w_images(root, bids_filters={"t1w_ce": {"reconstruction": "sag"}})
    names = [image.image_id for image in images]
    assert "sub-01_ses-M000_acq-mprage_ce-gd_rec-sag" in names
    assert "sub-01_ses-M000_acq-mprage_ce-gd" not in names
    assert "sub-01_ses-M000_acq-localiser" in names  # no t1w query: every nce kept


def test_bids_filter_matches_a_contrast_agent_found_in_the_sidecar(tmp_path, colin27_tiny):
    root = write_dataset(
        tmp_path / "bids",
        {
            "sub-01/anat/sub-01_acq-post_T1w.nii.gz": colin27_tiny,
            "sub-01/anat/sub-01_acq-pre_T1w.nii.gz": colin27_tiny,
        },
        sidecars={"sub-01/anat/sub-01_acq-post_T1w.json": {"ContrastBolusIngredient": "GD"}},
    )
    images = collect_t1w_images(root, bids_filters={"t1w_ce": {"ceagent": "gd"}})
    assert [image.image_id for image in images] == ["sub-01_acq-post_ce-gd", "sub-01_acq-pre"]


def test_a_filter_selecting_nothing_names_itself(tmp_path, colin27_tiny):
    root = _repeats_dataset(tmp_path, colin27_tiny)
    with pytest.raises(InvalidInputError) as raised:
        collect_t1w_images(
            root, bids_filters={"t1w": {"acquisition": "spgr"}}, filter_source="filter.json"
        )
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith('filter.json: query \'t1w\' {"acquisition": "spgr"}')
    assert "selects none of the 4 non-contrast T1w image(s)" in message


def _write_json(path, content):
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"t1w": {"acquisition": "mprage",}}', "not valid JSON (line 1"),
        ('["t1w"]', "is a JSON object of queries"),
        ({"bold": {"task": "rest"}}, "unknown query 'bold'; ce2nce reads 't1w'"),
        ({"t1w": "mprage"}, "query 't1w' must map entities to values"),
        ({"t1w": {"acq": "mprage"}}, "unknown entity 'acq'; known: acquisition"),
        ({"t1w_ce": {"ce": "gd"}}, "(the ce- entity is 'ceagent')"),
        ({"t1w": {"run": True}}, "true is not a label"),
        ({"t1w": {"run": []}}, "[] is not a label"),
    ],
)
def test_malformed_filter_files_get_one_line_naming_the_file(tmp_path, content, expected):
    path = _write_json(tmp_path / "filter.json", content)
    with pytest.raises(InvalidInputError) as raised:
        load_bids_filters(path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"--bids-filter-file {path}: ")
    assert expected in message


def test_a_missing_filter_file_is_named(tmp_path):
    with pytest.raises(InvalidInputError, match=r"nope.json: cannot read it \(No such file"):
        load_bids_filters(tmp_path / "nope.json")
