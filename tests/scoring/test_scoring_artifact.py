"""Artifact validation: load fails clearly, at load time, on anything wrong."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scoring_helpers import small_artifact, small_frame, write_artifact

from fraud_scoring import ArtifactError, Scorer
from fraud_scoring.features import FEATURE_NAMES
from fraud_scoring.model import SHIPPED_ARTIFACT, load_model, validate_artifact


def _mutated(**changes: Any) -> dict[str, Any]:
    artifact = copy.deepcopy(small_artifact())
    artifact.update(changes)
    return artifact


def test_load_missing_file_raises_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not found"):
        Scorer.load(tmp_path / "nope.json")


def test_load_corrupt_json_raises_artifact_error(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(small_artifact())[:-40], encoding="utf-8")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_model(path)


def test_load_binary_garbage_raises_artifact_error(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ArtifactError, match=r"cannot be read|not valid JSON"):
        load_model(path)


def test_load_feature_list_mismatch_raises_artifact_error(tmp_path: Path) -> None:
    features = [*FEATURE_NAMES[:-1], "some_new_feature"]
    path = write_artifact(tmp_path / "m.json", _mutated(features=features))
    with pytest.raises(ArtifactError, match=r"feature list does not match.*some_new_feature"):
        load_model(path)


def test_load_feature_order_mismatch_raises_artifact_error() -> None:
    features = list(reversed(FEATURE_NAMES))
    with pytest.raises(ArtifactError, match="order only"):
        validate_artifact(_mutated(features=features))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": 99}, "not supported"),
        ({"feature_schema_version": 0}, "feature schema v0"),
        ({"label_delay_days": 3}, "3-day label delay"),
        ({"model_type": "neural_net"}, "unsupported model"),
        ({"model_version": ""}, "model_version"),
        ({"trees": []}, "non-empty list"),
        ({"base_score": "0; import os"}, "base_score must be a finite number"),
    ],
)
def test_validate_bad_header_raises_artifact_error(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ArtifactError, match=message):
        validate_artifact(_mutated(**changes))


def test_validate_missing_key_raises_artifact_error() -> None:
    artifact = _mutated()
    del artifact["created_at"]
    with pytest.raises(ArtifactError, match=r"missing key.*created_at"):
        validate_artifact(artifact)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("threshold", "__import__('os')", "finite number"),
        ("threshold", float("nan"), "finite number"),
        ("feature", 999, "feature index"),
        ("left", 10_000, "out of range"),
        ("left", 0, "revisited"),
        ("value", [], "leaf count"),
    ],
)
def test_validate_bad_tree_raises_artifact_error(field: str, value: Any, message: str) -> None:
    artifact = _mutated()
    tree = next(t for t in artifact["trees"] if t["feature"])
    if field == "value":
        tree["value"] = value
    else:
        tree[field][0] = value
    with pytest.raises(ArtifactError, match=message):
        validate_artifact(artifact)


def test_compiled_ensemble_matches_lightgbm_predictions() -> None:
    # GIVEN a LightGBM booster and its exported artifact
    from fraud_scoring import gbdt
    from fraud_scoring.dataset import feature_matrix, window_rows

    frame = small_frame()
    rows = window_rows(frame, "2018-05-08", 14)
    X = feature_matrix(frame, rows)
    booster = gbdt.fit(X, frame["TX_FRAUD"].to_numpy()[rows], seed=1, params={"num_boost_round": 15})
    model = validate_artifact(gbdt.build_artifact(booster, {}, {}, "x"))
    # WHEN both predict the same rows
    ours = np.array([model.predict(tuple(r)) for r in X[:2000].tolist()])
    theirs = booster.predict(X[:2000])
    # THEN they agree to floating-point rounding
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_shipped_artifact_loads_and_is_small() -> None:
    model = load_model()
    assert SHIPPED_ARTIFACT.stat().st_size < 2_000_000
    assert model.version.startswith("gbdt-")
    meta = model.metadata
    assert meta["training"]["simulator"]["seeds"]
    assert "validation" in meta["metrics"]
    assert meta["created_at"]
