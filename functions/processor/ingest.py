"""Store a validated transaction exactly once, and read one back.

Idempotency without a second table. ``create_transaction`` writes, in one
``TransactWriteItems``, the transaction item and a marker item with the fixed sort key 0 for its
transaction id (plus one for the ``Idempotency-Key`` header when present), each with
``attribute_not_exists``. The key's marker id is ``idempotency-key#<version>#<HMAC of the key>``
(the card-hash key of that version, domain-separated from card hashes), never the key itself: a
client may put anything in a header, a card number included. So:

* the same id never produces a second item, whatever the timestamp of the retry (the id marker
  collides even when the transaction item's key would not);
* there is no race window: two concurrent first attempts cannot both commit;
* a retry of the same transaction gets the original response back, a reuse of the id or key for
  a different one gets a conflict. "The same transaction" is ``fraud_common.identity``'s single
  definition, also fraud-api's: on a collision the request is compared with the transaction item
  the marker points at, its card hashed under that item's key version (so a retry after a
  planned re-keying still matches).

Cost: a transactional write of two items is 4 write units instead of 1 (and a marker item's
storage); accepted for exactly-once ingestion of payments.

Markers written before keys were hashed (``idempotency-key#<key>``) are not consulted: a retry
of such a request is still recognised by its transaction id marker, which is what matters. A
planned card-hash re-keying (``panHashKeyVersion``) likewise starts fresh key markers. Markers
written before ``fraud_common.identity`` carry a ``fingerprint`` in an older format; it is not
read (only the marker's pointer is), so those markers resolve retries like new ones.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from fraud_common import env
from fraud_common.card import tokenize
from fraud_common.identity import same_transaction
from fraud_common.tables import TIMESTAMP, TRANSACTION_ID
from fraud_common.transaction import TransactionRequest
from functions.common import items
from functions.common.api_config import api_config
from functions.common.aws import client, error_code


@dataclass(frozen=True)
class Stored:
    """The 201 answer: ``replayed`` when an earlier identical request had already stored it."""

    body: dict[str, Any]
    replayed: bool


class Conflict(Exception):
    """The id or Idempotency-Key was already used for a different request (HTTP 409)."""


def _table() -> str:
    return env.require(env.TABLE_NAME)


def _not_exists(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": _table(),
            "Item": items.serialize(item),
            "ConditionExpression": "attribute_not_exists(#id)",
            "ExpressionAttributeNames": {"#id": TRANSACTION_ID},
        }
    }


# Domain separation: the HMAC of an idempotency key can never equal a card hash under the same key.
_KEY_MARKER_DOMAIN = b"idempotency-key\x00"


def key_marker_id(idempotency_key: str, hash_key: bytes, key_version: str) -> str:
    """The marker id for an ``Idempotency-Key``: a keyed hash (HMAC-SHA256), never the key."""
    digest = hmac.new(hash_key, _KEY_MARKER_DOMAIN + idempotency_key.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{items.KEY_MARKER_PREFIX}{key_version}#{digest}"


def _created_body(transaction_id: str, received_at: str) -> dict[str, Any]:
    return {"transactionId": transaction_id, "status": items.STATUS_RECEIVED, "receivedAt": received_at}


def create_transaction(request: TransactionRequest, *, idempotency_key: str | None, now_ms: int) -> Stored:
    """Tokenize the card and store the transaction once; see the module docstring.

    Raises
    ------
    Conflict
        The transaction id or idempotency key belongs to a different request, or an identical
        request is being stored right now (the client retries).
    ConfigurationUnavailable
        The card-hash key cannot be read.
    """
    key, version = api_config.get().pan_key()
    token = tokenize(request.card_number, key, version)
    item = items.transaction_item(request, token, now_ms)
    writes = [_not_exists(item), _not_exists(items.marker_item(request.transaction_id, item))]
    marker_id = key_marker_id(idempotency_key, key, version) if idempotency_key else None
    if marker_id:
        writes.append(_not_exists(items.marker_item(marker_id, item)))
    try:
        client("dynamodb").transact_write_items(TransactItems=writes)
    except Exception as exc:
        if error_code(exc) not in ("TransactionCanceledException", "TransactionConflictException"):
            raise
        return _resolve_collision(request, marker_id)
    return Stored(_created_body(request.transaction_id, item[items.RECEIVED_AT]), replayed=False)


def _get(key: dict[str, Any]) -> dict[str, Any] | None:
    response = client("dynamodb").get_item(TableName=_table(), Key=items.serialize(key), ConsistentRead=True)
    found = response.get("Item")
    return items.deserialize(found) if found else None


def _marker(marker_id: str) -> dict[str, Any] | None:
    return _get({TRANSACTION_ID: marker_id, TIMESTAMP: items.MARKER_TIMESTAMP})


def _is_retry(request: TransactionRequest, marker: dict[str, Any]) -> bool:
    """Whether ``request`` is the transaction ``marker`` points at."""
    target = _get({TRANSACTION_ID: marker[items.TARGET_TRANSACTION_ID], TIMESTAMP: marker[items.TARGET_TIMESTAMP]})
    if target is None:
        # Written in the same transaction as its marker: gone only if deleted by hand, and the id is still taken.
        return False
    stored = items.stored_identity(target)
    config = api_config.get()
    if config.pan_key_for(stored.card_key_version) is None:
        # Stored by a container that read a newer secret than this one's cached copy.
        config = api_config.get(force_refresh=True)
    return same_transaction(request, stored, config)


def _resolve_collision(request: TransactionRequest, key_marker_id: str | None) -> Stored:
    id_marker = _marker(request.transaction_id)
    key_marker = _marker(key_marker_id) if key_marker_id else None
    if key_marker is not None and not _is_retry(request, key_marker):
        raise Conflict("Idempotency-Key was already used for a different request")
    if id_marker is None:
        # Nothing committed yet: an identical request is in flight (transaction conflict). A key
        # marker with this payload implies the id marker too: both are written in one transaction.
        raise Conflict("a request with this transactionId is being processed; retry shortly")
    if not _is_retry(request, id_marker):
        raise Conflict("transactionId was already used for a different transaction")
    return Stored(_created_body(request.transaction_id, id_marker[items.RECEIVED_AT]), replayed=True)


def get_transaction(transaction_id: str) -> dict[str, Any] | None:
    """The stored transaction (python values) or None. Strongly consistent: read-after-write."""
    response = client("dynamodb").query(
        TableName=_table(),
        KeyConditionExpression="#id = :id AND #ts > :marker",
        ExpressionAttributeNames={"#id": TRANSACTION_ID, "#ts": TIMESTAMP},
        ExpressionAttributeValues=items.serialize({":id": transaction_id, ":marker": items.MARKER_TIMESTAMP}),
        ConsistentRead=True,
        Limit=1,
    )
    found = response.get("Items") or []
    return items.deserialize(found[0]) if found else None
