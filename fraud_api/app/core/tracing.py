"""Traces from inside fraud-api: one server span per request, child spans for the database and scoring.

OpenTelemetry, not the X-Ray SDK: AWS put the X-Ray SDKs and daemon in maintenance mode on
2026-02-25 (security fixes only) and recommends OpenTelemetry instrumentation with the ADOT
collector for sending traces to X-Ray ("X-Ray SDK and Daemon Support timeline",
https://docs.aws.amazon.com/xray/latest/devguide/xray-sdk-daemon-timeline.html). The spans go over
OTLP/HTTP to the collector sidecar in the task (components/containers.py), which exports them to
X-Ray; X-Ray-format trace ids (AwsXRayIdGenerator) and the X-Ray propagator let the request's span
continue the trace API Gateway started (the ALB forwards ``X-Amzn-Trace-Id``).

Cost: the OTel API is used directly, no auto-instrumentation package (those wrap every ASGI message
and every psycopg call, on a request that spends about 1 ms of CPU). A request that arrives without
a trace and that the rate leaves out costs one random draw: the SDK is not called (its trace id,
sampler decision and non-recording span were ~1.4 % of a decision's CPU at the default rate, py-spy).
Child spans are made only while the request's span records (``span()`` checks a context variable
the request span sets).

Card data: no span carries the body, a header other than the request id, the raw path (the route
template instead), a query parameter or an exception message (psycopg's can quote a row's values,
card hash included); a failure is recorded as its type only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar, Token
from dataclasses import dataclass
from random import random
from typing import IO

from opentelemetry import context, trace
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.propagators.aws.aws_xray_propagator import TRACE_HEADER_KEY
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from fraud_api.app.core.config import Settings

SERVICE = "fraud-api"
"""The service name X-Ray shows (and the trace group in components/observability.py filters on)."""
OTLP_TRACES_PATH = "/v1/traces"
_TRACE_HEADER = TRACE_HEADER_KEY.lower().encode("latin-1")
_PROPAGATOR = AwsXRayPropagator()
_NOT_RECORDING: AbstractContextManager[None] = nullcontext()
# The tracer of the request being recorded; None while the request is not sampled (or tracing is off).
_recording: ContextVar[Tracer | None] = ContextVar("fraud_api_tracer", default=None)


def _json_line(span: ReadableSpan) -> str:
    return span.to_json(indent=None) + "\n"


@dataclass
class RequestSpan:
    """A sampled request's server span, current until ``end``."""

    span: Span
    _context: Token[context.Context]
    _tracer: Token[Tracer | None]

    def end(self, method: str, route: str, status: int) -> None:
        """``route`` is the template (``/api/v1/decisions/{transaction_id}``), never the raw path."""
        self.span.update_name(f"{method} {route}")
        self.span.set_attribute("http.route", route)
        self.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            self.span.set_status(StatusCode.ERROR)
        _recording.reset(self._tracer)
        context.detach(self._context)
        self.span.end()


