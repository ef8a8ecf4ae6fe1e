"""GET /api/v1/decisions/{transactionId}."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path

from fraud_api.app.api.deps import ServiceDep
from fraud_api.app.api.errors import ERROR_RESPONSES, InvalidRequest
from fraud_api.app.models import (
    CardPublic,
    DecisionPublic,
    LabelPublic,
    ThresholdsPublic,
    TransactionPublic,
)
from fraud_api.app.repository import Label
from fraud_common.card import PAN_REFUSED, CardToken, contains_pan

router = APIRouter(prefix="/decisions", tags=["decisions"])


def label_public(label: Label) -> LabelPublic:
    return LabelPublic(fraud=label.fraud, label_time=datetime.fromtimestamp(label.label_time, UTC), source=label.source)


@router.get(
    "/{transaction_id}",
    response_model=DecisionPublic,
    response_model_by_alias=True,
    responses={k: ERROR_RESPONSES[k] for k in (400, 404, 503)},
)
async def read_decision(
    transaction_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")], service: ServiceDep
) -> DecisionPublic:
    """Get the stored decision of a transaction, with the masked card and its label if any."""
    if contains_pan(transaction_id):
        # No stored id holds one (scoring refuses them); do not carry it into a query.
        raise InvalidRequest([("transactionId", PAN_REFUSED)])
    tx = await service.get_decision(transaction_id)
    # CardToken re-derives the mask from what is stored: BIN + last four at most (PCI DSS 3.4.1).
    token = CardToken(tx.card_hash, tx.card_key_version, tx.card_bin, tx.card_last4, tx.card_pan_length)
    return DecisionPublic(
        transaction_id=tx.transaction_id,
        score=tx.score,
        decision=tx.decision,  # type: ignore[arg-type]  # CHECK constraint in the schema
        reasons=list(tx.reasons),
        model_version=tx.model_version,
        scored_at=datetime.fromtimestamp(tx.scored_at, UTC),
        thresholds=ThresholdsPublic(review=tx.review_threshold, decline=tx.decline_threshold),
        transaction=TransactionPublic(
            timestamp=datetime.fromtimestamp(tx.timestamp_ms / 1000, UTC),
            customer_id=tx.customer_id,
            terminal_id=tx.terminal_id,
            amount=str(tx.amount),
            currency=tx.currency,
            merchant_category_code=tx.merchant_category_code,
            channel=tx.channel,
            card=CardPublic(bin=token.bin, last4=token.last4, masked=token.masked),
        ),
        label=label_public(tx.label) if tx.label else None,
    )
