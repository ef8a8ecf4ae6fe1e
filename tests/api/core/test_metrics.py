"""Decision metrics: CloudWatch EMF lines the dashboard sums with the analyzer's."""

from __future__ import annotations

import io
import json

from fastapi.testclient import TestClient

from fraud_api.app.core.metrics import DecisionMetrics, log_safe_epoch_ms
from fraud_common.card import luhn_valid
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


def test_metrics_refusals_become_one_emf_line_per_reason_after_the_decisions() -> None:
    # GIVEN a decision and three overload refusals for two reasons
    metrics = DecisionMetrics(io.StringIO())
    metrics.record("approve")
    for reason in ("over_budget", "queue_full", "over_budget"):
        metrics.record_refusal(reason)
    # WHEN the lines are taken
    lines = [json.loads(line) for line in metrics.lines(1_764_000_000_000)]
    # THEN each reason is one `Refused` count with its own dimension, and the counts reset
    assert [(line.get("Decision"), line.get("Reason")) for line in lines] == [
        ("approve", None),
        (None, "over_budget"),
        (None, "queue_full"),
    ]
    refused = lines[1:]
    assert [line["Refused"] for line in refused] == [2, 1]
    for line in refused:
        assert line["_aws"]["CloudWatchMetrics"] == [
            {
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [["service", "Reason"]],
                "Metrics": [{"Name": "Refused", "Unit": "Count"}],
            }
        ]
        assert line["service"] == "fraud-api" and line["_aws"]["Timestamp"] == 1_764_000_000_000
    assert metrics.lines(0) == []


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


def test_metrics_timestamps_never_look_like_a_card_number() -> None:
    # GIVEN every millisecond of a second, about a tenth of which pass the Luhn check
    stamps = [log_safe_epoch_ms(1_764_000_000_000 + ms) for ms in range(1000)]
    # THEN none is written as a Luhn-valid number, and none moves by more than a millisecond
    assert not [s for s in stamps if luhn_valid(str(s))]
    assert all(0 <= s - (1_764_000_000_000 + ms) <= 1 for ms, s in enumerate(stamps))
