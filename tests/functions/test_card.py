"""fraud_common.card: Luhn, tokenization, masking and the PAN-redacting log filter."""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import string
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from handler_support import AMEX, MASTERCARD, VISA, find_pans
from hypothesis import given, settings
from hypothesis import strategies as st

from fraud_common.card import (
    CardToken,
    PanRedactingFilter,
    contains_pan,
    is_sad_field,
    luhn_valid,
    random_letters,
    redact_every_handler,
    redact_pans,
    redact_value,
    tokenize,
)
from tests.support.pan_cases import REFERENCE_SEPARATORS, disguised_pans, holds


@pytest.mark.parametrize("digits", [VISA, MASTERCARD, AMEX, "79927398713"])
def test_luhn_valid_known_numbers_pass(digits):
    assert luhn_valid(digits)


@pytest.mark.parametrize("digits", ["4111111111111112", "", "4111-1111", "٤١١١", "41111111111111ab", None])
def test_luhn_valid_wrong_or_non_digit_input_fails(digits):
    assert not luhn_valid(digits)


def _luhn_reference(digits: str) -> bool:
    """The Luhn check as ISO/IEC 7812-1 states it: from the right, double every second digit,
    subtract 9 from a product above 9, and the sum must be a multiple of 10."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


@given(st.text(string.digits, min_size=1, max_size=40))
@settings(max_examples=500)
def test_luhn_valid_agrees_with_the_standards_definition(digits: str) -> None:
    assert luhn_valid(digits) == _luhn_reference(digits)


def test_tokenize_keeps_hmac_bin_last4_only():
    # GIVEN a spaced PAN and a key / WHEN tokenized
    token = tokenize("4111 1111-1111 1111", b"k" * 32, "3")
    # THEN the hash is the HMAC-SHA256 of the full digits, and only BIN + last 4 are kept
    assert token.card_hash == hmac.new(b"k" * 32, VISA.encode(), hashlib.sha256).hexdigest()
    assert (token.bin, token.last4, token.key_version, token.masked) == ("411111", "1111", "3", "411111******1111")
    assert VISA not in repr(token)


def test_tokenize_amex_mask_fits_length():
    assert tokenize(AMEX, b"k" * 32, "1").masked == "378282*****0005"


def test_tokenize_rejects_non_pan_without_echoing_it():
    with pytest.raises(ValueError) as excinfo:
        tokenize("4111 abcd", b"k", "1")
    assert "4111" not in str(excinfo.value)


def test_card_token_refuses_pan_fragments_in_display_fields():
    with pytest.raises(ValueError):
        CardToken(card_hash="x", key_version="1", bin="41111111", last4="1111")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"card {VISA}.", "card 411111******1111."),
        ("pan=4111 1111 1111 1111", "pan=4111 11** **** 1111"),
        ("5555-5555-5555-4444", "5555-55**-****-4444"),
        ("order 12 5555 5555 5555 4444", "order 12 5555 **** **** 4444"),
        ("seq 111100000000012345678901 id 4111111111111112", "seq 111100000000012345678901 id 4111111111111112"),
        ("no digits here", "no digits here"),
    ],
)
def test_redact_pans_masks_every_luhn_valid_run(text, expected):
    assert redact_pans(text) == expected


@pytest.mark.parametrize("name", ["cvv", "CVV2", "cvc2", "cardCvc", "CID", "securityCode", "security_code", "track1",
                                  "Track2", "trackData", "pin", "PIN-block", "pinBlock", "magstripe"])  # fmt: skip
def test_is_sad_field_catches_spellings(name):
    assert is_sad_field(name)


@pytest.mark.parametrize("name", ["transactionId", "pinned", "trackingNumber", "customerId", "amount", "candidate"])
def test_is_sad_field_leaves_ordinary_names(name):
    assert not is_sad_field(name)


def test_pan_redacting_filter_covers_args_extras_and_tracebacks():
    # GIVEN a stdlib logger with the filter
    stream = io.StringIO()
    log = logging.getLogger("test-pan-filter")
    log.propagate = False
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s %(note)s %(cvv)s"))
    log.addHandler(handler)
    log.addFilter(PanRedactingFilter())
    # WHEN PANs arrive as an argument, an extra, and inside an exception
    try:
        raise ValueError(f"bad card {MASTERCARD}")
    except ValueError:
        log.exception("card %s", VISA, extra={"note": f"{AMEX}", "cvv": "123"})
    # THEN none survives, and the CVV-named extra is replaced
    output = stream.getvalue()
    assert find_pans(output) == []
    assert "[REDACTED]" in output and " 123" not in output


# One detector (fraud_common.card.contains_pan / redact_pans): 12-19 digits, Luhn, any separators,
# embedded in longer text. Property-based: random Luhn-valid numbers in random disguises.
_PROPERTIES = settings(max_examples=300, database=None, deadline=None)


@_PROPERTIES
@given(disguised_pans(REFERENCE_SEPARATORS + " /|+,#"))
def test_contains_pan_finds_every_disguise_and_redact_pans_hides_it(case: tuple[str, str]) -> None:
    value, pan = case
    assert contains_pan(value)
    assert contains_pan(f"note: {value}; end")
    assert not holds(redact_pans(value), pan)


@_PROPERTIES
@given(st.text(string.ascii_letters + string.punctuation + " ").flatmap(
    lambda text: st.lists(st.text(string.digits, max_size=11), max_size=4).map(lambda d: (text, d))
))  # fmt: skip
def test_contains_pan_never_flags_a_value_with_at_most_eleven_digits(case: tuple[str, list[str]]) -> None:
    text, digit_runs = case
    digits = "".join(digit_runs)[:11]
    value = text[: len(text) // 2] + digits + text[len(text) // 2 :]
    assert not contains_pan(value)
    assert redact_pans(value) == value


@_PROPERTIES
@given(st.uuids())
def test_contains_pan_never_flags_a_hex_id(value: uuid.UUID) -> None:
    # Digits glued to letters are a word: a hex id can never be refused as a card number.
    assert not contains_pan(value.hex)
    assert not contains_pan(f"tx-{value.hex[:20]}")


def test_random_letters_are_lowercase_letters_of_the_length_asked_and_never_repeat() -> None:
    tokens = {random_letters(7) for _ in range(200)}
    assert len(tokens) == 200  # 26**7 values: a repeat in 200 draws is a broken generator
    assert all(len(token) == 7 and set(token) <= set(string.ascii_lowercase) for token in tokens)
    assert random_letters(0) == ""


@pytest.mark.parametrize(
    "value",
    ["tx-1001", "tx4111111111111111", "1234567890", "cust-0000012345", "2026-11-21T12:00:00.123Z", "term:42.7",
     "411111******1111", "3f2a4111b1111c1111d1111e", "seq 111100000000012345678901"],
)  # fmt: skip
def test_contains_pan_leaves_ordinary_identifiers_alone(value: str) -> None:
    assert not contains_pan(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 411111111117", "card 411111**1117"),
        ("tx-4111111111111111", "tx-411111******1111"),
        ("c:4111111111111111", "c:411111******1111"),
        ("41111111.11111111", "411111**.****1111"),
        ("4111_1111:1111/1111", "4111_11**:****/1111"),
    ],
)
def test_redact_pans_masks_twelve_digit_and_disguised_card_numbers(text: str, expected: str) -> None:
    # 12 digits is a Maestro length: accepted as cardNumber, so redacted too (was: from 13).
    assert redact_pans(text) == expected


# --- Exact behaviour at every boundary and branch (mutation testing, issue 12: make mutate TARGETS=card).
FULLWIDTH_VISA = "".join(chr(ord(digit) + 0xFEE0) for digit in VISA)
"""VISA in full-width digits (U+FF10-U+FF19): str.isdigit() says digits, and their code points pass the Luhn sum."""
ARABIC_INDIC_ONE = "\u0661"
"""A digit to str.isdigit(), whose UTF-8 bytes pass the byte-sum Luhn: only the ASCII check refuses it."""


@pytest.mark.parametrize("value", [FULLWIDTH_VISA, ARABIC_INDIC_ONE, 4111111111111111, "4111111111111111\n"])
def test_luhn_valid_refuses_non_ascii_digits_and_non_strings(value: object) -> None:
    assert not luhn_valid(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"bin": "41111a"}, "bin must be exactly 6 digits"),
        ({"bin": "41111"}, "bin must be exactly 6 digits"),
        ({"last4": "111a"}, "last4 must be exactly 4 digits"),
        ({"last4": "11111"}, "last4 must be exactly 4 digits"),
        ({"pan_length": 11}, "pan_length must be 12-19"),
        ({"pan_length": 20}, "pan_length must be 12-19"),
    ],
)
def test_card_token_refuses_malformed_display_fields_naming_the_field(fields: dict[str, Any], message: str) -> None:
    valid: dict[str, Any] = {"card_hash": "h", "key_version": "1", "bin": "411111", "last4": "1111", "pan_length": 16}
    with pytest.raises(ValueError) as excinfo:
        CardToken(**(valid | fields))
    assert str(excinfo.value) == message


@pytest.mark.parametrize(("pan_length", "masked"), [(12, "411111**1111"), (19, "411111*********1111")])
def test_card_token_masks_the_shortest_and_longest_pans(pan_length: int, masked: str) -> None:
    assert CardToken("h", "1", "411111", "1111", pan_length).masked == masked


@pytest.mark.parametrize(
    ("pan", "masked"), [("411111111117", "411111**1117"), ("4111111111111111110", "411111*********1110")]
)
def test_tokenize_accepts_twelve_and_nineteen_digit_pans(pan: str, masked: str) -> None:
    token = tokenize(pan, b"k", "1")
    assert (token.masked, token.pan_length) == (masked, len(pan))


@pytest.mark.parametrize("pan", ["41111111111", "41111111111111111115", "4111-1111-1111-111x", FULLWIDTH_VISA])
def test_tokenize_refuses_wrong_lengths_and_non_ascii_digits_without_echoing(pan: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        tokenize(pan, b"k", "1")
    assert str(excinfo.value) == "card number must be 12-19 digits"


def test_tokenize_refuses_an_empty_key() -> None:
    with pytest.raises(ValueError) as excinfo:
        tokenize(VISA, b"", "1")
    assert str(excinfo.value) == "card hash key must not be empty"


@pytest.mark.parametrize(
    "value", ["x4111111111111111", "4111111111111111x", "4111 1111 1111 1111tx", 4111111111111111, None]
)
def test_contains_pan_ignores_digits_glued_to_a_letter_and_non_strings(value: object) -> None:
    # A letter at either end of the digits (even as the first character) makes them part of a word.
    assert not contains_pan(value)
    if isinstance(value, str):
        assert redact_pans(value) == value


def test_redact_pans_keeps_zeros_and_nines_in_place() -> None:
    assert redact_pans("pan 4999999900000009 ok") == "pan 499999******0009 ok"


@pytest.mark.parametrize(
    ("name", "sad"),
    [("cvvCode", True), ("cardCvvNumber", True), ("cvcValue", True), ("cardPin", True), ("cardTrack2", True),
     ("merchant", False), ("cardholder", False)],
)  # fmt: skip
def test_is_sad_field_matches_cvv_and_cvc_anywhere_and_other_names_after_card(name: str, sad: bool) -> None:
    assert is_sad_field(name) is sad


def test_redact_value_redacts_pan_and_sad_keys_and_pans_in_nested_values() -> None:
    value = {
        "pan": "x",
        "card": "x",
        "cardPan": "x",
        "Card-Number": "x",
        "cvvCode": "x",
        "merchant": "shop",
        "cardholder": "A. Holder",
        1: "one",
        "note": f"card {VISA}",
        "items": [VISA, ("tx-1", 2)],
    }
    assert redact_value(value) == {
        "pan": "[REDACTED]",
        "card": "[REDACTED]",
        "cardPan": "[REDACTED]",
        "Card-Number": "[REDACTED]",
        "cvvCode": "[REDACTED]",
        "merchant": "shop",
        "cardholder": "A. Holder",
        1: "one",
        "note": "card 411111******1111",
        "items": ["411111******1111", ["tx-1", 2]],
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (4111111111111111, "411111******1111"),
        (-4111111111111111, "-411111******1111"),
        (411111111117, "411111**1117"),
        (4111111111111111110, "411111*********1110"),
        (-4111111111111111110, "-411111*********1110"),
        (41111111111111111115, 41111111111111111115),  # 20 digits: never a PAN
        (79927398713, 79927398713),  # 11 digits, Luhn-valid: never a PAN
        (4111111111111112, 4111111111111112),  # fails the Luhn check
        (True, True),
        (None, None),
        (12.5, 12.5),
    ],
)
def test_redact_value_masks_integers_that_are_card_numbers_only(value: object, expected: object) -> None:
    assert redact_value(value) == expected


def _filtered(msg: object, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args or None, None)
    record.__dict__.update(extra)
    assert PanRedactingFilter().filter(record) is True
    return record


def test_pan_redacting_filter_renders_and_redacts_the_message_and_drops_the_args() -> None:
    record = _filtered("card %s for %s", VISA, "c-1", note=f"amex {AMEX}", cvv="123", count=3)
    assert logging.Formatter("%(message)s|%(note)s|%(cvv)s|%(count)s").format(record) == (
        "card 411111******1111 for c-1|amex 378282*****0005|[REDACTED]|3"
    )
    assert record.args is None and record.exc_text is None


def test_pan_redacting_filter_redacts_a_message_whose_arguments_do_not_fit() -> None:
    # "%s %s" with one argument cannot be rendered: the raw template is redacted and kept.
    assert _filtered(f"card {VISA} %s %s", "x").getMessage() == "card 411111******1111 %s %s"


def test_pan_redacting_filter_redacts_structured_messages() -> None:
    record = _filtered({"pan": VISA, "note": f"card {MASTERCARD}"})
    assert record.msg == {"pan": "[REDACTED]", "note": "card 555555******4444"}


def test_pan_redacting_filter_renders_and_redacts_an_exception_once() -> None:
    try:
        raise ValueError(f"bad card {MASTERCARD}")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    PanRedactingFilter().filter(record)
    assert record.exc_text is not None
    assert record.exc_text.endswith("ValueError: bad card 555555******4444")
    # A record whose traceback is already rendered keeps that text (redacted), not a new rendering.
    record.exc_text = f"pre-rendered {VISA}"
    PanRedactingFilter().filter(record)
    assert record.exc_text == "pre-rendered 411111******1111"


@pytest.fixture
def isolated_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("test-redact-every-handler")
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)


def test_redact_every_handler_adds_one_filter_per_handler(isolated_logger: logging.Logger) -> None:
    # GIVEN two handlers, one of which already redacts
    plain, redacting = logging.StreamHandler(io.StringIO()), logging.StreamHandler(io.StringIO())
    redacting.addFilter(PanRedactingFilter())
    isolated_logger.addHandler(plain)
    isolated_logger.addHandler(redacting)
    # WHEN it runs twice
    redact_every_handler(isolated_logger)
    redact_every_handler(isolated_logger)
    # THEN each handler has exactly one redacting filter
    for handler in (plain, redacting):
        assert [type(f) for f in handler.filters] == [PanRedactingFilter]


def test_redact_every_handler_defaults_to_the_root_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    handler = logging.StreamHandler(io.StringIO())
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])
    redact_every_handler()
    assert [type(f) for f in handler.filters] == [PanRedactingFilter]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("411111 / 1111111111", "411111 / ******1111"), ("411111 // 1111111111", "411111 // 1111111111")],
)
def test_redact_pans_joins_groups_across_at_most_three_separator_characters(text: str, expected: str) -> None:
    assert redact_pans(text) == expected
    assert contains_pan(text) is (text != expected)
