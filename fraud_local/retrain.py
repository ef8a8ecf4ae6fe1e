"""``python -m fraud_local retrain``: one export -> retrain -> gate -> promote cycle on the running local mode.

The export is ``fraud_scoring.export`` itself, pointed at local mode's table in moto and its
PostgreSQL, writing day partitions under ``<state>/exports``; the cycle is ``fraud_scoring.retrain``
reading them, with ``<state>/registry`` as the registry. fraud-api and the analyzer follow that
registry (``MODEL_REFRESH_S``), so a promotion reaches them without a restart.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from fraud_common import jobs
from fraud_local.aws import aws_environment, client
from fraud_local.config import LAST_DEMO_FILE, MODEL_REFRESH_S, REGISTRY_DIR
from fraud_local.replay import SEEDED_THRESHOLDS, compare, comparison_lines
from fraud_local.stack import StackHandles
from fraud_scoring.card import METRIC_KEYS
from fraud_scoring.export import export_days
from fraud_scoring.registry import load_scorer, local_registry
from fraud_scoring.retrain import (
    RetrainConfig,
    RetrainOutcome,
    code_commit,
    exported_frame,
    retrain,
)
from fraud_scoring.retrain import export_days as cycle_days
from fraud_scoring.scorer import Scorer

EXPORTS_DIR = "exports"


def export_local(handles: StackHandles, config: RetrainConfig, today: date) -> dict[str, int]:
    """Write the days a cycle reads (up to yesterday) from both local paths; rows per day."""
    env = {
        **aws_environment(handles.aws_endpoint),
        jobs.EXPORT_LOCATION: str(handles.state_dir / EXPORTS_DIR),
        jobs.EXPORT_TABLE_NAME: handles.resources.table_name,
        jobs.EXPORT_DATABASE_URL: handles.database_uri,
    }
    days = [today - timedelta(days=n) for n in range(cycle_days(config), 0, -1)]
    return export_days(days, env, dynamodb=client("dynamodb", handles.aws_endpoint))


def run_retrain(handles: StackHandles, config: RetrainConfig, out: IO[str]) -> RetrainOutcome:
    """Export, retrain, gate and promote (when the gate passes); print the verdict and the card's metrics."""
    now = datetime.now(UTC)
    written = export_local(handles, config, now.date())
    exports = handles.state_dir / EXPORTS_DIR
    out.write(f"Exported {sum(written.values()):,} rows ({len(written)} days) to {exports}/\n")
    registry = handles.state_dir / REGISTRY_DIR
    store, pointer = local_registry(registry)
    # What local mode serves while the pointer is unset: its --model artifact, else the shipped one.
    shipped = Scorer.load(handles.model_path)
    serving = pointer.read().version
    outcome = retrain(
        exported_frame(str(exports), config, now.date()),
        store,
        pointer,
        shipped=shipped,
        config=config,
        training_code_commit=code_commit(),
        created_at=now,
    )
    out.write(format_outcome(outcome, registry))
    demo = last_demo(handles.state_dir, out)
    if demo is not None:
        before = shipped.model if serving is None else load_scorer(store, serving).model
        scorers = {
            f"serving {before.version}": Scorer(before, SEEDED_THRESHOLDS),
            f"challenger {outcome.version}": Scorer(load_scorer(store, outcome.version).model, SEEDED_THRESHOLDS),
        }
        out.write(
            f"Detection on the last demo's traffic (seed {demo['seed']}, {demo['count']:,} transactions, "
            f"{demo['days']} days), replayed with each model and its own label loop:\n"
            + "\n".join(comparison_lines(compare(scorers, **demo)))
            + "\n"
        )
    return outcome


def last_demo(state_dir: Path, out: IO[str]) -> dict[str, Any] | None:
    """The options ``make demo`` last ran with on this state folder, or None (never, or unreadable: said)."""
    path = state_dir / LAST_DEMO_FILE
    if not path.exists():
        return None
    try:
        options = json.loads(path.read_text(encoding="utf-8"))
        demo = {key: options[key] for key in ("count", "seed", "days", "labels")}
        whole = all(type(demo[key]) is int for key in ("count", "seed", "days"))  # bool is not a count
        if not (whole and demo["count"] > 0 and demo["days"] > 0 and type(demo["labels"]) is bool):
            raise ValueError("count and days must be positive whole numbers, seed a whole number, labels true or false")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        out.write(f"Not comparing the models on the last demo's traffic: {path} is unreadable ({exc!r})\n")
        return None
    return demo


def format_outcome(outcome: RetrainOutcome, registry: Path) -> str:
    card = outcome.card
    metrics = card["metrics"]
    verdict = "promoted" if outcome.promoted else "refused by the gate (published, not promoted)"
    lines = [
        f"Challenger {outcome.version}: {verdict}",
        f"  data window  {card['data_window']['start']} to {card['data_window']['end']}, rows {card['rows']}",
        f"  {'metric':<22}{'challenger':>12}{'current':>12}",
        *(
            f"  {key:<22}{_number(metrics['challenger'].get(key)):>12}{_number(metrics['current'].get(key)):>12}"
            for key in METRIC_KEYS
        ),
        *(f"  gate: {reason}" for reason in card["gate"]["reasons"]),
        f"  card: {registry}/models/{outcome.version}/",
    ]
    if outcome.promoted:
        lines.append(f"  fraud-api and the analyzer load it within {MODEL_REFRESH_S} s, without a restart")
    return "\n".join(lines) + "\n"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
