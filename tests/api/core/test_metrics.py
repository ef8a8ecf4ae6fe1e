"""Decision metrics: CloudWatch EMF lines the dashboard sums with the analyzer's."""

from __future__ import annotations

import io
import json

from fastapi.testclient import TestClient

from fraud_api.app.core.metrics import DecisionMetrics
from fraud_common.env import METRICS_NAMESPACE
from tests.api.utils import transaction


def test_metrics_counts_become_one_emf_line_per_outcome_and_reset() -> None:
    # GIVEN three decisions counted
    stream = io.StringIO()
    metrics = DecisionMetrics(stream)
    for decision in ("approve", "decline", "approve"):
        metrics.record(decision)
    # WHEN they are flushed
    metrics.flush()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    # THEN each outcome is one EMF document with its count, under the analyzer's metric name
    assert [(line["Decision"], line["Decisions"]) for line in lines] == [("approve", 2), ("decline", 1)]
    for line in lines:
        [directive] = line["_aws"]["CloudWatchMetrics"]
        assert directive == {
            "Namespace": METRICS_NAMESPACE,
            "Dimensions": [["service", "Decision"]],
            "Metrics": [{"Name": "Decisions", "Unit": "Count"}],
        }
        assert line["service"] == "fraud-api" and isinstance(line["_aws"]["Timestamp"], int)
    # AND a flush with nothing new writes nothing
    metrics.flush()
    assert len(stream.getvalue().splitlines()) == 2


def test_metrics_new_decisions_count_and_replays_do_not(client: TestClient) -> None:
    metrics: DecisionMetrics = client.app.state.runtime.metrics  # type: ignore[attr-defined]
    metrics.lines(0)  # start from zero
    body = transaction()
    # WHEN a transaction is scored, then retried
    first = client.post("/api/v1/score", json=body)
    assert client.post("/api/v1/score", json=body).headers.get("Idempotent-Replayed") == "true"
    # THEN one decision was counted, under its outcome
    [line] = [json.loads(line) for line in metrics.lines(0)]
    assert (line["Decision"], line["Decisions"]) == (first.json()["decision"], 1)
