"""Local mode's children log no card number and no raw URL (issue 11, finding 5).

The gateway forwards /api/* with httpx, whose INFO line is ``HTTP Request: GET <full URL>``: the
probe found ``/api/v1/decisions/<PAN>?card=<PAN>`` in the gateway's log. Each child (gateway,
poller, moto, reporter) sets up logging with ``configure_child_logging``; run here in a fresh
interpreter, as a child starts.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fraud_common.card import redact_pans
from fraud_local import gateway, poller, reporter, servers
from fraud_local.gateway import ACCESS_LOG_TIME_FORMAT
from tests.support.pan_cases import holds

_CHILD = """
import logging, httpx
from fraud_local.logs import configure_child_logging
configure_child_logging()
client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200)))
client.get("http://127.0.0.1:8081/api/v1/decisions/tx-4111111111111111?card=4111-1111-1111-1111")
logging.getLogger("some.library").warning("card %s and %s", "411111111117", "c:5555555555554444")
logging.getLogger("werkzeug").info('127.0.0.1 "GET /secret/path?q=1 HTTP/1.1" 200')
"""


def test_child_logging_redacts_every_logger_and_never_logs_a_url() -> None:
    # GIVEN a child process's logging WHEN httpx requests a URL full of card numbers and another
    # library logs two (a 12-digit one among them)
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True, timeout=60)
    text = out.stdout + out.stderr
    # THEN no card number and no URL reached the log; the library's line is there, masked
    assert "card 411111**1117 and c:555555******4444" in text
    assert not any(holds(text, pan) for pan in ("4111111111111111", "411111111117", "5555555555554444"))
    assert "/api/v1/decisions" not in text and "HTTP Request" not in text and "/secret/path" not in text


def test_every_child_entry_point_uses_the_redacting_setup() -> None:
    # The children call it before anything logs; a new child must too.
    for module in (gateway, poller, reporter, servers):
        source = Path(str(module.__file__)).read_text(encoding="utf-8")
        assert "configure_child_logging()" in source, module.__name__
        assert "logging.basicConfig" not in source, module.__name__


def test_gateway_access_log_time_never_looks_like_a_card_number() -> None:
    # Every second of a day, formatted as the access line writes it, survives the PAN redaction
    # untouched (API Gateway's own "%d/%b/%Y:%H:%M:%S +0000" form did not, about 1 in 10).
    start = datetime(2026, 11, 21, tzinfo=UTC)
    for second in range(0, 86_400, 7):
        text = (start + timedelta(seconds=second)).strftime(ACCESS_LOG_TIME_FORMAT)
        assert redact_pans(text) == text, text
