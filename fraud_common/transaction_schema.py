"""The transaction request contract as a JSON Schema (draft 2020-12): what fraud-api publishes in its
OpenAPI document and clients can validate against.

It states exactly what ``fraud_common.transaction.parse_transaction`` accepts, from the parser's own
limits and patterns, except for the business rules its descriptions name (``BUSINESS_RULES``, and
identifiers that are card numbers): ``tests/functions/test_transaction_schema.py`` checks both
directions on generated requests. Not imported by the Lambda handlers: only the parser runs there.
"""

from __future__ import annotations

from typing import Any

from fraud_common.card import MIN_PAN_DIGITS, PAN_REFUSED
from fraud_common.currencies import CURRENCY_CODES, MINOR_UNITS
from fraud_common.transaction import (
    CARD_NUMBER_PATTERN,
    CHANNELS,
    FUTURE_MESSAGE,
    LUHN_MESSAGE,
    MAX_AMOUNT,
    MAX_BODY_BYTES,
    PAST_MESSAGE,
    REQUIRED_FIELDS,
    TIMESTAMP_PATTERN,
)

_PAN_ID_NOTE = f"{PAN_REFUSED}; at most {MIN_PAN_DIGITS - 1} digits always pass"

BUSINESS_RULES: frozenset[tuple[str, str]] = frozenset(
    {("timestamp", FUTURE_MESSAGE), ("timestamp", PAST_MESSAGE), ("cardNumber", LUHN_MESSAGE)}
)
"""Refusals of a schema-valid request: rules JSON Schema cannot state (the clock, Luhn), each named
in the schema's descriptions. Identifiers that are card numbers are the other such rule."""

_DECIMAL_PATTERN = r"(\.[0-9]{1,2})?"
AMOUNT_STRING_PATTERN = rf"^([1-9][0-9]{{0,5}}{_DECIMAL_PATTERN}|0\.(0[1-9]|[1-9][0-9]?)|1000000(\.0{{1,2}})?)$"
"""A decimal string > 0 and <= 1,000,000 with at most 2 decimals, in one pattern (exactly the
strings ``_amount`` accepts: no sign, padding, exponent or leading zero)."""
WHOLE_AMOUNT_STRING_PATTERN = r"^([1-9][0-9]{0,5}|1000000)(\.0{1,2})?$"
"""The same for currencies without minor units (JPY): a whole amount, trailing zeros allowed."""
WHOLE_CURRENCIES = sorted(code for code, units in MINOR_UNITS.items() if units == 0)

TRANSACTION_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "TransactionRequest",
    "description": (
        f"A card transaction. Unknown fields are rejected; card security codes (CVV/CVC/CID), track data "
        f"and PINs must never be sent. Bodies above {MAX_BODY_BYTES} bytes are rejected. Identifiers "
        f"{_PAN_ID_NOTE}."
    ),
    "type": "object",
    "additionalProperties": False,
    "required": list(REQUIRED_FIELDS),
    "properties": {
        "transactionId": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "description": "Client's unique id."},
        "timestamp": {
            "type": "string",
            "format": "date-time",
            "pattern": TIMESTAMP_PATTERN,
            "description": (
                "RFC 3339 date-time: upper-case T and Z, seconds required, at most 9 fractional digits, "
                "no leap second, offset Z or +hh:mm/-hh:mm. Business rule (400): at most 5 minutes ahead of "
                "the server's clock and at most 1 year behind it."
            ),
        },
        "customerId": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
        "terminalId": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"},
        "amount": {
            "oneOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": int(MAX_AMOUNT), "multipleOf": 0.01},
                {"type": "string", "pattern": AMOUNT_STRING_PATTERN},
            ],
            "description": (
                "Major units as a JSON number or a plain decimal string (no sign, spaces, exponent or "
                "leading zero): > 0, at most 1,000,000, at most 2 decimals, none for currencies without "
                "minor units (JPY, KRW...: see allOf)."
            ),
        },
        "currency": {"type": "string", "enum": sorted(CURRENCY_CODES), "description": "ISO 4217 alphabetic code."},
        "cardNumber": {
            "type": "string",
            "pattern": CARD_NUMBER_PATTERN,
            "description": (
                "12-19 digits, optionally grouped by single spaces or hyphens between digits. Business rule "
                "(400): Luhn-valid. Never stored, logged or returned."
            ),
        },
        "merchantCategoryCode": {"type": ["string", "null"], "pattern": "^[0-9]{4}$", "description": "ISO 18245."},
        "channel": {"type": "string", "enum": list(CHANNELS)},
    },
    # Currencies without minor units take whole amounts only (the parser's per-currency rule).
    "allOf": [
        {
            "if": {"properties": {"currency": {"enum": WHOLE_CURRENCIES}}, "required": ["currency"]},
            "then": {
                "properties": {
                    "amount": {
                        "oneOf": [
                            {"type": "number", "multipleOf": 1},
                            {"type": "string", "pattern": WHOLE_AMOUNT_STRING_PATTERN},
                        ]
                    }
                }
            },
        }
    ],
}
