"""The transaction request contract shared by the processor Lambda and fraud-api.

One parser, one schema: ``parse_transaction`` turns a request body into a validated
``TransactionRequest`` or raises ``InvalidTransaction`` listing *every* problem by field, so a
client fixes its request in one round trip and a client mistake is never a 5xx. The same contract
as a JSON Schema, for clients and the OpenAPI document, is ``fraud_common.transaction_schema``.

Contract decisions (also stated in ``TRANSACTION_JSON_SCHEMA``):

* JSON field names are camelCase; unknown fields are **rejected** (strict contract): a typo such
  as ``merchantCategory`` would otherwise be silently dropped, and a strict contract keeps data
  we must not hold (expiry dates, cardholder names) out of the system.
* Card security codes, track data and PINs (``cvv``, ``cvc2``, ``cid``, ``securityCode``,
  ``track2``, ``pinBlock``... any case or spelling) are rejected with a message saying they must
  not be sent (PCI DSS 3.3.1.x: never stored after authorization, so never accepted here).
* Identifiers (transactionId, customerId, terminalId) must not contain a card number, in any
  disguise ``fraud_common.card.contains_pan`` recognises (``tx-4111111111111111``,
  ``4111-1111-1111-1111``, ``c:4111...``, ``41111111.11111111``): it would be stored in clear.
  An id with at most 11 digits always passes; a longer run of digits can be refused.
* Duplicate JSON keys are rejected (two parsers could disagree on which value wins).
* Values are parsed exactly as the schema states them, never "cleaned up": no sign, padding or
  leading zero in a decimal string, currencies upper-case, timestamps RFC 3339 only (no ISO 8601
  week dates or basic format). Whatever the schema allows is accepted, except for the business
  rules its descriptions name (timestamp window, Luhn check, identifiers that are card numbers),
  and whatever it forbids is refused: ``tests/functions/test_transaction_schema.py`` checks both
  directions on generated requests.
* No message ever echoes a submitted value or an unknown field name (a card number may sit in
  any of them): an unknown field is named by its position in the object.

Standard library only (ships in the Lambda package and the fraud-api image).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from fraud_common.card import MAX_PAN_DIGITS, MIN_PAN_DIGITS, PAN_REFUSED, contains_pan, is_sad_field, luhn_valid
from fraud_common.currencies import CURRENCY_CODES, MINOR_UNITS

MAX_BODY_BYTES = 16 * 1024
"""Largest accepted request body in bytes (UTF-8); a transaction is well under 1 KiB."""
MAX_AMOUNT = Decimal("1000000")
"""Largest accepted amount in the currency's major unit."""
MAX_DECIMALS = 2
"""At most two decimal places, fewer where the currency has fewer (JPY: none)."""
MAX_FUTURE_MS = 5 * 60 * 1000
"""Clock skew tolerated for timestamps ahead of the server's clock."""
MAX_AGE_MS = 365 * 24 * 3600 * 1000
"""Timestamps older than this are rejected as absurd (late batches older than a year)."""
CHANNELS = ("pos", "ecom", "moto", "atm")
"""pos: card present at a terminal; ecom: online; moto: mail/telephone order; atm: cash withdrawal."""

