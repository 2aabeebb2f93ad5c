"""One derivatives dataset on the t1-linear grid, and its reports, shared by the report tests."""

from __future__ import annotations

import pytest

from ce2nce_pipeline.reports.build import write_reports

from .t1_linear_outputs import write_logs, write_session


@pytest.fixture(scope="session")
def derivatives(tmp_path_factory):
    """Three sessions: a plain one (with a crash file), a lesion erased, a volume outlier.

    sub-01 has a real nce, its synthetic close to it; sub-02's ce has an enhancing lesion deep
    in the white matter that the synthetic image removes, and a large flip sd; sub-03 has no
    real nce and its synthetic image's GM volume is 40% too large.
    """
    out = tmp_path_factory.mktemp("reports") / "derivatives"
    write_session(out, "01", seed=0)
    write_session(out, "02", lesion=True, seed=1)
    write_session(out, "03", real_nce=False, synthetic_gm_factor=1.4, seed=2)
    write_logs(out, crash_for="sub-01_ses-M000")
    return out


@pytest.fixture(scope="session")
def reports(derivatives):
    """Every report of the dataset, written once: (written, problems)."""
    return write_reports(derivatives)
