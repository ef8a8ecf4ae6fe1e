"""FraudPipeline: the five functions, their roles, the stream mapping, the schedules and the rotation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.config import ConfigError, StackConfig, read_stack_config
from components.lambda_package import ROOT, source_files
from components.pipeline import PACKAGES, SCORING_TRAINING_MODULES, package_exclusions
from components.stack_files import namespace
from fraud_common import env
from tests.support.harness import ACCOUNT_ID, ProgramRun, Recorded, run_program, stack_config

FUNCTIONS = ("processor", "analyzer", "reporter", "rotator", "labeler", "drift")
# The request path and its helpers; the labeler and the drift job run unreserved (the drift job with a longer timeout).
RESERVING = ("processor", "analyzer", "reporter", "rotator")
# The only actions AWS offers no resource-level permission for.
UNSCOPED_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


def _function(run: ProgramRun, fn: str) -> Recorded:
    return run.named("aws:lambda/function:Function", f"fraud-{fn}")


def _policy(run: ProgramRun, fn: str) -> list[dict]:
    return json.loads(run.named("aws:iam/rolePolicy:RolePolicy", f"fraud-{fn}-role-policy").inputs["policy"])[
        "Statement"
    ]


def _grants(run: ProgramRun, fn: str) -> dict[str, set[str]]:
    """action -> resources, over the function's whole policy."""
    grants: dict[str, set[str]] = {}
    for statement in _policy(run, fn):
        for action in statement["Action"]:
            grants.setdefault(action, set()).update(statement["Resource"])
    return grants


@pytest.mark.parametrize("fn", RESERVING)
def test_pipeline_function_runtime_and_limits_follow_config(run: ProgramRun, fn: str) -> None:
    inputs = _function(run, fn).inputs
    assert inputs["name"] == f"lambda-{fn}-{run.suffix}"
    assert inputs["runtime"] == "python3.11"
    assert inputs["handler"] == f"functions.{fn}.handler.lambda_handler"
    assert inputs["reservedConcurrentExecutions"] >= 100
    assert 1 <= inputs["timeout"] <= 300
    assert inputs["memorySize"] == 512


def test_pipeline_drift_job_has_minutes_and_no_reserved_concurrency(run: ProgramRun) -> None:
    inputs = _function(run, "drift").inputs
    assert inputs["handler"] == "functions.drift.handler.lambda_handler"
    assert inputs["timeout"] == 300
    assert "reservedConcurrentExecutions" not in inputs


def test_pipeline_labeler_draws_on_the_unreserved_pool(run: ProgramRun) -> None:
    # Async, a few files a day: reserving for it would take that much from every other function.
    inputs = _function(run, "labeler").inputs
    assert inputs["handler"] == "functions.labeler.handler.lambda_handler"
    assert "reservedConcurrentExecutions" not in inputs


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_pipeline_function_runs_in_private_subnets_with_tracing(run: ProgramRun, fn: str) -> None:
    inputs = _function(run, fn).inputs
    assert inputs["vpcConfig"] == {
        "subnetIds": ["subnet-private-0", "subnet-private-1", "subnet-private-2"],
        "securityGroupIds": ["fraud-lambda-sg-id"],
    }
    assert inputs["tracingConfig"] == {"mode": "Active"}


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_pipeline_function_environment_is_exact_and_kms_encrypted(run: ProgramRun, fn: str) -> None:
    inputs = _function(run, fn).inputs
    variables = inputs["environment"]["variables"]
    # PCI: no request body, response or error text in any function's logs or traces.
    fixed = {
        "POWERTOOLS_LOGGER_LOG_EVENT": "false",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        "POWERTOOLS_TRACER_CAPTURE_ERROR": "false",
    }
    assert set(variables) == set(env.FUNCTION_ENV[fn]) | set(fixed)
    assert {k: variables[k] for k in fixed} == fixed
    assert inputs["kmsKeyArn"].endswith("key/fraud-data-key")


