"""Outputs of another ce2nce version: the reports say so instead of failing."""

from __future__ import annotations

from ce2nce_pipeline.reports.build import write_reports

from .t1_linear_outputs import write_logs


def test_outputs_of_another_version_are_named_in_the_report(tmp_path):
    write_logs(tmp_path, version="0.0.1")
    written, problems = write_reports(tmp_path)
    assert [path.name for path in written] == ["group.html"]
    assert any("written by ce2nce 0.0.1" in line for line in problems)
    page = (tmp_path / "group.html").read_text()
    assert "written by ce2nce 0.0.1" in page
    assert f"no participant-level outputs in {tmp_path}" in page
    assert "20260101-000000_abc" in page  # the run recorded in logs/ is still listed
