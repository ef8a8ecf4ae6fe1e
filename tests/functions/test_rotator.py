"""Rotator: the four Secrets Manager rotation steps, run by moto invoking the real handler in-process."""

from __future__ import annotations

import json
from typing import Any

import pytest
from handler_support import CONFIG, PAN_HASH_KEY, SECRET_NAME, SIGNING_KEY, api_event, transaction_body
from moto.awslambda_simple.models import LambdaSimpleBackend

from fraud_common.api_config import parse_api_configuration
from functions.common.api_config import api_config
from functions.processor.handler import lambda_handler as processor_handler
from functions.rotator import rotation
from functions.rotator.handler import lambda_handler

ROLE_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]}
)


@pytest.fixture
def rotation_lambda(aws, lambda_context, monkeypatch) -> dict[str, Any]:
    """A moto Lambda function whose invocations run the real rotator handler in-process."""
    invocations: list[dict[str, Any]] = []

    def invoke(self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> bytes:
        event = json.loads(body)
        invocations.append(event)
        lambda_handler(event, lambda_context)
        return b""

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    iam = aws["session"].client("iam")
    role = iam.create_role(RoleName="rotator", AssumeRolePolicyDocument=ROLE_POLICY)["Role"]["Arn"]
    function = (
        aws["session"]
        .client("lambda")
        .create_function(
            FunctionName="fraud-rotator",
            Runtime="python3.11",
            Role=role,
            Handler="functions.rotator.handler.lambda_handler",
            Code={"ZipFile": b"not used: invoke is dispatched in-process"},
        )
    )
    return {"arn": function["FunctionArn"], "invocations": invocations}


def _stage(aws: dict[str, Any], stage: str) -> dict[str, Any]:
    value = aws["secretsmanager"].get_secret_value(SecretId=SECRET_NAME, VersionStage=stage)
    return {"config": json.loads(value["SecretString"]), "version": value["VersionId"]}


def test_rotator_full_rotation_replaces_signing_key_and_keeps_the_rest(aws, rotation_lambda, logs):
    # GIVEN the seeded configuration secret with rotation wired to the rotator Lambda
    before = _stage(aws, "AWSCURRENT")
    # WHEN Secrets Manager rotates it immediately
    aws["secretsmanager"].rotate_secret(
        SecretId=SECRET_NAME,
        RotationLambdaARN=rotation_lambda["arn"],
        RotationRules={"AutomaticallyAfterDays": 30},
        RotateImmediately=True,
    )
    # THEN all four steps ran, AWSCURRENT has a new signing key and everything else unchanged
    assert [e["Step"] for e in rotation_lambda["invocations"]] == list(rotation.STEPS)
    after = _stage(aws, "AWSCURRENT")
    assert after["version"] != before["version"]
    assert after["config"]["signingKey"] != SIGNING_KEY and len(after["config"]["signingKey"]) >= 64
    assert {k: v for k, v in after["config"].items() if k != "signingKey"} == {
        k: v for k, v in CONFIG.items() if k != "signingKey"
    }
    assert _stage(aws, "AWSPREVIOUS")["config"] == CONFIG
    parse_api_configuration(json.dumps(after["config"]))
    assert SIGNING_KEY not in logs.getvalue() and after["config"]["signingKey"] not in logs.getvalue()


def test_rotator_processor_keeps_card_hashes_across_rotation(aws, rotation_lambda, lambda_context):
    # GIVEN a transaction stored before rotation
    first = transaction_body(transactionId="before")
    processor_handler(api_event("POST", first), lambda_context)
    # WHEN the secret rotates and the processor's cache is refreshed
    aws["secretsmanager"].rotate_secret(
        SecretId=SECRET_NAME, RotationLambdaARN=rotation_lambda["arn"], RotationRules={"AutomaticallyAfterDays": 30}
    )
    api_config.clear()
    processor_handler(api_event("POST", transaction_body(transactionId="after")), lambda_context)
    # THEN both transactions of the same card carry the same card hash and key version
    rows = aws["dynamodb"].scan(TableName="transactions-test", FilterExpression="attribute_exists(cardHash)")["Items"]
    assert len({r["cardHash"]["S"] for r in rows}) == 1 and len(rows) == 2
    assert api_config.get().pan_hash_keys["1"] == PAN_HASH_KEY


def _event(step: str, token: str) -> dict[str, str]:
    return {"Step": step, "SecretId": SECRET_NAME, "ClientRequestToken": token}


def test_rotator_steps_are_idempotent_across_retries(aws, lambda_context, monkeypatch):
    # GIVEN a rotation in progress on a new token (request validation is covered by the full
    # rotation above; moto cannot stage a valueless AWSPENDING without running all four steps)
    token = "11111111-2222-3333-4444-555555555555"
    monkeypatch.setattr(rotation, "check_request", lambda _secret_id, tok: tok == token)
    # WHEN every step is delivered twice, as Secrets Manager does after a timeout
    for step in rotation.STEPS:
        lambda_handler(_event(step, token), lambda_context)
        pending_after_first = aws["secretsmanager"].get_secret_value(SecretId=SECRET_NAME, VersionId=token)
        lambda_handler(_event(step, token), lambda_context)
        pending_after_retry = aws["secretsmanager"].get_secret_value(SecretId=SECRET_NAME, VersionId=token)
        assert pending_after_retry["SecretString"] == pending_after_first["SecretString"]
    # THEN the token's version is current and holds one rotated signing key
    current = _stage(aws, "AWSCURRENT")
    assert current["version"] == token and current["config"]["signingKey"] != SIGNING_KEY


def test_rotator_test_step_refuses_a_pending_value_that_drops_card_hash_keys(aws, lambda_context, monkeypatch):
    # GIVEN a pending version that lost panHashKeys["1"]
    token = "aaaaaaaa-2222-3333-4444-555555555555"
    bad = {**CONFIG, "panHashKeys": {"2": "q" * 64}, "panHashKeyVersion": "2"}
    aws["secretsmanager"].put_secret_value(
        SecretId=SECRET_NAME, ClientRequestToken=token, SecretString=json.dumps(bad), VersionStages=["AWSPENDING"]
    )
    monkeypatch.setattr(rotation, "check_request", lambda _secret_id, _tok: True)
    # WHEN testSecret runs / THEN it fails, so Secrets Manager never promotes the value
    with pytest.raises(rotation.RotationError, match="card-hash key"):
        lambda_handler(_event("testSecret", token), lambda_context)
    assert _stage(aws, "AWSCURRENT")["config"] == CONFIG


def test_rotator_rejects_requests_it_must_not_act_on(aws, lambda_context):
    # GIVEN rotation not enabled on the secret, and an event that is not a rotation event
    event = _event("createSecret", "99999999-2222-3333-4444-555555555555")
    # WHEN / THEN both are refused without touching the secret
    with pytest.raises(rotation.RotationError, match="not enabled"):
        lambda_handler(event, lambda_context)
    with pytest.raises(rotation.RotationError, match="not a rotation event"):
        lambda_handler({"Step": "dropTables", "SecretId": SECRET_NAME}, lambda_context)
    assert _stage(aws, "AWSCURRENT")["config"] == CONFIG
