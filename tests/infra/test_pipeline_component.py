"""FraudPipeline alone, built from its args under the recording mocks: the functions, their exact grants,
the stream mapping, the schedule, the rotation and the outputs, under limits, names and upstream ARNs
that are no stack's defaults. Every expected value is stated here. A run takes a fraction of a second
(the whole program takes seconds), so mutation testing reruns these for each mutant of
components/pipeline.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from components import pipeline
from components.config import read_stack_config
from components.context import AwsContext, Stack
from components.data_plane import DataPlaneOutputs
from components.naming import Namer
from components.pipeline import FraudPipeline, FraudPipelineArgs
from components.stack_files import namespace
from components.vpc import NetworkOutputs
from tests.support.harness import ProgramRun, Recorded, run_under_mocks, stack_config

FUNCTIONS = ("processor", "analyzer", "reporter", "rotator", "labeler", "drift")
REGION = "eu-central-1"
ACCOUNT = "123456789012"
ARN = f"{REGION}:{ACCOUNT}"
PIPELINE = "fraud:pipeline:FraudPipeline::ingest"
TABLE = f"arn:aws:dynamodb:{ARN}:table/transactions-qa"
STREAM = f"{TABLE}/stream/2026-03-04T05:06:07.000"
SECRET = f"arn:aws:secretsmanager:{ARN}:secret:secret-api-config-qa-AbCdEf"
DATA_KEY = f"arn:aws:kms:{ARN}:key/1111aaaa-data"
LOGS_KEY = f"arn:aws:kms:{ARN}:key/2222bbbb-logs"
REPORTS_BUCKET = f"s3-reports-qa-{ACCOUNT}"
QUEUE = f"arn:aws:sqs:{ARN}:queue/sqs-analyzer-failures-qa"
MODELS_BUCKET = f"s3-models-qa-{ACCOUNT}"
MODEL_POINTER = "/fraud-detection/qa/model/promoted"
MODEL_POINTER_ARN = f"arn:aws:ssm:{ARN}:parameter/fraud-detection/qa/model/promoted"
MODEL_SHADOW = "/fraud-detection/qa/model/shadow"
MODEL_SHADOW_ARN = f"arn:aws:ssm:{ARN}:parameter/fraud-detection/qa/model/shadow"
# Stands in for the layer folder lambda_package builds from the lock (tests/infra/test_lambda_layer.py).
LAYER_FOLDER = "/opt/layers/runtime-qa"


# Every key the pipeline reads, none at its default or dev value (the rest: Pulumi.dev.yaml).
CONFIG = {
    "environmentSuffix": "qa",
    "lambdaTimeoutSeconds": "45",
    "lambdaMemoryMb": "768",
    "lambdaReservedConcurrency": "150",
    "streamBatchSize": "40",
    "streamBatchingWindowSeconds": "3",
    "streamMaxRetries": "5",
    "streamMaxRecordAgeSeconds": "7200",
    "reportSchedule": "cron(30 2 * * ? *)",
    "logRetentionDays": "14",
}


def _build() -> None:
    """The pipeline as the program builds it (FraudPipelineArgs.of) for stack `qa`, in a VPC with
    interface endpoints, fed by a data plane's ARNs."""

    def output(value: Any) -> pulumi.Output[Any]:
        return pulumi.Output.from_input(value)

    initial_version = aws.secretsmanager.SecretVersion("api-config-initial", secret_id=SECRET, secret_string="{}")
    bucket_policy = aws.s3.BucketPolicy("access-logs-policy", bucket="s3-access-logs-qa", policy="{}")
    network = NetworkOutputs(
        vpc_id=output("vpc-0qa"),
        vpc_cidr="10.40.0.0/16",
        public_subnet_ids=output(["subnet-pub-a", "subnet-pub-b"]),
        private_subnet_ids=output(["subnet-priv-a", "subnet-priv-b"]),
        interface_endpoints=True,
        endpoint_security_group_id=output("sg-endpoints"),
        gateway_prefix_list_ids=[output("pl-11aa"), output("pl-22bb")],
        lambda_security_group_id=output("sg-lambda-qa"),
        export_security_group_id=output("sg-export-qa"),
        api_security_group_id=output("sg-api-qa"),
    )
    data = DataPlaneOutputs(
        data_key_arn=output(DATA_KEY),
        logs_key_arn=output(LOGS_KEY),
        table_name=output("transactions-qa"),
        table_arn=output(TABLE),
        table_stream_arn=output(STREAM),
        reports_bucket_name=output(REPORTS_BUCKET),
        reports_bucket_arn=output(f"arn:aws:s3:::{REPORTS_BUCKET}"),
        archive_bucket_name=output("s3-audit-qa"),
        archive_bucket_arn=output("arn:aws:s3:::s3-audit-qa"),
        access_log_bucket_name=output("s3-access-logs-qa"),
        access_log_bucket_policy=bucket_policy,
        models_bucket_name=output(MODELS_BUCKET),
        models_bucket_arn=output(f"arn:aws:s3:::{MODELS_BUCKET}"),
        model_pointer_name=output(MODEL_POINTER),
        model_pointer_arn=output(MODEL_POINTER_ARN),
        model_shadow_pointer_name=output(MODEL_SHADOW),
        model_shadow_pointer_arn=output(MODEL_SHADOW_ARN),
        api_config_secret_arn=output(SECRET),
        api_config_secret_initial_version=initial_version,
        db_endpoint=output("aurora-qa.cluster-x.eu-central-1.rds.amazonaws.com"),
        db_cluster_identifier="aurora-qa",
        db_max_acu=4.0,
        db_log_group_name=output("/aws/rds/cluster/aurora-qa/postgresql"),
        db_port=5432,
        db_name="fraud",
        db_cluster_resource_id=output("cluster-QA"),
        db_master_secret_arn=output(f"arn:aws:secretsmanager:{ARN}:secret:rds!cluster-qa"),
        db_security_group_id=output("sg-db-qa"),
    )
    values = {**namespace(stack_config("dev"), "fraud-detection"), **CONFIG}
    stack = Stack(
        config=read_stack_config(values.get, {"region": REGION}.get),
        provider=aws.Provider("aws-qa", region=REGION),
        ctx=AwsContext(
            account_id=ACCOUNT, partition="aws", region=REGION, availability_zones=("eu-central-1a", "eu-central-1b")
        ),
        namer=Namer(environment_suffix="qa", account_id=ACCOUNT),
    )
    # As the program does: every child uses the stack's provider, whose default tags are the mandatory ones.
    built = FraudPipeline(
        "ingest", FraudPipelineArgs.of(stack, network, data), pulumi.ResourceOptions(providers=[stack.provider])
    )
    outputs = built.outputs
    pulumi.export("function_names", outputs.function_names)
    pulumi.export("processor_function_name", outputs.processor_function_name)
    pulumi.export("processor_invoke_arn", outputs.processor_invoke_arn)
    pulumi.export("failure_queue_name", outputs.failure_queue_name)
    pulumi.export("failure_queue_url", outputs.failure_queue_url)
    pulumi.export("log_group_names", outputs.log_group_names)


