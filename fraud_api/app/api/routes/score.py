"""POST /api/v1/score."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response

from fraud_api.app.api.deps import service_of
from fraud_api.app.api.errors import ERROR_RESPONSES
from fraud_api.app.core.logging import request_id_var
from fraud_api.app.models import ScorePublic
from fraud_common.transaction import MAX_BODY_BYTES, FieldError, InvalidTransaction
from fraud_common.transaction_schema import TRANSACTION_JSON_SCHEMA

router = APIRouter(prefix="/score", tags=["scoring"])

REPLAY_HEADER = "Idempotent-Replayed"
# Starlette's JSONResponse options, in one encoder for every answer (json.dumps with options builds
# a new encoder per call).
_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


async def _read_body(request: Request) -> bytes:
    # Stop reading at the limit instead of buffering whatever a client sends.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise InvalidTransaction([FieldError("body", f"exceeds the limit of {MAX_BODY_BYTES} bytes")])
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "",
    response_model=ScorePublic,
    responses={k: ERROR_RESPONSES[k] for k in (400, 409, 503)},
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": TRANSACTION_JSON_SCHEMA}}}
    },
)
async def score_transaction(request: Request) -> Response:
    """Score a transaction and store it with its decision.

    Idempotent by transactionId: a retry with the same payload gets the first decision (header
    `Idempotent-Replayed: true`); the same id with a different payload is refused with 409.
    """
    # The hot path reads app state directly instead of through Depends(): dependency solving
    # was a measurable share of this endpoint's CPU (cProfile), and the body is not a model.
    service = service_of(request)
    body = await _read_body(request)
    outcome = await service.score(body, request_id_var.get())
    d = outcome.decision
    content = {
        "transactionId": d.transaction_id,
        "score": d.score,
        "decision": d.decision,
        "reasons": list(d.reasons),
        "modelVersion": d.model_version,
    }
    headers = {REPLAY_HEADER: "true"} if outcome.replayed else None
    return Response(_ENCODE(content).encode(), headers=headers, media_type="application/json")
