"""What the endpoints do, without HTTP: validate, tokenize, fetch history, score, store.

The card number lives only in the ``TransactionRequest`` handed to ``tokenize``; everything
stored, compared or returned afterwards is the keyed hash, the BIN and the last four digits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from fraud_api.app import repository
from fraud_api.app.core.connect import AsyncConnection
from fraud_api.app.core.db import Database, DatabaseUnavailable, ensure_not_abandoned
from fraud_api.app.core.metrics import DecisionMetrics
from fraud_api.app.core.tracing import db_span, span
from fraud_api.app.repository import LabelOutcome, NewTransaction, StoredTransaction
from fraud_common.api_config import ApiConfiguration
from fraud_common.card import tokenize
from fraud_common.identity import StoredIdentity, same_transaction
from fraud_common.labels import BEFORE_TRANSACTION_MESSAGE
from fraud_common.transaction import parse_transaction
from fraud_scoring import Features, RuleFacts, Scorer, ScoreResult, Thresholds, Transaction

logger = logging.getLogger(__name__)


class TransactionConflict(Exception):
    """The transaction id was already scored with a different payload."""


class NotFound(Exception):
    pass


class LabelBeforeTransaction(ValueError):
    pass


@dataclass(frozen=True)
class Decision:
    transaction_id: str
    score: float
    decision: str
    reasons: tuple[str, ...]
    model_version: str


@dataclass(frozen=True)
class ScoreOutcome:
    decision: Decision
    replayed: bool
    """True when this is a retry answered with the first decision."""


class ScoringService:
    def __init__(
        self,
        db: Database,
        scorer: Callable[[], Scorer],
        shadow_scorer: Callable[[], Scorer | None],
        api_config: Callable[[], ApiConfiguration],
        schema_ready: threading.Event,
        metrics: DecisionMetrics,
    ) -> None:
        self.metrics = metrics
        self.db = db
        self.scorer = scorer
        self.shadow_scorer = shadow_scorer
        self.api_config = api_config
        self.schema_ready = schema_ready

    def _require_schema(self) -> None:
        if not self.schema_ready.is_set():
            raise DatabaseUnavailable("database schema not migrated yet (database unreachable at startup)")

    async def score(self, body: bytes, request_id: str | None) -> ScoreOutcome:
        """Score and store a transaction; a retry of a stored one returns the first decision.

        Raises InvalidTransaction (400), TransactionConflict (409), DatabaseUnavailable (503).
        """
        self._require_schema()
        request = parse_transaction(body)
        config = self.api_config()
        key, key_version = config.pan_key()
        token = tokenize(request.card_number, key, key_version)
        timestamp = request.timestamp_ms / 1000.0
        # What the scorer reads (fraud_scoring.features): the stored row keeps the rest.
        transaction = Transaction(
            transaction_id=request.transaction_id,
            timestamp=timestamp,
            customer_id=request.customer_id,
            terminal_id=request.terminal_id,
            amount=float(request.amount),
        )
        thresholds = Thresholds(review=config.review_threshold, decline=config.decline_threshold)

        async def work(conn: AsyncConnection) -> Decision | StoredTransaction | None:
            with db_span("SELECT", "history"):
                history = await repository.fetch_history(conn, request.customer_id, request.terminal_id, timestamp)
            with span("score: features + model") as scored:
                scorer = self.scorer()
                features = scorer.features(transaction, history)
                facts = scorer.rule_facts(transaction, history)
                result = scorer.score_features(features, thresholds, facts)
                if scored is not None:
                    scored.set_attributes(
                        {"fraud.decision": result.decision.value, "fraud.model_version": result.model_version}
                    )
            shadow = self._score_shadow(features, facts, thresholds)
            ensure_not_abandoned()  # the caller already got a 503: do not store a decision nobody saw
            record = NewTransaction(
                transaction_id=request.transaction_id,
                timestamp=timestamp,
                customer_id=request.customer_id,
                terminal_id=request.terminal_id,
                amount=request.amount,
                currency=request.currency,
                merchant_category_code=request.merchant_category_code,
                channel=request.channel,
                card_hash=token.card_hash,
                card_key_version=token.key_version,
                card_bin=token.bin,
                card_last4=token.last4,
                card_pan_length=token.pan_length,
                score=result.score,
                decision=result.decision.value,
                reasons=result.reasons,
                rule_ids=result.rule_ids,
                model_version=result.model_version,
                review_threshold=thresholds.review,
                decline_threshold=thresholds.decline,
                request_id=request_id,
                shadow_score=None if shadow is None else shadow.score,
                shadow_model_version=None if shadow is None else shadow.model_version,
            )
            with db_span("INSERT", "decision"):
                inserted = await repository.insert_transaction(conn, record)
            if inserted:
                return Decision(
                    request.transaction_id, result.score, result.decision.value, result.reasons, result.model_version
                )
            # The id exists (a retry, or a concurrent duplicate that committed first).
            with db_span("SELECT", "first decision"):
                return await repository.get_transaction(conn, request.transaction_id)

        outcome = await self.db.run(work)
        if isinstance(outcome, Decision):
            self.metrics.record(outcome.decision)  # new decisions only: a replay is not a second one
            return ScoreOutcome(outcome, replayed=False)
        if outcome is None:  # deleted in between: only possible by hand
            raise DatabaseUnavailable("transaction vanished while reading it back")
        if not same_transaction(request, _identity(outcome), config):
            raise TransactionConflict(request.transaction_id)
        return ScoreOutcome(_decision(outcome), replayed=True)

    def _score_shadow(self, features: Features, facts: RuleFacts, thresholds: Thresholds) -> ScoreResult | None:
        """The shadow model's result from the live model's features, computed after the live decision
        and never used for it; None without a shadow, or when it fails (logged and counted: a shadow
        must never fail the request).

        Features are computed once, for the live model: a shadow artifact has passed the same
        validation (same feature schema), so only a different label delay would make its own
        features differ, and computing them twice would double the request's scoring cost.
        """
        shadow = self.shadow_scorer()
        if shadow is None:
            return None
        try:
            with span("score: shadow model"):
                return shadow.score_features(features, thresholds, facts)
        except Exception:
            logger.exception("shadow scoring failed", extra={"shadow_model_version": shadow.model_version})
            self.metrics.record_shadow_failure(shadow.model_version)
            return None

    async def get_decision(self, transaction_id: str) -> StoredTransaction:
        self._require_schema()
        stored = await self.db.run(lambda conn: repository.get_transaction(conn, transaction_id))
        if stored is None:
            raise NotFound(transaction_id)
        return stored

    async def record_label(
        self, transaction_id: str, fraud: bool, label_time: float, source: str, request_id: str | None
    ) -> LabelOutcome:
        self._require_schema()
        outcome = await self.db.run(
            lambda conn: repository.record_label(conn, transaction_id, fraud, label_time, source, request_id)
        )
        if not outcome.found:
            raise NotFound(transaction_id)
        if outcome.before_transaction:
            raise LabelBeforeTransaction(BEFORE_TRANSACTION_MESSAGE)
        return outcome

    async def ready(self) -> None:
        """Raises DatabaseUnavailable unless the schema is in place and the database answers and
        takes writes (a demoted writer during a failover is not ready)."""
        self._require_schema()
        await self.db.ping()


def _decision(stored: StoredTransaction) -> Decision:
    return Decision(stored.transaction_id, stored.score, stored.decision, stored.reasons, stored.model_version)


def _identity(stored: StoredTransaction) -> StoredIdentity:
    return StoredIdentity(
        transaction_id=stored.transaction_id,
        timestamp_ms=stored.timestamp_ms,
        customer_id=stored.customer_id,
        terminal_id=stored.terminal_id,
        amount=stored.amount,
        currency=stored.currency,
        merchant_category_code=stored.merchant_category_code,
        channel=stored.channel,
        card_hash=stored.card_hash,
        card_key_version=stored.card_key_version,
    )
