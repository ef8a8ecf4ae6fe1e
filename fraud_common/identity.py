"""One definition of "the same transaction", for the processor Lambda and fraud-api alike.

A request whose transactionId (or, on the processor, Idempotency-Key) is already stored is a
*retry*, answered with the first response, when it carries the very transaction that was stored,
and a *conflict* (HTTP 409) otherwise. ``same_transaction`` decides it for both paths:

* Every field the caller sends counts: transactionId, timestamp, customerId, terminalId, amount,
  currency, merchantCategoryCode, channel and the card.
* The timestamp is the instant (epoch milliseconds): ``12:00:00+01:00`` and ``11:00:00Z`` are one.
* The amount is compared by value: ``10.5``, ``10.50`` and ``"10.50"`` are the same money, as
  the contract accepts all three as spellings of one amount.
* An absent merchantCategoryCode (or ``null``) differs from any present one.
* The card is compared by its keyed hash (HMAC-SHA256) under the key version the stored hash was
  made with, so a retry after a planned re-keying (``panHashKeyVersion`` switched, the old key
  kept) still matches, and another card with the same BIN and last four does not.
* A stored card whose key version is no longer in ``panHashKeys`` (retired) cannot be verified:
  such a request is a conflict. A key is retired only once no stored hash under it is needed
  (``fraud_common.api_config``), so this meets only retries far older than any retry window, and
  replaying a stored decision for a card nobody can verify would be worse than a 409.

Standard library only (ships in the Lambda package and the fraud-api image).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from decimal import Decimal

from fraud_common.api_config import ApiConfiguration
from fraud_common.card import card_hash
from fraud_common.transaction import TransactionRequest


@dataclass(frozen=True)
class StoredIdentity:
    """What a stored transaction keeps of the fields its caller sent (the card as a keyed hash)."""

    transaction_id: str
    timestamp_ms: int
    customer_id: str
    terminal_id: str
    amount: Decimal
    currency: str
    merchant_category_code: str | None
    channel: str
    card_hash: str
    card_key_version: str
    """The ``panHashKeys`` version ``card_hash`` was made with."""


def same_transaction(request: TransactionRequest, stored: StoredIdentity, config: ApiConfiguration) -> bool:
    """Whether ``request`` carries the transaction ``stored`` (see the module docstring).

    ``config`` must be current enough to hold ``stored.card_key_version`` unless that version
    is retired (a caller with a cached configuration refreshes it first).
    """
    key = config.pan_key_for(stored.card_key_version)
    if key is None:
        return False
    # The card hash is compared in constant time; the other fields are the caller's own data.
    # Decimal equality is by value: 10.5 == 10.50 (DynamoDB reads 42.50 back as 42.5).
    same_card = hmac.compare_digest(card_hash(request.card_number, key), stored.card_hash)
    return same_card and (
        request.transaction_id,
        request.timestamp_ms,
        request.customer_id,
        request.terminal_id,
        request.amount,
        request.currency,
        request.merchant_category_code,
        request.channel,
    ) == (
        stored.transaction_id,
        stored.timestamp_ms,
        stored.customer_id,
        stored.terminal_id,
        stored.amount,
        stored.currency,
        stored.merchant_category_code,
        stored.channel,
    )
