"""One retraining cycle: train a challenger, gate it against the serving model, publish, promote if it passed.

    python -m fraud_scoring.retrain --local .local/registry --simulate 7 [--customers 1000 ...]
    python -m fraud_scoring.retrain --bucket B --parameter P --simulate 7

Data: a frame as ``fraud_scoring.dataset.prepare`` returns it, ending at ``now`` (the latest
transaction): the simulator's here, the daily export's (``dataset.from_export``) in AWS. The
challenger trains with the existing training code (``gbdt.fit`` on ``train.window_training_set``)
on the training window of ``gate.Windows.latest``; every label it sees was known by ``now``, and
its features use a label only from its label time on (``dataset.feature_matrix``). The current
model is the promoted version, else the shipped one.

Exit codes: 0 promoted (or already serving), 3 published but the gate refused it (see its card),
1 refused by the registry, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from fraud_scoring import gbdt
from fraud_scoring.card import build_card
from fraud_scoring.dataset import prepare
from fraud_scoring.features import FEATURE_NAMES
from fraud_scoring.gate import Margins, Windows, evaluate_models, gate
from fraud_scoring.model import validate_artifact
from fraud_scoring.registry import (
    Pointer,
    RegistryError,
    Store,
    add_location_arguments,
    load_scorer,
    open_registry,
    promote,
    publish,
)
from fraud_scoring.scorer import Scorer
from fraud_scoring.simulator import SimulatorConfig, simulate
from fraud_scoring.train import window_training_set
from fraud_scoring.types import Thresholds

EXIT_GATE_FAILED = 3
COMMIT_VARIABLE = "TRAINING_CODE_COMMIT"
"""Set by the image build (the container has no .git); locally the working tree's HEAD is used."""


@dataclass(frozen=True)
class RetrainConfig:
    train_days: int = 21
    eval_days: int = 7
    margins: Margins = field(default_factory=Margins)
    thresholds: Thresholds = field(default_factory=Thresholds)
    """The thresholds the decision rates are measured at (the API configuration's, in AWS)."""
    lgbm_seed: int = 0


@dataclass(frozen=True)
class RetrainOutcome:
    version: str
    promoted: bool
    card: dict[str, Any]


def _iso(moment: pd.Timestamp | datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def retrain(
    frame: pd.DataFrame,
    store: Store,
    pointer: Pointer,
    *,
    shipped: Scorer,
    config: RetrainConfig,
    training_code_commit: str,
    created_at: datetime,
) -> RetrainOutcome:
    """Train, gate, publish; promote only when the gate passed. Raises RegistryError when refused."""
    now = frame["TX_DATETIME"].max()
    windows = Windows.latest(now, config.train_days, config.eval_days)
    X, y = window_training_set(frame, windows.train_start, windows.train_days)
    if y.sum() == 0:
        raise RegistryError(f"no fraud label in the training window {windows.train_start} to {windows.train_end}")
    booster = gbdt.fit(X, y, seed=config.lgbm_seed)
    training = {
        "data": "fraud_scoring.retrain",
        "window": {"start": _iso(windows.train_start), "end": _iso(windows.train_end)},
        "n_rows": len(y),
        "n_fraud": int(y.sum()),
        "lgbm_seed": config.lgbm_seed,
    }
    artifact = gbdt.build_artifact(booster, training, {}, _iso(created_at))
    challenger = Scorer(validate_artifact(artifact, "challenger"))
    promoted_version = pointer.read().version
    current = shipped if promoted_version is None else load_scorer(store, promoted_version)
    evaluation = evaluate_models(frame, windows, challenger, current, config.thresholds)
    verdict = gate(evaluation.challenger, evaluation.current, config.margins)
    artifact["metrics"] = {"evaluation": {"challenger": evaluation.challenger, "current": evaluation.current}}
    version = str(artifact["model_version"])
    card = build_card(
        version=version,
        created_at=_iso(created_at),
        training_code_commit=training_code_commit,
        data_window={
            "start": _iso(windows.train_start),
            "end": _iso(windows.eval_end),
            "label_delay_days": windows.label_delay_days,
        },
        rows={"train": len(y), "evaluation": evaluation.rows},
        features=FEATURE_NAMES,
        thresholds={"review": config.thresholds.review, "decline": config.thresholds.decline},
        metrics={"challenger": evaluation.challenger, "current": evaluation.current},
        gate=verdict,
    )
    publish(store, artifact, card)
    if not verdict["passed"]:
        return RetrainOutcome(version, False, card)
    # The same trees as the serving model give the same version: nothing to switch.
    if version != current.model_version:
        promote(store, pointer, version)
    return RetrainOutcome(version, True, card)


def _commit() -> str:
    if os.environ.get(COMMIT_VARIABLE):
        return os.environ[COMMIT_VARIABLE]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fraud_scoring.retrain", description=__doc__.split("\n")[0])
    add_location_arguments(parser)
    parser.add_argument("--simulate", type=int, metavar="SEED", required=True, help="train on this simulator seed")
    parser.add_argument("--customers", type=int, default=SimulatorConfig.n_customers)
    parser.add_argument("--terminals", type=int, default=SimulatorConfig.n_terminals)
    parser.add_argument("--days", type=int, default=SimulatorConfig.n_days)
    parser.add_argument("--train-days", type=int, default=RetrainConfig.train_days)
    parser.add_argument("--eval-days", type=int, default=RetrainConfig.eval_days)
    defaults = Margins()
    parser.add_argument("--margin-ap", type=float, default=defaults.average_precision, help="allowed AP drop")
    parser.add_argument(
        "--margin-cp100", type=float, default=defaults.card_precision_at_100, help="allowed CP@100 drop"
    )
    parser.add_argument("--margin-auc", type=float, default=defaults.roc_auc, help="allowed AUC drop")
    args = parser.parse_args(argv)
    store, pointer = open_registry(parser, args)
    cfg = SimulatorConfig(n_customers=args.customers, n_terminals=args.terminals, n_days=args.days)
    frame = prepare(simulate(args.simulate, cfg))
    try:
        outcome = retrain(
            frame,
            store,
            pointer,
            shipped=Scorer.load(),
            config=RetrainConfig(
                train_days=args.train_days,
                eval_days=args.eval_days,
                margins=Margins(args.margin_ap, args.margin_cp100, args.margin_auc),
            ),
            training_code_commit=_commit(),
            created_at=datetime.now(UTC),
        )
    except RegistryError as exc:
        sys.stderr.write(f"refused: {exc}\n")
        return 1
    sys.stdout.write(json.dumps({"version": outcome.version, "promoted": outcome.promoted, **outcome.card["gate"]}))
    sys.stdout.write("\n")
    return 0 if outcome.promoted else EXIT_GATE_FAILED


if __name__ == "__main__":
    sys.exit(main())
