"""Disguised card numbers for property-based tests, and an oracle to find them again.

Deliberately independent of ``fraud_common.card``: the generator and the oracle must not share
the code under test. A disguise is what the issue's probe sent (``tx-4111111111111111``,
``4111-1111-1111-1111``, ``c:4111111111111111``, ``41111111.11111111``), generalised: a random
Luhn-valid 12-19 digit number, cut into random groups joined by random separators drawn from
the characters the field accepts, with a random prefix and suffix (letters and digits, joined by separators).
"""

from __future__ import annotations

import re
import string

from hypothesis import strategies as st

ID_SEPARATORS = "_-"
"""Separators a transactionId or an Idempotency-Key may hold (``[A-Za-z0-9_-]``)."""
REFERENCE_SEPARATORS = "._:-"
"""Separators a customerId or terminalId may hold (``[A-Za-z0-9._:-]``)."""


def luhn_check_digit(body: str) -> str:
    total = 0
    for i, char in enumerate(reversed(body)):
        d = int(char)
        if i % 2 == 0:  # doubled: the check digit will sit to the right of it
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


@st.composite
def luhn_pans(draw: st.DrawFn, min_digits: int = 12, max_digits: int = 19) -> str:
    length = draw(st.integers(min_digits, max_digits))
    first = draw(st.sampled_from("123456789"))
    body = first + draw(st.text(string.digits, min_size=length - 2, max_size=length - 2))
    return body + luhn_check_digit(body)


@st.composite
def disguised_pans(draw: st.DrawFn, separators: str, max_chars: int = 64) -> tuple[str, str]:
    """``(value, pan)``: ``pan`` hidden in ``value`` in groups, between a prefix and a suffix."""
    pan = draw(luhn_pans())
    cuts = sorted(draw(st.sets(st.integers(1, len(pan) - 1), max_size=5)))
    groups = [pan[a:b] for a, b in zip([0, *cuts], [*cuts, len(pan)], strict=True)]
    joined = groups[0]
    for group in groups[1:]:
        joined += draw(st.text(separators, min_size=1, max_size=3)) + group
    # A prefix or suffix is joined by a separator: digits glued to letters are a word, not a card
    # number (the detector's documented word boundary, as in "3f2a4111...").
    word = st.text(string.ascii_letters + string.digits, min_size=1, max_size=6)
    affix = st.one_of(st.just(""), st.tuples(word, st.text(separators, min_size=1, max_size=3)))
    prefix, suffix = draw(affix), draw(affix)
    value = "".join(prefix) + joined + "".join(reversed(suffix))
    return (value if len(value) <= max_chars else joined), pan


def holds(text: str, pan: str) -> bool:
    """True when the digits of ``pan`` appear in order in ``text``, any non-digits (up to 8)
    between them: the PAN in any spelling, but not its mask (digits hidden by ``*``)."""
    return re.search("[^0-9]{0,8}".join(pan), text) is not None
