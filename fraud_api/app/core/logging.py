"""JSON log lines on stdout, each with the request id, and never a card number.

Two layers keep PANs out (PCI DSS 3.3/3.5, pci-controls.md §4): ``PanRedactingFilter`` from
fraud_common on the root handler redacts the message, arguments and ``extra`` values, and the
formatter passes its final line through ``redact_pans`` again (it renders exception tracebacks
itself, after the filter ran). The per-request access line (``log_access``) is built from sanitized
values only and skips the first layer, not the second. Request and response bodies are never logged.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any, TextIO, cast

from fraud_common.card import PanRedactingFilter, redact_pans

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
ACCESS_LOGGER = "fraud_api.access"

# LogRecord attributes that are not "extra" fields.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


_ENCODE = json.JSONEncoder(default=str, ensure_ascii=False).encode
"""One encoder for every line: ``json.dumps`` with these options builds a new one per call."""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO-8601 UTC), level, logger, message, request_id, extras."""

    def __init__(self) -> None:
        super().__init__()
        # The timestamp's seconds are formatted once per second, not once per line (the handler
        # calls format under its lock).
        self._second = -1
        self._second_text = ""

    def _timestamp(self, created: float) -> str:
        # ISO-8601 ending in Z rather than epoch milliseconds (a 13-digit number can look like a
        # PAN) or "+00:00" (the PAN detector would join "12:00:00.123+00:00" into 13 digits).
        second = int(created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int((created - second) * 1000):03d}Z"

    def line(self, created: float, level: str, logger: str, message: str, fields: dict[str, Any]) -> str:
        """The JSON line of one event: ``fields`` follow the standard keys in their order."""
        entry: dict[str, Any] = {"ts": self._timestamp(created), "level": level, "logger": logger, "message": message}
        request_id = fields.pop("request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(fields)
        # redact_pans starts with one C-level scan and returns lines without a candidate as they are.
        return redact_pans(_ENCODE(entry))

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
        if record.exc_info:
            fields["exc_info"] = self.formatException(record.exc_info)
        return self.line(record.created, record.levelname, record.name, record.getMessage(), fields)


_access_logger = logging.getLogger(ACCESS_LOGGER)
_handler: logging.StreamHandler[TextIO] | None = None
"""The handler ``configure_logging`` installed: the access line is written to it directly."""


def log_access(method: str, path: str, status: int, duration_ms: float) -> None:
    """The per-request access line, on the JSON handler's stream, shaped like every other line.

    It skips the ``logging`` machinery between a call and its handler (LogRecord, filters, the
    formatter's walk of the record): the line cost ~43 us of a decision's ~740 us of CPU through
    ``logging``, ~20 us this way (py-spy under ``benchmarks/goodput.py``, 8 connections).
    Skipping the redacting filter is safe: the fields are built from sanitized values only (route
    template, validated request id, status, duration), and the line still goes through
    ``redact_pans``. The access logger's level and ``disabled`` flag are honoured; before
    ``configure_logging`` it is a plain log call.
    """
    if not _access_logger.isEnabledFor(logging.INFO):
        return
    fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms}
    handler = _handler
    if handler is None:
        _access_logger.info("request", extra=fields)
        return
    formatter = cast(JsonFormatter, handler.formatter)
    with handler.lock:  # type: ignore[union-attr]  # Handler.__init__ always creates it
        try:
            handler.stream.write(formatter.line(time.time(), "INFO", ACCESS_LOGGER, "request", fields) + "\n")
            handler.flush()
        except Exception:
            # As StreamHandler.emit: a failed log write never fails the request.
            handler.handleError(logging.makeLogRecord({"name": ACCESS_LOGGER, "msg": "request"}))


def configure_logging(level: str = "INFO") -> None:
    """Route every logger (ours, uvicorn's, psycopg's) through one redacting JSON handler."""
    global _handler
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_fraud_api", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PanRedactingFilter())
    handler._fraud_api = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    _handler = handler
    root.setLevel(level)
    # uvicorn installs its own plain-text handlers before importing the app; hand its records to
    # the root handler instead. Its access log is replaced by the request middleware's line.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        uv.handlers.clear()
        uv.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # The pool logs every checkout at INFO; keep its warnings (reconnection failures) only.
    logging.getLogger("psycopg.pool").setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(logging.WARNING)
