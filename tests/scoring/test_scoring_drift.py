"""fraud_scoring.drift: PSI, reference bins and the top features, with expected values stated by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from fraud_scoring.drift import (
    bin_fractions,
    drift_report,
    feature_importance,
    load_reference,
    profile_psi,
    psi,
    reference_profile,
    top_features,
)
from fraud_scoring.model import SHIPPED_ARTIFACT

NAMES = ("a", "b", "c")


def _artifact(trees: list[dict[str, Any]], names: tuple[str, ...] = NAMES) -> dict[str, Any]:
    return {"features": list(names), "trees": trees}


def _tree(features: list[int], **extra: list[float]) -> dict[str, Any]:
    return {"feature": features, "threshold": [0.0] * len(features), **extra}


def test_psi_identical_distributions_is_zero() -> None:
    assert psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == pytest.approx(0.0, abs=1e-12)


def test_psi_shifted_distribution_matches_hand_computation() -> None:
    # (0.9 - 0.5) ln(0.9 / 0.5) + (0.1 - 0.5) ln(0.1 / 0.5) = 0.4 x 0.587787 + 0.4 x 1.609438
    assert psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.878890, abs=1e-6)
    assert psi([0.5, 0.5], [0.9, 0.1]) > 0.25


def test_psi_empty_bin_counts_as_epsilon() -> None:
    # The third bin was empty in training: (0.1 - 1e-4) ln(0.1 / 1e-4) = 0.0999 x 6.907755 = 0.690085,
    # plus (0.4 - 0.5) ln(0.4 / 0.5) = 0.022314 for the second bin.
    assert psi([0.5, 0.5, 0.0], [0.5, 0.4, 0.1]) == pytest.approx(0.712399, abs=1e-6)


def test_psi_refuses_share_lists_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="one length"):
        psi([0.5, 0.5], [1.0])


def test_bin_fractions_are_upper_inclusive_with_a_missing_bucket() -> None:
    # GIVEN edges 1 and 2: bins (-inf, 1], (1, 2], (2, inf), then missing
    profile = {"bins": [1.0, 2.0], "fractions": [0.5, 0.5, 0.0], "missing": 0.0}
    # WHEN binning 1 (on the edge), 1.5, 2 (on the edge), 3, None and NaN
    shares = bin_fractions(profile, [1.0, 1.5, 2.0, 3.0, None, float("nan")])
    # THEN each edge value stays in the bin it closes
    assert shares == [1 / 6, 2 / 6, 1 / 6, 2 / 6]


def test_reference_profile_deciles_of_a_uniform_feature() -> None:
    # GIVEN 100 rows: a = 1..100, b constant 7, c missing in 20 rows and 0/1 otherwise
    rows = [[float(i), 7.0, None if i <= 20 else float(i % 2)] for i in range(1, 101)]
    artifact = _artifact([_tree([0, 1, 2])])
    # WHEN profiling all three features
    reference = reference_profile(rows, [i / 100 for i in range(1, 101)], NAMES, artifact=artifact, top=3)
    a, b, c = (reference["features"][n] for n in NAMES)
    # THEN a has the nine decile edges 10, 20, ... 90 and a tenth of the rows per bin
    assert a["bins"] == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
    assert a["fractions"] == pytest.approx([0.1] * 10)
    assert a["missing"] == 0.0
    # AND the constant feature one edge, every row at or below it
    assert b == {"bins": [7.0], "fractions": [1.0, 0.0], "missing": 0.0}
    # AND the binary feature with missing values: edges 0 and 1, 40 zeros and 40 ones out of 100
    assert c["bins"] == [0.0, 1.0]
    assert c["fractions"] == pytest.approx([0.4, 0.4, 0.0])
    assert c["missing"] == pytest.approx(0.2)
    # AND the score's edges are its deciles too
    assert reference["score"]["bins"] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])


def test_constant_feature_psi_zero_when_unchanged_and_large_when_it_moves() -> None:
    profile = {"bins": [7.0], "fractions": [1.0, 0.0], "missing": 0.0}
    assert profile_psi(profile, [7.0] * 50) == pytest.approx(0.0, abs=1e-12)
    # Half the values now above the only edge: (0.5 - 1) ln(0.5) + (0.5 - 1e-4) ln(0.5 / 1e-4)
    # = 0.346574 + 0.4999 x 8.517193
    assert profile_psi(profile, [7.0] * 25 + [8.0] * 25) == pytest.approx(4.604318, abs=1e-6)


def test_missing_values_where_training_had_none_are_drift() -> None:
    profile = {"bins": [0.0], "fractions": [0.5, 0.5], "missing": 0.0}
    # 0.5 -> 0.4 twice and 0 -> 0.2 missing: 2 x 0.1 x ln(1.25) + (0.2 - 1e-4) ln(0.2 / 1e-4)
    # = 0.044629 + 0.1999 x 7.600902
    assert profile_psi(profile, [0.0] * 4 + [1.0] * 4 + [None] * 2) == pytest.approx(1.564049, abs=1e-6)


def test_top_features_by_split_count_then_position() -> None:
    # GIVEN c splits 3 times, a and b twice each, d never
    artifact = _artifact([_tree([2, 0, 2]), _tree([1, 2, 0, 1])], names=("a", "b", "c", "d"))
    # THEN c first, a before b on the tie (earlier position), d left out although top=4
    assert feature_importance(artifact) == {"a": 2.0, "b": 2.0, "c": 3.0, "d": 0.0}
    assert top_features(artifact, top=4) == ["c", "a", "b"]
    assert top_features(artifact, top=1) == ["c"]


def test_top_features_use_gain_when_every_tree_has_it() -> None:
    # GIVEN a splits twice with little gain, b once with a large gain
    artifact = _artifact([_tree([0, 1], gain=[1.0, 50.0]), _tree([0], gain=[2.0])])
    assert top_features(artifact, top=2) == ["b", "a"]


def test_drift_report_rates_and_psis() -> None:
    # GIVEN a reference where half the scores and half of feature a are at or below 0.5
    reference = {
        "score": {"bins": [0.5], "fractions": [0.5, 0.5], "missing": 0.0},
        "features": {"a": {"bins": [0.5], "fractions": [0.5, 0.5], "missing": 0.0}},
    }
    # WHEN 10 decisions (2 reviews, 1 decline), 10 scores 9 of them low, and a sample of 2 rows
    decisions = ["approve"] * 7 + ["review"] * 2 + ["decline"]
    report = drift_report(reference, [{"a": 0.0}, {"a": 1.0}], [0.1] * 9 + [0.9], decisions)
    # THEN
    assert report["transactions"] == 10 and report["scores"] == 10 and report["sampled"] == 2
    assert report["review_rate"] == 0.2 and report["decline_rate"] == 0.1
    assert report["score_psi"] == pytest.approx(0.878890, abs=1e-6)
    assert report["feature_psi"] == {"a": pytest.approx(0.0, abs=1e-12)}


def test_drift_report_without_traffic_has_no_values() -> None:
    reference = {"score": {"bins": [], "fractions": [1.0], "missing": 0.0}, "features": {}}
    report = drift_report(reference, [], [], [])
    assert report["score_psi"] is None and report["feature_psi"] == {}
    assert report["review_rate"] is None and report["decline_rate"] is None


def test_shipped_reference_belongs_to_the_shipped_model() -> None:
    # A retrained model.json without `python -m fraud_scoring.drift_reference` fails here (the
    # full rebuild takes minutes, so the tier checks what is cheap: version and feature choice).
    artifact = json.loads(Path(SHIPPED_ARTIFACT).read_text(encoding="utf-8"))
    version, reference = load_reference()
    assert version == artifact["model_version"]
    assert list(reference["features"]) == top_features(artifact)
    assert len(reference["features"]) == 10
    for profile in [reference["score"], *reference["features"].values()]:
        assert len(profile["fractions"]) == len(profile["bins"]) + 1
        assert math.fsum(profile["fractions"]) + profile["missing"] == pytest.approx(1.0)
