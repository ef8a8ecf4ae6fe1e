"""The published transaction schema and the parser agree exactly (issue 11, finding 8).

A JSON Schema validator is the oracle: every request it accepts, ``parse_transaction`` accepts,
or refuses only for a business rule the schema's descriptions name (``BUSINESS_RULES``, and an
identifier that is a card number); every request the parser accepts, the schema allows. Requests
come from the schema itself (hypothesis-jsonschema), then some have one field made hostile.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

import pytest
import schemathesis
from handler_support import transaction_body
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, ValidationError, validators
from schemathesis import GenerationMode

from fraud_common.transaction import FIELDS, InvalidTransaction, parse_transaction
from fraud_common.transaction_schema import BUSINESS_RULES, TRANSACTION_JSON_SCHEMA


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    # JSON Schema patterns are ECMA-262, where "$" matches only at the very end; Python's "$" also
    # matches before a final newline, so jsonschema would call "5411\n" a valid "^[0-9]{4}$".
    if isinstance(instance, str) and not re.search(pattern.removesuffix("$") + r"\Z", instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# The schema read as fraud-api serves it, with JSON numbers as Decimal: "multipleOf": 0.01 then
# means what JSON Schema says (0.29 is a multiple), not what binary floats compute (it is not).
_Validator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})
ORACLE = _Validator(
    json.loads(json.dumps(TRANSACTION_JSON_SCHEMA), parse_float=Decimal),
    format_checker=Draft202012Validator.FORMAT_CHECKER,
)
ID_FIELDS = ("transactionId", "customerId", "terminalId")
VALID = transaction_body(transactionId="tx-1", timestamp="2026-11-21T10:15:00Z")
NOW = int(datetime(2026, 11, 21, 10, 20, tzinfo=UTC).timestamp() * 1000)
"""Five minutes after VALID's timestamp."""


def schema_valid(text: str | bytes) -> bool:
    try:
        instance = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except ValueError:  # not JSON (or not UTF-8): no schema can allow it
        return False
    # jsonschema checks {"multipleOf": 1} on a Decimal as ``instance % 1``, which raises
    # DivisionImpossible once the quotient has more digits than the context's precision (28): an
    # amount like 1E+30 from the negative generator. Untrapped, the remainder is NaN and counts as
    # "not a multiple"; such an amount is far above the schema's maximum, so the verdict is the same.
    with localcontext() as context:
        context.traps[InvalidOperation] = False
        return ORACLE.is_valid(instance)


def refusals(text: str | bytes, now_ms: int | None = None) -> list[tuple[str, str]] | None:
    """The parser's problems for ``text`` (the clock: ``now_ms``, default now), or None when it accepts it."""
    try:
        parse_transaction(text, now_ms=now_ms)
    except InvalidTransaction as error:
        return [(e.field, e.message) for e in error.errors]
    return None


def business_rule(field: str, message: str) -> bool:
    return (field, message) in BUSINESS_RULES or (field in ID_FIELDS and "card number" in message)


def assert_agrees(text: str) -> None:
    valid, problems = schema_valid(text), refusals(text)
    if problems is None:
        assert valid, f"parser accepted a request the schema forbids: {text}"
    elif valid:
        broken = [p for p in problems if not business_rule(*p)]
        assert not broken, f"parser refused a schema-valid request for {broken}: {text}"


