"""fraud_common.identity: the one definition of "the same transaction" (processor and fraud-api)."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_common.api_config import parse_api_configuration
from fraud_common.identity import StoredIdentity, same_transaction
from fraud_common.transaction import parse_transaction
from tests.support.transaction_changes import FIELDS, card_spellings, changed_value, with_change

NOW = int(datetime(2026, 11, 21, 12, 0, tzinfo=UTC).timestamp() * 1000)
OLD_KEY = "o" * 40
NEW_KEY = "n" * 48
PAN = "5555555555554444"
BODY: dict[str, Any] = {
    "transactionId": "tx-same-1",
    "timestamp": "2026-11-21T12:59:00.250+01:00",
    "customerId": "cust-7",
    "terminalId": "term-3",
    "amount": "10.50",
    "currency": "CHF",
    "cardNumber": "5555 5555 5555 4444",
    "merchantCategoryCode": "5812",
    "channel": "ecom",
}
# What a path stored for BODY: written out here, the card hashed by hand under key version "7".
STORED = StoredIdentity(
    transaction_id="tx-same-1",
    timestamp_ms=NOW - 60_000 + 250,
    customer_id="cust-7",
    terminal_id="term-3",
    amount=Decimal("10.5"),
    currency="CHF",
    merchant_category_code="5812",
    channel="ecom",
    card_hash=hmac.new(OLD_KEY.encode(), PAN.encode(), hashlib.sha256).hexdigest(),
    card_key_version="7",
)


def _config(keys: dict[str, str], current: str) -> Any:
    return parse_api_configuration(
        json.dumps(
            {
                "thresholds": {"review": 0.4, "decline": 0.9},
                "signingKey": "s" * 40,
                "panHashKeys": keys,
                "panHashKeyVersion": current,
            }
        )
    )


CONFIG = _config({"7": OLD_KEY}, "7")


def _same(body: dict[str, Any], config: Any = CONFIG, stored: StoredIdentity = STORED) -> bool:
    return same_transaction(parse_transaction(body, now_ms=NOW), stored, config)


def test_same_transaction_identical_request_is_the_same():
    assert _same(BODY)


@pytest.mark.parametrize("amount", ["10.5", "10.50", 10.5, 10.50])
def test_same_transaction_amount_is_compared_by_value(amount):
    # GIVEN the stored 10.5 / WHEN retried as 10.5, 10.50, "10.5" or "10.50" THEN it is the same money
    assert _same({**BODY, "amount": amount})


def test_same_transaction_timestamp_is_the_instant_and_card_spelling_does_not_matter():
    # GIVEN the same instant in UTC and the card without spaces / THEN still the same transaction
    assert _same({**BODY, "timestamp": "2026-11-21T11:59:00.250Z", "cardNumber": PAN})


@pytest.mark.parametrize("field", FIELDS)
def test_same_transaction_any_changed_field_is_another_transaction(field):
    @settings(max_examples=25, database=None, deadline=None)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        # GIVEN the stored transaction / WHEN one field of the request has another valid value
        body = with_change(BODY, field, data.draw(changed_value(BODY, field)))
        # THEN it is not the same transaction
        assert not _same(body)

    check()


def test_same_transaction_absent_and_present_merchant_category_differ():
    without = replace(STORED, merchant_category_code=None)
    body_without = {k: v for k, v in BODY.items() if k != "merchantCategoryCode"}
    assert _same(body_without, stored=without) and _same({**body_without, "merchantCategoryCode": None}, stored=without)
    assert not _same(BODY, stored=without)
    assert not _same(body_without)


def test_same_transaction_after_rekeying_hashes_under_the_stored_version():
    # GIVEN the current key is now "8", with "7" (the stored hash's) kept
    rotated = _config({"7": OLD_KEY, "8": NEW_KEY}, "8")
    # THEN a retry is the same in any card spelling, and another card is not
    for spelling in ("5555 5555 5555 4444", "5555-5555-5555-4444", PAN):
        assert _same({**BODY, "cardNumber": spelling}, rotated)
    assert not _same({**BODY, "cardNumber": "4111111111111111"}, rotated)


def test_same_transaction_stored_under_a_retired_key_is_never_the_same():
    # GIVEN key "7" retired: the stored card can no longer be verified
    retired = _config({"8": NEW_KEY}, "8")
    # THEN even the identical request is refused (409), not matched on BIN and last four
    assert not _same(BODY, retired)


def test_same_transaction_card_hash_under_another_key_does_not_match():
    # GIVEN a stored hash that was not made with the key its version names
    wrong = replace(STORED, card_hash=hmac.new(NEW_KEY.encode(), PAN.encode(), hashlib.sha256).hexdigest())
    # THEN the identical request does not match it
    assert not _same(BODY, stored=wrong)


@settings(max_examples=15, database=None, deadline=None)
@given(st.data())
def test_same_transaction_card_spellings_are_one_card(data: st.DataObject) -> None:
    assert _same({**BODY, "cardNumber": data.draw(card_spellings(PAN))})
