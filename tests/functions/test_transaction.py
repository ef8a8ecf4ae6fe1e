"""fraud_common.transaction: the shared request contract (parse_transaction, schema, errors)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from handler_support import DROP, VISA, iso, transaction_body

from fraud_common.transaction import (
    CHANNELS,
    FIELDS,
    MAX_BODY_BYTES,
    REQUIRED_FIELDS,
    InvalidTransaction,
    parse_transaction,
)
from fraud_common.transaction_schema import TRANSACTION_JSON_SCHEMA

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


# --- Every refusal, exactly as the client reads it (mutation testing, issue 12: make mutate TARGETS=transaction).
PAN_REFUSED_TEXT = (
    "must not contain a card number (12-19 digits passing the Luhn check, in one piece or in groups, alone or "
    "inside other text)"
)
ID_CHARACTERS = "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'"
REFERENCE_CHARACTERS = "must be 1-64 characters of A-Z, a-z, 0-9, '.', ':', '_' or '-'"
RFC_3339 = "must be an RFC 3339 date-time with seconds and a UTC offset or Z, such as 2026-11-21T10:15:00Z"
ISO_4217 = "must be an upper-case ISO 4217 alphabetic currency code such as EUR or USD"
CARD_DIGITS = "must be 12-19 digits, optionally grouped by single spaces or hyphens"


@pytest.mark.parametrize(
    ("overrides", "problems"),
    [
        ({"transactionId": 5}, [("transactionId", "must be a string")]),
        ({"transactionId": "tx 1"}, [("transactionId", ID_CHARACTERS)]),
        ({"transactionId": "t" * 65}, [("transactionId", ID_CHARACTERS)]),
        ({"transactionId": "tx-4111111111111111"}, [("transactionId", PAN_REFUSED_TEXT)]),
        ({"customerId": "c/1"}, [("customerId", REFERENCE_CHARACTERS)]),
        ({"terminalId": "c:4111111111111111"}, [("terminalId", PAN_REFUSED_TEXT)]),
        ({"timestamp": "2026-11-21"}, [("timestamp", RFC_3339)]),
        ({"timestamp": "0000-01-01T00:00:00Z"}, [("timestamp", "is more than a year in the past")]),
        ({"timestamp": "2026-02-30T10:00:00Z"}, [("timestamp", "is not a calendar date and time (e.g. February 30)")]),
        ({"timestamp": "2026-11-21T12:05:00.001Z"}, [("timestamp", "is more than 5 minutes in the future")]),
        ({"timestamp": "2025-11-21T11:59:59.999Z"}, [("timestamp", "is more than a year in the past")]),
        ({"amount": True}, [("amount", "must be a number or a decimal string, not a boolean")]),
        (
            {"amount": "12,34"},
            [
                (
                    "amount",
                    "must be a JSON number or a plain decimal string such as 12.34 (no sign, spaces, exponent or "
                    "leading zero, at most 2 decimals)",
                )
            ],
        ),
        ({"amount": [1]}, [("amount", "must be a number or a decimal string")]),
        ({"amount": float("inf")}, [("amount", "must be a finite number")]),
        ({"amount": Decimal("NaN")}, [("amount", "must be a finite number")]),
        ({"amount": 0}, [("amount", "must be greater than 0")]),
        ({"amount": "1000000.01"}, [("amount", "must be at most 1000000")]),
        ({"amount": 12.345}, [("amount", "must have at most 2 decimal places")]),
        ({"amount": "12.50", "currency": "JPY"}, [("amount", "JPY amounts have at most 0 decimal place(s)")]),
        ({"currency": "eur"}, [("currency", ISO_4217)]),
        ({"cardNumber": 4111111111111111}, [("cardNumber", "must be a string of digits")]),
        ({"cardNumber": "41111111111"}, [("cardNumber", CARD_DIGITS)]),
        ({"cardNumber": "4111111111111112"}, [("cardNumber", "is not a valid card number (Luhn check failed)")]),
        ({"merchantCategoryCode": "541"}, [("merchantCategoryCode", "must be 4 digits (ISO 18245), e.g. 5411")]),
        ({"channel": "POS"}, [("channel", "must be one of pos, ecom, moto, atm")]),
        (
            {"transactionId": DROP, "channel": DROP, "amount": 0},
            [("transactionId", "is required"), ("amount", "must be greater than 0"), ("channel", "is required")],
        ),
    ],
)  # fmt: skip
def test_parse_transaction_names_each_problem_exactly(
    overrides: dict[str, Any], problems: list[tuple[str, str]]
) -> None:
    # The clock is 2026-11-21T12:00:00Z: five minutes ahead and 365 days back are the last accepted instants.
    with pytest.raises(InvalidTransaction) as excinfo:
        parse_transaction(_body(**overrides), now_ms=NOW)
    assert [(e.field, e.message) for e in excinfo.value.errors] == problems
    assert str(excinfo.value) == "; ".join(f"{field}: {message}" for field, message in problems)


@pytest.mark.parametrize(
    ("overrides", "attribute", "expected"),
    [
        ({"timestamp": "2026-11-21T12:05:00Z"}, "timestamp_ms", NOW + 300_000),
        ({"timestamp": "2025-11-21T12:00:00Z"}, "timestamp_ms", NOW - 31_536_000_000),
        ({"timestamp": "2026-11-21T11:00:00.1239Z"}, "timestamp_ms", NOW - 3_600_000 + 123),
        ({"transactionId": "t" * 64, "customerId": "c" * 64}, "transaction_id", "t" * 64),
        ({"cardNumber": "5555-5555-5555-4444"}, "card_number", "5555555555554444"),
        ({"merchantCategoryCode": "0742"}, "merchant_category_code", "0742"),
        ({"amount": "0.01"}, "amount", Decimal("0.01")),
        ({"amount": 1_000_000}, "amount", Decimal("1000000.00")),
        ({"amount": 12.3}, "amount", Decimal("12.30")),
        ({"amount": "500", "currency": "JPY"}, "amount", Decimal("500.00")),
        ({"channel": "atm"}, "channel", "atm"),
    ],
)
def test_parse_transaction_accepts_values_at_their_bounds(
    overrides: dict[str, Any], attribute: str, expected: object
) -> None:
    request = parse_transaction(_body(**overrides), now_ms=NOW)
    value = getattr(request, attribute)
    assert value == expected and type(value) is type(expected)


def test_parse_transaction_defaults_to_the_current_clock() -> None:
    # GIVEN timestamps a minute ago and ten minutes ahead of the real clock (no now_ms)
    now = datetime.now(UTC)
    past, future = (iso(int((now + timedelta(minutes=m)).timestamp() * 1000)) for m in (-1, 10))
    # WHEN / THEN the first is accepted, the second refused as future
    assert parse_transaction(transaction_body(timestamp=past)).timestamp_iso[:16] == past[:16]
    with pytest.raises(InvalidTransaction) as excinfo:
        parse_transaction(transaction_body(timestamp=future))
    assert [(e.field, e.message) for e in excinfo.value.errors] == [
        ("timestamp", "is more than 5 minutes in the future")
    ]


def test_parse_transaction_names_unknown_and_forbidden_fields_by_ordinal() -> None:
    # GIVEN the 9 contract fields, then unknown fields at positions 10-124 and a card security code at 125
    body = _body() | {f"extra{n}": "x" for n in range(10, 125)} | {"cvv": "123"}
    with pytest.raises(InvalidTransaction) as excinfo:
        parse_transaction(body, now_ms=NOW)
    problems = [(e.field, e.message) for e in excinfo.value.errors]
    # THEN each problem names its position with the right English suffix, never the key
    assert {field for field, _ in problems} == {"body"} and len(problems) == 116
    ordinals = {int(message.split(" ", 1)[0][:-2]): message.split(" ", 1)[0] for _, message in problems}
    expected = {10: "10th", 11: "11th", 12: "12th", 13: "13th", 14: "14th", 20: "20th", 21: "21st", 22: "22nd",
                23: "23rd", 24: "24th", 101: "101st", 102: "102nd", 103: "103rd", 111: "111th", 112: "112th",
                113: "113th", 121: "121st", 122: "122nd", 123: "123rd", 124: "124th"}  # fmt: skip
    assert {position: ordinals[position] for position in expected} == expected
    allowed = (
        "transactionId, timestamp, customerId, terminalId, amount, currency, cardNumber, merchantCategoryCode, channel"
    )
    assert problems[0] == ("body", f"10th field is unknown; allowed fields are {allowed}")
    assert problems[-1] == (
        "body",
        "125th field must not be sent: it names a card security code, track data or a PIN, which are never accepted "
        "or stored (PCI DSS 3.3.1)",
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("", "is empty; send a JSON object"),
        (b"", "is empty; send a JSON object"),
        ("[1]", "must be a JSON object"),
        ([1], "must be a JSON object"),
        ("{", "is not valid JSON"),
        (b'{"a": "\xff"}', "is not valid UTF-8"),
        (" " * 16_385, "is 16385 bytes; the limit is 16384 bytes"),
        ("{" + " " * 16_376 + '"é": 1}', "is 16385 bytes; the limit is 16384 bytes"),
        ('{"x": 1, "x": 2}', "a field appears twice"),
        ('{"x": {"y": 1, "y": 2}}', "a field appears twice"),  # in a nested object too
        ("\ufeff{}", "is not valid JSON"),  # a byte order mark is not JSON whitespace
        (b"\xef\xbb\xbf{}", "is not valid JSON"),
        ('{"x": 1} {"y": 2}', "is not valid JSON"),
    ],
)
def test_parse_transaction_refuses_bodies_that_are_not_one_json_object(body: Any, problem: str) -> None:
    # "é" is 2 bytes in UTF-8: a text body is measured in bytes, not characters.
    with pytest.raises(InvalidTransaction) as excinfo:
        parse_transaction(body, now_ms=NOW)
    assert [(e.field, e.message) for e in excinfo.value.errors] == [("body", problem)]


def test_parse_transaction_accepts_a_body_of_exactly_the_size_limit() -> None:
    text = json.dumps(_body())
    padded = text[:-1] + " " * (16_384 - len(text.encode())) + "}"
    assert len(padded.encode()) == 16_384
    assert parse_transaction(padded.encode(), now_ms=NOW).transaction_id == "tx-0001"


def test_parse_transaction_accepts_json_whitespace_around_the_object() -> None:
    text = " \t\r\n" + json.dumps(_body()) + "\n "
    assert parse_transaction(text.encode(), now_ms=NOW).transaction_id == "tx-0001"


def test_parse_transaction_forgets_a_refused_bodys_duplicates() -> None:
    # GIVEN a body refused for a repeated field
    with pytest.raises(InvalidTransaction):
        parse_transaction('{"x": 1, "x": 2}', now_ms=NOW)
    # WHEN a valid body follows THEN it is not refused for the last body's repeats
    assert parse_transaction(json.dumps(_body()), now_ms=NOW).transaction_id == "tx-0001"


def test_parse_transaction_reports_a_repeated_contract_field_by_name() -> None:
    text = json.dumps(_body())[:-1] + ', "amount": "1.00", "amount": "2.00"}'
    with pytest.raises(InvalidTransaction) as excinfo:
        parse_transaction(text, now_ms=NOW)
    assert [(e.field, e.message) for e in excinfo.value.errors] == [("amount", "appears more than once")]


@pytest.mark.parametrize(
    ("amount", "problem"),
    [
        ("12.3400000000000000001", "must have at most 2 decimal places"),  # more digits than a float holds
        ("1" + "0" * 5000, "must be at most 1000000"),  # more digits than int() parses
        ("Infinity", "must be a finite number"),
        ("NaN", "must be a finite number"),
    ],
)
def test_parse_transaction_reads_json_numbers_exactly(amount: str, problem: str) -> None:
    text = json.dumps(_body()).replace('"42.50"', amount)
    with pytest.raises(InvalidTransaction) as excinfo:
        parse_transaction(text, now_ms=NOW)
    assert [(e.field, e.message) for e in excinfo.value.errors] == [("amount", problem)]


def test_invalid_transaction_without_problems_says_so() -> None:
    assert str(InvalidTransaction([])) == "invalid transaction"
