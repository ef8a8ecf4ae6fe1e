"""Every config key reaches its resource: the whole program runs with fixtures/Pulumi.mutant.yaml, a stack
whose every value differs from Pulumi.yaml's default, and each value must appear on the resource it
configures. A component that hard-codes a number, or reads another key, fails here although dev and
prod (which share many defaults) pass. The expected values are written out below, never computed by
the code under test."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.harness import ROOT, ProgramRun, run_program

FIXTURE = Path(__file__).parent / "fixtures" / "Pulumi.mutant.yaml"
P = "fraud-detection:"

FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
CLUSTER = "aws:rds/cluster:Cluster"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
SCHEDULED = "aws:appautoscaling/scheduledAction:ScheduledAction"
TARGET = "aws:appautoscaling/target:Target"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ACL = "aws:wafv2/webAcl:WebAcl"
RECORD = "aws:route53/record:Record"
SCHEDULE = "aws:scheduler/schedule:Schedule"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
SERVICE_LINKED_ROLE = "aws:iam/serviceLinkedRole:ServiceLinkedRole"

# Keys whose fixture value cannot differ from every other stack, and why.
SAME_AS_DEFAULT = {"dbEngineVersion": "the program accepts major version 16 only"}
SAME_AS_A_STACK = {
    "natStrategy": "two choices: the non-default one is prod's",
    "interfaceEndpoints": "a boolean: the non-default value is prod's",
    "manageApiGatewayAccount": "a boolean: the non-default value is prod's",
}


def _stack_values(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8"))["config"])


@pytest.fixture(scope="module")
def mutant() -> ProgramRun:
    return run_program("mutant", stack_file=FIXTURE)


def _variant(**overrides: str) -> ProgramRun:
    """The mutant stack with some project keys changed; a refused configuration is kept in run.error."""
    changed = {f"{P}{key}": value for key, value in overrides.items()}
    return run_program("mutant", changed, stack_file=FIXTURE, expect_failure=True)


def _refusal(pattern: str, **overrides: str) -> str:
    """What the program's configuration error says about a variant of the mutant stack (a regex group)."""
    error = _variant(**overrides).error
    assert error is not None, f"{overrides} was accepted"
    found = re.search(pattern, str(error))
    assert found, str(error)
    return found.group(1)


def _inputs(run: ProgramRun, typ: str, name: str) -> dict[str, Any]:
    return run.named(typ, name).inputs


def _cluster(run: ProgramRun) -> dict[str, Any]:
    return _inputs(run, CLUSTER, "fraud-aurora-cluster")


def _per_function(run: ProgramRun, field: str) -> dict[str, Any]:
    return {f.inputs["name"]: f.inputs.get(field) for f in run.of_type(FUNCTION)}


def _functions(
    value: object, names: tuple[str, ...] = ("processor", "analyzer", "reporter", "rotator", "labeler")
) -> dict[str, object]:
    return {f"lambda-{fn}-mut7q": value for fn in names}


def _lifecycle(run: ProgramRun, bucket: str) -> dict[str, Any]:
    [rule] = _inputs(run, LIFECYCLE, f"fraud-{bucket}-lifecycle")["rules"]
    return dict(rule)


def _scaling(run: ProgramRun, key: str) -> dict[str, Any]:
    return _inputs(run, SCHEDULED, f"fraud-scaling-{key}")


def _task(run: ProgramRun, name: str = "fraud-task") -> dict[str, Any]:
    return run.named("aws:ecs/taskDefinition:TaskDefinition", name).inputs


def _stage_rate(run: ProgramRun, rule: str) -> Any:
    rules = {r["name"]: r for r in _inputs(run, ACL, "fraud-waf-stage-acl")["rules"]}
    return rules[rule]["statement"]["rateBasedStatement"]["limit"]


def _usage_plan(run: ProgramRun) -> dict[str, Any]:
    return dict(run.one("aws:apigateway/usagePlan:UsagePlan").inputs["throttleSettings"])