# Built again for each test (a fraction of a second): mutmut credits the code a fixture runs to the test
# that triggered it, so one shared build would send every mutant to the first test alone.
@pytest.fixture
def built() -> Iterator[ProgramRun]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "layer_archive", lambda: pulumi.FileArchive(LAYER_FOLDER))
        yield run_under_mocks("qa", {"aws:region": REGION}, _build)


def _inputs(run: ProgramRun, typ: str, name: str) -> dict[str, Any]:
    return run.named(typ, name).inputs


def _function(run: ProgramRun, fn: str) -> Recorded:
    return run.named("aws:lambda/function:Function", f"ingest-{fn}")


def _allow(sid: str, actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def _base(fn: str) -> list[dict[str, Any]]:
    return [
        _allow(
            "WriteOwnLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"arn:aws:logs:{ARN}:log-group:/aws/lambda/lambda-{fn}-qa:*"],
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
            [
                "dynamodb:PutItem",
                "dynamodb:GetItem",
                "dynamodb:Query",
                "dynamodb:ConditionCheckItem",
                "dynamodb:UpdateItem",
            ],
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
        _allow("ReadModelPointer", ["ssm:GetParameter"], [MODEL_POINTER_ARN, MODEL_SHADOW_ARN]),
        _allow("ReadModels", ["s3:GetObject"], [f"arn:aws:s3:::{MODELS_BUCKET}/models/*"]),
        USE_DATA_KEY,
    ],
    "reporter": [
        _allow("ReadOneDay", ["dynamodb:Query"], [f"{TABLE}/index/day-time"]),
        _allow("WriteReports", ["s3:PutObject"], [f"arn:aws:s3:::{REPORTS_BUCKET}/reports/*"]),
        USE_DATA_KEY,
    ],
    "labeler": [
        _allow("ReadLabelFiles", ["s3:GetObject"], [f"arn:aws:s3:::{REPORTS_BUCKET}/labels/*"]),
        _allow("WriteLabelResults", ["s3:PutObject"], [f"arn:aws:s3:::{REPORTS_BUCKET}/label-results/*"]),
        _allow("RecordLabels", ["dynamodb:Query", "dynamodb:UpdateItem"], [TABLE]),
        _allow("SendFailures", ["sqs:SendMessage"], [QUEUE]),
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
    # Read only; the base statements' kms:Decrypt on the data key reads the table and the cards.
    "drift": [
        _allow(
            "ReadDayAndHistory",
            ["dynamodb:Query"],
            [f"{TABLE}/index/day-time", f"{TABLE}/index/customer-time", f"{TABLE}/index/terminal-time"],
        ),
        _allow("ReadModelPointer", ["ssm:GetParameter"], [MODEL_POINTER_ARN]),
        _allow("ReadModelCards", ["s3:GetObject"], [f"arn:aws:s3:::{MODELS_BUCKET}/models/*/card.json"]),
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
    "processor": {"TABLE_NAME": "transactions-qa", "API_CONFIG_SECRET_ARN": SECRET},
    "analyzer": {
        "TABLE_NAME": "transactions-qa",
        "API_CONFIG_SECRET_ARN": SECRET,
        "MODEL_BUCKET": MODELS_BUCKET,
        "MODEL_POINTER_PARAMETER": MODEL_POINTER,
        "MODEL_SHADOW_PARAMETER": MODEL_SHADOW,
    },
    "reporter": {"TABLE_NAME": "transactions-qa", "REPORTS_BUCKET": REPORTS_BUCKET, "REPORTS_KMS_KEY_ARN": DATA_KEY},
    "rotator": {},
    "labeler": {"TABLE_NAME": "transactions-qa", "REPORTS_KMS_KEY_ARN": DATA_KEY},
    "drift": {"TABLE_NAME": "transactions-qa", "MODEL_BUCKET": MODELS_BUCKET, "MODEL_POINTER_PARAMETER": MODEL_POINTER},
}
# The labeler (async, a few files a day) and the drift job (once a day) draw on the unreserved pool;
# the drift job gets minutes instead of the request path's lambdaTimeoutSeconds.
LIMITS = {fn: {"timeout": 45, "reservedConcurrentExecutions": 150} for fn in FUNCTIONS} | {
    "labeler": {"timeout": 45},
    "drift": {"timeout": 300},
}


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_pipeline_component_function_is_configured_from_its_args_and_runs_in_the_vpc(
    built: ProgramRun, fn: str
) -> None:
    inputs = {k: v for k, v in _function(built, fn).inputs.items() if k != "code"}
    assert inputs == {
        "name": f"lambda-{fn}-qa",
        "description": f"fraud-detection {fn}",
        "runtime": "python3.11",
        "architectures": ["arm64"],
        "handler": f"functions.{fn}.handler.lambda_handler",
        "layers": [f"arn:aws:lambda:{ARN}:layer:layer-runtime-qa:1"],
        "role": f"arn:aws:iam:{ARN}:role/role-{fn}-qa",
        **LIMITS[fn],
        "memorySize": 768,
        "vpcConfig": {"subnetIds": ["subnet-priv-a", "subnet-priv-b"], "securityGroupIds": ["sg-lambda-qa"]},
        "tracingConfig": {"mode": "Active"},
        "environment": {"variables": {"POWERTOOLS_SERVICE_NAME": f"fraud-{fn}", **POWERTOOLS, **OWN_ENVIRONMENT[fn]}},
        "kmsKeyArn": DATA_KEY,
        "loggingConfig": {"logFormat": "JSON", "logGroup": f"/aws/lambda/lambda-{fn}-qa"},
    }


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_pipeline_component_package_holds_its_handler_and_no_training_code(built: ProgramRun, fn: str) -> None:
    files = set(_function(built, fn).inputs["code"].assets)
    assert {f"functions/{fn}/handler.py", "functions/__init__.py", "fraud_common/transaction.py"} <= files
    assert not {f"functions/{other}/handler.py" for other in FUNCTIONS if other != fn} & files
    # Only the analyzer and the drift job compute features, and no training or evaluation module ships.
    scoring = {f for f in files if f.startswith("fraud_scoring/")}
    assert bool(scoring) == (fn in ("analyzer", "drift"))
    assert ("fraud_scoring/drift.py" in scoring) == ("fraud_scoring/reference.json" in scoring) == (fn == "drift")
    assert not scoring & {
        "fraud_scoring/benchmark.py",
        "fraud_scoring/dataset.py",
        "fraud_scoring/export.py",
        "fraud_scoring/drift_reference.py",
        "fraud_scoring/gate.py",
        "fraud_scoring/gbdt.py",
        "fraud_scoring/metrics.py",
        "fraud_scoring/promote.py",
        "fraud_scoring/retrain.py",
        "fraud_scoring/simulator.py",
        "fraud_scoring/train.py",
    }
    if fn == "analyzer":  # the registry's serving side: the promoted model, followed without a redeploy
        assert {"fraud_scoring/registry.py", "fraud_scoring/card.py"} <= scoring


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_pipeline_component_role_is_assumed_by_lambda_and_grants_exactly_its_statements(
    built: ProgramRun, fn: str
) -> None:
    role = _inputs(built, "aws:iam/role:Role", f"ingest-{fn}-role")
    assert role["name"] == f"role-{fn}-qa"
    assert json.loads(role["assumeRolePolicy"])["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    policy = _inputs(built, "aws:iam/rolePolicy:RolePolicy", f"ingest-{fn}-role-policy")
    assert policy["name"] == f"policy-{fn}-qa"
    assert json.loads(policy["policy"]) == {"Version": "2012-10-17", "Statement": _base(fn) + OWN_STATEMENTS[fn]}


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_pipeline_component_function_waits_for_its_log_group_and_role_policy(built: ProgramRun, fn: str) -> None:
    # The role's ARN exists before its policy is attached: a first invocation must not run without it;
    # without the log group first, Lambda would create one unencrypted and kept forever.
    assert sorted(built.options[f"ingest-{fn}"].depends_on) == [f"ingest-{fn}-logs", f"ingest-{fn}-role-policy"]


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_pipeline_component_log_group_keeps_the_configured_days_encrypted(built: ProgramRun, fn: str) -> None:
    assert _inputs(built, "aws:cloudwatch/logGroup:LogGroup", f"ingest-{fn}-logs") == {
        "name": f"/aws/lambda/lambda-{fn}-qa",
        "retentionInDays": 14,
        "kmsKeyId": LOGS_KEY,
    }


def test_pipeline_component_runtime_layer_is_the_built_folder_for_its_runtime_and_architecture(
    built: ProgramRun,
) -> None:
    layer = _inputs(built, "aws:lambda/layerVersion:LayerVersion", "ingest-runtime-layer")
    assert layer["code"].path == LAYER_FOLDER
    assert {k: v for k, v in layer.items() if k != "code"} == {
        "layerName": "layer-runtime-qa",
        "description": "aws-lambda-powertools[tracer], boto3 and their dependencies, as pinned by uv.lock",
        "compatibleRuntimes": ["python3.11"],
        "compatibleArchitectures": ["arm64"],
    }


def test_pipeline_component_failure_queue_keeps_two_weeks_and_reuses_its_data_key_for_five_minutes(
    built: ProgramRun,
) -> None:
    assert _inputs(built, "aws:sqs/queue:Queue", "ingest-analyzer-failures") == {
        "name": "sqs-analyzer-failures-qa",
        "kmsMasterKeyId": DATA_KEY,
        "kmsDataKeyReusePeriodSeconds": 300,
        "messageRetentionSeconds": 1_209_600,
    }


def test_pipeline_component_stream_mapping_follows_the_configured_batching_and_retries(built: ProgramRun) -> None:
    mapping = _inputs(built, "aws:lambda/eventSourceMapping:EventSourceMapping", "ingest-analyzer-stream")
    assert mapping == {
        "eventSourceArn": STREAM,
        "functionName": f"arn:aws:lambda:{ARN}:function:lambda-analyzer-qa",
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
    # Lambda checks the analyzer's rights to the stream and the queue when the mapping is created.
    assert built.options["ingest-analyzer-stream"].depends_on == ("ingest-analyzer-role-policy",)


def test_pipeline_component_reporter_runs_on_the_configured_schedule(built: ProgramRun) -> None:
    assert _inputs(built, "aws:cloudwatch/eventRule:EventRule", "ingest-daily-report") == {
        "name": "rule-daily-report-qa",
        "description": "Fraud report for the previous UTC day",
        "scheduleExpression": "cron(30 2 * * ? *)",
    }
    assert _inputs(built, "aws:cloudwatch/eventTarget:EventTarget", "ingest-daily-report-target") == {
        "rule": "rule-daily-report-qa",
        "arn": f"arn:aws:lambda:{ARN}:function:lambda-reporter-qa",
    }
    assert _inputs(built, "aws:lambda/permission:Permission", "ingest-reporter-invoke") == {
        "action": "lambda:InvokeFunction",
        "function": "lambda-reporter-qa",
        "principal": "events.amazonaws.com",
        "sourceArn": f"arn:aws:events:{ARN}:rule/rule-daily-report-qa",
    }


def test_pipeline_component_drift_job_runs_daily_after_the_report(built: ProgramRun) -> None:
    assert _inputs(built, "aws:cloudwatch/eventRule:EventRule", "ingest-daily-drift") == {
        "name": "rule-daily-drift-qa",
        "description": "Score and feature drift of the previous UTC day",
        "scheduleExpression": "cron(45 0 * * ? *)",
    }
    assert _inputs(built, "aws:cloudwatch/eventTarget:EventTarget", "ingest-daily-drift-target") == {
        "rule": "rule-daily-drift-qa",
        "arn": f"arn:aws:lambda:{ARN}:function:lambda-drift-qa",
    }
    assert _inputs(built, "aws:lambda/permission:Permission", "ingest-drift-invoke") == {
        "action": "lambda:InvokeFunction",
        "function": "lambda-drift-qa",
        "principal": "events.amazonaws.com",
        "sourceArn": f"arn:aws:events:{ARN}:rule/rule-daily-drift-qa",
    }


def test_pipeline_component_secrets_manager_may_invoke_only_the_rotator_for_the_api_config(built: ProgramRun) -> None:
    assert _inputs(built, "aws:lambda/permission:Permission", "ingest-rotator-invoke") == {
        "action": "lambda:InvokeFunction",
        "function": "lambda-rotator-qa",
        "principal": "secretsmanager.amazonaws.com",
        "sourceArn": SECRET,
    }
    assert _inputs(built, "aws:secretsmanager/secretRotation:SecretRotation", "ingest-api-config-rotation") == {
        "secretId": SECRET,
        "rotationLambdaArn": f"arn:aws:lambda:{ARN}:function:lambda-rotator-qa",
        "rotationRules": {"automaticallyAfterDays": 30},
    }
    # Rotation starts at once: it needs the permission and the secret's first value.
    assert sorted(built.options["ingest-api-config-rotation"].depends_on) == [
        "api-config-initial",
        "ingest-rotator-invoke",
    ]


def test_pipeline_component_lambda_egress_is_https_for_the_lambda_group(built: ProgramRun) -> None:
    https = {"description": "HTTPS to AWS APIs", "ipProtocol": "tcp", "fromPort": 443, "toPort": 443}
    rules = [
        _inputs(built, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", f"ingest-lambda-egress-{i}")
        for i in range(3)
    ]
    assert rules == [
        {**https, "securityGroupId": "sg-lambda-qa", "cidrIpv4": "10.40.0.0/16"},
        {**https, "securityGroupId": "sg-lambda-qa", "prefixListId": "pl-11aa"},
        {**https, "securityGroupId": "sg-lambda-qa", "prefixListId": "pl-22bb"},
    ]


def test_pipeline_component_label_files_invoke_the_labeler_with_retries_then_the_queue(built: ProgramRun) -> None:
    # GIVEN the pipeline WHEN a file is created under labels/ in the reports bucket
    notification = _inputs(built, "aws:s3/bucketNotification:BucketNotification", "ingest-label-files")
    # THEN S3 invokes the labeler, which only this bucket of this account may do
    assert notification == {
        "bucket": REPORTS_BUCKET,
        "lambdaFunctions": [
            {
                "lambdaFunctionArn": f"arn:aws:lambda:{ARN}:function:lambda-labeler-qa",
                "events": ["s3:ObjectCreated:*"],
                "filterPrefix": "labels/",
            }
        ],
    }
    assert built.options["ingest-label-files"].depends_on == ("ingest-labeler-invoke",)
    assert _inputs(built, "aws:lambda/permission:Permission", "ingest-labeler-invoke") == {
        "action": "lambda:InvokeFunction",
        "function": "lambda-labeler-qa",
        "principal": "s3.amazonaws.com",
        "sourceArn": f"arn:aws:s3:::{REPORTS_BUCKET}",
        "sourceAccount": ACCOUNT,
    }
    # AND a file that fails is retried twice within the hour, then queued
    assert _inputs(built, "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig", "ingest-labeler-async") == {
        "functionName": "lambda-labeler-qa",
        "maximumRetryAttempts": 2,
        "maximumEventAgeInSeconds": 3600,
        "destinationConfig": {"onFailure": {"destination": QUEUE}},
    }


def test_pipeline_component_resources_belong_to_the_pipeline_and_use_the_stack_provider(built: ProgramRun) -> None:
    # A resource that changes parent changes URN: Pulumi would replace a live function or queue.
    children = ["ingest-runtime-layer", "ingest-analyzer-failures", "ingest-analyzer-stream", "ingest-daily-report"]
    children += ["ingest-daily-report-target", "ingest-reporter-invoke", "ingest-rotator-invoke"]
    children += ["ingest-daily-drift", "ingest-daily-drift-target", "ingest-drift-invoke"]
    children += ["ingest-api-config-rotation", *(f"ingest-lambda-egress-{i}" for i in range(3))]
    children += ["ingest-labeler-invoke", "ingest-labeler-async", "ingest-label-files"]
    for fn in FUNCTIONS:
        children += [f"ingest-{fn}", f"ingest-{fn}-logs", f"ingest-{fn}-role", f"ingest-{fn}-role-policy"]
    upstream = {"ingest", "aws-qa", "api-config-initial", "access-logs-policy"}
    declared = {r.name for r in built.resources} - upstream
    assert declared == set(children)
    assert {name: built.options[name].parent for name in children} == dict.fromkeys(children, PIPELINE)
    # The provider the program hands the pipeline reaches every child: its default tags are the mandatory ones.
    provider = "urn:pulumi:qa::fraud-detection::pulumi:pulumi:Stack$pulumi:providers:aws::aws-qa::aws-qa-id"
    assert {r.name: r.provider for r in built.resources if r.name in children} == dict.fromkeys(children, provider)


def test_pipeline_component_outputs_name_the_functions_the_queue_and_the_log_groups(built: ProgramRun) -> None:
    processor = f"arn:aws:lambda:{ARN}:function:lambda-processor-qa"
    assert built.outputs == {
        "function_names": {fn: f"lambda-{fn}-qa" for fn in FUNCTIONS},
        "processor_function_name": "lambda-processor-qa",
        "processor_invoke_arn": f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{processor}/invocations",
        "failure_queue_name": "sqs-analyzer-failures-qa",
        "failure_queue_url": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/sqs-analyzer-failures-qa",
        "log_group_names": [f"/aws/lambda/lambda-{fn}-qa" for fn in FUNCTIONS],
    }
    assert built.registered_outputs[PIPELINE] == ("failure_queue_url", "function_names", "processor_invoke_arn")
