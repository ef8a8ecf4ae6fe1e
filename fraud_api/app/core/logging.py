"""JSON log lines on stdout, each with the request id, and never a card number.

Two layers keep PANs out (PCI DSS 3.3/3.5, pci-controls.md §4): ``PanRedactingFilter`` from
fraud_common on the root handler redacts the message, arguments and ``extra`` values, and the
formatter passes its final line through ``redact_pans`` again (it renders exception tracebacks
itself, after the filter ran). The per-request access line is built from sanitized values only
and skips the first layer, not the second. Request and response bodies are never logged.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

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

    def _timestamp(self, record: logging.LogRecord) -> str:
        # ISO-8601 ending in Z rather than epoch milliseconds (a 13-digit number can look like a
        # PAN) or "+00:00" (the PAN detector would join "12:00:00.123+00:00" into 13 digits).
        second = int(record.created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self._timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key != "request_id" and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        # redact_pans starts with one C-level scan and returns lines without a candidate as they are.
        return redact_pans(_ENCODE(entry))


class _RedactUnlessAccessLog(PanRedactingFilter):
    """The fraud_common filter on every record except the access log's, whose fields are built
    from sanitized values only (route template, validated request id, status, duration); its
    final line still goes through the formatter's redaction. Saves ~60 us per request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == ACCESS_LOGGER:
            return True
        return super().filter(record)


def configure_logging(level: str = "INFO") -> None:
    """Route every logger (ours, uvicorn's, psycopg's) through one redacting JSON handler."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_fraud_api", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_RedactUnlessAccessLog())
    handler._fraud_api = True  # type: ignore[attr-defined]
    root.addHandler(handler)
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
