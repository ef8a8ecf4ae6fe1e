"""The promotion gate, the model card and one retraining cycle (train, gate, publish, promote)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from scoring_helpers import small_frame

from fraud_scoring import Scorer
from fraud_scoring.card import render_html
from fraud_scoring.drift import load_reference
from fraud_scoring.features import FEATURE_NAMES
from fraud_scoring.gate import Margins, Windows, evaluate_models, gate
from fraud_scoring.model import Model
from fraud_scoring.registry import PointerValue, load_scorer, local_registry
from fraud_scoring.retrain import EXIT_GATE_FAILED, RetrainConfig, retrain
from fraud_scoring.retrain import main as retrain_main
from fraud_scoring.types import Thresholds

AMOUNT = FEATURE_NAMES.index("amount")
CARD_KEYS = {
    "version",
    "created_at",
    "training_code_commit",
    "data_window",
    "rows",
    "features",
    "thresholds",
    "metrics",
    "gate",
}
METRIC_KEYS = {"average_precision", "card_precision_at_100", "roc_auc", "review_rate", "decline_rate"}


def _scorer(version: str, raw: object) -> Scorer:
    return Scorer(Model(version, FEATURE_NAMES, 7.0, {}, raw))  # type: ignore[arg-type]


def test_windows_latest_leave_the_label_delay_before_now_and_between_train_and_evaluation() -> None:
    windows = Windows.latest(pd.Timestamp("2018-05-30 13:00"), train_days=21, eval_days=7, label_delay_days=7)
    assert (windows.eval_end, windows.eval_start) == (pd.Timestamp("2018-05-23"), pd.Timestamp("2018-05-16"))
    assert (windows.train_end, windows.train_start) == (pd.Timestamp("2018-05-09"), pd.Timestamp("2018-04-18"))
    assert (windows.train_days, windows.eval_days) == (21, 7)


def _four_transactions() -> pd.DataFrame:
    # Four first-time cards at four terminals on one day: two frauds (large amounts), two not.
    times = pd.to_datetime(["2018-05-17 10:00", "2018-05-17 11:00", "2018-05-17 12:00", "2018-05-17 13:00"])
    return pd.DataFrame(
        {
            "TRANSACTION_ID": ["a", "b", "c", "d"],
            "TX_DATETIME": times,
            "CUSTOMER_ID": ["c1", "c2", "c3", "c4"],
            "TERMINAL_ID": ["t1", "t2", "t3", "t4"],
            "TX_AMOUNT": [100.0, 200.0, 900.0, 1000.0],
            "TX_FRAUD": [0, 0, 1, 1],
            "TS": (times - pd.Timestamp("1970-01-01")).total_seconds(),
        }
    )


def test_evaluate_models_measures_both_on_the_evaluation_window() -> None:
    # GIVEN a challenger that ranks the frauds first (by amount: raw -8, -6, 8, 10) and a current
    # model that scores everything 0.5
    windows = Windows.latest(pd.Timestamp("2018-05-30"), train_days=21, eval_days=7)
    challenger = _scorer("by-amount", lambda f: (f[AMOUNT] - 500.0) / 50.0)
    current = _scorer("constant", lambda _: 0.0)
    # WHEN both are evaluated at thresholds review 0.3 / decline 0.8
    result = evaluate_models(_four_transactions(), windows, challenger, current, Thresholds(0.3, 0.8))
    # THEN the challenger is perfect and declines the two large payments; the constant model ties
    # everything (AUC 0.5, AP = fraud share 0.5) and sends everything to review. Both find the two
    # fraudulent cards among their top 100: 2 / 100.
    assert result.rows == 4
    assert result.challenger == {
        "average_precision": 1.0,
        "card_precision_at_100": 0.02,
        "roc_auc": 1.0,
        "review_rate": 0.0,
        "decline_rate": 0.5,
    }
    assert result.current == {
        "average_precision": 0.5,
        "card_precision_at_100": 0.02,
        "roc_auc": 0.5,
        "review_rate": 1.0,
        "decline_rate": 0.0,
    }


def test_evaluate_models_features_see_no_label_from_the_evaluation_window() -> None:
    # GIVEN a 14-day evaluation window from 2018-05-17 where card c1 pays fraudulently on its
    # first day and again, a small amount, ten days later (past the 7-day label delay)
    windows = Windows.latest(pd.Timestamp("2018-06-07"), train_days=21, eval_days=14)
    assert windows.eval_start == pd.Timestamp("2018-05-17")
    times = pd.to_datetime(["2018-05-17 10:00", "2018-05-27 10:00"])
    frame = pd.DataFrame(
        {
            "TRANSACTION_ID": ["fraud", "later"],
            "TX_DATETIME": times,
            "CUSTOMER_ID": ["c1", "c1"],
            "TERMINAL_ID": ["t1", "t2"],
            "TX_AMOUNT": [900.0, 100.0],
            "TX_FRAUD": [1, 0],
            "TS": (times - pd.Timestamp("1970-01-01")).total_seconds(),
        }
    )
    challenger = _scorer("by-amount", lambda f: (f[AMOUNT] - 500.0) / 50.0)
    # WHEN it is evaluated
    result = evaluate_models(frame, windows, challenger, challenger, Thresholds(0.3, 0.8))
    # THEN the later payment is approved: the fraud label, from inside the window, is not a
    # feature yet (a leaked label would fire the recent-confirmed-fraud rule: review)
    assert (result.challenger["review_rate"], result.challenger["decline_rate"]) == (0.0, 0.5)


def test_gate_passes_within_each_margin_and_fails_naming_the_metric_beyond_it() -> None:
    current = {"average_precision": 0.70, "card_precision_at_100": 0.30, "roc_auc": 0.90}
    within = {"average_precision": 0.691, "card_precision_at_100": 0.291, "roc_auc": 0.8951}
    beyond = {"average_precision": 0.71, "card_precision_at_100": 0.289, "roc_auc": 0.95}
    margins = Margins(average_precision=0.01, card_precision_at_100=0.01, roc_auc=0.005)
    passed = gate(within, current, margins)  # type: ignore[arg-type]
    assert passed["passed"] is True
    assert passed["margin"] == {"average_precision": 0.01, "card_precision_at_100": 0.01, "roc_auc": 0.005}
    failed = gate(beyond, current, margins)  # type: ignore[arg-type]
    assert failed["passed"] is False
    assert failed["reasons"] == [
        "average_precision: challenger 0.7100 vs current 0.7000 (allowed drop 0.01): ok",
        "card_precision_at_100: challenger 0.2890 vs current 0.3000 (allowed drop 0.01): worse by more than the margin",
        "roc_auc: challenger 0.9500 vs current 0.9000 (allowed drop 0.005): ok",
    ]


def test_gate_refuses_when_a_metric_cannot_be_computed() -> None:
    current = {"average_precision": 0.7, "card_precision_at_100": 0.3, "roc_auc": 0.9}
    single_class = {"average_precision": None, "card_precision_at_100": 0.3, "roc_auc": None}
    verdict = gate(single_class, current, Margins())  # type: ignore[arg-type]
    assert verdict["passed"] is False
    assert verdict["reasons"][0] == "average_precision: not computable on this window (a single class); cannot compare"


def test_card_page_renders_every_metric_of_both_models_escaped() -> None:
    card = {
        "version": "v<1>",
        "training_code_commit": "<script>alert(1)</script>",
        "thresholds": {"review": 0.3, "decline": 0.8},
        "metrics": {"challenger": {"roc_auc": 0.91234}, "current": {"roc_auc": 0.9}},
        "gate": {"passed": False, "margin": {"roc_auc": 0.005}, "reasons": ["a & b"]},
    }
    page = render_html(card)
    assert "<h1>Model card: v&lt;1&gt;</h1>" in page
    assert "<tr><td>roc_auc</td><td>0.9123</td><td>0.9000</td><td>0.0050</td></tr>" in page
    assert "<h2>Gate: not passed</h2>" in page and "<li>a &amp; b</li>" in page
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in page and "<script>" not in page


def test_retrain_publishes_card_and_promotes_when_gate_passes(tmp_path: Path) -> None:
    # GIVEN a local registry with nothing promoted, and a gate that tolerates any drop
    store, pointer = local_registry(tmp_path / "registry")
    config = RetrainConfig(margins=Margins(1.0, 1.0, 1.0))
    # WHEN a cycle runs on the small simulated table (60 days from 2018-04-01)
    outcome = retrain(
        small_frame(),
        store,
        pointer,
        shipped=Scorer.load(),
        config=config,
        training_code_commit="abc123",
        created_at=datetime(2026, 12, 7, tzinfo=UTC),
    )
    # THEN the challenger is promoted, its card holds the contract's keys, and it loads back valid
    assert outcome.promoted is True
    assert pointer.read().version == outcome.version
    card = json.loads((tmp_path / "registry" / "models" / outcome.version / "card.json").read_text())
    assert set(card) == CARD_KEYS | {"reference"}  # a cycle always profiles its training data
    assert card["training_code_commit"] == "abc123"
    assert card["created_at"] == "2026-12-07T00:00:00Z"
    # The simulator's last transaction is on 2018-05-30: evaluation ends 7 days before that day.
    assert card["data_window"] == {
        "start": "2018-04-18T00:00:00Z",
        "end": "2018-05-23T00:00:00Z",
        "label_delay_days": 7,
    }
    assert card["features"] == list(FEATURE_NAMES)
    assert card["thresholds"] == {"review": 0.3, "decline": 0.8}
    assert set(card["metrics"]) == {"challenger", "current"}
    assert set(card["metrics"]["challenger"]) == set(card["metrics"]["current"]) == METRIC_KEYS
    assert card["gate"]["passed"] is True and card["rows"]["train"] > 0 and card["rows"]["evaluation"] > 0
    assert load_scorer(store, outcome.version).model_version == outcome.version
    assert (tmp_path / "registry" / "models" / outcome.version / "card.html").is_file()


def test_retrain_cli_gate_refusal_publishes_without_promoting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a gate no challenger can pass (it must beat the current model by a whole point)
    root = tmp_path / "registry"
    argv = ["--local", str(root), "--simulate", "3", "--customers", "300", "--terminals", "600", "--days", "60"]
    # WHEN the cycle runs
    code = retrain_main([*argv, "--margin-ap", "-1", "--margin-cp100", "-1", "--margin-auc", "-1"])
    # THEN it exits 3, the challenger and its card are published, and the pointer is untouched
    assert code == EXIT_GATE_FAILED
    printed = json.loads(capsys.readouterr().out)
    assert (printed["promoted"], printed["passed"]) == (False, False)
    assert (root / "models" / printed["version"] / "model.json").is_file()
    assert local_registry(root)[1].read() == PointerValue(None, None, None)


def _export_simulation(location: Path, today: datetime, days: int) -> None:
    """A simulated history moved to end yesterday, written as the daily export would write it: one
    partition per day, each fraud labelled by a chargeback LABEL_DELAY_DAYS later if that is past."""
    from fraud_scoring.dataset import prepare
    from fraud_scoring.export import DirectoryStore, write_day
    from fraud_scoring.simulator import SimulatorConfig, simulate

    frame = prepare(simulate(5, SimulatorConfig(n_customers=300, n_terminals=600, n_days=days)))
    # The frame is naive UTC, as the export reader makes it: move its last moment to yesterday 23:00.
    yesterday = (pd.Timestamp(today).tz_convert(None) - pd.Timedelta(days=1)).normalize()
    shift = yesterday + pd.Timedelta(hours=23) - frame["TX_DATETIME"].max()
    stamps = frame["TX_DATETIME"] + shift
    store = DirectoryStore(location)
    now_s = today.timestamp()
    for day, part in frame.assign(AT=stamps).groupby(stamps.dt.date):
        rows = []
        for tx, at, customer, terminal, amount, fraud in zip(
            part["TRANSACTION_ID"], part["AT"], part["CUSTOMER_ID"], part["TERMINAL_ID"], part["TX_AMOUNT"],
            part["TX_FRAUD"], strict=True,
        ):  # fmt: skip
            ts = at.timestamp()
            known = ts + 7 * 86_400 <= now_s
            rows.append(
                {
                    "transaction_id": f"t-{tx}", "timestamp": ts, "customer_id": f"c-{customer}",
                    "terminal_id": f"m-{terminal}", "amount": float(amount),
                    "fraud": bool(fraud) if known else None, "label_time": ts + 7 * 86_400 if known else None,
                    "label_source": "chargeback" if known else None, "score": None, "decision": None,
                    "model_version": None, "path": "api",
                }
            )  # fmt: skip
        write_day(store, day, rows)


def test_retrain_scheduled_task_reads_the_export_and_registry_it_is_given_in_its_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN 90 days of export ending yesterday (a cycle reads 37 + 21 + 7 + 7 + 7 = 79 of them) and
    # the scheduled task's environment naming it; the registry is local here (S3 + SSM elsewhere)
    today = datetime.now(UTC)
    _export_simulation(tmp_path / "exports", today, days=90)
    env = {"FRAUD_EXPORT_LOCATION": str(tmp_path / "exports")}
    root = tmp_path / "registry"
    # WHEN the cycle runs without a data argument, as the task does
    code = retrain_main(["--local", str(root)], env=env)
    # THEN a challenger trained on the export's latest window is published with its card
    printed = json.loads(capsys.readouterr().out)
    assert code in (0, EXIT_GATE_FAILED)
    card = json.loads((root / "models" / printed["version"] / "card.json").read_text())
    # The latest exported transaction is yesterday's: evaluation ends a label delay (7 days) before that day.
    eval_end = (pd.Timestamp(today).tz_convert(None) - pd.Timedelta(days=8)).normalize()
    assert card["data_window"]["end"] == eval_end.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert card["rows"]["train"] > 0 and card["rows"]["evaluation"] > 0
    # and the card carries the drift job's reference for that version: the score and ten features
    version, reference = load_reference(root / "models" / printed["version"] / "card.json")
    assert version == printed["version"]
    assert len(reference["features"]) == 10 and sum(reference["score"]["fractions"]) == pytest.approx(1.0)


def test_retrain_names_the_export_days_it_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an export of 30 days only: a cycle needs 79
    _export_simulation(tmp_path / "exports", datetime.now(UTC), days=30)
    # WHEN the cycle runs on it
    code = retrain_main(["--local", str(tmp_path / "registry"), "--exports", str(tmp_path / "exports")], env={})
    # THEN it refuses, naming the missing days and how many a cycle reads, and publishes nothing
    assert code == 1
    error = capsys.readouterr().err
    assert "never exported" in error and "a cycle reads 79 days of export" in error
    assert not (tmp_path / "registry" / "models").exists()


def test_retrain_without_data_is_a_usage_error_naming_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        retrain_main(["--local", "/nonexistent"], env={})
    assert stopped.value.code == 2
    assert "give --simulate SEED or --exports LOCATION (or set FRAUD_EXPORT_LOCATION)" in capsys.readouterr().err