def test_pipeline_reporter_encrypts_reports_with_the_data_key(run: ProgramRun) -> None:
    # The reporter names the key on every PutObject; unset, S3 would use the AWS-managed aws/s3 key.
    variables = _function(run, "reporter").inputs["environment"]["variables"]
    data_key = f"arn:aws:kms:{run.config['aws:region']}:{ACCOUNT_ID}:key/fraud-data-key"
    assert variables["REPORTS_KMS_KEY_ARN"] == data_key
    assert data_key in _grants(run, "reporter")["kms:GenerateDataKey"]


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_pipeline_function_logs_to_its_own_encrypted_log_group(run: ProgramRun, fn: str) -> None:
    function = _function(run, fn)
    log_group = run.named("aws:cloudwatch/logGroup:LogGroup", f"fraud-{fn}-logs").inputs
    assert log_group["name"] == f"/aws/lambda/{function.inputs['name']}"
    assert log_group["retentionInDays"] == 7
    assert log_group["kmsKeyId"].endswith("key/fraud-logs-key")
    assert function.inputs["loggingConfig"] == {"logFormat": "JSON", "logGroup": log_group["name"]}
    assert f"fraud-{fn}-logs" in run.options[function.name].depends_on


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_pipeline_function_waits_for_its_role_policy_not_only_the_role(run: ProgramRun, fn: str) -> None:
    # The role's ARN exists before its inline policy is attached: depending on the ARN alone lets
    # Pulumi create the function, and a first invocation run, without its permissions.
    policy = run.named("aws:iam/rolePolicy:RolePolicy", f"fraud-{fn}-role-policy")
    assert policy.name in run.options[f"fraud-{fn}"].depends_on
    # Every grant of the role counts: attachments too (the pipeline's roles have none today).
    attachments = [
        r.name
        for r in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.name.startswith(f"fraud-{fn}-role-")
    ]
    assert set(attachments) <= set(run.options[f"fraud-{fn}"].depends_on)


def test_pipeline_stream_mapping_waits_for_the_analyzer_role_policy(run: ProgramRun) -> None:
    # CreateEventSourceMapping checks the function's role can read the stream (and, with an
    # on-failure destination, send to the queue): the mapping must wait for the policy.
    mapping = run.one("aws:lambda/eventSourceMapping:EventSourceMapping")
    assert "fraud-analyzer-role-policy" in run.options[mapping.name].depends_on


def test_pipeline_functions_use_the_project_runtime_layer_not_the_aws_managed_one(run: ProgramRun) -> None:
    # GIVEN the one layer the stack builds from the lock, for the functions' runtime and architecture
    layer = run.named("aws:lambda/layerVersion:LayerVersion", "fraud-runtime-layer").inputs
    assert layer["layerName"] == f"layer-runtime-{run.suffix}"
    assert layer["compatibleRuntimes"] == ["python3.11"]
    assert layer["compatibleArchitectures"] == ["arm64"]
    assert Path(layer["code"].path).parent == ROOT / ".build"
    assert Path(layer["code"].path).name.startswith("layer-")
    region = run.config["aws:region"]
    for fn in FUNCTIONS:
        inputs = _function(run, fn).inputs
        assert inputs["architectures"] == ["arm64"]
        # THEN every function uses it, and nothing from the AWS-managed Powertools layer account
        assert inputs["layers"] == [f"arn:aws:lambda:{region}:{ACCOUNT_ID}:layer:layer-runtime-{run.suffix}:1"]
        assert not any("017000801446" in arn or "AWSLambdaPowertools" in arn for arn in inputs["layers"])


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_pipeline_package_holds_only_what_the_handler_imports(dev: ProgramRun, fn: str) -> None:
    files = set(_function(dev, fn).inputs["code"].assets)
    assert f"functions/{fn}/handler.py" in files
    assert "fraud_common/transaction.py" in files
    assert not [f for f in files if "__pycache__" in f or f.startswith("tests/") or not f.endswith((".py", ".json"))]
    assert not files & set(SCORING_TRAINING_MODULES)
    assert files == set(source_files(PACKAGES[fn], exclude=package_exclusions(fn)))
    # Only the analyzer and the drift job compute features.
    assert any(f.startswith("fraud_scoring/") for f in files) == (fn in ("analyzer", "drift"))


def test_pipeline_one_least_privilege_role_per_function(run: ProgramRun) -> None:
    roles = {r.name: r for r in run.of_type("aws:iam/role:Role") if r.name.startswith("fraud-")}
    for fn in FUNCTIONS:
        role = roles[f"fraud-{fn}-role"]
        assert role.inputs["name"] == f"role-{fn}-{run.suffix}"
        trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert trust == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
        assert _function(run, fn).inputs["role"].endswith(f"role/role-{fn}-{run.suffix}")


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_pipeline_policies_use_no_wildcard_action_and_scope_resources(run: ProgramRun, fn: str) -> None:
    for action, resources in _grants(run, fn).items():
        assert "*" not in action, f"{fn}: wildcard action {action}"
        if "*" in resources:
            assert action in UNSCOPED_ACTIONS, f"{fn}: {action} on * although AWS offers a narrower resource"
    log_writes = _grants(run, fn)["logs:PutLogEvents"]
    assert log_writes == {
        f"arn:aws:logs:{run.config['aws:region']}:{ACCOUNT_ID}:log-group:/aws/lambda/lambda-{fn}-{run.suffix}:*"
    }


