"""Processor Lambda: POST /transactions and GET /transactions/{id} (API Gateway REST proxy)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.common.observability import logger, metrics, tracer
from functions.processor import api


# The event is never logged (POWERTOOLS_LOGGER_LOG_EVENT stays off): its body holds the card number.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False, clear_state=True)
@metrics.log_metrics  # flushes the EMF metrics at the end of every invocation, also on errors
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001 (decorators use it)
    return api.handle(event)
