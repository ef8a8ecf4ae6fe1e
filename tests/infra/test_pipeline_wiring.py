"""FraudPipeline field by field, under non-default limits for every pipeline key: the functions, their
exact grants, the stream mapping, the schedule, the rotation, and what the rest of the stack reads
from the pipeline. Every expected value is stated here, so a hard-coded or dropped one fails."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.harness import ACCOUNT_ID, ProgramRun, Recorded, run_program

FUNCTIONS = ("processor", "analyzer", "reporter", "rotator")
PIPELINE = "fraud:pipeline:FraudPipeline::fraud"
ARN = f"us-east-2:{ACCOUNT_ID}"
TABLE = f"arn:aws:dynamodb:{ARN}:table/transactions-dev"
SECRET = f"arn:aws:secretsmanager:{ARN}:secret/secret-api-config-dev"
DATA_KEY = f"arn:aws:kms:{ARN}:key/fraud-data-key"
QUEUE = f"arn:aws:sqs:{ARN}:queue/sqs-analyzer-failures-dev"
STREAM = f"{TABLE}/stream/2026-01-01T00:00:00.000"


@pytest.fixture(scope="module")
def custom() -> ProgramRun:
    """dev with a non-default value for every key the pipeline reads."""
    return run_program(
        "dev",
        {
            "fraud-detection:lambdaTimeoutSeconds": "45",
            "fraud-detection:lambdaMemoryMb": "768",
            "fraud-detection:lambdaReservedConcurrency": "150",
            "fraud-detection:streamBatchSize": "40",
            "fraud-detection:streamBatchingWindowSeconds": "3",
            "fraud-detection:streamMaxRetries": "5",
            "fraud-detection:streamMaxRecordAgeSeconds": "7200",
            "fraud-detection:reportSchedule": "cron(30 2 * * ? *)",
            "fraud-detection:logRetentionDays": "14",
        },
    )


def _inputs(run: ProgramRun, typ: str, name: str) -> dict[str, Any]:
    return run.named(typ, name).inputs


def _function(run: ProgramRun, fn: str) -> Recorded:
    return run.named("aws:lambda/function:Function", f"fraud-{fn}")


def _allow(sid: str, actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def _base(fn: str) -> list[dict[str, Any]]:
    return [
        _allow(
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"arn:aws:logs:{ARN}:log-group:/aws/lambda/lambda-{fn}-dev:*"],
        ),
        _allow("Tracing", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]),
        _allow(
            "VpcNetworkInterfaces",
            [
                "ec2:CreateNetworkInterface",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            ["*"],
        ),
        _allow("DecryptEnvironment", ["kms:Decrypt"], [DATA_KEY]),
    ]


USE_DATA_KEY = _allow("UseDataKey", ["kms:Decrypt", "kms:GenerateDataKey"], [DATA_KEY])
OWN_STATEMENTS = {
    "processor": [
        _allow(
            "StoreAndReadTransactions",
            ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"],
            [TABLE],
        ),
        _allow("ReadCardHashKey", ["secretsmanager:GetSecretValue"], [SECRET]),
        USE_DATA_KEY,
    ],
    "analyzer": [
        _allow("ReadStream", ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"], [STREAM]),
        _allow("ListStreams", ["dynamodb:ListStreams"], [f"{TABLE}/stream/*"]),
        _allow("ReadHistory", ["dynamodb:Query"], [f"{TABLE}/index/customer-time", f"{TABLE}/index/terminal-time"]),
        _allow("RecordDecision", ["dynamodb:UpdateItem"], [TABLE]),
        _allow("ReadThresholds", ["secretsmanager:GetSecretValue"], [SECRET]),
        _allow("SendFailures", ["sqs:SendMessage"], [QUEUE]),
        USE_DATA_KEY,
    ],
    "reporter": [
        _allow("ReadOneDay", ["dynamodb:Query"], [f"{TABLE}/index/day-time"]),
        _allow("WriteReports", ["s3:PutObject"], [f"arn:aws:s3:::s3-reports-dev-{ACCOUNT_ID}/reports/*"]),
        USE_DATA_KEY,
    ],
    "rotator": [
        _allow(
            "RotateApiConfig",
            [
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
                "secretsmanager:UpdateSecretVersionStage",
            ],
            [SECRET],
        ),
        USE_DATA_KEY,
    ],
}
POWERTOOLS = {
    "LOG_LEVEL": "INFO",
    "POWERTOOLS_LOGGER_LOG_EVENT": "false",
    "POWERTOOLS_METRICS_NAMESPACE": "FraudDetection",
    "POWERTOOLS_TRACER_CAPTURE_ERROR": "false",
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
}
OWN_ENVIRONMENT = {
    "processor": {"TABLE_NAME": "transactions-dev", "API_CONFIG_SECRET_ARN": SECRET},
    "analyzer": {"TABLE_NAME": "transactions-dev", "API_CONFIG_SECRET_ARN": SECRET},
    "reporter": {
        "TABLE_NAME": "transactions-dev",
        "REPORTS_BUCKET": f"s3-reports-dev-{ACCOUNT_ID}",
        "REPORTS_KMS_KEY_ARN": DATA_KEY,
    },
    "rotator": {},
}


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_pipeline_function_is_configured_from_the_stack_and_runs_in_the_vpc(custom: ProgramRun, fn: str) -> None:
    inputs = {k: v for k, v in _function(custom, fn).inputs.items() if k != "code"}
    assert inputs == {
        "name": f"lambda-{fn}-dev",
        "description": f"fraud-detection {fn}",
        "runtime": "python3.11",
        "architectures": ["arm64"],
        "handler": f"functions.{fn}.handler.lambda_handler",
        "layers": [f"arn:aws:lambda:{ARN}:layer:layer-runtime-dev:1"],
        "role": f"arn:aws:iam:{ARN}:role/role-{fn}-dev",
        "timeout": 45,
        "memorySize": 768,
        "reservedConcurrentExecutions": 150,
        "vpcConfig": {
            "subnetIds": ["subnet-private-0", "subnet-private-1", "subnet-private-2"],
            "securityGroupIds": ["fraud-lambda-sg-id"],
        },
        "tracingConfig": {"mode": "Active"},
        "environment": {"variables": {"POWERTOOLS_SERVICE_NAME": f"fraud-{fn}", **POWERTOOLS, **OWN_ENVIRONMENT[fn]}},
        "kmsKeyArn": DATA_KEY,
        "loggingConfig": {"logFormat": "JSON", "logGroup": f"/aws/lambda/lambda-{fn}-dev"},
    }


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_pipeline_function_role_grants_exactly_its_statements(custom: ProgramRun, fn: str) -> None:
    policy = _inputs(custom, "aws:iam/rolePolicy:RolePolicy", f"fraud-{fn}-role-policy")
    assert policy["name"] == f"policy-{fn}-dev"
    assert json.loads(policy["policy"]) == {"Version": "2012-10-17", "Statement": _base(fn) + OWN_STATEMENTS[fn]}


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_pipeline_function_log_group_keeps_the_configured_days_encrypted(custom: ProgramRun, fn: str) -> None:
    assert _inputs(custom, "aws:cloudwatch/logGroup:LogGroup", f"fraud-{fn}-logs") == {
        "name": f"/aws/lambda/lambda-{fn}-dev",
        "retentionInDays": 14,
        "kmsKeyId": f"arn:aws:kms:{ARN}:key/fraud-logs-key",
    }


def test_pipeline_runtime_layer_is_described_for_its_runtime_and_architecture(custom: ProgramRun) -> None:
    layer = _inputs(custom, "aws:lambda/layerVersion:LayerVersion", "fraud-runtime-layer")
    assert {k: v for k, v in layer.items() if k != "code"} == {
        "layerName": "layer-runtime-dev",
        "description": "aws-lambda-powertools[tracer], boto3 and their dependencies, as pinned by uv.lock",
        "compatibleRuntimes": ["python3.11"],
        "compatibleArchitectures": ["arm64"],
    }


def test_pipeline_failure_queue_reuses_its_data_key_for_five_minutes(custom: ProgramRun) -> None:
    assert _inputs(custom, "aws:sqs/queue:Queue", "fraud-analyzer-failures") == {
        "name": "sqs-analyzer-failures-dev",
        "kmsMasterKeyId": DATA_KEY,
        "kmsDataKeyReusePeriodSeconds": 300,
        "messageRetentionSeconds": 1_209_600,
    }


def test_pipeline_stream_mapping_follows_the_configured_batching_and_retries(custom: ProgramRun) -> None:
    mapping = _inputs(custom, "aws:lambda/eventSourceMapping:EventSourceMapping", "fraud-analyzer-stream")
    assert mapping == {
        "eventSourceArn": STREAM,
        "functionName": f"arn:aws:lambda:{ARN}:function:lambda-analyzer-dev",
        "startingPosition": "LATEST",
        "batchSize": 40,
        "maximumBatchingWindowInSeconds": 3,
        "functionResponseTypes": ["ReportBatchItemFailures"],
        "bisectBatchOnFunctionError": True,
        "maximumRetryAttempts": 5,
        "maximumRecordAgeInSeconds": 7200,
        "destinationConfig": {"onFailure": {"destinationArn": QUEUE}},
        "filterCriteria": {
            "filters": [
                {"pattern": '{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"status": {"S": ["RECEIVED"]}}}}'}
            ]
        },
    }


def test_pipeline_reporter_runs_on_the_configured_schedule(custom: ProgramRun) -> None:
    rule = _inputs(custom, "aws:cloudwatch/eventRule:EventRule", "fraud-daily-report")
    assert rule == {
        "name": "rule-daily-report-dev",
        "description": "Fraud report for the previous UTC day",
        "scheduleExpression": "cron(30 2 * * ? *)",
    }
    assert _inputs(custom, "aws:cloudwatch/eventTarget:EventTarget", "fraud-daily-report-target") == {
        "rule": "rule-daily-report-dev",
        "arn": f"arn:aws:lambda:{ARN}:function:lambda-reporter-dev",
    }
    assert _inputs(custom, "aws:lambda/permission:Permission", "fraud-reporter-invoke") == {
        "action": "lambda:InvokeFunction",
        "function": "lambda-reporter-dev",
        "principal": "events.amazonaws.com",
        "sourceArn": f"arn:aws:events:{ARN}:rule/rule-daily-report-dev",
    }


def test_pipeline_secrets_manager_may_invoke_only_the_rotator_for_the_api_config(custom: ProgramRun) -> None:
    assert _inputs(custom, "aws:lambda/permission:Permission", "fraud-rotator-invoke") == {
        "action": "lambda:InvokeFunction",
        "function": "lambda-rotator-dev",
        "principal": "secretsmanager.amazonaws.com",
        "sourceArn": SECRET,
    }
    assert _inputs(custom, "aws:secretsmanager/secretRotation:SecretRotation", "fraud-api-config-rotation") == {
        "secretId": SECRET,
        "rotationLambdaArn": f"arn:aws:lambda:{ARN}:function:lambda-rotator-dev",
        "rotationRules": {"automaticallyAfterDays": 30},
    }


def test_pipeline_lambda_egress_rules_are_https_for_the_lambda_group(custom: ProgramRun) -> None:
    rules = [
        custom.named("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", f"fraud-lambda-egress-{i}")
        for i in range(3)
    ]
    https = {"description": "HTTPS to AWS APIs", "ipProtocol": "tcp", "fromPort": 443, "toPort": 443}
    assert [r.inputs for r in rules] == [
        {**https, "securityGroupId": "fraud-lambda-sg-id", "cidrIpv4": "0.0.0.0/0"},
        {**https, "securityGroupId": "fraud-lambda-sg-id", "prefixListId": "pl-s3"},
        {**https, "securityGroupId": "fraud-lambda-sg-id", "prefixListId": "pl-dynamodb"},
    ]


def test_pipeline_resources_belong_to_the_pipeline_component(custom: ProgramRun) -> None:
    # A resource that changes parent changes URN: Pulumi would replace a live function or queue.
    custom.named("fraud:pipeline:FraudPipeline", "fraud")
    children = ["fraud-runtime-layer", "fraud-analyzer-failures", "fraud-analyzer-stream", "fraud-daily-report"]
    children += ["fraud-daily-report-target", "fraud-reporter-invoke", "fraud-rotator-invoke"]
    children += ["fraud-api-config-rotation", *(f"fraud-lambda-egress-{i}" for i in range(3))]
    for fn in FUNCTIONS:
        children += [f"fraud-{fn}", f"fraud-{fn}-logs", f"fraud-{fn}-role", f"fraud-{fn}-role-policy"]
    assert {name: custom.options[name].parent for name in children} == dict.fromkeys(children, PIPELINE)
    assert custom.registered_outputs[PIPELINE] == ("failure_queue_url", "function_names", "processor_invoke_arn")


def test_pipeline_feeds_the_api_routes_alarms_and_log_protection_downstream(custom: ProgramRun) -> None:
    # API Gateway proxies /transactions to the processor and may invoke it
    processor = f"arn:aws:lambda:{ARN}:function:lambda-processor-dev"
    invoke_arn = f"arn:aws:apigateway:us-east-2:lambda:path/2015-03-31/functions/{processor}/invocations"
    proxies = [r for r in custom.of_type("aws:apigateway/integration:Integration") if r.inputs["type"] == "AWS_PROXY"]
    assert proxies and {r.inputs["uri"] for r in proxies} == {invoke_arn}
    for key in ("post", "get"):
        assert _inputs(custom, "aws:lambda/permission:Permission", f"fraud-gateway-processor-{key}")["function"] == (
            "lambda-processor-dev"
        )
    # the alarms watch the stream consumer's iterator age and the failure queue
    alarms = {r.inputs["name"]: r.inputs for r in custom.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert alarms["alarm-stream-iterator-age-dev"]["dimensions"] == {"FunctionName": "lambda-analyzer-dev"}
    assert alarms["alarm-analyzer-failures-queued-dev"]["dimensions"] == {"QueueName": "sqs-analyzer-failures-dev"}
    # card data is masked in every function's log group
    protected = {
        r.inputs["logGroupName"]
        for r in custom.of_type("aws:cloudwatch/logDataProtectionPolicy:LogDataProtectionPolicy")
    }
    assert {f"/aws/lambda/lambda-{fn}-dev" for fn in FUNCTIONS} <= protected
