"""Card numbers (PAN): Luhn check, keyed tokenization, masking and log redaction.

PCI DSS 3.5.1 / 3.5.1.1: a stored PAN is rendered unreadable by a *keyed* hash of the entire PAN
(HMAC-SHA256, key in Secrets Manager); a plain ``sha256(pan)`` is never used because the PAN
space is small enough to brute-force. PCI DSS 3.4.1: when displayed, at most the BIN (first six
digits here) and the last four digits are shown.

One detector decides what is a card number wherever one must not be (``contains_pan`` for
values the system would store or echo, ``redact_pans`` for log text): a run of 12-19 ASCII digits
that passes the Luhn check, written in one piece or in groups, alone or inside longer text. Groups
may be joined by any 1-3 characters that are neither ASCII letters nor digits ("4111 1111",
"4111-1111", "41111111.11111111", "4111 / 1111", "4111__1111"), so ``tx-4111111111111111``,
``c:4111111111111111`` and ``4111.1111.1111.1111`` are all caught. Two limits keep ordinary
values usable, and are the detector's documented blind spots:

* letters end a run, and digits glued to a letter cannot start or end a card number (a word
  boundary, as DLP scanners use): digits interleaved with letters are not joined, and
  ``tx4111111111111111`` is not caught while ``tx-4111111111111111`` is; otherwise about one hex
  id in 300 would hold a "card number" and be refused;
* a candidate is made of whole groups, and a single group longer than 19 digits is not one
  (stream sequence numbers): checking every substring of a long digit run would flag nearly all.

False positives are the price of catching disguises: any 12-19 digit number joined from whole
groups is Luhn-valid one time in ten (a 12-digit numeric id, a date-time written with a separator
between every field; about one random UUID in 800 written with hyphens, none written in hex).
Identifiers with at most 11 digits (``tx-1001``, a 10-digit account id) are never refused; log
times are written as ISO-8601 ``...T12:00:00.123Z``, which the detector never joins into 12 digits.

``redact_pans`` and ``PanRedactingFilter`` are layer 1 of "never log a PAN": every handler log
record goes through them. Standard library only (ships in the Lambda package and the fraud-api
image).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MIN_PAN_DIGITS = 12
"""Shortest PAN (ISO/IEC 7812 allows 8-19; issued cards, Maestro included, are >= 12). The same
bound for the ``cardNumber`` field, identifier checks and log redaction: a number accepted as a
card is always recognised as one elsewhere."""
MAX_PAN_DIGITS = 19
MAX_SEPARATOR_CHARS = 3
"""Longest run of non-alphanumeric characters that still joins two digit groups (" - " is 3)."""
BIN_DIGITS = 6
LAST_DIGITS = 4
MASK_CHAR = "*"

PAN_REFUSED = (
    f"must not contain a card number ({MIN_PAN_DIGITS}-{MAX_PAN_DIGITS} digits passing the Luhn check, "
    "in one piece or in groups, alone or inside other text)"
)
"""The one message for a field refused by ``contains_pan``; it never repeats the value."""

_DIGITS_ONLY = re.compile(r"[0-9]+")
# A run of digit groups joined by separators (1-3 characters that are not ASCII letters or
# digits), not touching other digits: "4111 1111-1111 1111", "tx-4111.1111", "c:4111". Candidates
# inside a run are checked group-aligned in ``_pan_digits``.
_DIGIT_RUN = re.compile(rf"(?<![0-9])[0-9]+(?:[^A-Za-z0-9]{{1,{MAX_SEPARATOR_CHARS}}}[0-9]+)*")
# Cheap pre-check, one C-level scan: a run holding at least MIN_PAN_DIGITS digits. Text without
# one (most log lines) skips the per-group Python work.
_MAYBE_PAN = re.compile(rf"[0-9](?:[^A-Za-z0-9]{{0,{MAX_SEPARATOR_CHARS}}}[0-9]){{{MIN_PAN_DIGITS - 1}}}")


# A doubled Luhn digit's value, as a digit: 2d, less 9 when that exceeds 9.
_LUHN_DOUBLED = str.maketrans("0123456789", "0246813579")


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (ASCII digits only) passes the Luhn mod-10 check.

    Anything that is not a non-empty string of ASCII digits is invalid (no exceptions), so
    callers can pass untrusted input.
    """
    if not isinstance(digits, str) or not digits.isascii() or not digits.isdigit():  # "".isdigit() is False
        return False
    # From the right: every second digit doubled (by table), then each digit's code summed in C
    # (sum over bytes), less 48 ("0") per digit. A Python loop over the digits cost ~4x as much,
    # for every card number validated and every candidate the PAN detector checks.
    rev = digits[::-1]
    total = sum(rev[::2].encode()) + sum(rev[1::2].translate(_LUHN_DOUBLED).encode()) - 48 * len(digits)
    return total % 10 == 0


