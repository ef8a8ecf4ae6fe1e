"""Error bodies and the exception handlers that produce them.

Every error is JSON ``{"error": <code>, "message"?, "problems"?, "requestId"}``. Validation
problems list each field; no message echoes a submitted value (a card number may be anywhere),
nor the name of an unknown field (a client-chosen key may be a card number too): that one is
named by its position in the JSON object.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fraud_api.app.core.db import DatabaseUnavailable
from fraud_api.app.core.logging import request_id_var
from fraud_api.app.models import ErrorPublic
from fraud_api.app.scoring import NotFound, TransactionConflict
from fraud_common.card import contains_pan
from fraud_common.transaction import InvalidTransaction

logger = logging.getLogger(__name__)

RETRY_AFTER_S = "1"


class InvalidRequest(Exception):
    """A request body that parsed but breaks a rule the model cannot express."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))
        self.problems = problems


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorPublic, "description": "Invalid request: `problems` lists every field problem."},
    404: {"model": ErrorPublic, "description": "No such transaction."},
    409: {"model": ErrorPublic, "description": "transactionId already scored with a different payload."},
    503: {
        "model": ErrorPublic,
        "description": "`database_unavailable` or `overloaded`; retry after `Retry-After` seconds.",
    },
}


VALIDATION_STATUS = "422"
"""What FastAPI declares for every operation with parameters or a body. This service never sends
it: a request that fails validation is a 400 (``_invalid_request``), as API Gateway and the
processor answer, so the document must not promise it."""


def declare_actual_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with FastAPI's implicit 422 removed (in place), so each operation declares
    exactly the statuses its route can return: the ones listed in ``responses=`` plus 200."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop(VALIDATION_STATUS, None)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema


def error_response(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> JSONResponse:
    body["requestId"] = request_id_var.get()
    return JSONResponse(body, status_code=status, headers=headers)


def _field(loc: tuple[int | str, ...]) -> str:
    # Drop the "body"/"path" prefix FastAPI adds: clients know fields by their JSON names.
    parts = [str(p) for p in loc[1:]] if len(loc) > 1 and loc[0] in ("body", "path", "query") else [str(p) for p in loc]
    return ".".join(parts) or "body"


async def _invalid_transaction(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidTransaction)
    return error_response(400, exc.as_body())


def _ordinal(position: int) -> str:
    suffix = "th" if 10 <= position % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(position % 10, "th")
    return f"{position}{suffix}"


def _validation_problem(error: Mapping[str, Any], body: object) -> dict[str, str]:
    """One pydantic error as ``{"field", "message"}``, with nothing the client chose in it."""
    loc = tuple(error.get("loc", ()))
    if error.get("type") == "extra_forbidden":
        # loc ends with the unknown key itself: report where it is, not what it is.
        keys = list(body) if isinstance(body, dict) else []
        where = f"the {_ordinal(keys.index(loc[-1]) + 1)} field" if loc and loc[-1] in keys else "a field"
        parent = _field(loc[:-1]) if len(loc) > 2 else "body"
        return {"field": parent, "message": f"{where} is unknown; see the request schema for the allowed fields"}
    message = str(error.get("msg", ""))
    # Pydantic's messages describe the rule, not the input; a safety net in case one ever does.
    return {"field": _field(loc), "message": "is invalid" if contains_pan(message) else message}


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, RequestValidationError):
        problems = [_validation_problem(e, exc.body) for e in exc.errors()]
    else:
        assert isinstance(exc, InvalidRequest)
        problems = [{"field": f, "message": m} for f, m in exc.problems]
    return error_response(400, {"error": "invalid_request", "problems": problems})


async def _not_found(_: Request, __: Exception) -> JSONResponse:
    return error_response(404, {"error": "not_found", "message": "no transaction with this transactionId"})


async def _conflict(_: Request, __: Exception) -> JSONResponse:
    return error_response(
        409,
        {
            "error": "transaction_id_conflict",
            "message": "this transactionId was already scored with a different payload; use a new transactionId",
        },
    )


class _Sampled:
    """At most one warning per ``period_s`` per kind, carrying how many were folded into it.

    During an outage or an overload every request fails the same way; one line per request
    would cost ~1 ms of CPU each exactly when CPU is short, and flood the logs. The access log
    still records every request's status.
    """

    def __init__(self, period_s: float = 1.0) -> None:
        self.period_s = period_s
        self._next: dict[str, float] = {}
        self._folded: dict[str, int] = {}

    def warn(self, kind: str, message: str, extra: dict[str, Any]) -> None:
        now = time.monotonic()
        if now < self._next.get(kind, 0.0):
            self._folded[kind] = self._folded.get(kind, 0) + 1
            return
        self._next[kind] = now + self.period_s
        logger.warning(message, extra={**extra, "similar_since_last": self._folded.pop(kind, 0)})


_sampled = _Sampled()


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DatabaseUnavailable)
    _sampled.warn("unavailable", "database unavailable", {"error": str(exc), "pool": exc.pool})
    return error_response(
        503,
        {"error": "database_unavailable", "message": "the database is unavailable; retry shortly"},
        headers={"Retry-After": RETRY_AFTER_S},
    )


def overloaded_response(request_id: str, state: str) -> JSONResponse:
    """A refusal by admission control (``app/api/admission.py``), built before the request id
    middleware runs: the id is passed in. Counted in the metrics; the warning is sampled."""
    _sampled.warn("overloaded", "overloaded", {"error": state})
    return JSONResponse(
        {"error": "overloaded", "message": "the service is overloaded; retry shortly", "requestId": request_id},
        status_code=503,
        headers={"Retry-After": RETRY_AFTER_S, "X-Request-Id": request_id},
    )


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, {"error": code, "message": str(exc.detail)}, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(InvalidTransaction, _invalid_transaction)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(InvalidRequest, _invalid_request)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(TransactionConflict, _conflict)
    app.add_exception_handler(DatabaseUnavailable, _unavailable)
    app.add_exception_handler(StarletteHTTPException, _http_error)
