"""Fixtures for the Lambda handler tier: moto-backed AWS, a fake Lambda context, log capture.

Everything runs in-process against moto (no network, no Docker). The handlers' boto3 clients are
process-wide caches, so every test drops them and gets clients bound to its own mock.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Before any handler import: Powertools reads these when its singletons are created.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "fraud-test")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "FraudDetectionTest")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-2")

import boto3
import pytest
from botocore.exceptions import ClientError
from handler_support import BUCKET, CONFIG, SECRET_NAME, TABLE
from moto import mock_aws

from fraud_common import env
from fraud_common.tables import boto3_create_table_args
from fraud_scoring import FEATURE_NAMES, LABEL_DELAY_DAYS, Model, Scorer
from functions.analyzer import analyze
from functions.common.api_config import api_config
from functions.common.aws import client, reset_clients
from functions.common.observability import logger, metrics

# moto resets boto3's default session on every mock start, and a fresh session re-parses the
# service models (~0.1 s per client). One session for the whole run keeps the tier fast.
SESSION = boto3.session.Session()


@dataclass
class FakeLambdaContext:
    function_name: str = "fraud-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-2:123456789012:function:fraud-test"
    aws_request_id: str = "6f1d1c7e-0000-4000-8000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def _amount_model(features: tuple[float, ...]) -> float:
    """Test model: the raw score rises with the amount (sigmoid midpoint at 500)."""
    return (features[FEATURE_NAMES.index("amount")] - 500.0) / 50.0


@pytest.fixture
def test_scorer() -> Scorer:
    # A deterministic stand-in for the trained artifact: the handler tests check the plumbing
    # (history, thresholds, storage), not the model's quality.
    model = Model("test-model-1", FEATURE_NAMES, float(LABEL_DELAY_DAYS), {}, _amount_model)
    return Scorer(model)


@pytest.fixture(autouse=True)
def _reset_state(test_scorer: Scorer) -> Iterator[None]:
    metrics.clear_metrics()
    metrics.clear_default_dimensions()
    api_config.clear()
    reset_clients()
    analyze.set_scorer(test_scorer)
    yield
    metrics.clear_metrics()
    api_config.clear()
    reset_clients()
    analyze.set_scorer(None)


def _key_types(table: str) -> dict[str, str]:
    args = boto3_create_table_args(table)
    types = {a["AttributeName"]: a["AttributeType"] for a in args["AttributeDefinitions"]}
    return {k["AttributeName"]: types[k["AttributeName"]] for k in args["KeySchema"]}


_KEY_TYPES = _key_types(TABLE)


def _keys_in(operation: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    if operation == "PutItem":
        return [params["Item"]]
    if operation in ("GetItem", "DeleteItem", "UpdateItem"):
        return [params["Key"]]
    if operation == "TransactWriteItems":
        return [action.get("Item") or action["Key"] for entry in params["TransactItems"] for action in entry.values()]
    return []


def _refuse_keys_off_the_schema(params: dict[str, Any], model: Any, **_: Any) -> None:
    """What real DynamoDB does and moto 5 does not: a key attribute of another type than the table's
    key schema (``{"NULL": true}`` for a missing id) is a ValidationException, "The provided key
    element does not match the schema" (DynamoDB API reference, GetItem > Errors); moto answers
    "no such item" and a bug that reads a key of None would pass."""
    for key in _keys_in(model.name, params):
        if any(set(key.get(name, {})) != {kind} for name, kind in _KEY_TYPES.items()):
            error = {"Code": "ValidationException", "Message": "The provided key element does not match the schema"}
            raise ClientError({"Error": error}, model.name)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto with the transactions table, the reports bucket and the API configuration secret."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-2",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        env.TABLE_NAME: TABLE,
        env.REPORTS_BUCKET: BUCKET,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(env.API_CONFIG_CACHE_SECONDS, raising=False)
    # Docker-less Lambda backend: the rotation tests dispatch its invocations to the real handler.
    with mock_aws(config={"lambda": {"use_docker": False}}):
        dynamodb = SESSION.client("dynamodb")
        dynamodb.create_table(**boto3_create_table_args(TABLE))
        s3 = SESSION.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
        # The reports key: a customer-managed key, as the stack's data key is.
        report_key_arn = SESSION.client("kms").create_key(Description="data key")["KeyMetadata"]["Arn"]
        monkeypatch.setenv(env.REPORTS_KMS_KEY_ARN, report_key_arn)
        secrets = SESSION.client("secretsmanager")
        arn = secrets.create_secret(Name=SECRET_NAME, SecretString=json.dumps(CONFIG))["ARN"]
        monkeypatch.setenv(env.API_CONFIG_SECRET_ARN, arn)
        reset_clients()
        client("dynamodb").meta.events.register("provide-client-params.dynamodb", _refuse_keys_off_the_schema)
        yield {
            "dynamodb": dynamodb,
            "s3": s3,
            "secretsmanager": secrets,
            "secret_arn": arn,
            "report_key_arn": report_key_arn,
            "session": SESSION,
        }


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything the Powertools logger writes (after its redaction filter and serializer)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    # Swapped without setStream: it flushes the old stream, which a runner that captured stdout
    # at import time (mutmut's stats run) may already have closed.
    previous, handler.stream = handler.stream, buffer
    yield buffer
    handler.stream = previous


@pytest.fixture
def now_ms() -> int:
    return int(datetime.now(tz=UTC).timestamp() * 1000)
