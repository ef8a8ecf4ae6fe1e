"""The benchmark CLI: contract, and scores that cannot depend on test-window labels."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pandas as pd
import pytest
from scoring_helpers import small_config

from fraud_scoring import benchmark
from fraud_scoring.simulator import simulate, write_csv

PROTOCOL = ["--train-start", "2018-05-08", "--train-days", "7", "--delay-days", "7", "--test-start", "2018-05-22"]


@functools.lru_cache(maxsize=1)
def _raw() -> pd.DataFrame:
    return simulate(3, small_config())


def _run(
    tmp_path: Path, frame: pd.DataFrame, name: str, *extra: str, capsys: pytest.CaptureFixture[str]
) -> tuple[dict, pd.DataFrame]:
    csv = tmp_path / f"{name}.csv"
    if "TX_FRAUD_SCENARIO" in frame.columns:
        write_csv(frame, csv)
    else:
        out = frame.loc[
            :, ["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD"]
        ].copy()
        out["TX_DATETIME"] = out["TX_DATETIME"].dt.strftime("%Y-%m-%d %H:%M:%S")
        out.to_csv(csv, index=False)
    scores = tmp_path / f"{name}-scores.csv"
    benchmark.main(["--transactions", str(csv), "--scores-out", str(scores), *PROTOCOL, *extra])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return result, pd.read_csv(scores)


def test_benchmark_retrain_prints_metrics_and_scores_every_test_transaction(tmp_path: Path, capsys) -> None:
    # GIVEN a small simulated CSV
    raw = _raw()
    # WHEN the benchmark runs with the default (retrain) model
    result, scores = _run(tmp_path, raw, "base", capsys=capsys)
    # THEN it prints the contract's keys and scores every transaction of the test week
    for key in ("auc_roc", "average_precision", "card_precision_at_100", "n_test", "n_fraud"):
        assert key in result
    test_week = raw[(raw["TX_DATETIME"] >= "2018-05-22") & (raw["TX_DATETIME"] < "2018-05-29")]
    assert sorted(scores["TRANSACTION_ID"]) == sorted(test_week["TRANSACTION_ID"])
    assert list(scores.columns) == ["TRANSACTION_ID", "SCORE"]
    assert scores["SCORE"].between(0, 1).all()
    assert 0 < result["n_test"] <= len(test_week)
    assert result["auc_roc"] > 0.7  # far better than chance even on tiny data


def test_benchmark_scores_ignore_test_labels_and_scenario(tmp_path: Path, capsys) -> None:
    # GIVEN the same data with every label from the test start on zeroed and no scenario column
    raw = _raw()
    _, base = _run(tmp_path, raw, "base", capsys=capsys)
    blind = raw.drop(columns=["TX_FRAUD_SCENARIO"])
    blind.loc[blind["TX_DATETIME"] >= "2018-05-22", "TX_FRAUD"] = 0
    # WHEN the benchmark runs on it
    result, scores = _run(tmp_path, blind, "blind", capsys=capsys)
    # THEN the scores are exactly the same
    pd.testing.assert_frame_equal(scores, base)
    assert result["n_fraud"] == 0
    assert result["auc_roc"] is None  # undefined with one class, printed as JSON null


def test_benchmark_shipped_model_runs(tmp_path: Path, capsys) -> None:
    result, scores = _run(tmp_path, _raw(), "shipped", "--model", "shipped", capsys=capsys)
    assert result["model"] == "shipped"
    assert result["model_version"].startswith("gbdt-")
    assert len(scores) == result["n_test_window"]


def test_benchmark_shipped_with_other_delay_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        benchmark.parse_args(["--transactions", "x", "--scores-out", "y", "--model", "shipped", "--delay-days", "3"])
