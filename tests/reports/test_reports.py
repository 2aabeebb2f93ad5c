"""The per-participant and group reports, on real-sized t1-linear outputs."""

from __future__ import annotations

import math
import re

import pytest

from ce2nce_pipeline.cli.run import main
from ce2nce_pipeline.group.collect import collect_sessions
from ce2nce_pipeline.group.qc import all_synthetic_qc

pytestmark = pytest.mark.slow

SP = "space-MNI152NLin2009cSym"


def test_qc_flags_single_out_the_bad_synthetic_images(derivatives):
    sessions, _ = collect_sessions(derivatives)
    flags = {qc.participant_id: qc for qc in all_synthetic_qc(sessions)}
    assert flags["sub-01"].raised == []
    # The erased lesion is removal inside the parenchyma; its flip sd is 6x sub-01's.
    assert flags["sub-02"].values["qc_unexpected_removal"] > 0.25
    assert flags["sub-01"].values["qc_unexpected_removal"] < 0.05
    assert set(flags["sub-02"].raised) == {"unexpected_removal", "flip_uncertain"}
    assert flags["sub-02"].values["qc_flip_uncertainty_percent"] == pytest.approx(
        6 * flags["sub-01"].values["qc_flip_uncertainty_percent"], rel=0.05
    )
    # 40% more GM in sub-03's synthetic image: its GM fraction is far from the group's.
    assert flags["sub-03"].raised == ["volume_outlier"]
    assert abs(flags["sub-03"].values["z_GM_fraction"]) > 3
    assert math.isfinite(flags["sub-01"].values["qc_volume_max_abs_z"])


def test_each_participant_gets_a_report_with_its_figures(derivatives, reports):
    written, problems = reports
    names = sorted(path.name for path in written)
    assert names == ["group.html", "sub-01.html", "sub-02.html", "sub-03.html"]
    page = (derivatives / "sub-01.html").read_text()
    figures = re.findall(r'(?:data|src)="\./([^"]+\.svg)"', page)
    ce = f"sub-01_ses-M000_ce-gadolinium_{SP}"
    expected = {
        f"sub-01/figures/sub-01_ses-M000_{SP}_desc-t1linear_T1w.svg",
        f"sub-01/figures/sub-01_ses-M000_{SP}_desc-tissues_dseg.svg",
        *(f"sub-01/figures/{ce}_desc-{d}_T1w.svg" for d in
          ("t1linear", "synthetic", "realnce", "enhancement")),
        f"sub-01/figures/{ce}_desc-tissues_dseg.svg",
        f"sub-01/figures/{ce}_desc-synthetictissues_dseg.svg",
    }  # fmt: skip
    assert set(figures) == expected
    for figure in figures:
        assert (derivatives / figure).stat().st_size > 10_000
    # sub-03 has no real nce: no real-nce flicker, and the summary says so.
    assert "desc-realnce" not in (derivatives / "sub-03.html").read_text()


def test_a_report_is_offline_and_small(derivatives, reports):
    for participant in ("sub-01", "sub-02"):
        page = (derivatives / f"{participant}.html").read_text()
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?:', page)
        size = (derivatives / f"{participant}.html").stat().st_size + sum(
            path.stat().st_size for path in (derivatives / participant / "figures").iterdir()
        )
        assert size < 5 * 1024**2


def test_report_shows_flags_volumes_crashes_and_methods(derivatives, reports):
    page = (derivatives / "sub-01.html").read_text()
    assert "crash-20260101-000000-root-translate-1.txt" in page
    assert "the image is constant" in page
    assert "Results included in this manuscript come from ce2nce." in page
    assert "GM (cm³)" in page and "qc_" not in page.split("QC flags")[0][-50:]
    assert "unexpected_removal" in page and "flag-ok" in page
    assert "20260101-000000_abc" in page  # the run's settings
    # Sidecars written before the gadolinium detector: the line says there is no probability.
    assert "Gadolinium detector" in page and "no gadolinium probability in the sidecar" in page
    assert "flag-raised" in (derivatives / "sub-02.html").read_text()
    assert "crash-" not in (derivatives / "sub-02.html").read_text()


def test_group_report_lists_every_session_flag_and_failure(derivatives, reports):
    page = (derivatives / "group.html").read_text()
    for participant in ("sub-01", "sub-02", "sub-03"):
        assert f"{participant}.html" in page
    assert "sub-02_ses-M000_ce-gadolinium: unexpected_removal" in page
    assert "sub-03_ses-M000_ce-gadolinium: volume_outlier" in page
    assert "the image is constant" in page
    assert "features.tsv: not written" in page  # the group level has not run here


def test_reports_only_recomputes_nothing(derivatives, reports, capsys):
    before = {p: p.stat().st_mtime_ns for p in derivatives.rglob("*.nii.gz")}
    bids = derivatives.parent / "bids"
    bids.mkdir(exist_ok=True)
    (bids / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.10.0"}')
    code = main([str(bids), str(derivatives), "group", "--reports-only"])
    assert code == 0
    assert {p: p.stat().st_mtime_ns for p in derivatives.rglob("*.nii.gz")} == before
    assert not (derivatives / "group" / "features.tsv").exists()
    assert "1 report(s) rebuilt" in capsys.readouterr().err


def test_empty_or_other_version_output_folder_is_one_line(tmp_path, capsys):
    bids = tmp_path / "bids"
    bids.mkdir()
    (bids / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.10.0"}')
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(bids), str(empty), "participant", "--reports-only"]) == 1
    err = capsys.readouterr().err
    assert f"no participant-level outputs in {empty}" in err
    assert "no participant-level outputs" in (empty / "group.html").read_text()
    assert main([str(bids), str(tmp_path / "absent"), "group", "--reports-only"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0]
