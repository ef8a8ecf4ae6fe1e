"""Build the shipped model artifact from simulated data.

    python -m fraud_scoring.train [--seeds 1000 1001] [--validation-seed 1002] \\
        [--out fraud_scoring/model.json] [--created-at 2026-01-01T00:00:00Z]

Simulates each training seed at book scale, computes features with the serving code for every
transaction from ``--from`` (after the 30 + 7 day warm-up) to the end, trains LightGBM with
``gbdt.DEFAULT_PARAMS`` and writes the artifact with a description of how it was made and its
metrics under the handbook protocol on a seed it never saw. The same arguments give the same
bytes; ``created_at`` is the one input that is not derived from them (taken from
``--created-at``, else ``SOURCE_DATE_EPOCH``, else the clock).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraud_scoring import gbdt
from fraud_scoring.dataset import feature_matrix, prepare, window_rows
from fraud_scoring.features import FEATURE_NAMES, LABEL_DELAY_DAYS
from fraud_scoring.metrics import evaluate, known_compromised_mask
from fraud_scoring.model import SHIPPED_ARTIFACT, validate_artifact
from fraud_scoring.simulator import SimulatorConfig, simulate

PROTOCOL: dict[str, Any] = {
    "train_start": "2018-07-25",
    "train_days": 7,
    "delay_days": 7,
    "test_start": "2018-08-08",
    "test_days": 7,
}


def _created_at(explicit: str | None) -> str:
    if explicit:
        return explicit
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def training_data(
    seeds: list[int], cfg: SimulatorConfig, start: str, days: float, blocked_cards: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of the transactions in [start, start + days) for each seed.

    Unless ``blocked_cards``, transactions of cards that already have a known (delay-old) fraud
    are left out: such cards are blocked in production and removed from the handbook's test
    set, so the model only ever scores cards without one. Training on that population raised
    AUC on the tuning seeds (0.879 -> 0.883) at equal AP.
    """
    xs, ys = [], []
    for seed in seeds:
        X, y = window_training_set(prepare(simulate(seed, cfg)), start, days, blocked_cards)
        xs.append(X)
        ys.append(y)
    return np.vstack(xs), np.concatenate(ys)


