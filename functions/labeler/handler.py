"""Labeler Lambda: applies each bulk label file an S3 ObjectCreated notification names."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from fraud_common import env
from functions.common.observability import LABEL_METRICS, logger, metrics, tracer
from functions.labeler import bulk

# At cold start in Lambda: a missing variable (the table, the result key) fails Init, naming it.
env.require_function_environment("labeler")


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics  # flushes the EMF metrics at the end of every invocation, also on errors
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001 (decorators use it)
    files = []
    for record in event.records:
        # An error (DynamoDB throttled past its retries) fails the invocation: Lambda retries the
        # event, and applying a file again is idempotent; after the retries it goes to the queue.
        # Keys arrive URL-encoded in S3 notifications ("+" for a space), and Powertools passes them as sent.
        result = bulk.apply_file(record.s3.bucket.name, unquote_plus(record.s3.get_object.key))
        for outcome, count in result["counts"].items():
            if outcome in LABEL_METRICS:
                metrics.add_metric(name=LABEL_METRICS[outcome], unit="Count", value=count)
        logger.info("label file handled", extra={k: result[k] for k in ("file", "status", "counts")})
        files.append({k: result[k] for k in ("file", "status", "counts")})
    return {"files": files}