# --- The examples of finding 8, each refused by both (they were all accepted).


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "+5.00"),
        ("amount", " 5.00 "),
        ("amount", "5.00 "),
        ("amount", "\t5.00"),
        ("amount", "05.00"),
        ("amount", "5."),
        ("amount", "-0.00"),
        ("currency", "eur"),
        ("currency", "Eur"),
        ("currency", " EUR"),
        ("currency", "EUR "),
        ("timestamp", "2026-W47-6T10:15:00Z"),
        ("timestamp", "2026-W47-6"),
        ("timestamp", "20261121T101500Z"),
        ("timestamp", "2026-325T10:15:00Z"),
        ("timestamp", "2026-11-21 10:15:00Z"),
        ("timestamp", "2026-11-21T10:15Z"),
        ("timestamp", "2026-11-21T10:15:00+0100"),
        ("timestamp", "2026-11-21T10:15:00"),
        ("timestamp", "2026-11-21T10:15:00Z\n"),
        ("cardNumber", " 4111111111111111"),
        ("cardNumber", "4111--1111111111111"),
        ("cardNumber", "4111  1111 1111 1111"),
        ("cardNumber", "4111111111111111-"),
        ("merchantCategoryCode", "5411\n"),
        ("merchantCategoryCode", " 5411"),
        ("channel", "POS"),
        ("channel", " pos"),
    ],
)
def test_values_the_schema_forbids_are_refused_naming_the_field(field: str, value: str) -> None:
    text = json.dumps({**VALID, field: value})
    assert not schema_valid(text)
    problems = refusals(text, NOW)
    assert problems is not None and [f for f, _ in problems] == [field]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "0.01"),
        ("amount", "1000000.00"),
        ("amount", 0.29),
        ("amount", 1000000),
        ("cardNumber", "4111-1111-1111-1111"),
        ("cardNumber", "411111111111111 1"),
        ("timestamp", "2026-11-21T11:15:00.123456789+01:00"),
        ("timestamp", "2026-11-21T10:15:00-00:00"),
        ("merchantCategoryCode", None),
    ],
)
def test_values_the_schema_allows_are_accepted(field: str, value: Any) -> None:
    text = json.dumps({**VALID, field: value})
    assert schema_valid(text)
    assert refusals(text, NOW) is None


def test_whole_amount_currencies_are_stated_in_the_schema() -> None:
    for amount, allowed in (("500", True), ("500.00", True), (500, True), ("500.50", False), (500.5, False)):
        text = json.dumps({**VALID, "currency": "JPY", "amount": amount})
        assert schema_valid(text) is allowed
        problems = refusals(text, NOW) or []
        assert ("amount" in [f for f, _ in problems]) is not allowed


# --- Generated by schemathesis from the schema (valid, and invalid), some with one field made hostile.

_OPERATION = schemathesis.openapi.from_dict(
    {
        "openapi": "3.1.0",
        "info": {"title": "transaction schema", "version": "1"},
        "paths": {
            "/transactions": {
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": TRANSACTION_JSON_SCHEMA}},
                    },
                    "responses": {"200": {"description": "accepted"}},
                }
            }
        },
    }
)["/transactions"]["POST"]
HOSTILE = st.sampled_from(
    [" ", "+", "-", "0", "\n", "\t", "\u00a0", "e3", ".", "W", "T", "z", "Z", "\x00", "\u0661"]  # Arabic-Indic 1
)
GENERATED = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def _bodies(mode: GenerationMode) -> st.SearchStrategy[Any]:
    return _OPERATION.as_strategy(generation_mode=mode).map(lambda case: case.body)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    body = draw(_bodies(GenerationMode.POSITIVE))
    field = draw(st.sampled_from(list(FIELDS)))
    mutation = draw(st.sampled_from(["pad", "replace", "drop", "extra", "case"]))
    value = body.get(field)
    if mutation == "pad" and isinstance(value, str):
        piece = draw(HOSTILE)
        body[field] = piece + value if draw(st.booleans()) else value + piece
    elif mutation == "replace":
        body[field] = draw(st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.none(), st.booleans()))
    elif mutation == "drop":
        body.pop(field, None)
    elif mutation == "extra":
        body[draw(st.text(min_size=1, max_size=10))] = draw(st.text(max_size=5))
    elif mutation == "case" and isinstance(value, str):
        body[field] = value.swapcase()
    return json.dumps(body)


@GENERATED
@given(_bodies(GenerationMode.POSITIVE))
def test_every_schema_valid_request_is_accepted_or_refused_for_a_business_rule(body: dict[str, Any]) -> None:
    text = json.dumps(body)
    assert schema_valid(text)
    problems = refusals(text) or []
    assert all(business_rule(*p) for p in problems), (problems, text)


@GENERATED
@given(_bodies(GenerationMode.NEGATIVE))
def test_every_schema_invalid_request_is_refused(body: Any) -> None:
    # Negative mode also sends bodies that are not JSON at all (raw bytes).
    payload = body if isinstance(body, bytes) else json.dumps(body)
    if not schema_valid(payload):
        assert refusals(payload) is not None, payload


@GENERATED
@given(mutated())
def test_requests_with_a_hostile_field_schema_and_parser_agree(text: str) -> None:
    assert_agrees(text)
