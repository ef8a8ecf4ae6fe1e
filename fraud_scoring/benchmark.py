"""Detection benchmark on a handbook CSV, under the handbook's protocol (reference section 3).

    python -m fraud_scoring.benchmark --transactions FILE.csv --scores-out SCORES.csv \\
        [--train-start 2018-07-25] [--train-days 7] [--delay-days 7] \\
        [--test-start 2018-08-08] [--test-days 7] [--model retrain|shipped] [--seed 0]

What is known when:
* ``TX_FRAUD_SCENARIO`` is never read.
* Labels of transactions from ``--test-start`` on are withheld from feature computation
  entirely; older labels are used only once older than the delay (``compute_features``).
* Features come from the serving path's ``compute_features`` on each transaction's history.

Scores are written for every test-window transaction; the metrics follow the handbook: known
compromised cards are removed from the test set, then AUC ROC, average precision and daily
card precision@100 (with already-detected cards removed on later days). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

from fraud_scoring.dataset import feature_matrix, load_transactions, window_rows
from fraud_scoring.features import LABEL_DELAY_DAYS
from fraud_scoring.metrics import evaluate, known_compromised_mask
from fraud_scoring.model import Model, load_model, validate_artifact


def train_model(X: np.ndarray, y: np.ndarray, seed: int, delay_days: float, description: dict[str, Any]) -> Model:
    """Fit LightGBM on the training window and load it back through the artifact path."""
    from fraud_scoring import gbdt  # LightGBM is only needed when retraining

    booster = gbdt.fit(X, y, seed=seed)
    artifact = gbdt.build_artifact(booster, description, {}, created_at="benchmark", label_delay_days=delay_days)
    # Skip the serving-side delay check when the protocol asks for another delay: the features
    # were computed with that delay, consistently for training and test.
    if delay_days != LABEL_DELAY_DAYS:
        artifact["label_delay_days"] = LABEL_DELAY_DAYS
    model = validate_artifact(artifact, "<retrained>")
    return model


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    train_start, test_start = pd.Timestamp(args.train_start), pd.Timestamp(args.test_start)
    test_end = test_start + pd.Timedelta(days=args.test_days)
    frame = load_transactions(args.transactions)
    # Nothing after the test window can matter (features never look forward); dropping it
    # up front keeps memory and time down on long files.
    frame = frame[frame["TX_DATETIME"] < test_end].reset_index(drop=True)
    train_rows = window_rows(frame, train_start, args.train_days)
    test_rows = window_rows(frame, test_start, args.test_days)
    if len(test_rows) == 0:
        raise SystemExit(f"no transaction in the test window starting {test_start.date()}")
    known_before = (test_start - pd.Timestamp("1970-01-01")).total_seconds()

    rows = test_rows if args.model == "shipped" else np.concatenate([train_rows, test_rows])
    X = feature_matrix(frame, rows, label_delay_days=args.delay_days, labels_known_before=known_before)
    X_test = X[-len(test_rows) :]
    if args.model == "shipped":
        model = load_model()
    else:
        if len(train_rows) == 0:
            raise SystemExit(f"no transaction in the training window starting {train_start.date()}")
        y_train = frame["TX_FRAUD"].to_numpy()[train_rows]
        description = {
            "source": str(args.transactions),
            "train_start": str(train_start.date()),
            "train_days": args.train_days,
            "n_train": len(train_rows),
            "n_train_fraud": int(y_train.sum()),
        }
        model = train_model(X[: len(train_rows)], y_train, args.seed, args.delay_days, description)

    # Scored with the same pure-Python evaluator production uses.
    scores = np.array([model.predict(tuple(row)) for row in X_test.tolist()])
    test = frame.iloc[test_rows]
    pd.DataFrame({"TRANSACTION_ID": test["TRANSACTION_ID"].to_numpy(), "SCORE": scores}).to_csv(
        args.scores_out, index=False, float_format="%.8g"
    )

    keep = known_compromised_mask(frame, train_start, args.train_days, args.delay_days, test_start, args.test_days)[
        test_rows
    ]
    days = (test["TX_DATETIME"] - test_start.normalize()).dt.days.to_numpy()
    result: dict[str, Any] = evaluate(
        days[keep], test["CUSTOMER_ID"].to_numpy()[keep], test["TX_FRAUD"].to_numpy()[keep], scores[keep]
    )
    result.update(
        model=args.model,
        model_version=model.version,
        n_test_window=len(test_rows),
        n_train=len(train_rows) if args.model == "retrain" else 0,
        seconds=round(time.perf_counter() - started, 1),
    )
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fraud_scoring.benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", required=True, help="handbook CSV")
    parser.add_argument("--scores-out", required=True, help="CSV to write TRANSACTION_ID,SCORE to")
    parser.add_argument("--train-start", default="2018-07-25")
    parser.add_argument("--train-days", type=int, default=7)
    parser.add_argument("--delay-days", type=int, default=LABEL_DELAY_DAYS)
    parser.add_argument("--test-start", default="2018-08-08")
    parser.add_argument("--test-days", type=int, default=7)
    parser.add_argument("--model", choices=("retrain", "shipped"), default="retrain")
    parser.add_argument("--seed", type=int, default=0, help="LightGBM seed for --model retrain")
    args = parser.parse_args(argv)
    if args.model == "shipped" and args.delay_days != LABEL_DELAY_DAYS:
        parser.error(f"the shipped model was trained with a {LABEL_DELAY_DAYS}-day delay; use --model retrain")
    return args


def main(argv: list[str] | None = None) -> None:
    result = run(parse_args(argv))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
