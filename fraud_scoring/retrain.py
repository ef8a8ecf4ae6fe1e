"""One retraining cycle: train a challenger, gate it against the serving model, publish, promote if it passed.

    python -m fraud_scoring.retrain --local .local/registry --simulate 7 [--customers 1000 ...]
    python -m fraud_scoring.retrain --bucket B --parameter P --exports s3://<bucket>/exports
    python -m fraud_scoring.retrain        # the scheduled task: everything from its environment

The scheduled task (components/jobs.py) passes no argument: the export's location, the registry's
bucket and pointer come from FRAUD_EXPORT_LOCATION, FRAUD_MODELS_BUCKET and
FRAUD_MODEL_POINTER_PARAMETER (``fraud_common.jobs``).

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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from fraud_common import jobs
from fraud_scoring import gbdt
from fraud_scoring.card import build_card
from fraud_scoring.dataset import from_export, prepare
from fraud_scoring.drift import reference_profile
from fraud_scoring.export import PartitionMissing, read_labelled_window
from fraud_scoring.features import FEATURE_NAMES, HISTORY_DAYS, LABEL_DELAY_DAYS
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
    model = validate_artifact(artifact, "challenger")
    challenger = Scorer(model)
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
        # The drift job compares each day with this (fraud_scoring.drift): the training rows' features
        # and the challenger's scores on them. Cards with a known fraud, which training leaves out,
        # are not in it; the shipped reference (drift_reference.py) counts every transaction.
        reference=reference_profile(
            X, [model.predict(tuple(row)) for row in X.tolist()], FEATURE_NAMES, artifact=artifact
        ),
    )
    publish(store, artifact, card)
    if not verdict["passed"]:
        return RetrainOutcome(version, False, card)
    # The same trees as the serving model give the same version: nothing to switch.
    if version != current.model_version:
        promote(store, pointer, version)
    return RetrainOutcome(version, True, card)


def code_commit() -> str:
    """The commit of the training code: the image build's, else the working tree's HEAD."""
    if os.environ.get(COMMIT_VARIABLE):
        return os.environ[COMMIT_VARIABLE]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip()


def export_days(config: RetrainConfig) -> int:
    """Days of export one cycle reads: the history the first training transaction's features need,
    the training window, the gap, the evaluation window, and the last label-delay days."""
    return HISTORY_DAYS + config.train_days + LABEL_DELAY_DAYS + config.eval_days + LABEL_DELAY_DAYS


def exported_frame(location: str, config: RetrainConfig, today: date) -> pd.DataFrame:
    """The export's days up to yesterday, as the training frame (each label from its label time on).
    Raises PartitionMissing naming the days never exported."""
    return from_export(read_labelled_window(location, today - timedelta(days=export_days(config)), today))


def main(argv: list[str] | None = None, env: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if env is None else env
    parser = argparse.ArgumentParser(prog="python -m fraud_scoring.retrain", description=__doc__.split("\n")[0])
    add_location_arguments(parser)
    # The scheduled task names its registry and export in the environment, not on a command line.
    parser.set_defaults(bucket=env.get(jobs.MODELS_BUCKET), parameter=env.get(jobs.MODEL_POINTER_PARAMETER))
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--simulate", type=int, metavar="SEED", help="train on this simulator seed")
    source.add_argument(
        "--exports",
        metavar="LOCATION",
        default=env.get(jobs.EXPORT_LOCATION),
        help=f"the training export (s3://<bucket>/exports or a directory; default ${jobs.EXPORT_LOCATION})",
    )
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
    if args.local is not None:  # --local replaces the registry the environment names
        args.bucket = args.parameter = None
    store, pointer = open_registry(parser, args)
    config = RetrainConfig(
        train_days=args.train_days,
        eval_days=args.eval_days,
        margins=Margins(args.margin_ap, args.margin_cp100, args.margin_auc),
    )
    if args.simulate is not None:
        cfg = SimulatorConfig(n_customers=args.customers, n_terminals=args.terminals, n_days=args.days)
        frame = prepare(simulate(args.simulate, cfg))
    elif args.exports:
        try:
            frame = exported_frame(args.exports, config, datetime.now(UTC).date())
        except PartitionMissing as exc:
            sys.stderr.write(f"refused: {exc} (a cycle reads {export_days(config)} days of export)\n")
            return 1
    else:
        parser.error(f"give --simulate SEED or --exports LOCATION (or set {jobs.EXPORT_LOCATION})")
    try:
        outcome = retrain(
            frame,
            store,
            pointer,
            shipped=Scorer.load(),
            config=config,
            training_code_commit=code_commit(),
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
