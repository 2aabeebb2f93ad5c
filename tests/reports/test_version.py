"""Outputs of another ce2nce version: the reports say so and still draw what they can."""

from __future__ import annotations

import pytest

from ce2nce_pipeline.reports.build import write_reports

from .t1_linear_outputs import write_logs, write_session

pytestmark = pytest.mark.slow


def test_outputs_of_another_version_are_named_in_the_report(tmp_path):
    write_session(tmp_path, "01", seed=0)
    write_logs(tmp_path, version="0.0.1")
    written, problems = write_reports(tmp_path, group=False)
    assert [path.name for path in written] == ["sub-01.html"]
    assert any("written by ce2nce 0.0.1" in line for line in problems)
    assert "written by ce2nce 0.0.1" in (tmp_path / "sub-01.html").read_text()