@dataclass(frozen=True)
class CardToken:
    """What is kept of a card: a keyed hash of the full PAN plus BIN and last four.

    ``card_hash`` joins a card's history across transactions without the PAN; ``key_version``
    names the HMAC key (``panHashKeys`` in the API configuration) so the hash stays verifiable
    after a planned re-keying. ``pan_length`` only sizes the mask.
    """

    card_hash: str
    key_version: str
    bin: str
    last4: str
    pan_length: int = 16

    def __post_init__(self) -> None:
        # Guards against a PAN (or a chunk of one) slipping into the display fields.
        if not (self.bin.isdigit() and len(self.bin) == BIN_DIGITS):
            raise ValueError("bin must be exactly 6 digits")
        if not (self.last4.isdigit() and len(self.last4) == LAST_DIGITS):
            raise ValueError("last4 must be exactly 4 digits")
        if not MIN_PAN_DIGITS <= self.pan_length <= MAX_PAN_DIGITS:
            raise ValueError(f"pan_length must be {MIN_PAN_DIGITS}-{MAX_PAN_DIGITS}")

    @property
    def masked(self) -> str:
        """``411111******1111``: at most BIN + last four are ever displayed (PCI DSS 3.4.1)."""
        hidden = self.pan_length - BIN_DIGITS - LAST_DIGITS
        return self.bin + MASK_CHAR * hidden + self.last4


def random_letters(length: int) -> str:
    """``length`` random lowercase letters (4.7 bits each) for a generated id. Having no digits, it is
    never read as a card number, where a short hex suffix now and then is: ``tx-`` + 12 hex digits is
    all digits and Luhn-valid about once in 3,000 (16 digits: once in 18,000)."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(length))


def normalize_pan(pan: str) -> str:
    """Strip the spaces and hyphens people type inside card numbers; other characters stay."""
    return pan.replace(" ", "").replace("-", "")


def card_hash(pan: str, key: bytes) -> str:
    """Hex HMAC-SHA256 of the full (normalized) PAN under ``key``."""
    return hmac.new(key, normalize_pan(pan).encode("ascii"), hashlib.sha256).hexdigest()


def tokenize(pan: str, key: bytes, key_version: str) -> CardToken:
    """Turn a PAN into its ``CardToken``. The PAN itself is not kept anywhere.

    Raises
    ------
    ValueError
        When ``pan`` is not 12-19 digits after normalization or ``key`` is empty. The message
        never contains the PAN.
    """
    digits = normalize_pan(pan)
    if not (digits.isascii() and digits.isdigit() and MIN_PAN_DIGITS <= len(digits) <= MAX_PAN_DIGITS):
        raise ValueError(f"card number must be {MIN_PAN_DIGITS}-{MAX_PAN_DIGITS} digits")
    if not key:
        raise ValueError("card hash key must not be empty")
    return CardToken(
        card_hash=card_hash(digits, key),
        key_version=key_version,
        bin=digits[:BIN_DIGITS],
        last4=digits[-LAST_DIGITS:],
        pan_length=len(digits),
    )


def _glued(text: str, index: int) -> bool:
    """True when ``text[index]`` is an ASCII letter: digits glued to a letter are part of a word."""
    return 0 <= index < len(text) and text[index].isascii() and text[index].isalpha()


def _pan_digits(groups: list[str], glued_start: bool, glued_end: bool) -> list[bool]:
    """Which digits of a run (its groups concatenated) to hide: all but the first six and last
    four of every Luhn-valid 12-19 digit span made of whole groups. A span may not start with a
    group glued to a letter before it (``glued_start``), nor end with one glued to a letter after
    it (``glued_end``), as a word-boundary match in a DLP scanner: digits inside a hex id
    (``3f2a4111...b``) are not a card number, ``tx-4111...`` and ``4111...`` alone are.

    "Order 12 4111 1111 1111 1111" has the run "12 4111 1111 1111 1111": the whole run is not a
    PAN, but groups 2-5 are. The union of the hidden digits is masked, so overlapping candidates
    can never leave more than BIN + last four of any PAN readable. No span: nothing hidden.
    """
    digits = "".join(groups)
    hidden = [False] * len(digits)
    if len(digits) < MIN_PAN_DIGITS:
        return hidden
    starts = [0]
    for group in groups:
        starts.append(starts[-1] + len(group))
    for i in range(1 if glued_start else 0, len(groups)):
        for j in range(i + 1, len(groups) + (0 if glued_end else 1)):
            length = starts[j] - starts[i]
            if length > MAX_PAN_DIGITS:
                break
            if length >= MIN_PAN_DIGITS and luhn_valid(digits[starts[i] : starts[j]]):
                for pos in range(starts[i] + BIN_DIGITS, starts[j] - LAST_DIGITS):
                    hidden[pos] = True
    return hidden


def contains_pan(value: object) -> bool:
    """True when ``value`` (a string) holds a card number as the module docstring defines it.

    The guard for every identifier and free-text value the system would store or echo: such a
    value is refused (``PAN_REFUSED``), never stored. Non-strings are False.
    """
    if not isinstance(value, str) or _MAYBE_PAN.search(value) is None:
        return False
    return any(any(_run_hidden(value, m)) for m in _DIGIT_RUN.finditer(value))


def _run_hidden(text: str, match: re.Match[str]) -> list[bool]:
    groups = _DIGITS_ONLY.findall(match.group(0))
    return _pan_digits(groups, _glued(text, match.start() - 1), _glued(text, match.end()))


def _redact_run(text: str, match: re.Match[str]) -> str:
    run = match.group(0)
    hidden = _run_hidden(text, match)
    if not any(hidden):
        return run
    out: list[str] = []
    pos = 0
    for char in run:
        if "0" <= char <= "9":
            out.append(MASK_CHAR if hidden[pos] else char)
            pos += 1
        else:
            out.append(char)
    return "".join(out)


def redact_pans(text: str) -> str:
    """Mask every card number in ``text`` (same detector as ``contains_pan``) to BIN + last four.

    Separators stay in place: "4111.1111.1111.1111" -> "4111.11**.****.1111". A 12-19 digit
    Luhn-valid epoch-milliseconds value is masked too (false positive, harmless): log times as
    ISO-8601 strings, not epoch milliseconds.
    """
    if not text or _MAYBE_PAN.search(text) is None:
        return text
    return _DIGIT_RUN.sub(lambda m: _redact_run(text, m), text)


# Sensitive authentication data (PCI DSS 3.3.1): names a request or log field might carry it under,
# compared after ``normalize_field_name`` and with a leading "card" removed ("cardCvv" -> "cvv").
SAD_FIELD_NAMES = frozenset(
    {
        "cvv", "cvc", "cvv2", "cvc2", "cvn", "cvn2", "cvd", "cid", "csc", "cav2",
        "securitycode", "verificationcode", "verificationvalue",
        "track", "track1", "track2", "track3", "trackdata", "track1data", "track2data",
        "magstripe", "magneticstripe", "magstripedata",
        "pin", "pinblock", "encryptedpin", "pincode",
    }
)  # fmt: skip
# Names under which a full PAN might travel; their values are always redacted in logs.
PAN_FIELD_NAMES = frozenset(
    {"pan", "number", "cardnumber", "primaryaccountnumber", "accountnumber", "ccnumber", "creditcardnumber"}
)
REDACTED = "[REDACTED]"


def normalize_field_name(name: str) -> str:
    """``"Security-Code"`` -> ``"securitycode"``: lower case, ASCII letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def is_sad_field(name: str) -> bool:
    """True when ``name`` looks like a CVV/CVC/CID, track data or PIN field (any case or spelling)."""
    key = normalize_field_name(name)
    bare = key.removeprefix("card")
    # No ordinary word contains "cvv" or "cvc", so a substring match is safe there.
    return "cvv" in key or "cvc" in key or key in SAD_FIELD_NAMES or bare in SAD_FIELD_NAMES


