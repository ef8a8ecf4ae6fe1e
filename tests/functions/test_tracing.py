"""X-Ray tracing as it runs in Lambda: the handler's and its AWS calls' subsegments reach the daemon.

The rest of the tier runs with tracing off (conftest), so this test starts a fresh interpreter with
the variables the Lambda runtime sets (``LAMBDA_TASK_ROOT``: Powertools' Tracer and the X-Ray SDK's
Lambda mode key on it; the invocation's ``_X_AMZN_TRACE_ID``; ``AWS_XRAY_DAEMON_ADDRESS``) and a
local UDP socket standing in for the daemon.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from handler_support import CONFIG, TABLE, api_event, transaction_body

ROOT = Path(__file__).resolve().parents[2]
TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
FACADE_SEGMENT_ID = "53995c3f42cd8ad8"

# moto and the table/secret come first: the handler import (Lambda's Init) is what patches botocore,
# so only the invocation's AWS calls can be traced.
_CHILD = """
import json, os, sys
import boto3
from moto import mock_aws
from fraud_common.tables import boto3_create_table_args

config, event = sys.argv[1], json.loads(sys.argv[2])
with mock_aws():
    boto3.client("dynamodb").create_table(**boto3_create_table_args(os.environ["TABLE_NAME"]))
    secret = boto3.client("secretsmanager").create_secret(Name="api-config", SecretString=config)
    os.environ["API_CONFIG_SECRET_ARN"] = secret["ARN"]
    from functions.processor.handler import lambda_handler

    class Context:
        function_name = "lambda-processor-test"
        memory_limit_in_mb = 256
        invoked_function_arn = "arn:aws:lambda:us-east-2:123456789012:function:lambda-processor-test"
        aws_request_id = "6f1d1c7e-0000-4000-8000-000000000001"

        @staticmethod
        def get_remaining_time_in_millis():
            return 30_000

    print(lambda_handler(event, Context())["statusCode"])
"""


@pytest.fixture
def daemon() -> Iterator[socket.socket]:
    """A UDP socket on a free local port, where the X-Ray daemon would listen."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


def _documents(sock: socket.socket) -> list[dict[str, Any]]:
    """Every trace document received so far (each datagram: a JSON header line, then the document)."""
    sock.setblocking(False)
    documents: list[dict[str, Any]] = []
    while True:
        try:
            datagram = sock.recv(65_536).decode()
        except BlockingIOError:
            return documents
        header, document = datagram.split("\n", 1)
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(document))


def test_processor_in_lambda_sends_handler_and_aws_call_subsegments_to_the_daemon(daemon):
    # GIVEN the Lambda runtime's environment, a sampled invocation and the daemon's address
    host, port = daemon.getsockname()
    variables = {
        "PATH": os.environ["PATH"],
        "LAMBDA_TASK_ROOT": str(ROOT),
        "AWS_LAMBDA_FUNCTION_NAME": "lambda-processor-test",
        "_X_AMZN_TRACE_ID": f"Root={TRACE_ID};Parent={FACADE_SEGMENT_ID};Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": f"{host}:{port}",
        "AWS_DEFAULT_REGION": "us-east-2",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "TABLE_NAME": TABLE,
        "POWERTOOLS_SERVICE_NAME": "fraud-processor",
        "POWERTOOLS_METRICS_NAMESPACE": "FraudDetectionTest",
    }
    event = api_event("POST", transaction_body())
    # WHEN a fresh interpreter imports the handler and serves one POST
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(CONFIG), json.dumps(event)],
        env=variables,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    # THEN the transaction is stored, and the daemon got the handler's subsegment under Lambda's
    # segment, with the Secrets Manager read and the DynamoDB write as its children
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "201"
    documents = _documents(daemon)
    handlers = [d for d in documents if d["name"] == "## lambda_handler"]
    assert len(handlers) == 1, documents
    handler = handlers[0]
    assert (handler["trace_id"], handler["parent_id"], handler["type"]) == (TRACE_ID, FACADE_SEGMENT_ID, "subsegment")
    assert handler["annotations"] == {"ColdStart": True, "Service": "fraud-processor"}
    calls = {(d["name"], d["aws"]["operation"]) for d in documents if d.get("parent_id") == handler["id"]}
    assert calls == {("secretsmanager", "GetSecretValue"), ("dynamodb", "TransactWriteItems")}
    assert all(d["trace_id"] == TRACE_ID and d["namespace"] == "aws" for d in documents if d is not handler)
