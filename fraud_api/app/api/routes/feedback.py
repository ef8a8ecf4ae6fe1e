"""POST /api/v1/feedback."""

from __future__ import annotations

import time

from fastapi import APIRouter

from fraud_api.app.api.deps import RequestIdDep, ServiceDep
from fraud_api.app.api.errors import ERROR_RESPONSES, InvalidRequest
from fraud_api.app.api.routes.decisions import label_public
from fraud_api.app.models import FeedbackCreate, FeedbackPublic
from fraud_api.app.scoring import LabelBeforeTransaction
from fraud_common.labels import MAX_FUTURE_S
from fraud_common.transaction import FUTURE_MESSAGE

router = APIRouter(prefix="/feedback", tags=["feedback"])


@router.post(
    "",
    response_model=FeedbackPublic,
    response_model_by_alias=True,
    responses={k: ERROR_RESPONSES[k] for k in (400, 404, 503)},
)
async def record_feedback(payload: FeedbackCreate, service: ServiceDep, request_id: RequestIdDep) -> FeedbackPublic:
    """Record a confirmed label (chargeback, analyst review) for a scored transaction.

    The latest labelTime wins; feedback that arrives out of order does not overwrite a newer label.
    The terminal and customer features use a label only once it is known (labelTime) and the
    transaction is older than the label delay.
    """
    now = time.time()
    label_time = payload.label_time.timestamp() if payload.label_time else now
    if label_time > now + MAX_FUTURE_S:
        raise InvalidRequest([("labelTime", FUTURE_MESSAGE)])
    try:
        outcome = await service.record_label(
            payload.transaction_id, payload.fraud, label_time, payload.source, request_id
        )
    except LabelBeforeTransaction as exc:
        raise InvalidRequest([("labelTime", str(exc))]) from None
    assert outcome.current is not None  # found and not before the transaction: a label is in force
    return FeedbackPublic(
        transaction_id=payload.transaction_id, applied=outcome.applied, label=label_public(outcome.current)
    )
