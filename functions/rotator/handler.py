"""Rotator Lambda: Secrets Manager rotation of the API configuration secret."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.common.observability import logger, tracer
from functions.rotator import rotation


@logger.inject_lambda_context(log_event=False, clear_state=True)  # the event holds no secret, but keep the habit
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:  # noqa: ARG001 (decorators use it)
    rotation.rotate(event)
