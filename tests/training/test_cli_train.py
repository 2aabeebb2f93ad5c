"""Tests of ``ce2nce-train``: recipe in, run folder out, one-line errors."""

from __future__ import annotations

import pytest

from ce2nce_pipeline.cli.train import build_parser, main
from ce2nce_pipeline.training import read_log

from . import smooth_rows, write_small_pairs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def recipe(tmp_path):
    write_small_pairs(tmp_path / "data", smooth_rows())
    path = tmp_path / "recipe.toml"
    path.write_text(
        """
[run]
output_dir = "runs/a"
progress = false

[data]
pairs_tsv = "data/pairs.tsv"
network_shape = [16, 16, 16]
check_grid = false

[model]
architecture = "att_unet"
preset = "tiny"
kwargs = { base_channels = 2, depth = 2 }

[optimization]
epochs = 2
learning_rate = 1e-3
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_trains_in_chunks_and_resumes(tmp_path, recipe, capsys):
    assert main([str(recipe), "--max-steps", "3", "-q"]) == 0
    out = capsys.readouterr().out
    assert "Stopped after 3 step(s)" in out and "run the same command again" in out
    assert main([str(recipe), "-q"]) == 0
    out = capsys.readouterr().out
    assert "Finished 2 epoch(s)" in out
    run = tmp_path / "runs" / "a"
    assert (run / "best" / "metadata.json").is_file() and (run / "model_card.md").is_file()
    assert [r["epoch"] for r in read_log(run / "log.tsv")] == ["0", "1", "2"]
    # Options override the recipe: a new folder, one more epoch.
    assert main([str(recipe), "--output-dir", str(tmp_path / "b"), "--epochs", "1", "-q"]) == 0
    assert "Finished 1 epoch(s)" in capsys.readouterr().out


def test_settings_errors_are_one_line_with_exit_code_1(tmp_path, recipe, capsys):
    recipe.write_text(recipe.read_text().replace("epochs = 2", "epoch = 2"))
    assert main([str(recipe)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("ce2nce-train: error: ") and "\n" not in err
    assert "unknown key 'epoch' in [optimization]" in err
    assert main([str(tmp_path / "missing.toml")]) == 1
    assert "no such configuration file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [[], ["r.toml", "--epochs", "0"], ["r.toml", "--max-minutes", "-1"], ["r.toml", "--bogus"]],
)
def test_usage_errors_are_one_line_with_exit_code_2(argv, capsys):
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ce2nce-train: error: ") and "\n" not in err


def test_parser_documents_its_options():
    text = build_parser().format_help()
    for option in ("--max-steps", "--max-minutes", "--device", "--no-resume", "--output-dir"):
        assert option in text
