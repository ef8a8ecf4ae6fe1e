"""Score one newly received transaction and record the decision (RECEIVED -> SCORED).

Thresholds come from the API configuration secret. When it cannot be read the record fails and
is retried, rather than scored against thresholds nobody configured: a silently wrong decision
is worse than a late one. The same holds for a missing or corrupt model artifact.

The decision is written with a conditional update on ``status = RECEIVED``, so a redelivered
record (stream retries re-send every record after the first failed one) never overwrites a
decision; it is recognised and skipped.

With a shadow version set (the registry's shadow pointer), it scores the transaction after the live
decision is made; its score and version are written in the same update, never used for the
decision, and a shadow that fails is logged and counted (``ShadowFailures``), never failing the record.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from fraud_common import env
from fraud_common.tables import CUSTOMER_ID, TERMINAL_ID, TIMESTAMP, TRANSACTION_ID
from fraud_scoring import History, Scorer, ScoreResult, Thresholds, Transaction
from fraud_scoring.registry import ModelWatcher, ShadowWatcher
from functions.analyzer.history import load_history
from functions.common import items
from functions.common.api_config import api_config
from functions.common.aws import client, error_code
from functions.common.models import registry_from_environment
from functions.common.observability import logger, metrics

_Sources = tuple[Callable[[], Scorer], Callable[[], Scorer | None]]
_sources: _Sources | None = None


class PoisonRecord(ValueError):
    """The stream record cannot be scored as it is (malformed image); retries will not help."""


def get_scorer() -> Scorer:
    """The process-wide scorer, loaded (and its artifact validated) on first use.

    With a model registry configured it is the promoted version, whose pointer is read at most
    every MODEL_REFRESH_S seconds, synchronously: a frozen Lambda container runs no background thread.
    """
    return _model_sources()[0]()


def get_shadow_scorer() -> Scorer | None:
    """The shadow version (its pointer followed like the promoted one), or None: no shadow."""
    return _model_sources()[1]()


def set_scorer(scorer: Scorer | None, shadow: Scorer | None = None) -> None:
    """Use ``scorer`` (and ``shadow`` in shadow) instead of the configured models (local mode, tests);
    None reloads."""
    global _sources
    _sources = None if scorer is None else ((lambda: scorer), (lambda: shadow))


def _model_sources() -> _Sources:
    global _sources
    if _sources is None:
        _sources = _load_sources()
    return _sources


def _load_sources() -> _Sources:
    shipped = Scorer.load(os.environ.get(env.SCORING_MODEL_PATH) or None)
    registry = registry_from_environment()
    if registry is None:
        return (lambda: shipped), _no_shadow
    store, pointer, shadow = registry.store, registry.pointer, registry.shadow
    refresh_s = env.optional_int(env.MODEL_REFRESH_S, env.DEFAULT_MODEL_REFRESH_S)
    live = ModelWatcher(store, pointer, shipped, refresh_s).current
    if shadow is None:
        return live, _no_shadow
    return live, ShadowWatcher(store, shadow, refresh_s).current


def _no_shadow() -> Scorer | None:
    return None


@dataclass(frozen=True)
class Analysis:
    transaction_id: str
    result: ScoreResult | None
    """None when the record needed no work (not a new transaction, or already scored)."""
    latency_ms: float = 0.0


def should_analyze(event_name: str | None, image: Mapping[str, Any]) -> bool:
    """Only new transactions: INSERTs whose status is RECEIVED (markers and our MODIFYs are skipped)."""
    return event_name == "INSERT" and image.get(items.STATUS) == items.STATUS_RECEIVED


def to_transaction(image: Mapping[str, Any]) -> Transaction:
    """The scorer's view of a stored item; raises ``PoisonRecord`` naming what is wrong."""
    try:
        return Transaction(
            transaction_id=str(image[TRANSACTION_ID]),
            timestamp=float(image[TIMESTAMP]) / 1000.0,
            customer_id=str(image[CUSTOMER_ID]),
            terminal_id=str(image[TERMINAL_ID]),
            amount=float(image[items.AMOUNT]),
            currency=str(image[items.CURRENCY]),
            merchant_category=image.get(items.MERCHANT_CATEGORY_CODE),
            channel=image.get(items.CHANNEL),
            card_bin=image.get(items.CARD_BIN),
            card_last4=image.get(items.CARD_LAST4),
            card_hash=image.get(items.CARD_HASH),
        )
    except KeyError as exc:
        raise PoisonRecord(f"stored transaction lacks attribute {exc.args[0]!r}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise PoisonRecord(f"stored transaction is malformed: {type(exc).__name__}") from None


def analyze(image: Mapping[str, Any], *, now: float | None = None) -> Analysis:
    """Score the new transaction ``image`` (python values) and record the decision."""
    started = time.perf_counter()
    transaction = to_transaction(image)
    config = api_config.get()
    thresholds = Thresholds(review=config.review_threshold, decline=config.decline_threshold)
    timestamp_ms = int(image[TIMESTAMP])
    history = load_history(transaction.customer_id, transaction.terminal_id, timestamp_ms)
    result = get_scorer().score(transaction, history, thresholds)
    latency_ms = (time.perf_counter() - started) * 1000.0
    shadow = _score_shadow(transaction, history, thresholds)
    recorded = record_decision(transaction.transaction_id, timestamp_ms, result, shadow, now=now)
    return Analysis(transaction.transaction_id, result if recorded else None, latency_ms)


def _score_shadow(transaction: Transaction, history: History, thresholds: Thresholds) -> ScoreResult | None:
    """The shadow model's result, after the live one and never used for it; None without a shadow or
    when it fails. Off the request path here, so the shadow computes its own features (its label delay)."""
    shadow = get_shadow_scorer()
    if shadow is None:
        return None
    try:
        return shadow.score(transaction, history, thresholds)
    except Exception:
        logger.exception(
            "shadow scoring failed",
            extra={"transaction_id": transaction.transaction_id, "shadow_model_version": shadow.model_version},
        )
        metrics.add_metric(name=env.METRIC_SHADOW_FAILURES, unit=MetricUnit.Count, value=1)
        return None


def record_decision(
    transaction_id: str,
    timestamp_ms: int,
    result: ScoreResult,
    shadow: ScoreResult | None = None,
    *,
    now: float | None = None,
) -> bool:
    """Write the decision (and the shadow's score beside it) if the item is still RECEIVED; False when
    it was already scored."""
    analyzed_at = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    values = {
        ":received": items.STATUS_RECEIVED,
        ":scored": items.STATUS_SCORED,
        # Scores are stored rounded: DynamoDB numbers are decimals, floats must be converted.
        ":score": Decimal(repr(round(result.score, 6))),
        ":decision": result.decision.value,
        ":reasons": list(result.reasons),
        ":rules": list(result.rule_ids),
        ":model": result.model_version,
        ":at": analyzed_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    names = {
        "#status": items.STATUS,
        "#score": items.SCORE,
        "#decision": items.DECISION,
        "#reasons": items.REASONS,
        "#rules": items.RULE_IDS,
        "#model": items.MODEL_VERSION,
        "#at": items.ANALYZED_AT,
    }
    update = (
        "SET #status = :scored, #score = :score, #decision = :decision, #reasons = :reasons, "
        "#rules = :rules, #model = :model, #at = :at"
    )
    if shadow is not None:
        update += ", #shadowScore = :shadowScore, #shadowModel = :shadowModel, #shadowDecision = :shadowDecision"
        names |= {
            "#shadowScore": items.SHADOW_SCORE,
            "#shadowModel": items.SHADOW_MODEL_VERSION,
            "#shadowDecision": items.SHADOW_DECISION,
        }
        values |= {
            ":shadowScore": Decimal(repr(round(shadow.score, 6))),
            ":shadowModel": shadow.model_version,
            ":shadowDecision": shadow.decision.value,
        }
    try:
        client("dynamodb").update_item(
            TableName=env.require(env.TABLE_NAME),
            Key=items.serialize({TRANSACTION_ID: transaction_id, TIMESTAMP: timestamp_ms}),
            UpdateExpression=update,
            ConditionExpression="#status = :received",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=items.serialize(values),
        )
    except Exception as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True
