"""Apply a confirmed label to a stored transaction: the processor's label route and the bulk labeler.

One conditional ``UpdateItem`` per label, so concurrent and out-of-order labels settle on the
latest label time (``fraud_common.labels``) without a read-modify-write race: the condition
``attribute_not_exists(labelTime) OR labelTime <= :new`` is that rule. A label equal to the one
in force is applied again (``applied`` true, nothing changes), so resending a label, or a whole
file, always gives the same answer and the same item. Label writes are MODIFY stream records;
the analyzer's stream filter takes INSERTs only, so a label never rescores a transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fraud_common import env
from fraud_common.labels import BEFORE_TRANSACTION_MESSAGE, LabelRequest
from fraud_common.tables import TIMESTAMP, TRANSACTION_ID
from functions.common import items
from functions.common.aws import client, error_code


class UnknownTransaction(LookupError):
    """No transaction has this id (HTTP 404)."""


class LabelBeforeTransaction(ValueError):
    """The label time precedes the transaction's timestamp (HTTP 400); nothing is written."""


@dataclass(frozen=True)
class LabelOutcome:
    applied: bool
    """False when a label with a later label time is in force (kept)."""
    current: dict[str, Any]
    """The label in force afterwards, as the API shows it (``label`` of fraud-api's FeedbackPublic)."""


_NAMES = {"#fraud": items.FRAUD_LABEL, "#time": items.LABEL_TIME, "#source": items.LABEL_SOURCE}


def _key_and_label(transaction_id: str) -> dict[str, Any] | None:
    # Only the key and the label: the card attributes have no business on this path.
    response = client("dynamodb").query(
        TableName=env.require(env.TABLE_NAME),
        KeyConditionExpression="#id = :id AND #ts > :marker",
        ProjectionExpression="#id, #ts, #fraud, #time, #source",
        ExpressionAttributeNames={**_NAMES, "#id": TRANSACTION_ID, "#ts": TIMESTAMP},
        ExpressionAttributeValues=items.serialize({":id": transaction_id, ":marker": items.MARKER_TIMESTAMP}),
        ConsistentRead=True,
        Limit=1,
    )
    found = response.get("Items") or []
    return items.deserialize(found[0]) if found else None


def public_label(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "fraud": item[items.FRAUD_LABEL],
        "labelTime": items.iso_ms(int(item[items.LABEL_TIME])),
        "source": item.get(items.LABEL_SOURCE),
    }


def record_label(label: LabelRequest) -> LabelOutcome:
    """Apply ``label`` unless a later one is in force; see the module docstring.

    Raises UnknownTransaction, LabelBeforeTransaction; DynamoDB errors propagate.
    """
    found = _key_and_label(label.transaction_id)
    if found is None:
        raise UnknownTransaction(label.transaction_id)
    if label.label_time_ms < int(found[TIMESTAMP]):
        raise LabelBeforeTransaction(BEFORE_TRANSACTION_MESSAGE)
    new = {items.FRAUD_LABEL: label.fraud, items.LABEL_TIME: label.label_time_ms, items.LABEL_SOURCE: label.source}
    try:
        client("dynamodb").update_item(
            TableName=env.require(env.TABLE_NAME),
            Key=items.serialize({TRANSACTION_ID: label.transaction_id, TIMESTAMP: found[TIMESTAMP]}),
            UpdateExpression="SET #fraud = :fraud, #time = :time, #source = :source",
            ConditionExpression="attribute_exists(#id) AND (attribute_not_exists(#time) OR #time <= :time)",
            ExpressionAttributeNames={**_NAMES, "#id": TRANSACTION_ID},
            ExpressionAttributeValues=items.serialize(
                {":fraud": label.fraud, ":time": label.label_time_ms, ":source": label.source}
            ),
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except Exception as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        # The item exists (found above; transactions are never deleted): a later label is in force.
        current = items.deserialize(getattr(exc, "response", {}).get("Item") or {})
        return LabelOutcome(applied=False, current=public_label(current))
    return LabelOutcome(applied=True, current=public_label(new))
