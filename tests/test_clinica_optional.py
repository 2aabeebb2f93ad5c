"""ce2nce without the ``clinica`` extra: nothing but the Clinica pipeline needs Clinica."""

from __future__ import annotations

import subprocess
import sys

WITHOUT_CLINICA = "import sys; sys.modules['clinica'] = None; "  # any `import clinica` fails


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_CLINICA + code],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_ce2nce_and_the_caps_graph_work_without_clinica():
    done = _python(
        "import ce2nce_pipeline.clinica, ce2nce_pipeline.clinica.caps, "
        "ce2nce_pipeline.clinica.graph, ce2nce_pipeline.cli.run, ce2nce_pipeline.workflows.base"
    )
    assert done.returncode == 0, done.stderr


def test_ce2nce_clinica_says_in_one_line_that_clinica_is_missing():
    done = _python("from ce2nce_pipeline.clinica import main; main()")
    assert done.returncode == 1
    assert done.stderr == (
        "ce2nce-clinica: Clinica is not installed; pip install 'ce2nce[clinica]'\n"
    )
