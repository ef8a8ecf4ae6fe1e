"""Request id, access log and the request's trace span, as a plain ASGI middleware (no per-request
task or body copy)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fraud_api.app.core.logging import log_access, request_id_var
from fraud_common.card import contains_pan, redact_pans

REQUEST_ID_HEADER = "x-request-id"
# Accept a caller's id (API Gateway's, the ALB's trace id) only if it is short and inert.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:=/+-]{1,128}$")
logger = logging.getLogger("fraud_api.errors")
_INTERNAL_START: Message = {
    "type": "http.response.start",
    "status": 500,
    "headers": [(b"content-type", b"application/json")],
}


def _route_templates(app: Any) -> list[tuple[re.Pattern[str], str]]:
    paths = app.openapi().get("paths", {}) if hasattr(app, "openapi") else {}
    return [(re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(p)) + "$"), p) for p in paths]


def _internal_body(request_id: str) -> bytes:
    body = {"error": "internal_error", "message": "unexpected error; quote the requestId", "requestId": request_id}
    return json.dumps(body).encode()


def request_id_of(scope: Scope) -> str:
    """The caller's ``X-Request-Id`` if it is safe to log and store, else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            # A card number is a valid-looking id too; it must not become a log field or a
            # stored request_id. Replaced rather than refused: API Gateway and the ALB set this
            # header, and a generated id that happens to look like a card must not fail a payment.
            if _VALID_ID.match(candidate) and not contains_pan(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Takes ``X-Request-Id`` from the request or makes one, exposes it to every log line of the
    request, returns it in the response and writes one access log line (no body, no query); a
    sampled request also gets its server span (core/tracing.py), named by the same route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: list[tuple[re.Pattern[str], str]] | None = None

    def _loggable_path(self, scope: Scope) -> str:
        """The route template (``/api/v1/decisions/{transaction_id}``) rather than the raw path: no
        client-controlled value reaches the log, and the field has few distinct values. Paths no
        route declares are logged redacted."""
        if self._templates is None:
            self._templates = _route_templates(scope.get("app"))
        path = str(scope.get("path", ""))
        for pattern, template in self._templates:
            if pattern.match(path):
                return template
        return redact_pans(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = request_id_var.set(request_id)
        traced = scope["app"].state.runtime.tracing.start_request(scope["method"], scope["headers"], request_id)
        started = time.perf_counter()
        status = 500
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Handled here rather than by Starlette's outermost handler so the 500 still carries
            # the request id (header, body, log line). The traceback is logged, redacted.
            logger.exception("unhandled error")
            if started_response:
                raise
            await send_with_id(_INTERNAL_START)
            await send_with_id({"type": "http.response.body", "body": _internal_body(request_id)})
        finally:
            path = self._loggable_path(scope)
            log_access(scope["method"], path, status, round((time.perf_counter() - started) * 1000.0, 3))
            if traced is not None:
                traced.end(scope["method"], path, status)
            request_id_var.reset(token)
