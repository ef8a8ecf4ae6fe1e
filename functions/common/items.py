"""How a transaction is stored in DynamoDB, and how it is shown back. Defined once.

Key and index attributes come from ``fraud_common.tables``; the rest are named here. The item
never holds a card number: only ``cardHash`` (HMAC-SHA256 of the full PAN), the key version,
the BIN and the last four digits (PCI DSS 3.4.1 / 3.5.1).

Besides transactions the table holds *idempotency markers* (``itemType`` = ``MARKER``) with
the fixed sort key ``MARKER_TIMESTAMP`` (0; real timestamps are within the last year): one per
transaction id and one per ``Idempotency-Key``, each pointing at its transaction item. They carry
no index attributes, so they are in no index, and no ``status``, so the stream filter never hands
them to the analyzer. Markers written before ``fraud_common.identity`` also hold a
``fingerprint`` attribute; nothing reads it any more.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from fraud_common.card import CardToken
from fraud_common.identity import StoredIdentity
from fraud_common.tables import CUSTOMER_ID, DAY_SHARD, TERMINAL_ID, TIMESTAMP, TRANSACTION_ID, day_shard
from fraud_common.transaction import TransactionRequest

AMOUNT = "amount"
CURRENCY = "currency"
MERCHANT_CATEGORY_CODE = "merchantCategoryCode"
CHANNEL = "channel"
CARD_HASH = "cardHash"
CARD_KEY_VERSION = "cardKeyVersion"
CARD_BIN = "cardBin"
CARD_LAST4 = "cardLast4"
CARD_LENGTH = "cardLength"
STATUS = "status"
RECEIVED_AT = "receivedAt"
IDEMPOTENCY_KEY = "idempotencyKey"
# Written by the analyzer.
SCORE = "score"
DECISION = "decision"
REASONS = "reasons"
RULE_IDS = "ruleIds"
MODEL_VERSION = "modelVersion"
ANALYZED_AT = "analyzedAt"
SHADOW_SCORE = "shadowScore"
"""The shadow model's score, recorded beside the decision and never used for it (absent: no shadow)."""
SHADOW_MODEL_VERSION = "shadowModelVersion"
SHADOW_DECISION = "shadowDecision"
"""What the shadow would have decided at the thresholds in force (the reporter has no thresholds of its own)."""
# Written by the labelling process (chargebacks, analyst review): projected into the history indexes.
FRAUD_LABEL = "fraudLabel"
"""BOOL: confirmed fraud (true) or confirmed legitimate (false); absent while unknown."""
LABEL_TIME = "labelTime"
"""N: when the label became known, epoch milliseconds (ISO-8601 strings are accepted too)."""
LABEL_SOURCE = "labelSource"
"""S: who confirmed it, one of ``fraud_common.labels.LABEL_SOURCES``; read by the training export."""
# Markers.
ITEM_TYPE = "itemType"
MARKER = "MARKER"
MARKER_TIMESTAMP = 0
TARGET_TRANSACTION_ID = "targetTransactionId"
TARGET_TIMESTAMP = "targetTimestamp"
KEY_MARKER_PREFIX = "idempotency-key#"
"""Sort-key-0 marker ids for Idempotency-Key values; '#' cannot occur in a transaction id."""

STATUS_RECEIVED = "RECEIVED"
STATUS_SCORED = "SCORED"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def iso_ms(epoch_ms: int) -> str:
    """``2026-11-21T10:15:00.123Z`` for epoch milliseconds."""
    dt = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def label_time_seconds(raw: Any) -> float | None:
    """``labelTime`` as epoch seconds; stored as epoch ms (N), ISO-8601 tolerated."""
    if raw is None:
        return None
    if isinstance(raw, Decimal | int | float):
        return float(raw) / 1000.0
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw).timestamp()
        except ValueError:
            return None
    return None


