"""Analyzer Lambda: scores new transactions from the DynamoDB stream, with partial batch failures.

A record that fails raises inside ``record_handler``; ``BatchProcessor`` reports it in
``batchItemFailures`` and the rest of the batch is still processed and checkpointed. Lambda then
retries from the failed record (bounded retries, bisect) and finally sends the batch's stream
coordinates to the on-failure queue. The failure log line carries transactionId, timestamp,
sequence number and event id, which with the queue message is enough to replay the record.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.analyzer import analyze
from functions.common import items
from functions.common.observability import (
    METRIC_DECISIONS,
    METRIC_RECORDS_FAILED,
    METRIC_SCORE_LATENCY,
    logger,
    metrics,
    tracer,
)

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
_decisions: Counter[str] = Counter()


def record_handler(record: DynamoDBRecord) -> None:
    raw = record.raw_event.get("dynamodb") or {}
    image = items.deserialize(raw.get("NewImage") or {})
    if not analyze.should_analyze(record.raw_event.get("eventName"), image):
        return
    try:
        outcome = analyze.analyze(image)
    except Exception as exc:
        metrics.add_metric(name=METRIC_RECORDS_FAILED, unit=MetricUnit.Count, value=1)
        # Replay context only: ids and stream coordinates, never the image (no card data in logs).
        logger.exception(
            "record failed",
            extra={
                "transaction_id": image.get("transactionId"),
                "transaction_time": _iso_or_none(image.get("timestamp")),
                "sequence_number": raw.get("SequenceNumber"),
                "event_id": record.raw_event.get("eventID"),
                "reason": type(exc).__name__,
                "poison": isinstance(exc, analyze.PoisonRecord),
            },
        )
        raise
    if outcome.result is None:
        logger.info("already scored, skipped", extra={"transaction_id": outcome.transaction_id})
        return
    _decisions[outcome.result.decision.value] += 1
    metrics.add_metric(name=METRIC_SCORE_LATENCY, unit=MetricUnit.Milliseconds, value=outcome.latency_ms)
    logger.info(
        "transaction scored",
        extra={
            "transaction_id": outcome.transaction_id,
            "decision": outcome.result.decision.value,
            "score": round(outcome.result.score, 4),
            "model_version": outcome.result.model_version,
        },
    )


def _iso_or_none(timestamp_ms: Any) -> str | None:
    # ISO time, not epoch ms: a 13-digit number can pass the Luhn check and be masked in logs.
    try:
        return items.iso_ms(int(timestamp_ms))
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _emit_decisions() -> None:
    # One metric with a Decision dimension, so a dashboard can stack or alarm on any outcome.
    for decision, count in sorted(_decisions.items()):
        with single_metric(
            name=METRIC_DECISIONS,
            unit=MetricUnit.Count,
            value=count,
            namespace=metrics.namespace,
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="Decision", value=decision)


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics  # flushes the EMF metrics at the end of every invocation, also on errors
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    _decisions.clear()
    try:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    finally:
        _emit_decisions()
