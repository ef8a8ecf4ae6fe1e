"""Card numbers (PAN): Luhn check, keyed tokenization, masking and log redaction.

PCI DSS 3.5.1 / 3.5.1.1: a stored PAN is rendered unreadable by a *keyed* hash of the entire PAN
(HMAC-SHA256, key in Secrets Manager); a plain ``sha256(pan)`` is never used because the PAN
space is small enough to brute-force. PCI DSS 3.4.1: when displayed, at most the BIN (first six
digits here) and the last four digits are shown.

``redact_pans`` and ``PanRedactingFilter`` are layer 1 of "never log a PAN": every handler log
record goes through them. Standard library only (ships in the Lambda package and the fraud-api
image).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MIN_PAN_DIGITS = 12
"""Shortest PAN ``TransactionRequest`` accepts (ISO/IEC 7812 allows 8-19; issued cards are >= 12)."""
MAX_PAN_DIGITS = 19
REDACT_MIN_DIGITS = 13
"""Shortest digit run ``redact_pans`` treats as a PAN (PCI DSS 3.4 scanning convention)."""
BIN_DIGITS = 6
LAST_DIGITS = 4
MASK_CHAR = "*"

_DIGITS_ONLY = re.compile(r"[0-9]+")
# A run of digit groups joined by single spaces or hyphens ("4111 1111-1111 1111"), not touching
# other digits. Candidates are checked group-aligned in ``_redact_run``.
_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9]+(?:[ -][0-9]+)*(?![0-9])")


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (ASCII digits only) passes the Luhn mod-10 check.

    Anything that is not a non-empty string of ASCII digits is invalid (no exceptions), so
    callers can pass untrusted input.
    """
    if not isinstance(digits, str) or not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
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


def _redact_run(run: str) -> str:
    """Mask every Luhn-valid 13-19 digit span in a run of digit groups, aligned on groups.

    "Order 12 4111 1111 1111 1111" has the run "12 4111 1111 1111 1111": the whole run is not a
    PAN, but groups 2-5 are. Each Luhn-valid span hides all but its first six and last four
    digits, and the union of the hidden digits is masked, so overlapping candidates can never
    leave more than BIN + last four of any PAN readable.
    """
    groups = _DIGITS_ONLY.findall(run)
    digits = "".join(groups)
    if len(digits) < REDACT_MIN_DIGITS:
        return run
    starts = [0]
    for group in groups:
        starts.append(starts[-1] + len(group))
    hidden = [False] * len(digits)
    for i in range(len(groups)):
        for j in range(i + 1, len(groups) + 1):
            length = starts[j] - starts[i]
            if length > MAX_PAN_DIGITS:
                break
            if length >= REDACT_MIN_DIGITS and luhn_valid(digits[starts[i] : starts[j]]):
                for pos in range(starts[i] + BIN_DIGITS, starts[j] - LAST_DIGITS):
                    hidden[pos] = True
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
    """Replace every Luhn-valid 13-19 digit run (spaces/hyphens allowed inside) by its mask.

    Digit runs longer than 19 digits (stream sequence numbers, ids) are left alone. A 13-digit
    Luhn-valid epoch-milliseconds value is masked too (false positive, harmless): log times as
    ISO-8601 strings, not epoch milliseconds.
    """
    if not text or _DIGITS_ONLY.search(text) is None:
        return text
    return _DIGIT_RUN.sub(lambda m: _redact_run(m.group(0)), text)


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
    bare = normalize_field_name(name).removeprefix("card") or "number"
    return is_sad_field(name) or bare in PAN_FIELD_NAMES or normalize_field_name(name) in PAN_FIELD_NAMES


def redact_value(value: Any) -> Any:
    """Redact PANs in a value of any JSON-like shape; dict keys naming SAD lose their value."""
    if isinstance(value, str):
        return redact_pans(value)
    if isinstance(value, dict):
        return {k: (REDACTED if _is_secret_key(k) else redact_value(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and REDACT_MIN_DIGITS <= len(str(abs(value))) <= 19:
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
