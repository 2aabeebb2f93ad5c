"""A small variant of the README's demo runs end to end (2 mm images)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ce2nce_pipeline.bids import collect_t1w_images, pair_images
from ce2nce_pipeline.bids_validation import validate_dataset
from ce2nce_pipeline.cli.demo import main
from ce2nce_pipeline.models.default import DEFAULT_MODEL_NAME

pytestmark = pytest.mark.slow


def test_small_demo_runs_and_writes_valid_derivatives(tmp_path, capsys):
    # Template masks: HD-BET, the default and the dearest step, runs end to end in the
    # real-pair participant test and in the container test; here the demo's dataset, graph
    # and group level are what is tested.
    assert main([str(tmp_path), "--size", "small", "--mask-backend", "template"]) == 0
    images = collect_t1w_images(tmp_path / "bids")
    ce = [image for image in images if image.is_contrast_enhanced]
    nce = [image for image in images if not image.is_contrast_enhanced]
    # CDW-like: every subject has a ce image, one session has no nce, others are pairs.
    assert len(ce) == 3 and len(nce) == 2 and len(pair_images(images)) == 2
    out = tmp_path / "derivatives" / "ce2nce"
    crops = sorted(out.rglob("*_res-1x1x1_desc-Crop_T1w.nii.gz"))
    assert len(crops) == len(images)
    assert validate_dataset(tmp_path / "bids") == []
    assert validate_dataset(out) == []
    # Every ce image was translated by the shipped default model.
    synthetic = sorted(out.rglob("*_res-1x1x1_desc-synthetic_T1w.nii.gz"))
    assert len(synthetic) == 3
    sidecar = json.loads(synthetic[0].with_name(synthetic[0].name[:-7] + ".json").read_text())
    assert sidecar["TranslationModel"]["Model"] == DEFAULT_MODEL_NAME
    features = (out / "group" / "features.tsv").read_text().splitlines()
    # Header + one row per session: real nce where there is one, synthetic for the ce-only one.
    assert len(features) == 1 + 3
    table = pd.read_csv(out / "group" / "features.tsv", sep="\t")
    assert table["source_kind"].tolist().count("synthetic") == 1
    assert (out / "group" / "validation" / "table2_rAD.tsv").is_file()
    captured = capsys.readouterr()
    assert str(out) in captured.out
    assert "no real T1w-nce and no synthetic T1w-nce" not in captured.err
    # Progress while it runs, and no library's warning (ANTsPy's units warning, per image).
    assert "ce2nce: 5/5 images done (" in captured.err
    assert "NIftI" not in captured.out + captured.err
