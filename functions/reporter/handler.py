"""Reporter Lambda: the daily fraud report (EventBridge schedule, or {"date": "YYYY-MM-DD"})."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from fraud_common import env
from functions.common.observability import METRIC_REPORT_TRANSACTIONS, logger, metrics, tracer
from functions.reporter import daily

# At cold start in Lambda: a missing variable (above all the report key) fails Init, naming it.
env.require_function_environment("reporter")


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics  # flushes the EMF metrics at the end of every invocation, also on errors
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001 (decorators use it)
    summary = daily.run(event or {}, datetime.now(tz=UTC))
    metrics.add_metric(name=METRIC_REPORT_TRANSACTIONS, unit=MetricUnit.Count, value=summary["transactions"])
    logger.info("report written", extra=summary)
    return summary