def test_pipeline_processor_writes_the_table_and_reads_one_secret(run: ProgramRun) -> None:
    grants = _grants(run, "processor")
    table = f"arn:aws:dynamodb:{run.config['aws:region']}:{ACCOUNT_ID}:table/transactions-{run.suffix}"
    assert grants["dynamodb:PutItem"] == {table}
    assert grants["dynamodb:Query"] == {table}
    assert grants["secretsmanager:GetSecretValue"] == {run.outputs["api_config_secret_arn"]}
    assert "dynamodb:Scan" not in grants and "dynamodb:DeleteItem" not in grants


def test_pipeline_analyzer_reads_history_indexes_and_updates_decisions(run: ProgramRun) -> None:
    grants = _grants(run, "analyzer")
    table = f"arn:aws:dynamodb:{run.config['aws:region']}:{ACCOUNT_ID}:table/transactions-{run.suffix}"
    assert grants["dynamodb:Query"] == {f"{table}/index/customer-time", f"{table}/index/terminal-time"}
    assert grants["dynamodb:UpdateItem"] == {table}
    assert grants["dynamodb:GetRecords"] == {f"{table}/stream/2026-01-01T00:00:00.000"}
    assert grants["sqs:SendMessage"] == {
        f"arn:aws:sqs:{run.config['aws:region']}:{ACCOUNT_ID}:queue/sqs-analyzer-failures-{run.suffix}"
    }
    assert "dynamodb:PutItem" not in grants


def test_pipeline_reporter_reads_one_index_and_writes_reports_only(run: ProgramRun) -> None:
    grants = _grants(run, "reporter")
    table = f"arn:aws:dynamodb:{run.config['aws:region']}:{ACCOUNT_ID}:table/transactions-{run.suffix}"
    assert grants["dynamodb:Query"] == {f"{table}/index/day-time"}
    assert grants["s3:PutObject"] == {f"arn:aws:s3:::s3-reports-{run.suffix}-{ACCOUNT_ID}/reports/*"}
    assert "dynamodb:Scan" not in grants


def test_pipeline_drift_job_only_reads_the_day_and_history_indexes(run: ProgramRun) -> None:
    grants = _grants(run, "drift")
    table = f"arn:aws:dynamodb:{run.config['aws:region']}:{ACCOUNT_ID}:table/transactions-{run.suffix}"
    indexes = {f"{table}/index/{name}" for name in ("day-time", "customer-time", "terminal-time")}
    assert grants["dynamodb:Query"] == indexes
    assert [a for a in grants if a.startswith("dynamodb:")] == ["dynamodb:Query"]
    assert not [a for a in grants if a.startswith(("sqs:", "secretsmanager:", "cloudwatch:"))]
    # The promoted model's card (its drift reference), read only.
    models = run.outputs["models_bucket_name"]
    assert [a for a in grants if a.startswith("s3:")] == ["s3:GetObject"]
    assert grants["s3:GetObject"] == {f"arn:aws:s3:::{models}/models/*/card.json"}
    assert grants["ssm:GetParameter"] == {
        f"arn:aws:ssm:{run.config['aws:region']}:{ACCOUNT_ID}:parameter{run.outputs['model_pointer_parameter']}"
    }
    assert grants["kms:Decrypt"] == {f"arn:aws:kms:{run.config['aws:region']}:{ACCOUNT_ID}:key/fraud-data-key"}
    assert "kms:GenerateDataKey" not in grants


def test_pipeline_rotator_manages_only_the_api_config_secret(run: ProgramRun) -> None:
    grants = _grants(run, "rotator")
    secret = run.outputs["api_config_secret_arn"]
    for action in ("GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage", "DescribeSecret"):
        assert grants[f"secretsmanager:{action}"] == {secret}
    assert not [a for a in grants if a.startswith("dynamodb:")]


