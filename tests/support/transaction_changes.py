"""One caller-sent field of a transaction body changed to another valid value, for property tests
of "the same transaction" (``fraud_common.identity``) on both ingestion paths.

A change is always a different value of the field (an amount of 42.5 for 42.50 is the same money,
so it is never drawn) and always valid under the contract, so the request reaches the sameness
check instead of a 400. Deliberately independent of ``fraud_common``: values come from the
contract's documented rules, stated here.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from tests.support.pan_cases import luhn_check_digit, luhn_pans

ABSENT: Any = object()
"""A changed value meaning "leave the field out" (the merchant category code only)."""

FIELDS = (
    "transactionId",
    "timestamp",
    "customerId",
    "terminalId",
    "amount",
    "currency",
    "merchantCategoryCode",
    "channel",
    "cardNumber",
)
"""Every field a caller sends."""

_TWO_DECIMAL_CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK", "CAD", "AUD", "NOK", "DKK", "PLN")
_CHANNELS = ("pos", "ecom", "moto", "atm")
# An identifier with at most 11 digits is never taken for a card number (the contract's rule).
_MAX_ID_DIGITS = 11


def with_change(body: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    """``body`` with ``field`` set to ``value``, or left out when ``value`` is ``ABSENT``."""
    changed = {**body, field: value}
    if value is ABSENT:
        del changed[field]
    return changed


def amount_spellings(amount: Decimal) -> st.SearchStrategy[Any]:
    """Ways a caller may write ``amount`` (two decimals): "10.50", "10.5", 10.5."""
    return st.sampled_from([f"{amount:.2f}", format(amount.normalize(), "f"), float(amount)])


def card_spellings(pan: str) -> st.SearchStrategy[str]:
    """``pan`` as digits, or grouped by fours with spaces or hyphens."""
    groups = [pan[i : i + 4] for i in range(0, len(pan), 4)]
    return st.sampled_from([pan, " ".join(groups), "-".join(groups)])


def _identifier(alphabet: str, original: str) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=1, max_size=64).filter(
        lambda v: v != original and sum(c.isdigit() for c in v) <= _MAX_ID_DIGITS
    )


def _timestamp(original: str) -> st.SearchStrategy[str]:
    # Earlier by 1 ms to 300 days: inside the accepted window (a year back, not in the future).
    start = datetime.fromisoformat(original).astimezone(UTC).replace(microsecond=0)
    earlier = st.integers(1, 300 * 24 * 3600 * 1000).map(lambda ms: start - timedelta(milliseconds=ms))
    return earlier.map(lambda t: t.isoformat(timespec="milliseconds").replace("+00:00", "Z"))


def _amount(original: Any) -> st.SearchStrategy[Any]:
    cents = st.integers(1, 100_000_000).map(lambda c: Decimal(c) / 100)
    return cents.filter(lambda a: a != Decimal(str(original))).flatmap(amount_spellings)


def _luhn_valid(digits: str) -> bool:
    return luhn_check_digit(digits[:-1]) == digits[-1]


@st.composite
def _same_bin_and_last4(draw: st.DrawFn, pan: str) -> str:
    """Another valid card sharing ``pan``'s BIN and last four: all a mask shows of it."""
    middle = draw(st.text(string.digits, min_size=len(pan) - 11, max_size=len(pan) - 11))
    # Exactly one digit in the last middle position makes the number Luhn-valid.
    return next(c for c in (pan[:6] + middle + d + pan[-4:] for d in string.digits) if _luhn_valid(c))


def _card(original: str) -> st.SearchStrategy[str]:
    pan = "".join(c for c in original if c.isdigit())
    return st.one_of(luhn_pans(), _same_bin_and_last4(pan)).filter(lambda p: p != pan).flatmap(card_spellings)


_CHANGES: dict[str, Callable[[Any], st.SearchStrategy[Any]]] = {
    "transactionId": lambda v: _identifier(string.ascii_letters + string.digits + "_-", v),
    "timestamp": _timestamp,
    "customerId": lambda v: _identifier(string.ascii_letters + string.digits + "._:-", v),
    "terminalId": lambda v: _identifier(string.ascii_letters + string.digits + "._:-", v),
    "amount": _amount,
    "currency": lambda v: st.sampled_from([c for c in _TWO_DECIMAL_CURRENCIES if c != v]),
    "merchantCategoryCode": lambda v: st.one_of(st.just(ABSENT), st.from_regex(r"[0-9]{4}", fullmatch=True)).filter(
        lambda new: new != v and not (new is ABSENT and v in (ABSENT, None))
    ),
    "channel": lambda v: st.sampled_from([c for c in _CHANNELS if c != v]),
    "cardNumber": _card,
}


def changed_value(body: dict[str, Any], field: str) -> st.SearchStrategy[Any]:
    """A valid value of ``field`` other than the one in ``body`` (which must hold a two-decimal
    currency, and may lack the merchant category code)."""
    return _CHANGES[field](body.get(field, ABSENT))