def _is_secret_key(name: object) -> bool:
    if not isinstance(name, str):
        return False
    # "cardNumber" and a bare "card" both become "number", so every PAN name matches with or without "card".
    bare = normalize_field_name(name).removeprefix("card") or "number"
    return is_sad_field(name) or bare in PAN_FIELD_NAMES


def redact_value(value: Any) -> Any:
    """Redact PANs in a value of any JSON-like shape; dict keys naming SAD lose their value."""
    if isinstance(value, str):
        return redact_pans(value)
    if isinstance(value, dict):
        return {k: (REDACTED if _is_secret_key(k) else redact_value(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and MIN_PAN_DIGITS <= len(str(abs(value))) <= MAX_PAN_DIGITS
    ):
        text = str(value)
        return redact_pans(text) if luhn_valid(text.lstrip("-")) else value
    return value


# LogRecord attributes that are not user "extra" keys.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class PanRedactingFilter(logging.Filter):
    """Redacts PANs (and values under CVV/track/PIN-like keys) in a record before it is emitted.

    It renders ``msg % args`` itself, so a PAN passed as an argument is redacted too, and it
    redacts string ``extra`` attributes and any pre-rendered exception text. Attach it to a
    logger (``logger.addFilter``) *and* to handlers you own; formatters that build their own
    output (e.g. JSON) should also pass their final string through ``redact_pans``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        if isinstance(record.msg, dict | list):
            # Structured loggers (Powertools) accept dicts as the message.
            record.msg = redact_value(record.msg)
        else:
            record.msg = redact_pans(message)
        record.args = None
        for key in _extra_keys(record.__dict__):
            value = record.__dict__[key]
            record.__dict__[key] = REDACTED if _is_secret_key(key) else redact_value(value)
        if record.exc_info and not record.exc_text:
            # Render the traceback now (stdlib formatters reuse exc_text) so it is redacted too.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_pans(record.exc_text)
        return True


def _extra_keys(attributes: dict[str, Any]) -> Iterable[str]:
    return [k for k in attributes if k not in _RESERVED]


def redact_every_handler(logger: logging.Logger | None = None) -> None:
    """Put a ``PanRedactingFilter`` on every handler of ``logger`` (default: the root logger).

    A filter on a *logger* only sees records logged on that very logger; a filter on a *handler*
    sees every record that reaches it, whichever library's logger it came from (httpx, uvicorn,
    werkzeug, botocore). Idempotent.
    """
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, PanRedactingFilter) for f in handler.filters):
            handler.addFilter(PanRedactingFilter())