_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_REF_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_MCC_RE = re.compile(r"[0-9]{4}")
# A plain decimal: no sign, no padding, no exponent, no leading zero, at most 2 decimals.
_AMOUNT_STR_RE = re.compile(r"(0|[1-9][0-9]{0,15})(\.[0-9]{1,2})?")
# RFC 3339 date-time as ``TIMESTAMP_PATTERN`` (the schema) states it; fullmatch, so no trailing newline.
_TIMESTAMP_RE = re.compile(
    r"([0-9]{4})-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
_CARD_RE = re.compile(rf"[0-9]([ -]?[0-9]){{{MIN_PAN_DIGITS - 1},{MAX_PAN_DIGITS - 1}}}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class FieldError(NamedTuple):
    field: str
    """camelCase JSON field name; ``"body"`` for problems with the body as a whole."""
    message: str


class InvalidTransaction(ValueError):
    """The request is not a valid transaction; ``errors`` lists every problem found."""

    def __init__(self, errors: tuple[FieldError, ...] | list[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors) or "invalid transaction")

    def as_body(self) -> dict[str, Any]:
        """The 400 response body: ``{"error": "invalid_transaction", "problems": [...]}``."""
        return {
            "error": "invalid_transaction",
            "problems": [{"field": e.field, "message": e.message} for e in self.errors],
        }


@dataclass(frozen=True)
class TransactionRequest:
    """A validated transaction. ``card_number`` is digits only and never shown in a repr."""

    transaction_id: str
    timestamp_ms: int
    customer_id: str
    terminal_id: str
    amount: Decimal
    currency: str
    card_number: str = field(repr=False)
    channel: str
    merchant_category_code: str | None = None

    @property
    def timestamp_iso(self) -> str:
        """UTC ISO-8601 with milliseconds, e.g. ``2026-11-21T10:15:00.000Z``."""
        dt = _EPOCH + timedelta(milliseconds=self.timestamp_ms)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.timestamp_ms % 1000:03d}Z"


# JSON name -> dataclass attribute; the order is the order problems are reported in.
FIELDS: dict[str, str] = {
    "transactionId": "transaction_id",
    "timestamp": "timestamp_ms",
    "customerId": "customer_id",
    "terminalId": "terminal_id",
    "amount": "amount",
    "currency": "currency",
    "cardNumber": "card_number",
    "merchantCategoryCode": "merchant_category_code",
    "channel": "channel",
}
OPTIONAL_FIELDS = frozenset({"merchantCategoryCode"})
REQUIRED_FIELDS = tuple(name for name in FIELDS if name not in OPTIONAL_FIELDS)

TIMESTAMP_FORMAT_MESSAGE = (
    "must be an RFC 3339 date-time with seconds and a UTC offset or Z, such as 2026-11-21T10:15:00Z"
)
FUTURE_MESSAGE = "is more than 5 minutes in the future"
PAST_MESSAGE = "is more than a year in the past"
LUHN_MESSAGE = "is not a valid card number (Luhn check failed)"
TIMESTAMP_PATTERN = "^" + _TIMESTAMP_RE.pattern + "$"
CARD_NUMBER_PATTERN = "^" + _CARD_RE.pattern + "$"
"""The regular expressions the parser applies, anchored as JSON Schema states them (``transaction_schema``)."""


def parse_transaction(body: str | bytes | Mapping[str, Any], *, now_ms: int | None = None) -> TransactionRequest:
    """Validate a request body (raw JSON text/bytes or an already-decoded mapping).

    ``now_ms`` (epoch ms) is the clock the timestamp bounds are checked against; default now.

    Raises
    ------
    InvalidTransaction
        With one ``FieldError`` per problem: not JSON, not an object, too large, duplicate or
        unknown or forbidden fields, missing fields, wrong types, out-of-range values.
    """
    data = _decode(body)
    now = int(time.time() * 1000) if now_ms is None else now_ms
    errors: list[FieldError] = []
    for position, name in enumerate(data, start=1):
        if name in FIELDS:
            continue
        # Named by position, never by name: a client-chosen key can itself be a card number.
        if is_sad_field(str(name)):
            errors.append(
                FieldError(
                    "body",
                    f"{ordinal(position)} field must not be sent: it names a card security code, track data or "
                    "a PIN, which are never accepted or stored (PCI DSS 3.3.1)",
                )
            )
        else:
            errors.append(
                FieldError("body", f"{ordinal(position)} field is unknown; allowed fields are {', '.join(FIELDS)}")
            )
    values: dict[str, Any] = {}
    for name, attribute in FIELDS.items():
        raw = data.get(name)
        if raw is None:
            if name not in OPTIONAL_FIELDS:
                errors.append(FieldError(name, "is required"))
            values[attribute] = None
            continue
        try:
            values[attribute] = _VALIDATORS[name](raw, now)
        except _Problem as problem:
            errors.append(FieldError(name, str(problem)))
    currency, amount = values.get("currency"), values.get("amount")
    if isinstance(currency, str) and isinstance(amount, Decimal):
        decimals = min(MAX_DECIMALS, MINOR_UNITS[currency])
        if amount != amount.quantize(Decimal(1).scaleb(-decimals)):
            errors.append(FieldError("amount", f"{currency} amounts have at most {decimals} decimal place(s)"))
    if errors:
        raise InvalidTransaction(errors)
    return TransactionRequest(**values)


class _Problem(Exception):
    pass


_parsing = threading.local()
"""The body being parsed in this thread: ``duplicates``, the keys that repeat in any of its objects."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, noting the keys that repeat (two parsers could disagree on which value wins)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                _parsing.duplicates.append(key)
            seen.add(key)
    return result


# One decoder for every body: json.loads with options builds a decoder and its scanner per call.
# Whitespace before and after the value is skipped as json.loads does; a byte order mark is not
# JSON whitespace, so a body starting with one is refused either way.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal, object_pairs_hook=_object)


def _decode(body: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    if not isinstance(body, str | bytes | bytearray):
        raise InvalidTransaction([FieldError("body", "must be a JSON object")])
    size = len(body.encode("utf-8", "surrogatepass")) if isinstance(body, str) else len(body)
    if size > MAX_BODY_BYTES:
        raise InvalidTransaction([FieldError("body", f"is {size} bytes; the limit is {MAX_BODY_BYTES} bytes")])
    if not size:
        raise InvalidTransaction([FieldError("body", "is empty; send a JSON object")])
    if isinstance(body, bytes | bytearray):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidTransaction([FieldError("body", "is not valid UTF-8")]) from None
    duplicates: list[str] = []
    _parsing.duplicates = duplicates
    try:
        # NaN and Infinity arrive as floats (json.loads' default) and ``_amount`` refuses them by name.
        data = _DECODER.decode(body)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError; RecursionError is "[[[[..." nested thousands deep.
        raise InvalidTransaction([FieldError("body", "is not valid JSON")]) from None
    if not isinstance(data, dict):
        raise InvalidTransaction([FieldError("body", "must be a JSON object")])
    if duplicates:
        raise InvalidTransaction(
            [
                FieldError(k, "appears more than once") if k in FIELDS else FieldError("body", "a field appears twice")
                for k in dict.fromkeys(duplicates)
            ]
        )
    return data


def ordinal(position: int) -> str:
    """``1`` -> ``"1st"``: where an unknown field sits in the request object, counting from 1."""
    suffix = "th" if 10 <= position % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(position % 10, "th")
    return f"{position}{suffix}"


def _string(raw: object) -> str:
    if not isinstance(raw, str):
        raise _Problem("must be a string")
    return raw


def _transaction_id(raw: object, _now: int) -> str:
    value = _string(raw)
    if problem := transaction_id_problem(value):
        raise _Problem(problem)
    return value


def _reference(raw: object, _now: int) -> str:
    value = _string(raw)
    if not _REF_RE.fullmatch(value):
        raise _Problem("must be 1-64 characters of A-Z, a-z, 0-9, '.', ':', '_' or '-'")
    if contains_pan(value):
        raise _Problem(PAN_REFUSED)
    return value


def timestamp_ms(value: str) -> int:
    """Epoch milliseconds of an RFC 3339 date-time with offset (``TIMESTAMP_PATTERN``).

    Raises ValueError whose message names the problem (the ``FieldError`` message).
    """
    # The pattern first: datetime.fromisoformat alone also takes ISO 8601 week dates, the basic
    # format (20261121T101500Z), a space for T and a missing offset, none of which the schema allows.
    match = _TIMESTAMP_RE.fullmatch(value)
    if match is None:
        raise ValueError(TIMESTAMP_FORMAT_MESSAGE)
    if match.group(1) == "0000":
        # RFC 3339 allows year 0; Python's datetime starts at year 1. Either way: too old.
        raise ValueError(PAST_MESSAGE)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("is not a calendar date and time (e.g. February 30)") from None
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


def transaction_id_problem(value: str) -> str | None:
    """Why ``value`` is not an acceptable transaction id (the ``FieldError`` message), or None."""
    if not _ID_RE.fullmatch(value):
        return "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'"
    if contains_pan(value):
        return PAN_REFUSED
    return None


def _timestamp(raw: object, now: int) -> int:
    try:
        ms = timestamp_ms(_string(raw))
    except ValueError as problem:
        raise _Problem(str(problem)) from None
    if ms > now + MAX_FUTURE_MS:
        raise _Problem(FUTURE_MESSAGE)
    if ms < now - MAX_AGE_MS:
        raise _Problem(PAST_MESSAGE)
    return ms


def _amount(raw: object, _now: int) -> Decimal:
    if isinstance(raw, bool):
        raise _Problem("must be a number or a decimal string, not a boolean")
    if isinstance(raw, str):
        if not _AMOUNT_STR_RE.fullmatch(raw):
            raise _Problem(
                "must be a JSON number or a plain decimal string such as 12.34 (no sign, spaces, exponent or "
                "leading zero, at most 2 decimals)"
            )
        value = Decimal(raw)
    elif isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, float):
        if not math.isfinite(raw):
            raise _Problem("must be a finite number")
        # repr() is the shortest string that round-trips, so 12.34 stays 12.34.
        value = Decimal(repr(raw))
    else:
        raise _Problem("must be a number or a decimal string")
    if not value.is_finite():
        raise _Problem("must be a finite number")
    if value <= 0:
        raise _Problem("must be greater than 0")
    if value > MAX_AMOUNT:
        raise _Problem(f"must be at most {MAX_AMOUNT}")
    # No InvalidOperation: a value in (0, MAX_AMOUNT] quantized to cents has far fewer digits than the context allows.
    if value != value.quantize(Decimal("0.01")):
        raise _Problem(f"must have at most {MAX_DECIMALS} decimal places")
    # Normalized to cents: 12.5 and "12.50" are the same amount and the same stored value.
    return value.quantize(Decimal("0.01"))


def _currency(raw: object, _now: int) -> str:
    value = _string(raw)
    # Exactly as listed: " eur" is not EUR (the schema's enum holds upper-case codes only).
    if value not in CURRENCY_CODES:
        raise _Problem("must be an upper-case ISO 4217 alphabetic currency code such as EUR or USD")
    return value


def _card_number(raw: object, _now: int) -> str:
    if not isinstance(raw, str):
        raise _Problem("must be a string of digits")
    if not _CARD_RE.fullmatch(raw):
        raise _Problem(
            f"must be {MIN_PAN_DIGITS}-{MAX_PAN_DIGITS} digits, optionally grouped by single spaces or hyphens"
        )
    digits = raw.replace(" ", "").replace("-", "")
    if not luhn_valid(digits):
        raise _Problem(LUHN_MESSAGE)
    return digits


def _merchant_category_code(raw: object, _now: int) -> str:
    value = _string(raw)
    if not _MCC_RE.fullmatch(value):
        raise _Problem("must be 4 digits (ISO 18245), e.g. 5411")
    return value


def _channel(raw: object, _now: int) -> str:
    value = _string(raw)
    if value not in CHANNELS:
        raise _Problem(f"must be one of {', '.join(CHANNELS)}")
    return value


_VALIDATORS = {
    "transactionId": _transaction_id,
    "timestamp": _timestamp,
    "customerId": _reference,
    "terminalId": _reference,
    "amount": _amount,
    "currency": _currency,
    "cardNumber": _card_number,
    "merchantCategoryCode": _merchant_category_code,
    "channel": _channel,
}
