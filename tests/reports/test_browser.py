"""The reports opened in a real browser: Debian's headless Chromium.

For each report: no console message (the reports run no script, so any message is an error),
every ``<img>`` and ``<object>`` loaded with a non-zero size (checked from a probe page that
holds the report in a frame), and a screenshot that is not blank. Skipped, with the reason,
where ``chromium`` is not installed (``make system-deps`` installs it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Debian's chromium is not installed (apt-get install chromium; make system-deps)",
    ),
]
#: Headless, offline, no first-run or background traffic (this machine has no network).
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
)  # fmt: skip
PROBE = """<!DOCTYPE html><html><body><div id="result">pending</div>
<iframe id="report" src="{report}" style="width: 1400px; height: 900px"></iframe>
<script>
function check() {{
  const doc = document.getElementById("report").contentDocument;
  const found = [];
  for (const img of doc.querySelectorAll("img")) {{
    found.push([img.getAttribute("src"), img.complete && img.naturalWidth > 0]);
  }}
  for (const obj of doc.querySelectorAll("object")) {{
    const root = obj.contentDocument && obj.contentDocument.documentElement;
    const box = obj.getBoundingClientRect();
    found.push([obj.getAttribute("data"),
                !!root && root.tagName === "svg" && box.width > 0 && box.height > 0]);
  }}
  document.getElementById("result").textContent = JSON.stringify(found);
}}
document.getElementById("report").addEventListener("load", () => setTimeout(check, 200));
</script></body></html>
"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def _loaded_elements(report: Path, tmp_path: Path) -> list[tuple[str, bool]]:
    probe = tmp_path / "probe.html"
    probe.write_text(PROBE.format(report=report.as_uri()), encoding="utf-8")
    result = _chromium(
        tmp_path, "--allow-file-access-from-files", "--virtual-time-budget=30000",
        "--dump-dom", probe.as_uri(),
    )  # fmt: skip
    match = re.search(r'<div id="result">([^<]*)</div>', result.stdout)
    assert match and match.group(1) != "pending", result.stderr[-2000:]
    return [tuple(item) for item in json.loads(match.group(1).replace("&quot;", '"'))]


def _not_blank(screenshot: Path) -> None:
    from PIL import Image

    pixels = np.asarray(Image.open(screenshot).convert("L"), dtype=np.float32)
    assert pixels.std() > 20  # text, tables and brain slices, not one colour
    assert len(np.unique(pixels)) > 50


@pytest.mark.parametrize("name", ["sub-01.html", "sub-03.html", "group.html"])
def test_report_loads_in_chromium(derivatives, reports, tmp_path, name):
    report = derivatives / name
    opened = _chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom",
                       report.as_uri())  # fmt: skip
    assert opened.returncode == 0, opened.stderr[-2000:]
    console = [line for line in opened.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    elements = _loaded_elements(report, tmp_path)
    if name.startswith("sub-"):
        assert len(elements) >= 5
    assert [source for source, loaded in elements if not loaded] == []
    screenshot = tmp_path / "screenshot.png"
    shot = _chromium(tmp_path, "--window-size=1280,2000", f"--screenshot={screenshot}",
                     report.as_uri())  # fmt: skip
    assert shot.returncode == 0 and screenshot.stat().st_size > 0, shot.stderr[-2000:]
    _not_blank(screenshot)
