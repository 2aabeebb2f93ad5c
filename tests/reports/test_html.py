"""The report's tables and its run setting."""

from __future__ import annotations

from ce2nce_pipeline.cli.parser import parse_args
from ce2nce_pipeline.reports import html


def test_tables_escape_text_and_show_missing_values_as_na():
    table = html.table([{"a": "<b>", "b": float("nan"), "c": html.link("sub-01.html", "x")}])
    assert "&lt;b&gt;" in table and "<td>n/a</td>" in table
    assert '<a href="./sub-01.html">x</a>' in table


def test_reports_only_is_a_run_setting(tmp_path):
    bids = tmp_path / "bids"
    bids.mkdir()
    (bids / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.10.0"}')
    config = parse_args([str(bids), str(tmp_path / "out"), "group", "--reports-only"])
    assert config.reports_only
    assert not parse_args([str(bids), str(tmp_path / "out"), "group"]).reports_only
