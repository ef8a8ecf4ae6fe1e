"""Which requests start a trace (the caller's decision when it sent a valid trace header, else the
rate, drawn before the OpenTelemetry SDK is called) and the spans a traced request sends. No database needed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fraud_api.app.core import tracing
from fraud_api.app.core.config import Settings
from fraud_api.app.core.tracing import Tracing
from tests.support.api_app import LOCAL_SETTINGS

EDGE = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled="


def _tracing(rate: float) -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    return Tracing.build(Settings(**LOCAL_SETTINGS, TRACE_SAMPLE_RATE=rate), exporter), exporter


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


def test_trace_sampling_is_not_overridden_by_the_sdks_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the SDK's own sampler variable set to drop everything (an image default, a stray export)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    t, exporter = _tracing(1.0)
    try:
        # THEN the service's rate still decides: a chosen request is recorded
        assert _started(t)
        assert t.provider is not None and t.provider.force_flush(5_000)
        assert len(exporter.get_finished_spans()) == 1
    finally:
        t.shutdown()


def test_trace_sampling_a_completed_wait_span_starts_when_the_wait_began() -> None:
    t, exporter = _tracing(1.0)
    try:
        request = t.start_request("POST", [], "req-1")
        assert request is not None
        began = time.time_ns() - 5_000_000  # a pool checkout that began 5 ms ago
        tracing.completed_span("pool checkout", began)
        request.end("POST", "/api/v1/score", 200)
        assert t.provider is not None and t.provider.force_flush(5_000)
        [checkout] = [s for s in exporter.get_finished_spans() if s.name == "pool checkout"]
        assert checkout.start_time == began and (checkout.end_time or 0) > began
    finally:
        t.shutdown()


class _Collector(BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Collector.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def test_trace_sampling_otlp_spans_go_to_the_collectors_traces_path() -> None:
    # GIVEN a collector on 127.0.0.1 behind a path prefix, configured with a trailing slash
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Collector.paths = []
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/collectorX/"
    t = Tracing.build(
        Settings(**LOCAL_SETTINGS, TRACE_EXPORTER="otlp", TRACE_OTLP_ENDPOINT=endpoint, TRACE_SAMPLE_RATE=1.0)
    )
    try:
        # WHEN a request is traced and the spans are flushed
        assert _started(t)
        assert t.provider is not None and t.provider.force_flush(10_000)
    finally:
        t.shutdown()
        server.shutdown()
        server.server_close()
    # THEN they were posted to the OTLP/HTTP traces path under that prefix, once
    assert _Collector.paths == ["/collectorX/v1/traces"]
