"""HTTP side of the processor: routes API Gateway REST proxy events and maps outcomes to responses.

A three-route dispatcher instead of Powertools' event handler: it keeps the resolver's ~50 ms of
imports out of the cold start (measured in benchmarks/pipeline.py) for three fixed routes.

Status codes: 201 stored (also for an identical retry, flagged ``Idempotent-Replayed: true``),
200 read or label recorded (``applied`` false when a later label is kept), 400 every client
mistake (body listing each problem by field), 404 unknown id or route, 405 wrong method, 409
id/key reused for a different request, 503 configuration or DynamoDB temporarily unavailable,
500 anything unexpected. Client mistakes never answer 5xx.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from fraud_common.card import PAN_REFUSED, contains_pan
from fraud_common.labels import InvalidLabel, parse_label
from fraud_common.transaction import (
    MAX_BODY_BYTES,
    FieldError,
    InvalidTransaction,
    parse_transaction,
    transaction_id_problem,
)
from functions.common import items, labels
from functions.common.api_config import ConfigurationUnavailable
from functions.common.aws import error_code
from functions.common.observability import (
    LABEL_METRICS,
    METRIC_IDEMPOTENT_REPLAYS,
    METRIC_PROCESSOR_ERRORS,
    METRIC_TRANSACTION_CONFLICTS,
    METRIC_TRANSACTION_LOOKUPS,
    METRIC_TRANSACTIONS_RECEIVED,
    METRIC_TRANSACTIONS_REJECTED,
    logger,
    metrics,
)
from functions.processor import ingest

COLLECTION = "/transactions"
ITEM = "/transactions/{id}"
LABEL = "/transactions/{id}/label"
IDEMPOTENCY_HEADER = "idempotency-key"
_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ITEM_PATH_RE = re.compile(r"/transactions/([^/]+)")
_LABEL_PATH_RE = re.compile(r"/transactions/([^/]+)/label")
_RETRYABLE_AWS = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError"}
)
_HEADERS = {
    "Content-Type": "application/json",
    # Responses describe cardholder data (masked): keep them out of shared caches.
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def response(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**_HEADERS, **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def _problem(status: int, error: str, message: str) -> dict[str, Any]:
    return response(status, {"error": error, "message": message})


def _header(event: Mapping[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if isinstance(key, str) and key.lower() == name:
            return value if isinstance(value, str) else None
    return None


def _route(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(route, id) from the REST proxy event, route None for any other; falls back on the path for
    hand-made events. The id comes from ``pathParameters`` when there are any: behind a custom
    domain with a base path mapping, ``path`` starts with that base path."""
    resource = event.get("resource")
    path = str(event.get("path") or "")
    for template, pattern in ((ITEM, _ITEM_PATH_RE), (LABEL, _LABEL_PATH_RE)):
        if resource == template or (resource is None and pattern.fullmatch(path)):
            params = event.get("pathParameters") or {}
            raw = params.get("id")
            if raw is None:
                match = pattern.fullmatch(path)
                raw = match.group(1) if match else ""
            return template, str(raw)
    if resource == COLLECTION or (resource is None and path.rstrip("/") == COLLECTION):
        return COLLECTION, None
    return None, None


def handle(event: Mapping[str, Any]) -> dict[str, Any]:
    """Answer one API Gateway REST proxy event."""
    resource, transaction_id = _route(event)
    method = str(event.get("httpMethod") or "").upper()
    try:
        if resource == COLLECTION:
            return create(event) if method == "POST" else _problem(405, "method_not_allowed", "use POST")
        if resource == ITEM:
            return read(transaction_id or "") if method == "GET" else _problem(405, "method_not_allowed", "use GET")
        if resource == LABEL:
            return (
                label(event, transaction_id or "")
                if method == "POST"
                else _problem(405, "method_not_allowed", "use POST")
            )
        return _problem(404, "not_found", "no such route")
    except ConfigurationUnavailable:
        metrics.add_metric(name=METRIC_PROCESSOR_ERRORS, unit="Count", value=1)
        logger.exception("API configuration unavailable")
        return _problem(503, "unavailable", "temporarily unavailable; retry later")
    except Exception as exc:
        metrics.add_metric(name=METRIC_PROCESSOR_ERRORS, unit="Count", value=1)
        if error_code(exc) in _RETRYABLE_AWS:
            logger.warning("DynamoDB throttled or unavailable", extra={"error_code": error_code(exc)})
            return response(503, {"error": "unavailable", "message": "retry later"}, {"Retry-After": "1"})
        logger.exception("unexpected error")
        return _problem(500, "internal_error", "internal error")


def _body_text(event: Mapping[str, Any]) -> str | bytes:
    body = event.get("body")
    if body is None:
        return ""
    if not isinstance(body, str):
        raise InvalidTransaction([FieldError("body", "must be a JSON object")])
    if event.get("isBase64Encoded"):
        # Size first: base64 inflates by 4/3, and decoding a huge body is wasted work.
        if len(body) > (MAX_BODY_BYTES * 4) // 3 + 4:
            raise InvalidTransaction([FieldError("body", f"is larger than the limit of {MAX_BODY_BYTES} bytes")])
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidTransaction([FieldError("body", "is not valid base64")]) from None
    return body


