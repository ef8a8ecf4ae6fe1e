"""Serving-path value types. Standard library only: imported by the Lambdas and fraud-api.

Timestamps are epoch seconds (float, UTC); amounts are floats in the currency's major unit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple


class Decision(StrEnum):
    """What the caller should do with the transaction; ordered by severity."""

    APPROVE = "approve"
    REVIEW = "review"
    DECLINE = "decline"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Decision.APPROVE: 0, Decision.REVIEW: 1, Decision.DECLINE: 2}


@dataclass(frozen=True, slots=True)
class Transaction:
    """A card transaction to score. Carries the keyed card hash and BIN/last4, never the PAN."""

    transaction_id: str
    timestamp: float
    customer_id: str
    terminal_id: str
    amount: float
    currency: str = "EUR"
    merchant_category: str | None = None
    """ISO 18245 merchant category code (4 digits)."""
    channel: str | None = None
    """e.g. ``card_present``, ``ecommerce``, ``moto``."""
    card_bin: str | None = None
    card_last4: str | None = None
    card_hash: str | None = None
    """Keyed (HMAC) hash of the PAN computed upstream; lets stores join on the card without the PAN."""

    def __post_init__(self) -> None:
        # Cheap guards only: a BIN longer than 8 digits or a "last4" that is not 4 digits is the
        # usual sign that someone put (part of) a PAN where it must not go.
        if self.card_bin is not None and not (self.card_bin.isdigit() and 6 <= len(self.card_bin) <= 8):
            raise ValueError(f"card_bin must be 6-8 digits, got {len(self.card_bin)} characters")
        if self.card_last4 is not None and not (self.card_last4.isdigit() and len(self.card_last4) == 4):
            raise ValueError("card_last4 must be exactly 4 digits")
        if not math.isfinite(self.amount) or self.amount < 0:
            raise ValueError(f"amount must be a finite number >= 0, got {self.amount!r}")
        if not math.isfinite(self.timestamp):
            raise ValueError(f"timestamp must be finite epoch seconds, got {self.timestamp!r}")


class HistoryItem(NamedTuple):
    """One past transaction of the customer or of the terminal, with its label if known.

    ``fraud`` is ``None`` while no label exists. ``label_time`` is when the label became known
    (epoch seconds); the scorer ignores a label until both ``label_time`` has passed and the
    transaction is older than the label delay (the conventions in ``features``' module docstring).

    A NamedTuple, not a dataclass: the features read items by position only (``HistoryRow``), so a
    caller holding database rows in this field order passes them as they are (fraud-api's request
    path reads ~170 per score) and builds no object per row.
    """

    transaction_id: str
    timestamp: float
    amount: float
    customer_id: str
    terminal_id: str
    fraud: bool | None = None
    label_time: float | None = None


HistoryRow = tuple[str, float, float, str, str, bool | None, float | None]
"""A ``HistoryItem``'s fields by position: what ``History`` holds and the features read. A
``HistoryItem`` is one; so is a database row selected in this column order."""


@dataclass(frozen=True, slots=True)
class History:
    """What the caller fetched: the customer's and the terminal's recent transactions.

    May hold more than needed (older, or even later than the transaction being scored): the
    feature code filters by time itself and never trusts the caller for leakage safety.
    """

    customer: tuple[HistoryRow, ...] = ()
    terminal: tuple[HistoryRow, ...] = ()


_THRESHOLD_KEYS = ("review", "decline")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Score cut-offs: ``score >= decline`` declines, else ``score >= review`` reviews.

    The defaults are deliberately conservative on declines (a wrongly declined payment costs a
    customer) and send the uncertain band to human review.
    """

    review: float = 0.3
    decline: float = 0.8

    def __post_init__(self) -> None:
        for key in _THRESHOLD_KEYS:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"threshold {key!r} must be a number in [0, 1], got {value!r}")
        if self.review > self.decline:
            raise ValueError(f"threshold 'review' ({self.review}) must not exceed 'decline' ({self.decline})")

    @classmethod
    def from_mapping(cls, config: Mapping[str, object]) -> Thresholds:
        """Build from configuration (e.g. the API configuration secret).

        Accepts the keys ``review`` and ``decline``; a missing key keeps its default. Values
        may be numbers or numeric strings (secrets are often all strings).

        Raises
        ------
        ValueError
            Naming the offending key or value and what is allowed.
        """
        unknown = sorted(set(config) - set(_THRESHOLD_KEYS))
        if unknown:
            raise ValueError(f"unknown threshold key(s) {unknown}; allowed keys are {list(_THRESHOLD_KEYS)}")
        values: dict[str, float] = {}
        for key in _THRESHOLD_KEYS:
            if key not in config:
                continue
            raw = config[key]
            try:
                if isinstance(raw, bool) or not isinstance(raw, int | float | str):
                    raise TypeError
                value = float(raw)
            except (TypeError, ValueError):
                raise ValueError(f"threshold {key!r} must be a number in [0, 1], got {raw!r}") from None
            if not math.isfinite(value):
                raise ValueError(f"threshold {key!r} must be a number in [0, 1], got {raw!r}")
            values[key] = value
        return cls(**values)

    def decide(self, score: float) -> Decision:
        if score >= self.decline:
            return Decision.DECLINE
        if score >= self.review:
            return Decision.REVIEW
        return Decision.APPROVE


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """The scorer's answer: probability-like score, decision, and why."""

    score: float
    decision: Decision
    reasons: tuple[str, ...]
    model_version: str
    thresholds: Thresholds
    rule_ids: tuple[str, ...] = field(default=())
    """Identifiers of the rules that fired, for metrics and audit."""
