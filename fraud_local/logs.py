"""Logging of local mode's own children (gateway, poller, moto, reporter): plain lines on stdout
(the child's log file), every record through the PAN-redacting filter.

The filter sits on the root *handler*, so it also sees records of libraries' loggers (httpx,
uvicorn, werkzeug, botocore), not only ours. Request lines that would hold a raw URL are not
logged at all: httpx's ``HTTP Request: GET http://.../api/v1/decisions/<id>?<query>`` and
werkzeug's ``"GET /<path>?<query> HTTP/1.1" 200``. A client chooses paths and query strings, and
the project never logs them raw (the gateway's access line logs the route template instead).
"""

from __future__ import annotations

import logging
import sys

from fraud_common.card import redact_every_handler

URL_LOGGERS = ("httpx", "httpcore", "werkzeug")
"""Loggers whose INFO/DEBUG lines carry a full URL or request line; kept to warnings."""


def configure_child_logging(level: int = logging.INFO) -> None:
    """Root handler on stdout with PAN redaction; URL-logging libraries and botocore quieted."""
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stdout)
    redact_every_handler()
    for name in URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(logging.WARNING)  # "Found credentials..." on every client