def create(event: Mapping[str, Any]) -> dict[str, Any]:
    """POST /transactions."""
    key = _header(event, IDEMPOTENCY_HEADER)
    now_ms = int(time.time() * 1000)
    try:
        problems: list[FieldError] = []
        if key is not None and not _ID_RE.fullmatch(key):
            problems.append(
                FieldError("Idempotency-Key", "header must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
            )
        elif contains_pan(key):
            problems.append(FieldError("Idempotency-Key", f"header {PAN_REFUSED}"))
        try:
            request = parse_transaction(_body_text(event), now_ms=now_ms)
        except InvalidTransaction as invalid:
            raise InvalidTransaction([*problems, *invalid.errors]) from None
        if problems:
            raise InvalidTransaction(problems)
    except InvalidTransaction as invalid:
        metrics.add_metric(name=METRIC_TRANSACTIONS_REJECTED, unit="Count", value=1)
        # Field names and fixed messages only: neither echoes a submitted value.
        logger.info("transaction rejected", extra={"problems": [list(e) for e in invalid.errors]})
        return response(400, invalid.as_body())
    try:
        stored = ingest.create_transaction(request, idempotency_key=key, now_ms=now_ms)
    except ingest.Conflict as conflict:
        metrics.add_metric(name=METRIC_TRANSACTION_CONFLICTS, unit="Count", value=1)
        logger.info("transaction conflict", extra={"transaction_id": request.transaction_id, "reason": str(conflict)})
        return _problem(409, "conflict", str(conflict))
    location = {"Location": f"{COLLECTION}/{request.transaction_id}"}
    if stored.replayed:
        metrics.add_metric(name=METRIC_IDEMPOTENT_REPLAYS, unit="Count", value=1)
        logger.info("idempotent replay", extra={"transaction_id": request.transaction_id})
        return response(201, stored.body, {**location, "Idempotent-Replayed": "true"})
    metrics.add_metric(name=METRIC_TRANSACTIONS_RECEIVED, unit="Count", value=1)
    logger.info("transaction stored", extra={"transaction_id": request.transaction_id})
    return response(201, stored.body, location)


def read(transaction_id: str) -> dict[str, Any]:
    """GET /transactions/{id}."""
    # No stored id holds a card number (POST refuses them), and the lookup would carry it further.
    if message := transaction_id_problem(transaction_id):
        return _invalid_request([FieldError("id", message)])
    metrics.add_metric(name=METRIC_TRANSACTION_LOOKUPS, unit="Count", value=1)
    item = ingest.get_transaction(transaction_id)
    if item is None:
        return _problem(404, "not_found", "no transaction with this id")
    return response(200, items.public_view(item))


def _invalid_request(problems: list[FieldError] | tuple[FieldError, ...]) -> dict[str, Any]:
    # Field names and fixed messages only: neither echoes a submitted value.
    return response(
        400, {"error": "invalid_request", "problems": [{"field": p.field, "message": p.message} for p in problems]}
    )


def _count_label(outcome: str) -> None:
    metrics.add_metric(name=LABEL_METRICS[outcome], unit="Count", value=1)


def _json_object(event: Mapping[str, Any]) -> Mapping[str, Any]:
    text = _body_text(event)
    if len(text.encode() if isinstance(text, str) else text) > MAX_BODY_BYTES:
        raise InvalidLabel([FieldError("body", f"is larger than the limit of {MAX_BODY_BYTES} bytes")])
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidLabel([FieldError("body", "is not valid JSON")]) from None
    if not isinstance(data, dict):
        raise InvalidLabel([FieldError("body", "must be a JSON object")])
    return data


def label(event: Mapping[str, Any], transaction_id: str) -> dict[str, Any]:
    """POST /transactions/{id}/label: fraud-api's POST /api/v1/feedback contract (FeedbackPublic)."""
    problems = [FieldError("id", message)] if (message := transaction_id_problem(transaction_id)) else []
    try:
        request = parse_label(_json_object(event), transaction_id=transaction_id, now_ms=int(time.time() * 1000))
    except (InvalidLabel, InvalidTransaction) as invalid:
        problems += invalid.errors
    if problems:
        _count_label("refused")
        logger.info("label rejected", extra={"problems": [list(p) for p in problems]})
        return _invalid_request(problems)
    try:
        outcome = labels.record_label(request)
    except labels.UnknownTransaction:
        _count_label("unknown")
        return _problem(404, "not_found", "no transaction with this id")
    except labels.LabelBeforeTransaction as refused:
        _count_label("refused")
        return _invalid_request([FieldError("labelTime", str(refused))])
    _count_label("applied" if outcome.applied else "kept")
    logger.info("label recorded", extra={"transaction_id": transaction_id, "applied": outcome.applied})
    return response(200, {"transactionId": transaction_id, "applied": outcome.applied, "label": outcome.current})
