"""JSON logs with the request id, the X-Request-Id contract, and the PAN redaction backstop."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from fraud_api.app.api import errors
from fraud_api.app.api.errors import _Sampled
from fraud_api.app.core.logging import JsonFormatter, configure_logging, log_access, request_id_var
from fraud_common.card import PanRedactingFilter
from tests.api.utils import TEST_PAN, running_app, transaction
from tests.support.api_app import make_settings


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_logging_request_id_is_taken_from_caller_and_echoed(client: TestClient) -> None:
    response = client.get("/api/health", headers={"X-Request-Id": "apigw-1234.abcd"})
    assert response.headers["X-Request-Id"] == "apigw-1234.abcd"


def test_logging_request_id_is_generated_when_missing_or_unsafe(client: TestClient) -> None:
    # GIVEN no id, an id with a newline-like payload, and a card number as id
    generated = client.get("/api/health").headers["X-Request-Id"]
    unsafe = client.get("/api/health", headers={"X-Request-Id": "a b<script>"}).headers["X-Request-Id"]
    pan = client.get("/api/health", headers={"X-Request-Id": TEST_PAN}).headers["X-Request-Id"]
    # THEN each got a fresh 32-hex id instead
    for value in (generated, unsafe, pan):
        assert len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def test_logging_emits_one_json_line_per_request_with_request_id(
    database_url: str, model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a service logging to stdout WHEN a transaction is scored with a caller's request id
    with running_app(make_settings(database_url, model_path)) as client:
        capsys.readouterr()
        client.post("/api/v1/score", json=transaction(), headers={"X-Request-Id": "req-42"})
        lines = _json_lines(capsys.readouterr().out)
    # THEN the access line is JSON with the id, route template, status and duration, and no body
    access = [e for e in lines if e["logger"] == "fraud_api.access"]
    assert len(access) == 1
    entry = access[0]
    assert entry["request_id"] == "req-42"
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", "/api/v1/score", 200)
    assert isinstance(entry["duration_ms"], float)
    assert str(entry["ts"]).endswith("Z") and entry["level"] == "INFO"
    assert "cardNumber" not in json.dumps(lines)


def test_logging_unexpected_error_answers_500_with_request_id_and_redacted_traceback(
    database_url: str, model_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a bug that raises with a card number in its message
    with running_app(make_settings(database_url, model_path)) as client:

        def broken(*_: object) -> None:
            raise RuntimeError(f"bug while handling card {TEST_PAN}")

        monkeypatch.setattr(client.app.state.runtime.service, "score", broken)  # type: ignore[attr-defined]
        capsys.readouterr()
        response = client.post("/api/v1/score", json=transaction(), headers={"X-Request-Id": "req-500"})
        output = capsys.readouterr().out
    # THEN the client gets a JSON 500 with its request id and nothing internal
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal_error",
        "message": "unexpected error; quote the requestId",
        "requestId": "req-500",
    }
    assert response.headers["X-Request-Id"] == "req-500"
    # AND the log has the traceback with the request id, the card number masked
    errors = [e for e in _json_lines(output) if e["level"] == "ERROR"]
    assert errors and errors[0]["request_id"] == "req-500"
    assert "RuntimeError" in str(errors[0]["exc_info"]) and "411111******1111" in str(errors[0]["exc_info"])
    assert TEST_PAN not in output


def test_logging_formatter_masks_pan_in_message_args_and_extras(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the service's logging setup
    configure_logging("INFO")
    log = logging.getLogger("fraud_api.test")
    # WHEN a careless call logs a card number every way it can
    log.warning("card %s declined", "4111 1111 1111 1111", extra={"detail": f"retry of {TEST_PAN}", "cvv": "123"})
    line = _json_lines(capsys.readouterr().out)[-1]
    # THEN only BIN + last four survive, and the CVV-named field is dropped
    assert line["message"] == "card 4111 11** **** 1111 declined"
    assert line["detail"] == "retry of 411111******1111"
    assert line["cvv"] == "[REDACTED]"


def test_logging_root_handler_carries_the_redacting_filter() -> None:
    configure_logging("INFO")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_fraud_api", False)]
    assert len(ours) == 1
    assert isinstance(ours[0].formatter, JsonFormatter)
    assert any(isinstance(f, PanRedactingFilter) for f in ours[0].filters)


def test_logging_repeated_503_warnings_are_sampled(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an outage in which every request fails the same way, on a clock the test moves (a
    # loaded machine must not spread the 50 failures over two periods)
    now = {"s": 1000.0}
    monkeypatch.setattr(errors, "time", SimpleNamespace(monotonic=lambda: now["s"]))
    sampled = _Sampled(period_s=7.0)
    with caplog.at_level(logging.WARNING, logger="fraud_api.app.api.errors"):
        # WHEN 50 failures happen within the sampling period, then one more after it
        for _ in range(50):
            sampled.warn("unavailable", "database unavailable", {"error": "x"})
            now["s"] += 0.1
        now["s"] = 1007.0
        sampled.warn("unavailable", "database unavailable", {"error": "x"})
    # THEN two lines were written, the second counting the 49 folded into it
    records = [r for r in caplog.records if r.message == "database unavailable"]
    assert len(records) == 2
    assert records[1].similar_since_last == 49  # type: ignore[attr-defined]


def test_logging_timestamps_are_utc_iso_with_milliseconds_across_seconds() -> None:
    # GIVEN records made in one second, the next, and one from earlier still (another thread's)
    formatter = JsonFormatter()
    made_at = [1767225600.125, 1767225600.875, 1767225601.5, 1767225599.0625, 1767225601.5]  # exact in binary
    made_at.append(1767225601 + 1023 / 1024)  # .99902...: the last millisecond of a second, not the next one

    def line(created: float) -> str:
        record = logging.LogRecord("fraud_api.test", logging.INFO, __file__, 1, "m", None, None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        return str(json.loads(formatter.format(record))["ts"])

    # WHEN each is formatted, in that order
    # THEN each carries its own second and millisecond (2026-01-01T00:00:00Z is 1767225600)
    assert [line(t) for t in made_at] == [
        "2026-01-01T00:00:00.125Z",
        "2026-01-01T00:00:00.875Z",
        "2026-01-01T00:00:01.500Z",
        "2025-12-31T23:59:59.062Z",
        "2026-01-01T00:00:01.500Z",
        "2026-01-01T00:00:01.999Z",
    ]


def test_logging_access_line_has_the_shape_of_every_other_line(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the service's logging setup and a request id in context
    configure_logging("INFO")
    token = request_id_var.set("req-7")
    try:
        # WHEN the access line is written, and the same fields are logged through `logging`
        log_access("POST", "/api/v1/decisions/{transaction_id}", 404, 2.5)
        logging.getLogger("fraud_api.access").info(
            "request",
            extra={"method": "POST", "path": "/api/v1/decisions/{transaction_id}", "status": 404, "duration_ms": 2.5},
        )
    finally:
        request_id_var.reset(token)
    fast, logged = _json_lines(capsys.readouterr().out)
    # THEN both carry the same keys in the same order and the same values (the time aside)
    assert list(fast) == ["ts", "level", "logger", "message", "request_id", "method", "path", "status", "duration_ms"]
    assert list(fast) == list(logged)
    assert {**fast, "ts": None} == {**logged, "ts": None}
    assert fast["request_id"] == "req-7" and fast["status"] == 404 and fast["logger"] == "fraud_api.access"


def test_logging_access_line_follows_the_access_loggers_level(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an operator who turned the access log down (its level), then the service to WARNING
    configure_logging("INFO")
    access = logging.getLogger("fraud_api.access")
    access.setLevel(logging.WARNING)
    try:
        log_access("GET", "/api/health", 200, 0.1)
    finally:
        access.setLevel(logging.NOTSET)
    configure_logging("WARNING")
    log_access("GET", "/api/health", 200, 0.1)
    # THEN no access line was written either time
    assert "fraud_api.access" not in capsys.readouterr().out
    # AND at INFO it is written again
    configure_logging("INFO")
    log_access("GET", "/api/health", 200, 0.1)
    assert '"fraud_api.access"' in capsys.readouterr().out


def test_logging_access_line_is_still_redacted_and_a_failed_write_does_not_raise(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")
    # GIVEN a card number where no sanitized value should ever hold one
    log_access(TEST_PAN, "/api/v1/score", 200, 1.0)
    line = capsys.readouterr().out
    # THEN the line's last layer masks it
    assert TEST_PAN not in line and "411111******1111" in line

    # GIVEN a stdout that fails (a closed pipe) WHEN a line is written THEN the request goes on
    class Broken:
        def write(self, _: str) -> int:
            raise OSError("broken pipe")

        def flush(self) -> None:
            pass

    [ours] = [h for h in logging.getLogger().handlers if getattr(h, "_fraud_api", False)]
    ours.stream = Broken()  # type: ignore[attr-defined]
    failed: list[logging.LogRecord] = []
    report = ours.handleError

    def keep(record: logging.LogRecord) -> None:
        failed.append(record)
        report(record)

    ours.handleError = keep  # type: ignore[method-assign]
    log_access("POST", "/api/v1/score", 200, 1.0)
    # the failure is handed to the handler's error hook as the access logger's "request" record
    assert [(r.name, r.msg) for r in failed] == [("fraud_api.access", "request")]
    # reported as logging reports its own failures, naming the line that was lost
    err = capsys.readouterr().err
    assert "broken pipe" in err and "Message: 'request'" in err


def test_logging_an_explicit_request_id_wins_over_the_context_and_keeps_its_place(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN lines about a given request (background work logs the id it is for), given after
    # another field, with no request in context and then with another one in context
    configure_logging("INFO")
    log = logging.getLogger("fraud_api.test")
    log.warning("late", extra={"attempt": 2, "request_id": "req-other"})
    token = request_id_var.set("req-ctx")
    try:
        log.warning("late", extra={"attempt": 3, "request_id": "req-other"})
    finally:
        request_id_var.reset(token)
    lines = _json_lines(capsys.readouterr().out)
    # THEN each names the request it is about, once, in the request id's usual place
    for line in lines:
        assert list(line) == ["ts", "level", "logger", "message", "request_id", "attempt"]
        assert line["request_id"] == "req-other"
    assert [line["attempt"] for line in lines] == [2, 3]


def test_logging_configure_keeps_handlers_it_did_not_install() -> None:
    # GIVEN a handler someone else put on the root logger (a log shipper, pytest's capture)
    foreign = logging.NullHandler()
    root = logging.getLogger()
    root.addHandler(foreign)
    try:
        # WHEN the service configures its logging twice (a reload)
        configure_logging("INFO")
        configure_logging("INFO")
        # THEN that handler is still there, and the service's own handler is there once
        assert foreign in root.handlers
        assert sum(getattr(h, "_fraud_api", False) for h in root.handlers) == 1
    finally:
        root.removeHandler(foreign)


def test_logging_access_line_makes_no_log_record(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN the service's logging and a handler that sees every record reaching the root logger
    configure_logging("INFO")
    seen: list[logging.LogRecord] = []

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    watcher = Seen()
    logging.getLogger().addHandler(watcher)
    try:
        log_access("POST", "/api/v1/score", 200, 1.0)
    finally:
        logging.getLogger().removeHandler(watcher)
    # THEN the line is written without a LogRecord (the per-request cost this path exists to avoid)
    assert '"fraud_api.access"' in capsys.readouterr().out
    assert seen == []
