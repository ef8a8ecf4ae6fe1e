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
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, cast

from fraud_api.app import scoring
from fraud_api.app.core.logging import ACCESS_LOGGER
from fraud_api.app.main import app
from fraud_common.card import CardToken
from fraud_common.transaction import TransactionRequest, timestamp_ms
from fraud_scoring import Features, History, RuleFacts, Scorer, ScoreResult, Thresholds, Transaction
from fraud_scoring.features import NO_RULE_FACTS

__all__ = ["app"]

_TOKEN = CardToken("0" * 64, "1", "400000", "0000", 16)
_first: dict[str, Any] = {}
_features, _rule_facts, _score_features = Scorer.features, Scorer.rule_facts, Scorer.score_features


def _once(key: str, compute: Any, *args: Any) -> Any:
    """The first call's result, computed for real, for every later call."""
    if key not in _first:
        _first[key] = compute(*args)
    return _first[key]


def _parse(body: str | bytes | Mapping[str, Any], *, now_ms: int | None = None) -> TransactionRequest:  # noqa: ARG001
    d = body if isinstance(body, Mapping) else json.loads(body)
    return TransactionRequest(
        d["transactionId"],
        timestamp_ms(d["timestamp"]),
        d["customerId"],
        d["terminalId"],
        Decimal(d["amount"]),
        d["currency"],
        d["cardNumber"],
        d["channel"],
        d.get("merchantCategoryCode"),
    )


def _tokenize(pan: str, key: bytes, key_version: str) -> CardToken:  # noqa: ARG001
    return _TOKEN


def _features_once(self: Scorer, transaction: Transaction, history: History) -> Features:
    return cast(Features, _once("features", _features, self, transaction, history))


def _rule_facts_once(self: Scorer, transaction: Transaction, history: History) -> RuleFacts:
    return cast(RuleFacts, _once("facts", _rule_facts, self, transaction, history))


def _score_once(
    self: Scorer, features: Features, thresholds: Thresholds | None = None, facts: RuleFacts = NO_RULE_FACTS
) -> ScoreResult:
    return cast(ScoreResult, _once("result", _score_features, self, features, thresholds, facts))


scoring.parse_transaction = _parse
scoring.tokenize = _tokenize
Scorer.features = _features_once  # type: ignore[method-assign]
Scorer.rule_facts = _rule_facts_once  # type: ignore[method-assign]
Scorer.score_features = _score_once  # type: ignore[method-assign]
logging.getLogger(ACCESS_LOGGER).disabled = True
