"""FLOOR-PATH: fraud-api itself, with the decision's own computations replaced by constants.

What is left is fraud-api's request path: admission control, the request-id middleware, the direct
route, the deadline around the database work, the pool, the history SELECT and the idempotent
INSERT of the full row, the answer. What is replaced, after the first request computed it for real:

* validation: ``json.loads`` and the few conversions the row needs, no field checks;
* card hashing: a fixed token;
* features, rules and model: the first request's results;
* the access line: off.

``benchmarks/goodput.py --path`` runs it beside fraud-api and FLOOR-DB, so fraud-api's service CPU
above FLOOR-DB splits into the request path's share (FLOOR-PATH - FLOOR-DB) and the decision's
(fraud-api - FLOOR-PATH). Never served by anything but the benchmark.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from fraud_api.app import scoring
from fraud_api.app.core.logging import ACCESS_LOGGER
from fraud_api.app.main import app
from fraud_common.card import CardToken
from fraud_common.transaction import FIELDS, TransactionRequest, timestamp_ms
from fraud_scoring import Scorer

__all__ = ["app"]

_TOKEN = CardToken("0" * 64, "1", "400000", "0000", 16)


def _first_result(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` computed for real on its first call; its result returned on every later call."""
    first: list[Any] = []

    def once(*args: Any) -> Any:
        if not first:
            first.append(method(*args))
        return first[0]

    return once


def _parse(body: str | bytes | Mapping[str, Any], *, now_ms: int | None = None) -> TransactionRequest:  # noqa: ARG001
    """The fields under their attribute names (``FIELDS``), converted as the row needs, unchecked."""
    d = body if isinstance(body, Mapping) else json.loads(body)
    values: dict[str, Any] = {attribute: d.get(name) for name, attribute in FIELDS.items()}
    values["timestamp_ms"] = timestamp_ms(values["timestamp_ms"])
    values["amount"] = Decimal(values["amount"])
    return TransactionRequest(**values)


def _tokenize(pan: str, key: bytes, key_version: str) -> CardToken:  # noqa: ARG001
    return _TOKEN


scoring.parse_transaction = _parse
scoring.tokenize = _tokenize
Scorer.features = _first_result(Scorer.features)  # type: ignore[method-assign]
Scorer.rule_facts = _first_result(Scorer.rule_facts)  # type: ignore[method-assign]
Scorer.score_features = _first_result(Scorer.score_features)  # type: ignore[method-assign]
logging.getLogger(ACCESS_LOGGER).disabled = True
