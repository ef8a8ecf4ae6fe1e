"""Training is deterministic for a seed and records how the artifact was made."""

from __future__ import annotations

from pathlib import Path

from fraud_scoring import train
from fraud_scoring.model import load_model

SMALL = ["--seeds", "4", "--customers", "150", "--terminals", "300", "--days", "45", "--no-validation"]


def test_train_same_seed_same_artifact_bytes(tmp_path: Path) -> None:
    # GIVEN two runs with the same arguments
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    # WHEN both train
    train.main([*SMALL, "--out", str(a), "--created-at", "2026-01-01T00:00:00Z"])
    train.main([*SMALL, "--out", str(b), "--created-at", "2026-01-01T00:00:00Z"])
    # THEN the artifacts are byte-identical, load, and say how they were made
    assert a.read_bytes() == b.read_bytes()
    model = load_model(a)
    training = model.metadata["training"]
    assert training["simulator"]["seeds"] == [4]
    assert training["command"].startswith("python -m fraud_scoring.train --seeds 4")
    assert model.metadata["created_at"] == "2026-01-01T00:00:00Z"
    assert 0.5 < model.metadata["metrics"]["train"]["auc_roc"] <= 1.0


def test_train_created_at_from_source_date_epoch(monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    assert train._created_at(None) == "2026-01-01T00:00:00Z"
    assert train._created_at("2020-02-02T00:00:00Z") == "2020-02-02T00:00:00Z"
