"""Environment variable names of the Lambda handlers, defined once.

The Pulumi ``FraudPipeline`` component sets these variables and the handlers read them; both
import the names from here so they cannot drift. ``FUNCTION_ENV`` says which function needs
which variable; ``require`` reads one with an error naming the variable. Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

V = TypeVar("V")
"""A value: a plain string locally, a Pulumi Output in the component."""

# -- application ---------------------------------------------------------------------------
TABLE_NAME = "TABLE_NAME"
"""Name of the DynamoDB ``transactions`` table (processor, analyzer, reporter, labeler, drift)."""
API_CONFIG_SECRET_ARN = "API_CONFIG_SECRET_ARN"
"""ARN (or name) of the API configuration secret: card-hash keys for the processor, thresholds for
the analyzer. The rotator takes the secret from its rotation event instead."""
API_CONFIG_CACHE_SECONDS = "API_CONFIG_CACHE_SECONDS"
"""Optional; seconds a warm function reuses the secret before reading it again (default 300)."""
REPORTS_BUCKET = "REPORTS_BUCKET"
"""Name of the S3 bucket the reporter writes ``reports/YYYY/MM/DD/`` to (reporter); bulk label files
arrive under ``labels/`` of the same bucket, with the bucket's name in their event (labeler)."""
REPORTS_KMS_KEY_ARN = "REPORTS_KMS_KEY_ARN"
"""ARN of the stack's data key, which encrypts every report and label result object (reporter,
labeler). Required: S3 with ``ServerSideEncryption: aws:kms`` and no key id would use the
AWS-managed ``aws/s3`` key instead."""
LABELS_MAX_FILE_BYTES = "LABELS_MAX_FILE_BYTES"
"""Optional; the largest bulk label file the labeler applies (``functions.labeler.bulk``, default 256 KiB)."""
SCORING_MODEL_PATH = "SCORING_MODEL_PATH"
"""Optional; path of a model artifact to load instead of the one shipped in ``fraud_scoring``."""
DRIFT_SAMPLE_SIZE = "DRIFT_SAMPLE_SIZE"
"""Optional; how many of the day's scored transactions the drift job recomputes features for (default
500; two history queries each)."""
MODEL_BUCKET = "MODEL_BUCKET"
"""The models bucket of ``fraud_scoring.registry`` (analyzer; the drift job reads the promoted card):
with MODEL_POINTER_PARAMETER, the promoted version is served and followed without a redeploy;
neither set: the shipped model."""
MODEL_POINTER_PARAMETER = "MODEL_POINTER_PARAMETER"
"""The SSM parameter naming the promoted model version (analyzer)."""
MODEL_SHADOW_PARAMETER = "MODEL_SHADOW_PARAMETER"
"""The SSM parameter naming the shadow model version (analyzer): scored and recorded beside each
decision, never used for it; unset parameter value: no shadow."""
MODEL_REGISTRY_DIR = "MODEL_REGISTRY_DIR"
"""Optional, local mode only: a local registry directory instead of the bucket and parameter."""
MODEL_REFRESH_S = "MODEL_REFRESH_S"
"""Optional; seconds between reads of the promoted-version pointer (default 60)."""
DEFAULT_MODEL_REFRESH_S = 60

# -- Powertools (read by the library itself) ---------------------------------------------
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
"""Service name on every log line, metric dimension and trace (e.g. ``fraud-processor``)."""
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
"""CloudWatch namespace of the EMF metrics; ``METRICS_NAMESPACE`` below."""
LOG_LEVEL = "LOG_LEVEL"
"""Log level (DEBUG, INFO, WARNING, ERROR); INFO in production."""
POWERTOOLS_LOGGER_LOG_EVENT = "POWERTOOLS_LOGGER_LOG_EVENT"
"""Must stay "false": an API event carries the card number in its body."""
POWERTOOLS_TRACER_CAPTURE_RESPONSE = "POWERTOOLS_TRACER_CAPTURE_RESPONSE"
"""Set "false": handler responses are not copied into X-Ray metadata."""
POWERTOOLS_TRACER_CAPTURE_ERROR = "POWERTOOLS_TRACER_CAPTURE_ERROR"
"""Set "false": exception messages are not copied into X-Ray metadata (they are logged, redacted)."""

METRICS_NAMESPACE = "FraudDetection"
"""Suggested value of ``POWERTOOLS_METRICS_NAMESPACE`` (dashboards and alarms use it)."""
METRIC_SHADOW_FAILURES = "ShadowFailures"
"""Shadow scores that raised, per ``ShadowModelVersion``, from fraud-api and the analyzer (the live
decision is unaffected; the log line says why)."""
DEFAULT_API_CONFIG_CACHE_SECONDS = 300

