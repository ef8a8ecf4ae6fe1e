"""Builders shared by the tests/scoring modules (plain functions; no conftest, so module names
stay unique across test tiers)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from fraud_scoring.types import History, HistoryItem, Transaction

DAY = 86_400.0
# 2018-08-08T12:00:00Z, a Wednesday at noon.
T0 = 1_533_729_600.0


def tx(
    amount: float = 50.0, t: float = T0, customer: str = "c1", terminal: str = "t1", tx_id: str = "now"
) -> Transaction:
    return Transaction(tx_id, t, customer, terminal, amount)


def item(
    days_ago: float,
    amount: float = 50.0,
    *,
    customer: str = "c1",
    terminal: str = "t1",
    fraud: bool | None = False,
    label_time: float | None = None,
    tx_id: str | None = None,
    t: float = T0,
) -> HistoryItem:
    ts = t - days_ago * DAY
    return HistoryItem(
        tx_id or f"h{days_ago}-{customer}-{terminal}-{amount}", ts, amount, customer, terminal, fraud, label_time
    )


def history(customer: list[HistoryItem] | None = None, terminal: list[HistoryItem] | None = None) -> History:
    return History(tuple(customer or ()), tuple(terminal or ()))


@functools.lru_cache(maxsize=1)
def small_frame() -> Any:
    """A small simulated table (pandas), prepared for feature computation."""
    from fraud_scoring.dataset import prepare
    from fraud_scoring.simulator import simulate

    return prepare(simulate(3, small_config()))


def small_config() -> Any:
    from fraud_scoring.simulator import SimulatorConfig

    return SimulatorConfig(n_customers=300, n_terminals=600, n_days=60)


@functools.lru_cache(maxsize=1)
def small_artifact() -> dict[str, Any]:
    """A real artifact trained on the small table (cached; callers must not mutate it)."""
    import numpy as np

    from fraud_scoring import gbdt
    from fraud_scoring.dataset import feature_matrix, window_rows

    frame = small_frame()
    rows = window_rows(frame, "2018-05-08", 14)
    X = feature_matrix(frame, rows)
    y = frame["TX_FRAUD"].to_numpy()[rows]
    booster = gbdt.fit(X, y, seed=0, params={"num_boost_round": 20})
    artifact = gbdt.build_artifact(booster, {"data": "tests"}, {"train": {}}, "2026-01-01T00:00:00Z")
    assert np.isfinite(X).all()
    return artifact


def write_artifact(path: Path, artifact: dict[str, Any]) -> Path:
    path.write_text(json.dumps(artifact), encoding="utf-8")
    return path
