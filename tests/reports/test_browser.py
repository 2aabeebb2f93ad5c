"""The reports opened in a real browser: Debian's headless Chromium.

For each report: no console message (the only script, the QC ratings, logs nothing),
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


class _DevTools:
    """Chromium driven through its DevTools protocol on a pipe (``--remote-debugging-pipe``).

    Messages are JSON, each ended by a NUL byte: Chromium reads them on its file descriptor 3
    and answers on 4. No port is opened.
    """

    def __init__(self, profile: Path):
        import os

        to_chromium, self._to_chromium = os.pipe()
        self._from_chromium, from_chromium = os.pipe()

        def descriptors() -> None:  # in the child, before exec
            os.dup2(to_chromium, 3)
            os.dup2(from_chromium, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}"],
            preexec_fn=descriptors, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_chromium)
        os.close(from_chromium)
        self._buffer, self._count = b"", 0

    def send(self, method: str, session: str | None = None, **params) -> dict:
        import os

        self._count += 1
        message = {"id": self._count, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chromium, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._count:
                assert "error" not in reply, reply
                return reply["result"]

    def _receive(self) -> dict:
        import os
        import select

        while b"\0" not in self._buffer:
            assert select.select([self._from_chromium], [], [], 60)[0], "Chromium is silent"
            chunk = os.read(self._from_chromium, 1 << 16)
            assert chunk, "Chromium closed its pipe"
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def evaluate(self, session: str, expression: str):
        result = self.send(
            "Runtime.evaluate", session, expression=expression, returnByValue=True,
            awaitPromise=True,
        )  # fmt: skip
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def click(self, session: str, selector: str) -> None:
        """A real mouse click (pressed, released) in the middle of the element."""
        x, y = self.evaluate(session, f"""(() => {{
            const element = document.querySelector({json.dumps(selector)});
            element.scrollIntoView({{block: "center"}});
            const box = element.getBoundingClientRect();
            return [box.x + box.width / 2, box.y + box.height / 2];
        }})()""")  # fmt: skip
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", session, type=kind, x=x, y=y,
                      button="left", clickCount=1)  # fmt: skip

    def close(self) -> None:
        import contextlib

        with contextlib.suppress(Exception):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def test_ratings_are_clicked_and_downloaded_as_a_tsv(derivatives, reports, tmp_path):
    """Rate two images with the mouse, type a comment, download: the file the group reads."""
    import time

    from ce2nce_pipeline.group.ratings import RATING_COLUMNS, read_ratings

    report = derivatives / "sub-01.html"
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser = _DevTools(tmp_path / "devtools-profile")
    try:
        browser.send("Browser.setDownloadBehavior", behavior="allow",
                     downloadPath=str(downloads))  # fmt: skip
        target = browser.send("Target.createTarget", url=report.as_uri())["targetId"]
        page = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        deadline = time.monotonic() + 60
        # A new tab holds about:blank, already "complete", until the report's navigation commits.
        uri = json.dumps(report.as_uri())
        loaded = f'document.readyState === "complete" && location.href === {uri}'
        while not browser.evaluate(page, loaded):
            assert time.monotonic() < deadline, "the report did not load"
            time.sleep(0.2)
        forms = browser.evaluate(
            page, "[...document.querySelectorAll('fieldset.qc-rating')]"
            ".map(f => f.getAttribute('data-image'))",
        )  # fmt: skip
        nce = next(name for name in forms if "_ce-" not in name)
        synthetic = next(name for name in forms if "desc-synthetic_T1w" in name)
        browser.click(page, f'fieldset[data-image="{nce}"] input[value="good"]')
        browser.click(page, f'fieldset[data-image="{synthetic}"] input[value="uncertain"]')
        browser.click(page, f'fieldset[data-image="{synthetic}"] input[value="bad"]')
        browser.click(page, f'fieldset[data-image="{synthetic}"] input.qc-comment')
        browser.send("Input.insertText", page, text="sinus left\tin place")
        browser.click(page, "#qc-ratings-download")
        saved = downloads / "sub-01_qc-ratings.tsv"
        while not saved.is_file():
            assert time.monotonic() < deadline, f"nothing downloaded: {list(downloads.iterdir())}"
            time.sleep(0.2)
        status = browser.evaluate(page, "document.getElementById('qc-ratings-status').textContent")
    finally:
        browser.close()
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == list(RATING_COLUMNS)
    rows = {line.split("\t")[1]: line.split("\t") for line in lines[1:]}
    assert set(rows) == set(forms) and len(forms) >= 3  # nce, ce and synthetic of sub-01
    assert rows[nce] == ["sub-01", nce, "good", ""]
    assert rows[synthetic] == ["sub-01", synthetic, "bad", "sinus left in place"]
    assert {row[2] for name, row in rows.items() if name not in (nce, synthetic)} == {"n/a"}
    assert status == f"2 of {len(forms)} image(s) rated, saved as sub-01_qc-ratings.tsv"
    ratings = read_ratings([saved])  # what the group level reads
    rated = ratings[synthetic]
    assert (rated.rating, rated.comment) == ("bad", "sinus left in place")
