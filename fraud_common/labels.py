"""A confirmed label (chargeback, analyst review): its contract on every path, defined once.

fraud-api's ``POST /api/v1/feedback``, the processor's ``POST /transactions/{id}/label`` and the
bulk label files share these sources, bounds and messages. The rule for which label is in force
is also one: **the label with the latest label time wins, a tie going to the later write**, and a
label never predates its transaction. Each store applies it atomically in its own language (the
``UPDATE ... WHERE label_time <= ...`` of fraud-api's repository, the ``ConditionExpression`` of
``functions.common.labels``), so it cannot be one function; the tests of both paths pin it,
ties included. Standard library only (Lambda).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fraud_common.transaction import (
    FUTURE_MESSAGE,
    MAX_FUTURE_MS,
    FieldError,
    ordinal,
    timestamp_ms,
    transaction_id_problem,
)

LABEL_SOURCES = ("chargeback", "analyst_review", "issuer_report", "customer_report")
MAX_FUTURE_S = MAX_FUTURE_MS / 1000
"""Clock skew tolerated for a labelTime ahead of the server's clock (as for transactions)."""
BEFORE_TRANSACTION_MESSAGE = "labelTime is earlier than the transaction's timestamp"
BODY_FIELDS = ("fraud", "source", "labelTime")
"""The HTTP body; the transaction id is in the path."""
ROW_FIELDS = ("transactionId", *BODY_FIELDS)
"""A row of a bulk label file (the CSV header)."""
LABELS_PREFIX = "labels/"
"""Where bulk label files are dropped, in the reports bucket (the labeler's S3 notification filter)."""
RESULTS_PREFIX = "label-results/"
"""Where the labeler writes each file's result object."""


class InvalidLabel(ValueError):
    """Not a valid label; ``errors`` lists every problem, by field, never echoing a value."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))


@dataclass(frozen=True)
class LabelRequest:
    transaction_id: str
    fraud: bool
    source: str
    label_time_ms: int


def parse_label(data: Mapping[str, Any], *, transaction_id: str | None, now_ms: int) -> LabelRequest:
    """Validate a label: an HTTP body (``transaction_id`` from the path) or a bulk row (None: the
    row's ``transactionId``). A missing ``labelTime`` is ``now_ms``.

    Raises
    ------
    InvalidLabel
        With one ``FieldError`` per problem: unknown fields (by position: a client-chosen name can
        be a card number), a missing or malformed field, a card number in the id, a labelTime more
        than 5 minutes ahead of ``now_ms``.
    """
    allowed = BODY_FIELDS if transaction_id is not None else ROW_FIELDS
    errors = [
        FieldError("body", f"{ordinal(position)} field is unknown; allowed fields are {', '.join(allowed)}")
        for position, name in enumerate(data, start=1)
        if name not in allowed
    ]
    if transaction_id is None:
        raw_id = data.get("transactionId")
        if not isinstance(raw_id, str):
            errors.append(FieldError("transactionId", "is required" if raw_id is None else "must be a string"))
        elif problem := transaction_id_problem(raw_id):
            errors.append(FieldError("transactionId", problem))
        else:
            transaction_id = raw_id
    fraud = data.get("fraud")
    if not isinstance(fraud, bool):
        errors.append(FieldError("fraud", "is required" if fraud is None else "must be true or false"))
    source = data.get("source")
    if source not in LABEL_SOURCES:
        message = "is required" if source is None else f"must be one of {', '.join(LABEL_SOURCES)}"
        errors.append(FieldError("source", message))
    label_time_ms = now_ms
    raw_time = data.get("labelTime")
    if raw_time is not None:
        try:
            if not isinstance(raw_time, str):
                raise ValueError("must be a string")
            label_time_ms = timestamp_ms(raw_time)
        except ValueError as problem:
            errors.append(FieldError("labelTime", str(problem)))
        else:
            if label_time_ms > now_ms + MAX_FUTURE_MS:
                errors.append(FieldError("labelTime", FUTURE_MESSAGE))
    if errors:
        raise InvalidLabel(errors)
    assert transaction_id is not None and isinstance(fraud, bool) and isinstance(source, str)
    return LabelRequest(transaction_id, fraud, source, label_time_ms)