# key -> (what the mutant program declared for it, the value the fixture asks for)
CHECKS: dict[str, tuple[Callable[[ProgramRun], object], object]] = {
    "aws:region": (lambda run: run.one("pulumi:providers:aws").inputs["region"], "eu-west-1"),
    P + "environmentSuffix": (lambda run: run.one("aws:dynamodb/table:Table").inputs["name"], "transactions-mut7q"),
    P + "costCenter": (
        lambda run: json.loads(run.one("pulumi:providers:aws").inputs["defaultTags"])["tags"]["CostCenter"],
        "cc-mutant-42",
    ),
    P + "vpcCidr": (
        lambda run: (
            run.one("awsx:ec2:Vpc").inputs["cidrBlock"],
            _inputs(run, "aws:ec2/securityGroup:SecurityGroup", "fraud-endpoints-sg")["ingress"][0]["cidrBlocks"],
        ),
        ("172.20.0.0/18", ["172.20.0.0/18"]),
    ),
    P + "natStrategy": (lambda run: run.one("awsx:ec2:Vpc").inputs["natGateways"], {"strategy": "OnePerAz"}),
    P + "interfaceEndpoints": (
        lambda run: sorted(
            e.inputs["serviceName"]
            for e in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
            if e.inputs["vpcEndpointType"] == "Interface"
        ),
        [f"com.amazonaws.eu-west-1.{s}" for s in ("ecr.api", "ecr.dkr", "kms", "logs", "monitoring")]
        + [f"com.amazonaws.eu-west-1.{s}" for s in ("secretsmanager", "ssm", "sts", "xray")],
    ),
    P + "flowLogTransitionDays": (
        lambda run: _lifecycle(run, "flow-logs")["transitions"],
        [{"storageClass": "GLACIER_IR", "days": 45}],
    ),
    P + "flowLogExpirationDays": (lambda run: _lifecycle(run, "flow-logs")["expiration"], {"days": 500}),
    P + "dbEngineVersion": (
        lambda run: (
            _cluster(run)["engineVersion"],
            run.one("aws:rds/clusterParameterGroup:ClusterParameterGroup").inputs["family"],
        ),
        ("16", "aurora-postgresql16"),
    ),
    P + "dbInstanceCount": (
        lambda run: sorted(i.inputs["availabilityZone"] for i in run.of_type(INSTANCE)),
        ["eu-west-1a", "eu-west-1b", "eu-west-1c"],
    ),
    P + "dbMinAcu": (
        lambda run: _cluster(run)["serverlessv2ScalingConfiguration"]["minCapacity"],
        1.5,
    ),
    P + "dbMaxAcu": (
        lambda run: (
            _cluster(run)["serverlessv2ScalingConfiguration"]["maxCapacity"],
            _inputs(run, ALARM, "fraud-aurora-acu-at-max")["threshold"],
        ),
        (12, 12),
    ),
    P + "dbBackupRetentionDays": (
        lambda run: _cluster(run)["backupRetentionPeriod"],
        21,
    ),
    P + "dbBackupWindow": (
        lambda run: _cluster(run)["preferredBackupWindow"],
        "05:10-05:40",
    ),
    P + "dbMaintenanceWindow": (
        lambda run: _cluster(run)["preferredMaintenanceWindow"],
        "wed:07:00-wed:07:45",
    ),
    P + "dbMasterUsername": (lambda run: _cluster(run)["masterUsername"], "mutantowner"),
    P + "dbName": (lambda run: _cluster(run)["databaseName"], "fraudmut"),
    # The drift job keeps its own timeout (300 s); it and the labeler reserve no concurrency.
    P + "lambdaTimeoutSeconds": (
        lambda run: _per_function(run, "timeout"),
        {**_functions(45), "lambda-drift-mut7q": 300},
    ),
    P + "lambdaMemoryMb": (
        lambda run: _per_function(run, "memorySize"),
        {**_functions(1536), "lambda-drift-mut7q": 1536},
    ),
    P + "lambdaReservedConcurrency": (
        lambda run: _per_function(run, "reservedConcurrentExecutions"),
        {**_functions(300), "lambda-labeler-mut7q": None, "lambda-drift-mut7q": None},
    ),
    # A floor and a quota configure no resource: they decide which reservations the program refuses.
    P + "lambdaMinReservedConcurrency": (
        lambda _run: _refusal(r"at least lambdaMinReservedConcurrency \((\d+)\)", lambdaReservedConcurrency="110"),
        "120",
    ),
    P + "lambdaAccountConcurrencyQuota": (
        lambda _run: _refusal(r"at most lambdaAccountConcurrencyQuota \((\d+)\)", lambdaReservedConcurrency="700"),
        "2500",
    ),
    P + "streamBatchSize": (lambda run: run.one(MAPPING).inputs["batchSize"], 250),
    P + "streamBatchingWindowSeconds": (lambda run: run.one(MAPPING).inputs["maximumBatchingWindowInSeconds"], 4),
    P + "streamMaxRetries": (lambda run: run.one(MAPPING).inputs["maximumRetryAttempts"], 6),
    P + "streamMaxRecordAgeSeconds": (lambda run: run.one(MAPPING).inputs["maximumRecordAgeInSeconds"], 7200),
    P + "reportSchedule": (
        lambda run: run.named("aws:cloudwatch/eventRule:EventRule", "fraud-daily-report").inputs["scheduleExpression"],
        "cron(45 2 * * ? *)",
    ),
    P + "reportRetentionDays": (lambda run: _lifecycle(run, "reports")["expiration"], {"days": 500}),
    P + "apiImage": (
        lambda run: (
            [c["image"] for c in json.loads(_task(run)["containerDefinitions"]) if c["name"] == "fraud-api"],
            [r for r in run.of_type("docker-build:index:Image") if r.name == "fraud-api-image"],
        ),
        (["123456789012.dkr.ecr.eu-west-1.amazonaws.com/fraud-api-mut@sha256:" + "cd" * 32], []),
    ),
    P + "exportSchedule": (
        lambda run: run.named(SCHEDULE, "fraud-export-schedule").inputs["scheduleExpression"],
        "cron(10 4 * * ? *)",
    ),
    P + "retrainSchedule": (
        lambda run: run.named(SCHEDULE, "fraud-retrain-schedule").inputs["scheduleExpression"],
        "cron(0 5 ? * WED *)",
    ),
    P + "jobsCpu": (
        lambda run: [_task(run, f"fraud-{job}-task")["cpu"] for job in ("export", "retrain")],
        ["4096"] * 2,
    ),
    P + "jobsMemory": (
        lambda run: [_task(run, f"fraud-{job}-task")["memory"] for job in ("export", "retrain")],
        ["12288"] * 2,
    ),
    P + "apiCpu": (lambda run: _task(run)["cpu"], "2048"),
    P + "apiMemory": (lambda run: _task(run)["memory"], "6144"),
    P + "apiMinTasks": (
        lambda run: (
            run.one("aws:ecs/service:Service").inputs["desiredCount"],
            run.one(TARGET).inputs["minCapacity"],
            _scaling(run, "night")["scalableTargetAction"]["minCapacity"],
        ),
        (3, 3, 3),
    ),
    P + "apiMaxTasks": (
        lambda run: (
            run.one(TARGET).inputs["maxCapacity"],
            [a.inputs["scalableTargetAction"]["maxCapacity"] for a in run.of_type(SCHEDULED)],
        ),
        (9, [9, 9]),
    ),
    P + "apiPeakMinTasks": (lambda run: _scaling(run, "peak")["scalableTargetAction"]["minCapacity"], 5),
    P + "apiPeakStartHourUtc": (lambda run: _scaling(run, "peak")["schedule"], "cron(0 7 * * ? *)"),
    P + "apiPeakEndHourUtc": (lambda run: _scaling(run, "night")["schedule"], "cron(0 19 * * ? *)"),
    P + "apiDomainName": (
        lambda run: (
            run.one("aws:acm/certificate:Certificate").inputs["domainName"],
            _inputs(run, RECORD, "fraud-lb-alias")["name"],
            _inputs(run, "aws:apigateway/integration:Integration", "fraud-gateway-api-proxy-integration")["uri"],
        ),
        ("api.mutant.example.com", "api.mutant.example.com", "https://api.mutant.example.com/api/{proxy}"),
    ),
    P + "apiHostedZoneId": (lambda run: [r.inputs["zoneId"] for r in run.of_type(RECORD)], ["Z0MUTANT42"] * 2),
    # WAF's per-caller limit derives from the plan: 2 x (40 requests/s x 300 s + a burst of 90).
    P + "apiRateLimit": (
        lambda run: (_usage_plan(run)["rateLimit"], _stage_rate(run, "rate-limit-per-api-key")),
        (40, 24180),
    ),
    P + "apiBurstLimit": (
        lambda run: (_usage_plan(run)["burstLimit"], _stage_rate(run, "rate-limit-per-ip")),
        (90, 24180),
    ),
    P + "createServiceLinkedRoles": (
        lambda run: sorted(r.inputs["awsServiceName"] for r in run.of_type(SERVICE_LINKED_ROLE)),
        [
            "ecs.amazonaws.com",
            "ecs.application-autoscaling.amazonaws.com",
            "elasticloadbalancing.amazonaws.com",
            "rds.amazonaws.com",
        ],
    ),
    P + "manageApiGatewayAccount": (
        lambda run: [a.inputs["cloudwatchRoleArn"] for a in run.of_type("aws:apigateway/account:Account")],
        ["arn:aws:iam:eu-west-1:123456789012:role/role-apigw-logs-mut7q"],
    ),
    P + "wafRateLimitPerIp": (lambda run: _stage_rate(run, "rate-limit-keyless-per-ip"), 350),
    P + "wafBlockedCountries": (
        lambda run: [
            {r["name"]: r for r in acl.inputs["rules"]}["blocked-countries"]["statement"]["geoMatchStatement"]
            for acl in run.of_type(ACL)
        ],
        [{"countryCodes": ["AF", "BY"]}] * 2,
    ),
    P + "logRetentionDays": (
        lambda run: {g.inputs["name"]: g.inputs["retentionInDays"] for g in run.of_type(LOG_GROUP)},
        {
            "/aws/lambda/lambda-processor-mut7q": 60,
            "/aws/lambda/lambda-analyzer-mut7q": 60,
            "/aws/lambda/lambda-reporter-mut7q": 60,
            "/aws/lambda/lambda-rotator-mut7q": 60,
            "/aws/lambda/lambda-labeler-mut7q": 60,
            "/aws/lambda/lambda-drift-mut7q": 60,
            "/aws/rds/cluster/aurora-fraud-mut7q/postgresql": 60,
            "/aws/ecs/containerinsights/ecs-fraud-mut7q/performance": 60,
            "/fraud/fraud-api-mut7q": 60,
            "/fraud/apigw-access-mut7q": 60,
            "/fraud/fraud-export-mut7q": 60,
            "/fraud/fraud-retrain-mut7q": 60,
            "API-Gateway-Execution-Logs_fraud-gateway-api-id/v1": 60,
        },
    ),
    P + "auditRetentionDays": (
        lambda run: [_lifecycle(run, bucket)["expiration"] for bucket in ("archive", "access-logs")],
        [{"days": 450}] * 2,
    ),
    P + "alarmEmail": (
        lambda run: run.one("aws:sns/topicSubscription:TopicSubscription").inputs["endpoint"],
        "mutant-oncall@example.org",
    ),
    # API Gateway reports latency in milliseconds, the ALB in seconds.
    P + "apiP99ThresholdMs": (
        lambda run: [_inputs(run, ALARM, f"fraud-{a}-latency-p99")["threshold"] for a in ("api", "alb")],
        [350, 0.35],
    ),
    # With a domain the certificate is ACM's; the self-signed one (and its lifetime) exists only without.
    P + "apiSelfSignedCertDays": (
        lambda _run: (
            _variant(apiDomainName="", apiHostedZoneId="")
            .one("tls:index/selfSignedCert:SelfSignedCert")
            .inputs["validityPeriodHours"]
        ),
        120 * 24,
    ),
}