def test_pipeline_stream_mapping_reports_partial_failures_with_bounded_retries(run: ProgramRun) -> None:
    mapping = run.one("aws:lambda/eventSourceMapping:EventSourceMapping").inputs
    assert mapping["startingPosition"] == "LATEST"
    assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["bisectBatchOnFunctionError"] is True
    assert mapping["batchSize"] == 100 and mapping["maximumBatchingWindowInSeconds"] == 1
    assert 0 <= mapping["maximumRetryAttempts"] <= 10
    assert 60 <= mapping["maximumRecordAgeInSeconds"] <= 604800
    assert mapping["destinationConfig"]["onFailure"]["destinationArn"].endswith(
        f":queue/sqs-analyzer-failures-{run.suffix}"
    )
    assert mapping["eventSourceArn"].endswith("/stream/2026-01-01T00:00:00.000")
    [pattern] = [json.loads(f["pattern"]) for f in mapping["filterCriteria"]["filters"]]
    assert pattern == {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"status": {"S": ["RECEIVED"]}}}}


def test_pipeline_failure_queue_is_kms_encrypted_and_keeps_two_weeks(run: ProgramRun) -> None:
    queue = run.one("aws:sqs/queue:Queue").inputs
    assert queue["name"] == f"sqs-analyzer-failures-{run.suffix}"
    assert queue["kmsMasterKeyId"].endswith("key/fraud-data-key")
    assert queue["messageRetentionSeconds"] == 14 * 24 * 3600


def test_pipeline_reporter_runs_daily_on_schedule(run: ProgramRun) -> None:
    rule = run.named("aws:cloudwatch/eventRule:EventRule", "fraud-daily-report").inputs
    assert rule["scheduleExpression"] == "cron(15 0 * * ? *)"
    target = run.named("aws:cloudwatch/eventTarget:EventTarget", "fraud-daily-report-target").inputs
    assert target["arn"].endswith(f"function:lambda-reporter-{run.suffix}")
    permission = run.named("aws:lambda/permission:Permission", "fraud-reporter-invoke").inputs
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["sourceArn"].endswith(f"rule/rule-daily-report-{run.suffix}")


def test_pipeline_drift_job_runs_daily_after_the_report(run: ProgramRun) -> None:
    rule = run.named("aws:cloudwatch/eventRule:EventRule", "fraud-daily-drift").inputs
    assert rule["scheduleExpression"] == "cron(45 0 * * ? *)"
    target = run.named("aws:cloudwatch/eventTarget:EventTarget", "fraud-daily-drift-target").inputs
    assert target["arn"].endswith(f"function:lambda-drift-{run.suffix}")
    permission = run.named("aws:lambda/permission:Permission", "fraud-drift-invoke").inputs
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["sourceArn"].endswith(f"rule/rule-daily-drift-{run.suffix}")


def test_pipeline_api_config_secret_rotates_every_30_days_with_the_rotator(run: ProgramRun) -> None:
    rotation = run.one("aws:secretsmanager/secretRotation:SecretRotation", "api-config")
    assert rotation.inputs["rotationLambdaArn"].endswith(f"function:lambda-rotator-{run.suffix}")
    assert rotation.inputs["rotationRules"] == {"automaticallyAfterDays": 30}
    permission = run.named("aws:lambda/permission:Permission", "fraud-rotator-invoke").inputs
    assert permission["principal"] == "secretsmanager.amazonaws.com"
    assert permission["sourceArn"] == run.outputs["api_config_secret_arn"]
    assert run.options[rotation.name].depends_on == ("fraud-rotator-invoke", "fraud-api-config-initial")


def test_pipeline_every_permission_is_scoped_by_source_arn(run: ProgramRun) -> None:
    permissions = run.of_type("aws:lambda/permission:Permission")
    assert permissions
    assert all(p.inputs.get("sourceArn") for p in permissions)