class Tracing:
    """The process's tracer provider (None: tracing off) and the two hooks the request path uses."""

    def __init__(self, provider: TracerProvider | None, sink: IO[str] | None = None, rate: float = 1.0) -> None:
        """``rate``: the share of requests arriving without a trace that start one."""
        self.provider = provider
        self._tracer = provider.get_tracer("fraud_api") if provider is not None else None
        self._sink = sink
        self._rate = rate

    @classmethod
    def build(cls, settings: Settings, exporter: SpanExporter | None = None) -> Tracing:
        """From the settings; ``exporter`` replaces the configured one (tests: InMemorySpanExporter)."""
        if exporter is None and settings.TRACE_EXPORTER == "none":
            return cls(None)
        sink = None
        if exporter is None and settings.TRACE_EXPORTER == "file":
            assert settings.TRACE_FILE is not None  # guaranteed by Settings validation
            # Line-buffered appends: several worker processes may share the file, one span per line.
            sink = settings.TRACE_FILE.open("a", encoding="utf-8", buffering=1)
            exporter = ConsoleSpanExporter(out=sink, formatter=_json_line)
        elif exporter is None:
            # Imported here: its HTTP stack is only needed where there is a collector to talk to.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=settings.TRACE_OTLP_ENDPOINT.rstrip("/") + OTLP_TRACES_PATH)
        provider = TracerProvider(
            # ParentBased: a caller's decision (API Gateway's, through X-Amzn-Trace-Id, made by the
            # stack's X-Ray sampling rule) is kept, so a trace is whole or absent. The rate applies
            # to requests that arrive without one, in start_request, before a root span is asked
            # for: the roots that reach the SDK are already chosen.
            sampler=ParentBased(ALWAYS_ON),
            resource=Resource.create({SERVICE_NAME: SERVICE}),
            id_generator=AwsXRayIdGenerator(),
        )
        # Batched, in the SDK's own thread: the request path only appends to a bounded queue
        # (2048 spans by default; beyond, spans are dropped, never waited for), so a slow or
        # absent collector cannot delay a decision.
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider, sink, settings.TRACE_SAMPLE_RATE)

    def start_request(self, method: str, headers: list[tuple[bytes, bytes]], request_id: str) -> RequestSpan | None:
        """The request's server span, made current; None (and nothing current) unless sampled."""
        if self._tracer is None:
            return None
        parent = None
        for name, value in headers:
            if name == _TRACE_HEADER:
                extracted = _PROPAGATOR.extract({TRACE_HEADER_KEY: value.decode("latin-1")})
                # A malformed header carries no trace: the request is a root like one without it
                # (else ALWAYS_ON below would trace every request that sends garbage).
                if trace.get_current_span(extracted).get_span_context().is_valid:
                    parent = extracted
                break
        if parent is None and random() >= self._rate:
            return None
        span = self._tracer.start_span(
            method, parent, SpanKind.SERVER, {"http.request.method": method, "fraud.request_id": request_id}
        )
        if not span.is_recording():
            return None
        return RequestSpan(span, context.attach(trace.set_span_in_context(span)), _recording.set(self._tracer))

    def shutdown(self) -> None:
        """Export what is queued, then stop (blocking: call it off the event loop)."""
        if self.provider is not None:
            self.provider.shutdown()
        if self._sink is not None:
            self._sink.close()


def span(
    name: str, attributes: Mapping[str, AttributeValue] | None = None, kind: SpanKind = SpanKind.INTERNAL
) -> AbstractContextManager[Span | None]:
    """A child span of the current request while it is recorded, else nothing (the span is None).
    ``kind=CLIENT`` for a call to another service (the database)."""
    tracer = _recording.get()
    if tracer is None:
        return _NOT_RECORDING
    return _child(tracer, name, attributes, kind)


@contextmanager
def _child(
    tracer: Tracer, name: str, attributes: Mapping[str, AttributeValue] | None, kind: SpanKind
) -> Iterator[Span]:
    with tracer.start_as_current_span(
        name, kind=kind, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as child:
        try:
            yield child
        except BaseException as exc:
            child.set_status(StatusCode.ERROR)
            child.set_attribute("error.type", type(exc).__qualname__)
            raise


def db_span(operation: str, summary: str) -> AbstractContextManager[Span | None]:
    """A statement on ``transactions`` as a CLIENT span named ``<operation> transactions (<summary>)``.
    ``db.system`` (not the newer ``db.system.name``) is what X-Ray's exporter reads to show the call
    as a PostgreSQL node on the trace map. Never the statement's parameters."""
    if _recording.get() is None:
        return _NOT_RECORDING
    attributes = {"db.system": "postgresql", "db.operation.name": operation, "db.collection.name": "transactions"}
    return span(f"{operation} transactions ({summary})", attributes, SpanKind.CLIENT)


def completed_span(name: str, start_ns: int, attributes: Mapping[str, AttributeValue] | None = None) -> None:
    """A child span from ``start_ns`` (``time.time_ns()``, the SDK's clock) to now, for a wait whose
    start and end are in different blocks (a pool checkout: the span must not cover the work done
    with the connection)."""
    tracer = _recording.get()
    if tracer is not None:
        tracer.start_span(name, attributes=attributes, start_time=start_ns).end()
