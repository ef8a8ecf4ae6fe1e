"""Drift Lambda: yesterday's drift as CloudWatch metrics (EventBridge schedule, or {"date": "YYYY-MM-DD"})."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from fraud_common import env
from fraud_common.metrics import DECLINE_RATE, FEATURE, FEATURE_PSI, REVIEW_RATE, SCORE_PSI
from functions.common.observability import logger, metrics, tracer
from functions.drift import job

env.require_function_environment("drift")


def _emit(report: dict[str, Any]) -> None:
    """The day's figures as EMF metrics; a figure without data (no traffic) is left out."""
    if report["score_psi"] is not None:
        metrics.add_metric(name=SCORE_PSI, unit=MetricUnit.NoUnit, value=report["score_psi"])
    for name, key in ((REVIEW_RATE, "review_rate"), (DECLINE_RATE, "decline_rate")):
        if report[key] is not None:
            metrics.add_metric(name=name, unit=MetricUnit.Percent, value=100 * report[key])
    for feature, value in report["feature_psi"].items():
        # One EMF document per feature (a document holds one value per dimension), published both
        # per Feature and under the service alone, where its Maximum is the day's largest feature PSI.
        per_feature = AmazonCloudWatchEMFProvider(namespace=metrics.namespace, service=metrics.service)
        per_feature.add_metric(name=FEATURE_PSI, unit=MetricUnit.NoUnit, value=value)
        per_feature.add_dimension(name=FEATURE, value=feature)
        per_feature.add_dimensions(service=str(metrics.service))
        per_feature.flush_metrics()


@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics  # flushes the EMF metrics at the end of every invocation, also on errors
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = job.run(event or {}, datetime.now(tz=UTC), context.get_remaining_time_in_millis)
    _emit(report)
    logger.info("drift measured", extra=report)
    return report
