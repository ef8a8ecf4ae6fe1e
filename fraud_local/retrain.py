"""``python -m fraud_local retrain``: one export -> retrain -> gate -> promote cycle on the running local mode.

The export is ``fraud_scoring.export`` itself, pointed at local mode's table in moto and its
PostgreSQL, writing day partitions under ``<state>/exports``; the cycle is ``fraud_scoring.retrain``
reading them, with ``<state>/registry`` as the registry. fraud-api and the analyzer follow that
registry (``MODEL_REFRESH_S``), so a promotion reaches them without a restart.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO

from fraud_common import jobs
from fraud_local.aws import aws_environment, client
from fraud_local.config import MODEL_REFRESH_S, REGISTRY_DIR
from fraud_local.stack import StackHandles
from fraud_scoring.card import METRIC_KEYS
from fraud_scoring.export import export_days
from fraud_scoring.registry import local_registry
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
    outcome = retrain(
        exported_frame(str(exports), config, now.date()),
        store,
        pointer,
        shipped=Scorer.load(),
        config=config,
        training_code_commit=code_commit(),
        created_at=now,
    )
    out.write(format_outcome(outcome, registry))
    return outcome


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
        lines.append(f"  fraud-api and the analyzer load it within {MODEL_REFRESH_S:g} s, without a restart")
    return "\n".join(lines) + "\n"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