@pytest.mark.parametrize("key", sorted(CHECKS))
def test_config_mutant_value_reaches_its_resource(mutant: ProgramRun, key: str) -> None:
    observed, expected = CHECKS[key]
    assert observed(mutant) == expected


def test_config_mutant_stack_sets_every_declared_key_and_each_has_a_check() -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    mutant = _stack_values(FIXTURE)
    assert sorted(f"{P}{key}" for key in declared) == sorted(k for k in mutant if k.startswith(P))
    assert sorted(CHECKS) == sorted(mutant), "every value of the mutant stack needs a check above"


def _text(value: object) -> str:
    return json.dumps(value) if isinstance(value, list) else str(value).lower()


def test_config_mutant_values_differ_from_the_defaults_and_the_real_stacks() -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))["config"]
    mutant = _stack_values(FIXTURE)
    stacks = {name: _stack_values(ROOT / f"Pulumi.{name}.yaml") for name in ("dev", "prod")}
    for key, declaration in declared.items():
        value = _text(mutant[f"{P}{key}"])
        if "default" in declaration and key not in SAME_AS_DEFAULT:
            assert value != _text(declaration["default"]), f"{key} keeps its default"
        if key in SAME_AS_A_STACK or key in SAME_AS_DEFAULT:
            continue
        for name, values in stacks.items():
            used = values.get(f"{P}{key}", declaration.get("default"))
            assert value != _text(used), f"{key} has {name}'s value"
    assert mutant["aws:region"] not in {values["aws:region"] for values in stacks.values()}
