"""Traces from inside fraud-api (core/tracing.py): the span tree of a decision, the edge's trace
continued, sampling, and no card data in any span."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from fraud_api.app.main import create_app
from tests.api.utils import OTHER_PAN, TEST_PAN, query, transaction
from tests.support.api_app import make_settings
from tests.support.pan_cases import holds

# An X-Ray trace header as API Gateway forwards it (the ALB adds its Self field).
EDGE_ROOT = "1-67891233-abcdef012345678912345678"
EDGE_PARENT = "53995c3f42cd8ad8"
EDGE_TRACE_ID = 0x67891233ABCDEF012345678912345678


@contextmanager
def traced_app(database_url: str, model_path: Path, rate: float) -> Iterator[tuple[TestClient, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    settings = make_settings(database_url, model_path, TRACE_SAMPLE_RATE=rate)
    with TestClient(create_app(settings, span_exporter=exporter), raise_server_exceptions=False) as client:
        yield client, exporter


def exported(client: TestClient, exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """The spans exported so far (the batch processor exports on its own schedule: flush first)."""
    provider = client.app.state.runtime.tracing.provider  # type: ignore[attr-defined]
    assert provider.force_flush(10_000)
    return list(exporter.get_finished_spans())


@pytest.fixture(scope="module")
def always(database_url: str, model_path: Path) -> Iterator[tuple[TestClient, InMemorySpanExporter]]:
    with traced_app(database_url, model_path, 1.0) as app:
        yield app


@pytest.fixture
def traced(always: tuple[TestClient, InMemorySpanExporter]) -> tuple[TestClient, InMemorySpanExporter]:
    exported(*always)
    always[1].clear()
    return always


def test_tracing_score_is_one_server_span_with_database_and_scoring_children(
    traced: tuple[TestClient, InMemorySpanExporter],
) -> None:
    client, exporter = traced
    # WHEN one transaction is scored at sample rate 1
    response = client.post("/api/v1/score", json=transaction(), headers={"X-Request-Id": "req-tree-1"})
    assert response.status_code == 200
    spans = exported(client, exporter)
    # THEN one trace: the request's server span, named by its route, and its children in order
    (server,) = [s for s in spans if s.parent is None]
    assert server.name == "POST /api/v1/score" and server.kind is SpanKind.SERVER
    assert dict(server.attributes or {}) == {
        "http.request.method": "POST",
        "fraud.request_id": "req-tree-1",
        "http.route": "/api/v1/score",
        "http.response.status_code": 200,
    }
    children = sorted((s for s in spans if s.parent is not None), key=lambda s: s.start_time or 0)
    assert [s.name for s in children] == [
        "pool checkout",
        "SELECT transactions (history)",
        "score: features + model",
        "INSERT transactions (decision)",
    ]
    assert {s.context.trace_id for s in spans} == {server.context.trace_id}
    assert all(s.parent is not None and s.parent.span_id == server.context.span_id for s in children)
    # AND the database calls are client calls to PostgreSQL, the score carries the decision
    history, insert = children[1], children[3]
    assert history.kind is SpanKind.CLIENT and insert.kind is SpanKind.CLIENT
    assert dict(insert.attributes or {}) == {
        "db.system": "postgresql",
        "db.operation.name": "INSERT",
        "db.collection.name": "transactions",
    }
    assert dict(children[2].attributes or {}) == {
        "fraud.decision": "approve",
        "fraud.model_version": "test-amount-tree-1",
    }
    # AND the trace id is X-Ray's: its first 8 hex digits are the start time in epoch seconds
    assert abs(int(f"{server.context.trace_id:032x}"[:8], 16) - (server.start_time or 0) // 10**9) <= 1


def test_tracing_continues_the_trace_of_the_edge(database_url: str, model_path: Path) -> None:
    # GIVEN a service that would trace nothing by itself (rate 0)
    with traced_app(database_url, model_path, 0.0) as (client, exporter):
        header = f"Self=1-67891234-12456789abcdef012345678;Root={EDGE_ROOT};Parent={EDGE_PARENT};Sampled=1"
        # WHEN API Gateway forwards a request it sampled
        assert client.post("/api/v1/score", json=transaction(), headers={"X-Amzn-Trace-Id": header}).status_code == 200
        spans = exported(client, exporter)
    # THEN the request's span continues that trace, as a child of the edge's segment
    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    assert server.context.trace_id == EDGE_TRACE_ID
    assert server.parent is not None and server.parent.is_remote and server.parent.span_id == int(EDGE_PARENT, 16)
    assert len(spans) == 5 and {s.context.trace_id for s in spans} == {EDGE_TRACE_ID}


def test_tracing_follows_the_edge_decision_not_to_sample(traced: tuple[TestClient, InMemorySpanExporter]) -> None:
    client, exporter = traced
    # WHEN the edge did not sample the request, at a rate of 1 here
    header = f"Root={EDGE_ROOT};Parent={EDGE_PARENT};Sampled=0"
    assert client.post("/api/v1/score", json=transaction(), headers={"X-Amzn-Trace-Id": header}).status_code == 200
    # THEN nothing is exported
    assert exported(client, exporter) == []


def test_tracing_rate_zero_exports_nothing(database_url: str, model_path: Path) -> None:
    with traced_app(database_url, model_path, 0.0) as (client, exporter):
        for _ in range(20):
            assert client.post("/api/v1/score", json=transaction()).status_code == 200
        assert exported(client, exporter) == []


def test_tracing_marks_server_errors_by_status_only(traced: tuple[TestClient, InMemorySpanExporter]) -> None:
    client, exporter = traced
    # WHEN a request is refused (400) and a decision is read that does not exist (404)
    assert client.post("/api/v1/score", json=transaction(amount="-1")).status_code == 400
    assert client.get("/api/v1/decisions/tx-none").status_code == 404
    spans = [s for s in exported(client, exporter) if s.kind is SpanKind.SERVER]
    # THEN each is one server span named by its route template, with its status, not an error
    assert sorted((s.name, (s.attributes or {})["http.response.status_code"]) for s in spans) == [
        ("GET /api/v1/decisions/{transaction_id}", 404),
        ("POST /api/v1/score", 400),
    ]
    assert {s.status.status_code for s in spans} == {StatusCode.UNSET}


def _span_text(span: ReadableSpan) -> str:
    return span.to_json(indent=None)


def test_tracing_no_card_number_or_card_hash_in_any_span(
    traced: tuple[TestClient, InMemorySpanExporter], database_url: str
) -> None:
    client, exporter = traced
    # GIVEN every way a client can send a card number: valid, conflicting, in the wrong field, in the
    # path, in the request id, in a broken body
    first = transaction(cardNumber="4111 1111 1111 1111")
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/api/v1/score", {"json": first}),
        ("POST", "/api/v1/score", {"json": first}),  # replayed: the stored row is read back
        ("POST", "/api/v1/score", {"json": {**first, "cardNumber": OTHER_PAN}}),  # 409
        ("POST", "/api/v1/score", {"json": transaction(customerId=TEST_PAN, pan=TEST_PAN)}),  # 400
        ("POST", "/api/v1/score", {"content": f'{{"cardNumber": "{TEST_PAN}", '.encode()}),  # broken JSON
        ("GET", f"/api/v1/decisions/{TEST_PAN}", {}),
        ("GET", "/api/v1/decisions/x", {"headers": {"X-Request-Id": TEST_PAN}}),
        ("GET", f"/api/unrouted/{TEST_PAN}", {}),
    ]
    statuses = [client.request(method, url, **kwargs).status_code for method, url, kwargs in requests]
    assert statuses == [200, 200, 409, 400, 400, 400, 404, 404]
    (card_hash,) = query(
        database_url, "SELECT card_hash FROM transactions WHERE transaction_id = %s", (first["transactionId"],)
    )[0]
    spans = exported(client, exporter)
    # THEN the spans were recorded (a span per request at least) and none holds the card number in
    # any spelling, nor its keyed hash: not in a name, an attribute, an event, a status or the resource
    assert len([s for s in spans if s.kind is SpanKind.SERVER]) == len(requests)
    for span in spans:
        text = _span_text(span)
        assert not holds(text, TEST_PAN) and not holds(text, OTHER_PAN), span.name
        assert card_hash not in text, span.name