def transaction_item(request: TransactionRequest, token: CardToken, received_ms: int) -> dict[str, Any]:
    """The stored item (python values) for a validated request and its card token."""
    item: dict[str, Any] = {
        TRANSACTION_ID: request.transaction_id,
        TIMESTAMP: request.timestamp_ms,
        CUSTOMER_ID: request.customer_id,
        TERMINAL_ID: request.terminal_id,
        DAY_SHARD: day_shard(request.timestamp_ms, request.transaction_id),
        AMOUNT: request.amount,
        CURRENCY: request.currency,
        CHANNEL: request.channel,
        CARD_HASH: token.card_hash,
        CARD_KEY_VERSION: token.key_version,
        CARD_BIN: token.bin,
        CARD_LAST4: token.last4,
        CARD_LENGTH: token.pan_length,
        STATUS: STATUS_RECEIVED,
        RECEIVED_AT: iso_ms(received_ms),
    }
    if request.merchant_category_code is not None:
        item[MERCHANT_CATEGORY_CODE] = request.merchant_category_code
    return item


def stored_identity(item: Mapping[str, Any]) -> StoredIdentity:
    """The caller-sent fields of a stored transaction item, for ``fraud_common.identity``."""
    return StoredIdentity(
        transaction_id=item[TRANSACTION_ID],
        timestamp_ms=int(item[TIMESTAMP]),
        customer_id=item[CUSTOMER_ID],
        terminal_id=item[TERMINAL_ID],
        amount=Decimal(item[AMOUNT]),
        currency=item[CURRENCY],
        merchant_category_code=item.get(MERCHANT_CATEGORY_CODE),
        channel=item[CHANNEL],
        card_hash=item[CARD_HASH],
        card_key_version=item[CARD_KEY_VERSION],
    )


def marker_item(marker_id: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """A sort-key-0 idempotency marker pointing at the transaction ``item``."""
    return {
        TRANSACTION_ID: marker_id,
        TIMESTAMP: MARKER_TIMESTAMP,
        ITEM_TYPE: MARKER,
        TARGET_TRANSACTION_ID: item[TRANSACTION_ID],
        TARGET_TIMESTAMP: item[TIMESTAMP],
        RECEIVED_AT: item[RECEIVED_AT],
    }


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    """Python values -> DynamoDB attribute values (``{"S": ...}``, ``{"N": ...}``)."""
    return {k: _serializer.serialize(v) for k, v in item.items()}


def deserialize(image: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values (client responses, stream images) -> python values."""
    return {k: _deserializer.deserialize(v) for k, v in image.items()}


def masked_card(item: Mapping[str, Any]) -> str:
    """BIN + stars + last four, e.g. ``411111******1111``; never more digits than that."""
    length = int(item.get(CARD_LENGTH) or 16)
    return f"{item[CARD_BIN]}{'*' * max(length - 10, 0)}{item[CARD_LAST4]}"


def public_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """What ``GET /transactions/{id}`` answers: the stored record, card masked, no card hash.

    Amounts are strings ("12.50") so no client parses money as a binary float.
    """
    view: dict[str, Any] = {
        "transactionId": item[TRANSACTION_ID],
        "timestamp": iso_ms(int(item[TIMESTAMP])),
        "customerId": item[CUSTOMER_ID],
        "terminalId": item[TERMINAL_ID],
        "amount": f"{Decimal(item[AMOUNT]):.2f}",
        "currency": item[CURRENCY],
        "channel": item.get(CHANNEL),
        "merchantCategoryCode": item.get(MERCHANT_CATEGORY_CODE),
        "card": {"bin": item[CARD_BIN], "last4": item[CARD_LAST4], "masked": masked_card(item)},
        "status": item[STATUS],
        "receivedAt": item.get(RECEIVED_AT),
    }
    if item.get(STATUS) == STATUS_SCORED:
        view.update(
            score=float(item[SCORE]),
            decision=item[DECISION],
            reasons=list(item.get(REASONS) or []),
            modelVersion=item.get(MODEL_VERSION),
            analyzedAt=item.get(ANALYZED_AT),
        )
    return view
