"""QC ratings from the reports: the images rated bad leave the group tables, bad files one line."""

from __future__ import annotations

import pandas as pd
import pytest

from ce2nce_pipeline.cli.group import run_group
from ce2nce_pipeline.cli.run import main
from ce2nce_pipeline.config import RunConfig
from ce2nce_pipeline.errors import InvalidInputError
from ce2nce_pipeline.group.ratings import RATING_COLUMNS, read_ratings

from .fake_derivatives import write_pair_session

SPACE = "space-MNI152NLin2009cSym_res-1x1x1"
HEADER = "\t".join(RATING_COLUMNS) + "\n"


def _synthetic(sub: str) -> str:
    return f"sub-{sub}_ses-M000_ce-gadolinium_{SPACE}_desc-synthetic_T1w.nii.gz"


def _nce(sub: str) -> str:
    return f"sub-{sub}_ses-M000_{SPACE}_desc-Crop_T1w.nii.gz"


@pytest.fixture
def derivatives(tmp_path):
    """Three sessions, each with a real ce/nce pair and the ce's synthetic nce."""
    bids = tmp_path / "bids"
    bids.mkdir()
    out = tmp_path / "out"
    for seed, sub in enumerate(("01", "02", "03")):
        write_pair_session(out, sub, seed=seed, ce_volumes=(630 + seed, 440, 190))
    return bids, out


def _group(bids, out, ratings=()):
    config = RunConfig(bids, out, "group", qc_ratings=tuple(ratings))
    code = run_group(config)
    group = out / "group"
    return code, (
        pd.read_csv(group / "features.tsv", sep="\t"),
        pd.read_csv(group / "validation" / "pairs.tsv", sep="\t"),
    )


def test_images_rated_bad_leave_the_statistics_and_one_line_says_how_many(
    derivatives, tmp_path, capsys
):
    bids, out = derivatives
    code, (features, pairs) = _group(bids, out)
    assert code == 0 and len(features) == 3 and (features["source_kind"] == "nce").all()
    before = len(pairs)
    capsys.readouterr()
    # Two files, as two reports download them: sub-01's synthetic and sub-02's real nce are bad.
    first, second = tmp_path / "sub-01_qc-ratings.tsv", tmp_path / "sub-02_qc-ratings.tsv"
    first.write_text(
        HEADER + f"sub-01\t{_nce('01')}\tgood\t\nsub-01\t{_synthetic('01')}\tbad\tblurred\n"
    )
    second.write_text(HEADER + f"sub-02\t{_nce('02')}\tbad\tmotion\n"
                      f"sub-02\t{_synthetic('02')}\tuncertain\t\n")  # fmt: skip
    code, (features, pairs) = _group(bids, out, [first, second])
    lines = [line for line in capsys.readouterr().err.splitlines() if "QC ratings" in line]
    assert lines == [
        "ce2nce group: QC ratings: 2 image(s) rated bad excluded from the statistics "
        "(4 image(s) rated, 2 bad)"
    ]
    # sub-02's volumes now come from its synthetic nce; the others keep their real nce.
    kinds = dict(zip(features["participant_id"], features["source_kind"], strict=True))
    assert kinds == {"sub-01": "nce", "sub-02": "synthetic", "sub-03": "nce"}
    # No pair of sub-02 (no real nce left); sub-01's pair is ce against nce only. Nothing is
    # reported missing: the exclusion is not a failure.
    assert code == 0
    labels = dict(zip(pairs["participant_id"], pairs["synthetic_label"], strict=True))
    assert before == 3 and pd.isna(labels["sub-01"]) and not pd.isna(labels["sub-03"])
    assert set(labels) == {"sub-01", "sub-03"}
    # The participant-level outputs are untouched: the next run without ratings has them all.
    code, (features, pairs) = _group(bids, out)
    assert len(pairs) == before and (features["source_kind"] == "nce").all()


def test_a_rated_bad_image_of_another_run_is_counted_apart(derivatives, tmp_path, capsys):
    bids, out = derivatives
    ratings = tmp_path / "ratings.tsv"
    ratings.write_text(HEADER + f"sub-09\t{_nce('09')}\tbad\t\n")
    _group(bids, out, [ratings])
    assert (
        "0 image(s) rated bad excluded from the statistics (1 image(s) rated, 1 bad); 1 rated "
        "bad not among the images of this run"
    ) in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty; expected a header line"),
        ("participant_id\timage\tcomment\n", "no column rating in the header line"),
        (HEADER + f"sub-01\t{_nce('01')}\tawful\t\n", "line 2: rating 'awful' is not one of"),
        (HEADER + "sub-01\tnotes.txt\tbad\t\n", "line 2: image 'notes.txt' is not the file"),
        (HEADER + f"sub-01\t{_nce('01')}\tbad\n", "line 2: 3 fields, the header has 4"),
        (HEADER + f"sub-01\t{_nce('01')}\tbad\t\tx\n", "line 2: 5 fields, the header has 4"),
        (
            HEADER + f"sub-01\t{_nce('01')}\tbad\t\nsub-01\t{_nce('01')}\tgood\t\n",
            "is rated 'bad' at",
        ),
    ],
)
def test_malformed_ratings_file_is_one_line(tmp_path, content, message):
    path = tmp_path / "ratings.tsv"
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=message) as raised:
        read_ratings([path])
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_command_line_refuses_a_malformed_ratings_file_before_any_work(
    derivatives, tmp_path, capsys
):
    bids, out = derivatives
    (bids / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.10.0"}')
    bad = tmp_path / "ratings.tsv"
    bad.write_text(HEADER + f"sub-01\t{_nce('01')}\tterrible\t\n")
    with pytest.raises(SystemExit) as raised:
        main([str(bids), str(out), "group", "--qc-ratings", str(bad)])
    assert raised.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"--qc-ratings {bad} line 2: rating 'terrible' is not one of" in err
    assert not (out / "group").exists()
    with pytest.raises(SystemExit):
        main([str(bids), str(out), "group", "--qc-ratings", str(tmp_path / "none.tsv")])
    assert "none.tsv: no such file" in capsys.readouterr().err


def test_ratings_at_the_participant_level_are_refused_in_one_line(derivatives, tmp_path, capsys):
    bids, out = derivatives
    (bids / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.10.0"}')
    ratings = tmp_path / "ratings.tsv"
    ratings.write_text(HEADER)
    with pytest.raises(SystemExit) as raised:
        main([str(bids), str(out), "participant", "--qc-ratings", str(ratings)])
    assert raised.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--qc-ratings is read by the group level" in err
