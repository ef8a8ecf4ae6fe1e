"""fraud_common.transaction: the shared request contract (parse_transaction, schema, errors)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from handler_support import DROP, VISA, transaction_body

from fraud_common.transaction import (
    CHANNELS,
    FIELDS,
    MAX_BODY_BYTES,
    REQUIRED_FIELDS,
    TRANSACTION_JSON_SCHEMA,
    InvalidTransaction,
    parse_transaction,
)

NOW = int(datetime(2026, 11, 21, 12, 0, tzinfo=UTC).timestamp() * 1000)


def _body(**overrides):
    return transaction_body(**{"timestamp": "2026-11-21T11:59:00+01:00", **overrides})


def _problems(body, **kw) -> dict[str, str]:
    with pytest.raises(InvalidTransaction) as excinfo:
        parse_transaction(body, now_ms=NOW, **kw)
    return {e.field: e.message for e in excinfo.value.errors}


def test_parse_transaction_valid_body_normalizes_values():
    # GIVEN / WHEN a valid body with an offset timestamp and a spaced PAN
    request = parse_transaction(json.dumps(_body(currency="EUR", amount=12.5)), now_ms=NOW)
    # THEN values are normalized and the PAN stays out of the repr
    assert request.timestamp_ms == NOW - 3_660_000
    assert request.amount == Decimal("12.50") and request.currency == "EUR"
    assert request.card_number == VISA and VISA not in repr(request)
    assert request.timestamp_iso == "2026-11-21T10:59:00.000Z"


@pytest.mark.parametrize("amount", ["12.34", 12.34, 12, "1000000", Decimal("0.01")])
def test_parse_transaction_amount_forms_accepted(amount):
    assert parse_transaction(_body(amount=amount), now_ms=NOW).amount > 0


@pytest.mark.parametrize("amount", [True, None, "12,34", "1e3", "-0.01", 0, "0.001", 1_000_000.01, [1], "NaN"])
def test_parse_transaction_bad_amounts_rejected(amount):
    assert "amount" in _problems(_body(amount=amount))


def test_parse_transaction_nan_and_infinity_literals_rejected():
    text = json.dumps(_body()).replace('"42.50"', "Infinity")
    assert "amount" in _problems(text)


def test_parse_transaction_every_required_field_reported():
    assert set(_problems({})) == set(REQUIRED_FIELDS)


def test_parse_transaction_mcc_is_optional_and_nullable():
    assert parse_transaction(_body(merchantCategoryCode=DROP), now_ms=NOW).merchant_category_code is None
    assert parse_transaction(_body(merchantCategoryCode=None), now_ms=NOW).merchant_category_code is None


@pytest.mark.parametrize(
    ("timestamp", "fragment"),
    [
        ("2026-11-21T12:06:00Z", "future"),
        ("2025-11-20T12:00:00Z", "year"),
        ("2026-11-21", "offset"),
        ("21/11/2026", "RFC 3339"),
        ("9" * 100, "RFC 3339"),
    ],
)
def test_parse_transaction_timestamp_bounds(timestamp, fragment):
    assert fragment in _problems(_body(timestamp=timestamp))["timestamp"]


def test_parse_transaction_sad_fields_rejected_with_pci_message_naming_their_position():
    # GIVEN the 9 contract fields, then four security-code / track / PIN fields (keys 10-13)
    with pytest.raises(InvalidTransaction) as excinfo:
        parse_transaction(_body(CVV="123", cardSecurityCode="123", track1="%B4111", PIN="1234"), now_ms=NOW)
    # THEN each is refused by position (a key is never echoed), with the PCI reason
    problems = [(e.field, e.message) for e in excinfo.value.errors]
    assert [field for field, _ in problems] == ["body"] * 4
    assert [m.split(" ", 1)[0] for _, m in problems] == ["10th", "11th", "12th", "13th"]
    assert all("must not be sent" in m and "PCI" in m for _, m in problems)


def test_parse_transaction_messages_never_echo_values():
    # GIVEN a PAN in every string field and as a field name
    body = dict.fromkeys(FIELDS, VISA) | {VISA: VISA}
    # WHEN rejected / THEN no message or field name carries the PAN
    with pytest.raises(InvalidTransaction) as excinfo:
        parse_transaction(body, now_ms=NOW)
    assert VISA not in json.dumps(excinfo.value.as_body()) and VISA not in str(excinfo.value)


def test_parse_transaction_size_limit_counts_utf8_bytes():
    # GIVEN a body under the limit in characters but over it in UTF-8 bytes
    text = json.dumps(_body(customerId="é" * (MAX_BODY_BYTES // 2 + 10)), ensure_ascii=False)
    assert len(text) < MAX_BODY_BYTES * 2
    # WHEN / THEN rejected as too large, not parsed
    assert "limit" in _problems(text.encode("utf-8"))["body"]


def test_parse_transaction_invalid_utf8_rejected():
    assert "UTF-8" in _problems(b'{"a": "\xff"}')["body"]


def test_invalid_transaction_as_body_shape():
    error = InvalidTransaction(list(_problems_errors()))
    assert error.as_body() == {
        "error": "invalid_transaction",
        "problems": [{"field": "amount", "message": "must be greater than 0"}],
    }


def _problems_errors():
    with pytest.raises(InvalidTransaction) as excinfo:
        parse_transaction(_body(amount="0"), now_ms=NOW)
    return excinfo.value.errors


def test_transaction_json_schema_matches_the_parser():
    # The schema fraud-api publishes must describe exactly the fields the parser accepts.
    assert TRANSACTION_JSON_SCHEMA["additionalProperties"] is False
    assert set(TRANSACTION_JSON_SCHEMA["properties"]) == set(FIELDS)
    assert TRANSACTION_JSON_SCHEMA["required"] == list(REQUIRED_FIELDS)
    assert TRANSACTION_JSON_SCHEMA["properties"]["channel"]["enum"] == list(CHANNELS)
    assert "EUR" in TRANSACTION_JSON_SCHEMA["properties"]["currency"]["enum"]
    json.dumps(TRANSACTION_JSON_SCHEMA)
