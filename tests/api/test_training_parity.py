"""Training sees what serving saw: features recomputed from the export equal fraud-api's at scoring time."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from fastapi.testclient import TestClient
from moto import mock_aws

from fraud_common import jobs
from fraud_common.tables import boto3_create_table_args
from fraud_scoring import FEATURE_NAMES, LABEL_DELAY_DAYS, export, scorer
from fraud_scoring.dataset import feature_matrix, from_export
from fraud_scoring.features import Features
from fraud_scoring.types import History, Transaction
from tests.api.utils import iso, new_id, transaction

TABLE = "transactions-parity"
SOURCES = ("chargeback", "analyst_review", "customer_report")


@pytest.fixture
def served_features(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Features]]:
    """What fraud-api's scorer computed for each transaction id, recorded as it scored."""
    seen: dict[str, Features] = {}
    compute = scorer.compute_features

    def recording(tx: Transaction, history: History, label_delay_days: float = LABEL_DELAY_DAYS) -> Features:
        seen[tx.transaction_id] = compute(tx, history, label_delay_days)
        return seen[tx.transaction_id]

    monkeypatch.setattr(scorer, "compute_features", recording)
    yield seen


def _events(rng: random.Random, now: datetime) -> list[tuple[datetime, str, dict[str, Any]]]:
    """A random history: few customers and terminals (so windows overlap), 42 days, about a third
    labelled at a random delay of minutes to 12 days (some before the 7-day label delay, some
    never known at all before the end)."""
    customers = [new_id("cust") for _ in range(5)]
    terminals = [new_id("term") for _ in range(4)]
    start = now - timedelta(days=42)
    events: list[tuple[datetime, str, dict[str, Any]]] = []
    for _ in range(160):
        moment = start + timedelta(seconds=rng.uniform(0, 42 * 86_400 - 3_600))
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        body = transaction(
            timestamp=iso(moment),
            customerId=rng.choice(customers),
            terminalId=rng.choice(terminals),
            amount=f"{rng.uniform(1, 300):.2f}",
        )
        events.append((moment, "score", body))
        label_at = moment + timedelta(minutes=rng.uniform(1, 12 * 24 * 60))
        if rng.random() < 0.35 and label_at < now:
            label_at = label_at.replace(microsecond=label_at.microsecond // 1000 * 1000)
            feedback = {
                "transactionId": body["transactionId"],
                "fraud": rng.random() < 0.4,
                "source": rng.choice(SOURCES),
                "labelTime": iso(label_at),
            }
            events.append((label_at, "label", feedback))
    # Served in time order, each label sent when its label time comes: what the service saw at each
    # score is then exactly the transactions and labels known by then, as in production.
    return sorted(events, key=lambda e: (e[0], e[1] == "score"))


@pytest.mark.parametrize("seed", [11, 12])
def test_features_recomputed_from_the_export_equal_the_served_ones(
    seed: int, client: TestClient, database_url: str, served_features: dict[str, Features], tmp_path: Path
) -> None:
    # GIVEN a randomised history scored by fraud-api with labels arriving over time
    now = datetime.now(UTC) - timedelta(hours=1)
    scored = []
    for _, kind, body in _events(random.Random(seed), now):
        if kind == "score":
            assert client.post("/api/v1/score", json=body).status_code == 200
            scored.append(body["transactionId"])
        else:
            assert client.post("/api/v1/feedback", json=body).status_code == 200
    assert set(scored) <= set(served_features)
    # WHEN the days are exported, read back and featurised by the training path
    days = [(now - timedelta(days=n)).date() for n in range(43, -1, -1)]
    env = {
        jobs.EXPORT_DATABASE_URL: database_url.replace("postgres:@", f"{jobs.EXPORT_DB_USER}:@"),
        jobs.EXPORT_LOCATION: str(tmp_path),
        jobs.EXPORT_TABLE_NAME: TABLE,
    }
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**boto3_create_table_args(TABLE))
        export.export_days(days, env, dynamodb=dynamodb)
    frame = from_export(export.read_labelled_window(str(tmp_path), days[0], days[-1] + timedelta(days=1)))
    mine = frame[frame["TRANSACTION_ID"].isin(set(scored))]
    recomputed = feature_matrix(frame, mine.index.to_numpy())
    # THEN every transaction's features equal, bit for bit, what the service computed when it scored it
    assert len(mine) == 160
    served = np.array([served_features[t] for t in mine["TRANSACTION_ID"]], dtype=np.float64)
    mismatched = [
        (tx_id, name)
        for row, tx_id in enumerate(mine["TRANSACTION_ID"])
        for col, name in enumerate(FEATURE_NAMES)
        if not np.array_equal(served[row, col], recomputed[row, col])
    ]
    assert mismatched == []
    # AND the labels reached the features (the comparison is not between two label-blind paths)
    known = FEATURE_NAMES.index("terminal_days_since_known_legit")
    assert (recomputed[:, known] < 37).sum() > 10