SERVICE_NAMES: Mapping[str, str] = {
    "processor": "fraud-processor",
    "analyzer": "fraud-analyzer",
    "reporter": "fraud-reporter",
    "rotator": "fraud-rotator",
    "labeler": "fraud-labeler",
    "drift": "fraud-drift",
}
"""Suggested ``POWERTOOLS_SERVICE_NAME`` per function."""

_OBSERVABILITY = (POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, LOG_LEVEL)
FUNCTION_ENV: Mapping[str, tuple[str, ...]] = {
    "processor": (TABLE_NAME, API_CONFIG_SECRET_ARN, *_OBSERVABILITY),
    "analyzer": (
        TABLE_NAME,
        API_CONFIG_SECRET_ARN,
        MODEL_BUCKET,
        MODEL_POINTER_PARAMETER,
        MODEL_SHADOW_PARAMETER,
        *_OBSERVABILITY,
    ),
    "reporter": (TABLE_NAME, REPORTS_BUCKET, REPORTS_KMS_KEY_ARN, *_OBSERVABILITY),
    "rotator": _OBSERVABILITY,
    "labeler": (TABLE_NAME, REPORTS_KMS_KEY_ARN, *_OBSERVABILITY),
    "drift": (TABLE_NAME, MODEL_BUCKET, MODEL_POINTER_PARAMETER, *_OBSERVABILITY),
}
"""Variables each function requires (optional ones above are not listed)."""
RESERVING_FUNCTIONS = ("processor", "analyzer", "reporter", "rotator")
"""Functions given ``lambdaReservedConcurrency`` each. The labeler (a few files a day, invoked
asynchronously) and the drift job (one invocation a day) are not: they draw on the unreserved pool (AWS
keeps at least 100 there), and reserving for them would take that much from every other function."""

FIXED_ENV: Mapping[str, str] = {
    POWERTOOLS_LOGGER_LOG_EVENT: "false",
    POWERTOOLS_TRACER_CAPTURE_RESPONSE: "false",
    POWERTOOLS_TRACER_CAPTURE_ERROR: "false",
}
"""Defence in depth for PCI (no request body or error text in logs/traces): the handlers already
pass these settings explicitly to their decorators; setting them too guards future handlers."""


def function_environment(
    function: str,
    *,
    table_name: V,
    api_config_secret_arn: V,
    reports_bucket: V,
    reports_kms_key_arn: V,
    models_bucket: V,
    model_pointer_parameter: V,
    model_shadow_parameter: V,
    log_level: str = "INFO",
) -> dict[str, V | str]:
    """Exactly the variables ``function`` requires (``FUNCTION_ENV``) plus ``FIXED_ENV``.

    Used by the Pulumi component (with Output values) and by local mode, so both configure the
    handlers the same way.
    """
    available: dict[str, V | str] = {
        TABLE_NAME: table_name,
        API_CONFIG_SECRET_ARN: api_config_secret_arn,
        REPORTS_BUCKET: reports_bucket,
        REPORTS_KMS_KEY_ARN: reports_kms_key_arn,
        MODEL_BUCKET: models_bucket,
        MODEL_POINTER_PARAMETER: model_pointer_parameter,
        MODEL_SHADOW_PARAMETER: model_shadow_parameter,
        POWERTOOLS_SERVICE_NAME: SERVICE_NAMES[function],
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        LOG_LEVEL: log_level,
    }
    return {**{name: available[name] for name in FUNCTION_ENV[function]}, **FIXED_ENV}


class MissingEnvironment(RuntimeError):
    """A required environment variable is unset or empty (a deployment error, not a client one)."""


def require(name: str) -> str:
    """The value of ``name``; raises ``MissingEnvironment`` naming it when unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise MissingEnvironment(f"environment variable {name} must be set (see fraud_common/env.py)")
    return value


LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME"
"""Set by the Lambda runtime in every function (AWS "Defined runtime environment variables")."""


def require_function_environment(function: str) -> None:
    """In Lambda, fail the cold start when a variable ``function`` requires is unset or empty.

    A missing variable then shows as an Init error naming it, before any invocation does half its
    work. Outside Lambda (tests, local mode) the variables are read when used, with ``require``.
    """
    if not os.environ.get(LAMBDA_FUNCTION_NAME):
        return
    missing = [name for name in FUNCTION_ENV[function] if not os.environ.get(name, "").strip()]
    if missing:
        raise MissingEnvironment(
            f"{function}: environment variable(s) {', '.join(missing)} must be set (see fraud_common/env.py)"
        )


def optional_int(name: str, default: int) -> int:
    """An optional positive integer variable; a malformed value is a deployment error."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise MissingEnvironment(f"environment variable {name} must be a positive integer")
    return int(raw)
