"""The participant report's line about the gadolinium detector."""

from __future__ import annotations

from ce2nce_pipeline.reports.subject import gadolinium_line


def test_a_contradicted_label_is_said_in_the_line():
    line = gadolinium_line({
        "GadoliniumProbability": 0.9712,
        "GadoliniumDetection": {"Label": "nce", "Threshold": 0.5, "ContrastMismatch": True},
    })  # fmt: skip
    assert line == (
        "gadolinium probability 0.9712 (threshold 0.5), labelled non-contrast: the detector "
        "contradicts the label (qc_contrast_mismatch)"
    )


def test_agreement_n_a_and_old_sidecars():
    agree = {
        "GadoliniumProbability": 0.99,
        "GadoliniumDetection": {"Label": "ce", "Threshold": 0.5, "ContrastMismatch": False},
    }
    assert gadolinium_line(agree).endswith("labelled contrast-enhanced: the detector agrees")
    unjudged = {
        "GadoliniumProbability": "n/a",
        "GadoliniumDetection": {"Reason": "correlation with the template 0.41 < 0.55"},
    }
    assert gadolinium_line(unjudged) == (
        "gadolinium probability n/a: correlation with the template 0.41 < 0.55"
    )
    assert "no gadolinium probability" in gadolinium_line({})
