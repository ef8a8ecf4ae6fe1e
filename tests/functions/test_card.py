"""fraud_common.card: Luhn, tokenization, masking and the PAN-redacting log filter."""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import string
import uuid

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
    redact_pans,
    tokenize,
)
from tests.support.pan_cases import REFERENCE_SEPARATORS, disguised_pans, holds


@pytest.mark.parametrize("digits", [VISA, MASTERCARD, AMEX, "79927398713"])
def test_luhn_valid_known_numbers_pass(digits):
    assert luhn_valid(digits)


@pytest.mark.parametrize("digits", ["4111111111111112", "", "4111-1111", "٤١١١", "41111111111111ab", None])
def test_luhn_valid_wrong_or_non_digit_input_fails(digits):
    assert not luhn_valid(digits)


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