def window_training_set(
    frame: pd.DataFrame, start: str | pd.Timestamp, days: float, blocked_cards: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of one prepared frame's transactions in [start, start + days), left out
    as ``training_data`` says unless ``blocked_cards``."""
    rows = window_rows(frame, start, days)
    X = feature_matrix(frame, rows)
    y = frame["TX_FRAUD"].to_numpy()[rows]
    keep = np.ones(len(y), dtype=bool) if blocked_cards else X[:, FEATURE_NAMES.index("customer_known_frauds")] == 0
    return X[keep], y[keep]


def protocol_metrics(model_artifact: dict[str, Any], seed: int, cfg: SimulatorConfig) -> dict[str, Any]:
    """The shipped-model benchmark on one unseen seed (handbook protocol, scores from the
    pure-Python evaluator)."""
    model = validate_artifact(model_artifact, "<candidate>")
    frame = prepare(simulate(seed, cfg))
    test_start = pd.Timestamp(PROTOCOL["test_start"])
    rows = window_rows(frame, test_start, PROTOCOL["test_days"])
    known_before = (test_start - pd.Timestamp("1970-01-01")).total_seconds()
    X = feature_matrix(frame, rows, labels_known_before=known_before)
    scores = np.array([model.predict(tuple(r)) for r in X.tolist()])
    keep = known_compromised_mask(
        frame,
        pd.Timestamp(PROTOCOL["train_start"]),
        PROTOCOL["train_days"],
        PROTOCOL["delay_days"],
        test_start,
        PROTOCOL["test_days"],
    )[rows]
    test = frame.iloc[rows]
    days = (test["TX_DATETIME"] - test_start.normalize()).dt.days.to_numpy()
    result = evaluate(days[keep], test["CUSTOMER_ID"].to_numpy()[keep], test["TX_FRAUD"].to_numpy()[keep], scores[keep])
    return {"seed": seed, "protocol": PROTOCOL, **result}


def build(args: argparse.Namespace) -> dict[str, Any]:
    cfg = SimulatorConfig(n_customers=args.customers, n_terminals=args.terminals, n_days=args.days)
    started = time.perf_counter()
    X, y = training_data(args.seeds, cfg, args.from_date, args.days, args.include_blocked_cards)
    booster = gbdt.fit(X, y, seed=args.lgbm_seed)
    train_scores = np.asarray(booster.predict(X))
    from fraud_scoring.metrics import auc_roc, average_precision

    training = {
        "data": "fraud_scoring.simulator (handbook simulator, reference/fraud-simulator.md)",
        "simulator": {
            "seeds": args.seeds,
            "customers": cfg.n_customers,
            "terminals": cfg.n_terminals,
            "days": cfg.n_days,
            "start_date": cfg.start_date,
        },
        "rows_from": args.from_date,
        "rows": "all transactions of cards without a known fraud"
        if not args.include_blocked_cards
        else "all transactions",
        "n_rows": len(y),
        "n_fraud": int(y.sum()),
        "label_delay_days": LABEL_DELAY_DAYS,
        "learner": f"lightgbm {gbdt.lgb.__version__}",
        "params": {k: v for k, v in gbdt.DEFAULT_PARAMS.items() if k != "monotone_constraints"},
        "monotone_increasing": list(gbdt.MONOTONE_INCREASING),
        "monotone_decreasing": list(gbdt.MONOTONE_DECREASING),
        "lgbm_seed": args.lgbm_seed,
        "command": "python -m fraud_scoring.train " + " ".join(args.argv),
    }
    metrics: dict[str, Any] = {
        "train": {
            "auc_roc": round(auc_roc(y, train_scores), 4),
            "average_precision": round(average_precision(y, train_scores), 4),
        }
    }
    artifact = gbdt.build_artifact(booster, training, metrics, _created_at(args.created_at))
    if args.validation_seed is not None:
        metrics["validation"] = protocol_metrics(artifact, args.validation_seed, cfg)
    sys.stderr.write(f"trained on {len(y)} rows in {time.perf_counter() - started:.0f}s: {json.dumps(metrics)}\n")
    return artifact


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fraud_scoring.train", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001], help="simulator seeds to train on")
    parser.add_argument("--validation-seed", type=int, default=1002, help="unseen seed for the recorded metrics")
    parser.add_argument("--no-validation", action="store_true", help="skip the validation run")
    parser.add_argument("--from", dest="from_date", default="2018-05-08", help="first day of training rows")
    parser.add_argument("--customers", type=int, default=SimulatorConfig.n_customers)
    parser.add_argument("--terminals", type=int, default=SimulatorConfig.n_terminals)
    parser.add_argument("--days", type=int, default=SimulatorConfig.n_days)
    parser.add_argument("--lgbm-seed", type=int, default=0)
    parser.add_argument(
        "--include-blocked-cards", action="store_true", help="also train on cards that have a known fraud"
    )
    parser.add_argument("--out", default=str(SHIPPED_ARTIFACT))
    parser.add_argument("--created-at", default=None, help="ISO timestamp to record (default: SOURCE_DATE_EPOCH/now)")
    args = parser.parse_args(argv)
    raw = list(argv if argv is not None else sys.argv[1:])
    # Where the file is written is not part of how the model was made: keep it out of the
    # recorded command so the artifact's bytes do not depend on it.
    args.argv = [a for i, a in enumerate(raw) if a != "--out" and (i == 0 or raw[i - 1] != "--out")]
    if args.no_validation:
        args.validation_seed = None
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    artifact = build(args)
    # Compact separators keep the file small; sorted keys make the bytes reproducible.
    Path(args.out).write_text(json.dumps(artifact, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