def test_pipeline_lambda_egress_is_https_to_aws_apis_only(dev: ProgramRun, prod: ProgramRun) -> None:
    def egress(run: ProgramRun) -> list[tuple]:
        rules = [
            r
            for r in run.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
            if r.inputs["securityGroupId"] == "fraud-lambda-sg-id"
        ]
        assert all(
            (r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"]) == ("tcp", 443, 443) for r in rules
        )
        return sorted((r.inputs.get("cidrIpv4") or "", r.inputs.get("prefixListId") or "") for r in rules)

    # dev has no interface endpoints: AWS APIs through the NAT; prod stays inside the VPC.
    assert egress(dev) == [("", "pl-dynamodb"), ("", "pl-s3"), ("0.0.0.0/0", "")]
    assert egress(prod) == [("", "pl-dynamodb"), ("", "pl-s3"), ("10.30.0.0/16", "")]


def test_pipeline_exports_function_names_and_failure_queue(run: ProgramRun) -> None:
    assert run.outputs["function_names"] == {fn: f"lambda-{fn}-{run.suffix}" for fn in FUNCTIONS}
    assert run.outputs["analyzer_failure_queue_url"].endswith(f"/sqs-analyzer-failures-{run.suffix}")


def test_pipeline_analyzer_ships_exactly_the_scoring_modules_serving_imports(dev: ProgramRun) -> None:
    # GIVEN what the analyzer's scoring imports load in a fresh interpreter (the serving path)
    probe = (
        "import sys, fraud_scoring, fraud_scoring.registry\n"
        "print('\\n'.join(m.__file__ for n, m in sys.modules.items() if n.startswith('fraud_scoring')))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    serving = {str(Path(f).relative_to(ROOT)) for f in loaded.stdout.split()}
    # WHEN the analyzer is packaged
    files = {f for f in _function(dev, "analyzer").inputs["code"].assets if f.startswith("fraud_scoring/")}
    # THEN it holds those modules and the model artifacts, no training code
    assert {f for f in files if f.endswith(".py")} == serving
    assert {f for f in files if f.endswith(".json")} == {"fraud_scoring/model.json"}


# --- reserved concurrency against the account quota --------------------------------------------
# AWS keeps 100 of the account's concurrency unreserved: "You can reserve up to the Unreserved account
# concurrency value that is shown, minus 100 for functions that don't have reserved concurrency"
# (Lambda developer guide, configuration-concurrency.html). The 4 functions each reserve the same.


def _config(**overrides: str) -> StackConfig:
    values = namespace(stack_config("dev"), "fraud-detection")
    return read_stack_config({**values, **overrides}.get, {"region": "us-east-2"}.get)


def _concurrency_problem(**overrides: str) -> str:
    with pytest.raises(ConfigError) as caught:
        _config(**overrides)
    [problem] = caught.value.problems
    return problem


def test_pipeline_every_function_reserves_the_configured_concurrency() -> None:
    run = run_program("dev", {"fraud-detection:lambdaReservedConcurrency": "225"})
    reserving = [f for f in run.of_type("aws:lambda/function:Function") if "reservedConcurrentExecutions" in f.inputs]
    assert len(reserving) == 4
    assert {f.inputs["reservedConcurrentExecutions"] for f in reserving} == {225}


def test_pipeline_reserved_concurrency_over_the_account_quota_is_rejected() -> None:
    # GIVEN 4 x 300 = 1200 against the default quota of 1000, which leaves 1000 - 100 = 900 to reserve
    problem = _concurrency_problem(lambdaReservedConcurrency="300")
    # THEN the error names both keys, the sum and the limit
    assert "fraud-detection:lambdaReservedConcurrency = 300 is invalid" in problem
    assert "4 x 300 = 1200" in problem
    assert "lambdaAccountConcurrencyQuota (1000)" in problem and "= 900" in problem


def test_pipeline_reserved_concurrency_fits_a_raised_quota_exactly() -> None:
    # GIVEN the same 1200 in an account whose quota was raised to 1300 (1300 - 100 = 1200)
    assert (
        _config(lambdaReservedConcurrency="300", lambdaAccountConcurrencyQuota="1300").pipeline.reserved_concurrency
        == 300
    )
    # AND one unit more per function does not fit
    problem = _concurrency_problem(lambdaReservedConcurrency="301", lambdaAccountConcurrencyQuota="1300")
    assert "4 x 301 = 1204" in problem and "lambdaAccountConcurrencyQuota (1300)" in problem and "= 1200" in problem


def test_pipeline_reserved_concurrency_in_a_small_account_names_the_quota() -> None:
    # GIVEN an account quota of 400 (limit 300) and the floor lowered on purpose
    small = {"lambdaAccountConcurrencyQuota": "400", "lambdaMinReservedConcurrency": "10"}
    assert _config(**small, lambdaReservedConcurrency="75").pipeline.reserved_concurrency == 75
    problem = _concurrency_problem(**small, lambdaReservedConcurrency="76")
    assert "4 x 76 = 304" in problem and "lambdaAccountConcurrencyQuota (400)" in problem and "= 300" in problem


def test_pipeline_reserved_concurrency_over_the_quota_declares_no_resource() -> None:
    run = run_program(
        "prod",
        {"fraud-detection:lambdaReservedConcurrency": "250", "fraud-detection:lambdaAccountConcurrencyQuota": "1000"},
        expect_failure=True,
    )
    assert isinstance(run.error, ConfigError)
    assert "4 x 250 = 1000" in str(run.error)
    assert run.resources == []
