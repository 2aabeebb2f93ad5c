"""What can be checked of the Dockerfile, setup.cfg and README without a Docker engine."""

from __future__ import annotations

import configparser
import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _pins() -> dict[str, str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    pins = {}
    for requirement in config["options"]["install_requires"].split():
        name, _, version = requirement.partition("==")
        pins[name.lower()] = version
    return pins


def test_every_dependency_is_pinned():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    requirements = [r for r in config["options"]["install_requires"].splitlines() if r.strip()]
    assert requirements and all(
        re.fullmatch(r"[A-Za-z0-9_.-]+==[\w.]+", r.strip()) for r in requirements
    )


def test_dockerfile_runs_the_bids_app_on_a_pinned_base():
    instructions = _dockerfile()
    # The base is a build argument: a pinned official Python 3.11 image by default.
    assert instructions[0][0] == "ARG"
    name, _, default = instructions[0][1].partition("=")
    assert name == "BASE_IMAGE" and re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", default)
    assert instructions[1] == ("FROM", "${BASE_IMAGE}")
    arguments = dict(
        rest.partition("=")[::2] for keyword, rest in instructions if keyword == "ARG"
    )
    assert arguments["WHEELS"] == "pypi" and arguments["TORCH"] == "cpu"
    runs = [rest for keyword, rest in instructions if keyword == "RUN"]
    # The first step checks that the packages can come from somewhere.
    assert "check_build_sources.sh" in runs[0]
    assert "grep '^torch==' /tmp/requirements.txt" in " ".join(runs)  # setup.cfg's pin
    assert "mricron-data" in " ".join(runs)
    assert any("pip install --no-deps --no-build-isolation ." in run for run in runs)
    entrypoint = [rest for keyword, rest in instructions if keyword == "ENTRYPOINT"]
    assert entrypoint and json.loads(entrypoint[-1]) == ["ce2nce"]
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_build_context_holds_what_the_dockerfile_reads():
    """.dockerignore keeps the context small; it must let through every COPY and bind source."""
    kept = {
        line[1:].strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    text = (ROOT / "Dockerfile").read_text()
    sources = re.findall(r"source=([\w/.-]+)", text)
    for keyword, rest in _dockerfile():
        if keyword == "COPY":
            sources += shlex.split(rest)[:-1]
    assert sources
    for source in sources:
        assert any(source == k or source.startswith(f"{k}/") or k.startswith(f"{source}/")
                   for k in kept), f"{source} is left out of the build context"  # fmt: skip


def test_dockerfile_copies_only_what_exists():
    for keyword, rest in _dockerfile():
        if keyword == "COPY":
            *sources, _ = shlex.split(rest)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: missing"


def test_console_scripts_point_at_real_functions():
    import importlib

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    for line in config["options.entry_points"]["console_scripts"].split("\n"):
        if line.strip():
            name, _, target = (part.strip() for part in line.partition("="))
            module, _, function = target.partition(":")
            assert callable(getattr(importlib.import_module(module), function)), name


def test_readme_commands_are_makefile_targets_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test"):
        assert f"make {target}" in readme
        assert re.search(rf"^{target}:", makefile, re.MULTILINE)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.slow
def test_wheel_ships_the_default_model(tmp_path):
    """``pip install .`` (the Dockerfile's) carries the default model with its card."""
    import subprocess
    import sys
    import zipfile

    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("ce2nce*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("weights.safetensors", "metadata.json", "MODEL_CARD.md"):
        assert f"ce2nce_pipeline/data/default_model/{name}" in names
    assert "ce2nce_pipeline/clinica/info.json" in names  # Clinica's Pipeline reads it
    runs = " ".join(rest for keyword, rest in _dockerfile() if keyword == "RUN")
    assert "default_model_path" in runs  # the image build verifies the shipped checkpoint


def test_cluster_recipe_passes_only_options_ce2nce_knows():
    """The SLURM array task's ce2nce options exist, and its scripts parse as bash."""
    import subprocess

    from ce2nce_pipeline.cli.parser import build_parser

    folder = ROOT / "workflows" / "slurm"
    for script in ("submit.sh", "participant.sbatch", "group.sbatch"):
        assert subprocess.run(["bash", "-n", str(folder / script)], check=False).returncode == 0
    known = {option for action in build_parser()._actions for option in action.option_strings}
    text = (folder / "participant.sbatch").read_text()
    command = text[text.index("apptainer run") :]
    used = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", command.split('"$CE2NCE_SIF"', 1)[1]))
    assert used >= {"--participant-label", "--nprocs", "--plugin-args", "--device"}
    assert used <= known, used - known
