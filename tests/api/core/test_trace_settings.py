"""Trace settings: the sample rate's range, the exporter choice, the JSON-lines sink of local mode."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from fraud_api.app.core.config import Settings
from fraud_api.app.core.tracing import Tracing
from tests.support.api_app import LOCAL_SETTINGS


def _error(**values: Any) -> str:
    with pytest.raises(ValidationError) as info:
        Settings(**LOCAL_SETTINGS, **values)
    return str(info.value)


def test_trace_settings_defaults_are_off_at_five_percent_to_the_sidecar() -> None:
    settings = Settings(**LOCAL_SETTINGS)
    assert (settings.TRACE_EXPORTER, settings.TRACE_SAMPLE_RATE, settings.TRACE_OTLP_ENDPOINT) == (
        "none",
        0.05,
        "http://127.0.0.1:4318",
    )
    assert Tracing.build(settings).provider is None


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_trace_settings_accept_the_ends_of_the_range(rate: float) -> None:
    assert rate == Settings(**LOCAL_SETTINGS, TRACE_SAMPLE_RATE=rate).TRACE_SAMPLE_RATE


@pytest.mark.parametrize("rate", [-0.01, 1.01, 5.0, float("nan")])
def test_trace_settings_reject_a_rate_outside_zero_to_one_by_name(rate: float) -> None:
    error = _error(TRACE_SAMPLE_RATE=rate)
    assert f"FRAUD_API_TRACE_SAMPLE_RATE ({rate}) must be between 0 and 1" in error


def test_trace_settings_reject_a_rate_that_is_not_a_number_and_a_file_sink_without_a_file() -> None:
    assert "TRACE_SAMPLE_RATE" in _error(TRACE_SAMPLE_RATE="five percent")
    assert "FRAUD_API_TRACE_EXPORTER=file needs FRAUD_API_TRACE_FILE" in _error(TRACE_EXPORTER="file")
    assert "TRACE_EXPORTER" in _error(TRACE_EXPORTER="xray")


def test_trace_settings_file_sink_writes_one_json_span_per_line(tmp_path: Path) -> None:
    # GIVEN local mode's sink
    sink = tmp_path / "traces.jsonl"
    tracing = Tracing.build(Settings(**LOCAL_SETTINGS, TRACE_EXPORTER="file", TRACE_FILE=sink, TRACE_SAMPLE_RATE=1.0))
    # WHEN a request is traced and the process stops
    request = tracing.start_request("GET", [], "r-1")
    assert request is not None
    request.end("GET", "/api/ready", 200)
    tracing.shutdown()
    # THEN the file holds that span as one JSON object on one line
    (line,) = sink.read_text(encoding="utf-8").splitlines()
    span = json.loads(line)
    assert span["name"] == "GET /api/ready"
    assert span["kind"] == "SpanKind.SERVER"
    assert span["attributes"]["fraud.request_id"] == "r-1"
    assert span["resource"]["attributes"]["service.name"] == "fraud-api"


def test_trace_settings_file_sink_is_line_buffered_and_closed_at_shutdown(tmp_path: Path) -> None:
    sink = tmp_path / "traces.jsonl"
    t = Tracing.build(Settings(**LOCAL_SETTINGS, TRACE_EXPORTER="file", TRACE_FILE=sink, TRACE_SAMPLE_RATE=1.0))
    # Workers share the file: each span line must reach it in one write, never split by a buffer.
    opened = t._sink
    assert isinstance(opened, io.TextIOWrapper) and opened.line_buffering
    t.shutdown()
    assert opened.closed
