"""Which requests start a trace: the caller's decision when it sent a valid trace header, else the
rate, drawn before the OpenTelemetry SDK is called (no database needed here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fraud_api.app.core import tracing
from fraud_api.app.core.config import Settings
from fraud_api.app.core.tracing import Tracing

LOCAL: dict[str, Any] = {"ENVIRONMENT": "local", "DATABASE_URL": "postgresql:///x", "API_CONFIG_JSON": "{}"}
EDGE = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled="


def _tracing(rate: float) -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return Tracing.build(Settings(**LOCAL, TRACE_SAMPLE_RATE=rate), exporter), exporter


def _draws(monkeypatch: pytest.MonkeyPatch, values: list[float]) -> list[float]:
    """The draws the sampler will make, in order; the list empties as they are used."""
    monkeypatch.setattr(tracing, "random", lambda: values.pop(0))
    return values


def _started(t: Tracing, headers: list[tuple[bytes, bytes]] | None = None) -> bool:
    traced = t.start_request("POST", headers or [], "req-1")
    if traced is None:
        return False
    traced.end("POST", "/api/v1/score", 200)
    return True


@pytest.fixture
def quarter() -> Iterator[tuple[Tracing, InMemorySpanExporter]]:
    t, exporter = _tracing(0.25)
    yield t, exporter
    t.shutdown()


def test_trace_sampling_roots_follow_the_draw_against_the_rate(
    quarter: tuple[Tracing, InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch
) -> None:
    t, exporter = quarter
    # GIVEN a rate of 0.25 and these draws for five requests without a trace header
    _draws(monkeypatch, [0.1, 0.3, 0.2499, 0.25, 0.9])
    # THEN exactly the draws below the rate start a trace
    assert [_started(t) for _ in range(5)] == [True, False, True, False, False]
    assert t.provider is not None and t.provider.force_flush(5_000)
    assert len(exporter.get_finished_spans()) == 2


def test_trace_sampling_a_request_left_out_never_reaches_the_sdk(
    quarter: tuple[Tracing, InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch
) -> None:
    t, _ = quarter
    _draws(monkeypatch, [0.5])

    def no_sdk(*_: object, **__: object) -> None:
        raise AssertionError("the SDK was asked for a span")

    monkeypatch.setattr(t._tracer, "start_span", no_sdk)
    assert t.start_request("POST", [], "req-1") is None


def test_trace_sampling_a_valid_caller_decision_is_kept_without_a_draw(
    quarter: tuple[Tracing, InMemorySpanExporter], monkeypatch: pytest.MonkeyPatch
) -> None:
    t, _ = quarter
    draws = _draws(monkeypatch, [])  # any draw would fail: pop from an empty list
    # WHEN the edge sampled the request, and when it did not THEN its decision holds, whatever the rate
    assert _started(t, [(b"x-amzn-trace-id", (EDGE + "1").encode())])
    assert not _started(t, [(b"x-amzn-trace-id", (EDGE + "0").encode())])
    assert draws == []


@pytest.mark.parametrize("header", [b"garbage", b"Root=1-zz;Parent=1;Sampled=1", b"Sampled=1"])
def test_trace_sampling_a_malformed_header_is_a_root_under_the_rate(
    header: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a service that traces nothing by itself (rate 0)
    t, exporter = _tracing(0.0)
    try:
        # WHEN requests send a trace header that carries no valid trace, even one claiming Sampled=1
        started = [_started(t, [(b"x-amzn-trace-id", header)]) for _ in range(20)]
        # THEN none is traced: garbage in the header cannot switch tracing on for a request
        assert started == [False] * 20
        assert t.provider is not None and t.provider.force_flush(5_000)
        assert exporter.get_finished_spans() == ()
    finally:
        t.shutdown()
