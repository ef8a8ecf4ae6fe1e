"""The daily drift check: one UTC day's scored transactions against the model's training reference.

Reading: the day's items through the by-day index with the reporter's ``DayReader`` (one Query per
shard, never a Scan). Every scored item gives its decision (review and decline rates) and, when the
reference's model version scored it, its score (score PSI: another model's scores are not comparable
with this reference, so they are only counted).

Features are not stored with a decision, so they are recomputed, for a sample only, with
``fraud_scoring.compute_features`` from the history indexes the analyzer reads
(``functions.analyzer.history``): two queries per transaction. Labels that arrived after the decision
change nothing, because a label counts only from its label time on, so the recomputed features are
the ones the analyzer scored (a history item stored after the decision with an earlier timestamp is
the exception). The sample is the ``DRIFT_SAMPLE_SIZE`` scored items (default 500) with the smallest
hash of their transaction id: uniform over the day, the same on a re-run, and held in a bounded heap
while the day streams by. It stops early when the invocation has less than ``TIME_RESERVE_MS`` left;
``sampled`` in the result says how many made it.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fraud_common import env
from fraud_common.tables import TIMESTAMP, TRANSACTION_ID
from fraud_scoring import compute_features, drift
from functions.analyzer.analyze import PoisonRecord, to_transaction
from functions.analyzer.history import load_history
from functions.common import items
from functions.common.models import registry_from_environment
from functions.common.observability import logger
from functions.reporter.daily import DayReader, report_day

DEFAULT_SAMPLE_SIZE = 500
TIME_RESERVE_MS = 20_000
"""Left for the metrics, the log line and a slow last query when sampling stops early."""


def _sample_key(transaction_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(transaction_id.encode(), digest_size=8).digest(), "big")


def serving_reference() -> tuple[str, dict[str, Any]]:
    """``(version, reference)`` of the model the analyzer serves: the promoted version's model card
    (retraining writes its ``reference``), else the shipped model's ``reference.json``. Comparing
    a day with another model's reference would raise the score PSI alarm after every promotion."""
    registry = registry_from_environment()
    version = None if registry is None else registry.pointer.read().version
    if registry is None or version is None:
        return drift.load_reference()
    card = registry.store.read(version, "card.json")
    reference = None if card is None else json.loads(card).get("reference")
    if reference is None:
        logger.warning(
            "promoted model has no drift reference in its card; using the shipped model's",
            extra={"model_version": version},
        )
        return drift.load_reference()
    return version, reference


def run(event: Mapping[str, Any], now: datetime, remaining_ms: Callable[[], int]) -> dict[str, Any]:
    """Measure the requested day (``functions.reporter.daily.report_day``); returns the drift report
    (``fraud_scoring.drift.drift_report``) with where it came from."""
    day = report_day(event, now)
    version, reference = serving_reference()
    sample_size = env.optional_int(env.DRIFT_SAMPLE_SIZE, DEFAULT_SAMPLE_SIZE)
    scores: list[float] = []
    decisions: list[str] = []
    other_versions = malformed = 0
    # Max-heap by key (negated): the sample_size smallest keys seen so far. The running count breaks
    # ties before the items themselves (dicts) would be compared.
    heap: list[tuple[int, int, Mapping[str, Any]]] = []
    reader = DayReader(day)
    for item in reader:
        if item.get(items.STATUS) != items.STATUS_SCORED:
            continue  # markers and transactions still waiting for the analyzer
        try:
            decision, score, transaction_id = str(item[items.DECISION]), float(item[items.SCORE]), item[TRANSACTION_ID]
        except (KeyError, TypeError, ValueError, ArithmeticError):
            malformed += 1
            continue
        decisions.append(decision)
        if item.get(items.MODEL_VERSION) == version:
            scores.append(score)
        else:
            other_versions += 1
        entry = (-_sample_key(transaction_id), -len(decisions), item)
        if len(heap) < sample_size:
            heapq.heappush(heap, entry)
        elif entry > heap[0]:
            heapq.heapreplace(heap, entry)
    features: list[dict[str, float]] = []
    for _, _, sampled in sorted(heap, reverse=True):
        if remaining_ms() < TIME_RESERVE_MS:
            break
        try:
            transaction = to_transaction(sampled)
        except PoisonRecord:
            malformed += 1
            continue
        history = load_history(transaction.customer_id, transaction.terminal_id, int(sampled[TIMESTAMP]))
        features.append(compute_features(transaction, history)._asdict())
    return {
        "date": day.isoformat(),
        "modelVersion": version,
        "otherModelVersions": other_versions,
        "malformed": malformed,
        "queries": reader.queries,
        **drift.drift_report(reference, features, scores, decisions),
    }
