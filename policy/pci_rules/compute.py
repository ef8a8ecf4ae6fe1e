"""Compute: Lambda functions and their triggers, ECS Fargate services and task definitions, ECR."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource

from .base import (
    Config,
    Props,
    Rule,
    StackGraph,
    as_list,
    describe,
    dig,
    number,
    parse_json,
    resource_rule,
    stack_rule,
)

FUNCTION = ("aws:lambda/function:Function",)
PERMISSION = ("aws:lambda/permission:Permission",)
FUNCTION_URL = ("aws:lambda/functionUrl:FunctionUrl",)
EVENT_SOURCE_MAPPING = ("aws:lambda/eventSourceMapping:EventSourceMapping",)
LOG_GROUP = ("aws:cloudwatch/logGroup:LogGroup",)
ECS_SERVICE = ("aws:ecs/service:Service",)
SCHEDULE = ("aws:scheduler/schedule:Schedule",)
TASK_DEFINITION = ("aws:ecs/taskDefinition:TaskDefinition",)
ECR_REPOSITORY = ("aws:ecr/repository:Repository",)

SUPPORTED_RUNTIMES = ["python3.11", "python3.12", "python3.13", "nodejs20.x", "nodejs22.x", "java21", "provided.al2023"]
# Variable names that announce a credential; references to one (an ARN, a name) are fine.
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|SIGNING_?KEY", re.I)
REFERENCE_SUFFIX = re.compile(r"(_ARN|_NAME|_ID|_URL|_PATH|_REGION)$", re.I)
AWS_ACCESS_KEY = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
STREAM_SOURCES = (":dynamodb:", ":kinesis:", ":kafka:")


def environment_secrets(variables: Iterable[tuple[str, Any]]) -> Iterator[str]:
    """Variables that look like they carry a credential's value rather than a reference to it."""
    for name, value in variables:
        text = str(value)
        if AWS_ACCESS_KEY.search(text):
            yield f"{name} holds an AWS access key"
        elif SECRET_NAME.search(name) and not REFERENCE_SUFFIX.search(name) and not text.startswith("arn:"):
            yield f"{name} looks like a secret value; pass a Secrets Manager reference instead"


def _permission_scoped(resource_type: str, props: Props, __: Config) -> Iterator[str]:
    if resource_type in FUNCTION_URL:
        if props.get("authorizationType") == "NONE":
            yield "function URL must require IAM authorization"
        return
    principal = str(props.get("principal", ""))
    if principal == "*":
        yield "function may be invoked by any principal ('*'); name one service or account"
    elif principal.endswith(".amazonaws.com") and not (props.get("sourceArn") or props.get("sourceAccount")):
        yield f"{principal} may invoke the function on behalf of anyone; set sourceArn or sourceAccount"
    if props.get("functionUrlAuthType") == "NONE":
        yield "permission opens an unauthenticated function URL"


def _supported_runtime(_: str, props: Props, config: Config) -> Iterator[str]:
    if props.get("packageType") == "Image":
        return  # the image brings its own runtime, scanned by ECR
    runtime = props.get("runtime")
    if runtime not in as_list(config["allowedRuntimes"]):
        yield f"runtime {runtime!r} is not on the supported list {config['allowedRuntimes']}"


def _in_vpc(_: str, props: Props, __: Config) -> Iterator[str]:
    vpc = props.get("vpcConfig")
    if not as_list(dig(vpc, "subnetIds")) or not as_list(dig(vpc, "securityGroupIds")):
        yield "function must run in the VPC's private subnets with a security group (vpcConfig)"


def _environment_encrypted(_: str, props: Props, __: Config) -> Iterator[str]:
    if dig(props, "environment", "variables") and not props.get("kmsKeyArn"):
        yield "environment variables must be encrypted with a customer-managed key (kmsKeyArn)"


def _no_secrets_in_lambda_env(_: str, props: Props, __: Config) -> Iterator[str]:
    variables = dig(props, "environment", "variables")
    if isinstance(variables, Mapping):
        yield from environment_secrets(variables.items())


def _stream_failures(_: str, props: Props, __: Config) -> Iterator[str]:
    source = str(props.get("eventSourceArn", ""))
    if not any(s in source for s in STREAM_SOURCES):
        return  # queues keep failed messages themselves (redrive policy)
    if not dig(props, "destinationConfig", "onFailure", "destinationArn"):
        yield "stream mapping needs an on-failure destination: failed records would be dropped unseen"
    retries = number(props.get("maximumRetryAttempts"))
    if retries is None or retries < 0:
        yield "stream mapping retries forever (maximumRetryAttempts unset or -1): one bad record stalls its shard"


def _lambda_log_groups(graph: StackGraph, _: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    groups = graph.of_type(*LOG_GROUP)
    for function in graph.of_type(*FUNCTION):
        explicit = dig(function.props, "loggingConfig", "logGroup")
        wanted = explicit or f"/aws/lambda/{function.props.get('name')}"
        if not any(g.props.get("name") == wanted for g in groups):
            yield function, f"function {function.props.get('name')} has no log group {wanted} of this stack"


def _service_no_public_ip(_: str, props: Props, __: Config) -> Iterator[str]:
    if dig(props, "networkConfiguration", "assignPublicIp") is True:
        yield "service tasks must not get public IPs"


def _scheduled_task_no_public_ip(_: str, props: Props, __: Config) -> Iterator[str]:
    # A schedule starts its tasks itself, outside any service: the same exposure as ECS.2, one level down.
    if dig(props, "target", "ecsParameters", "networkConfiguration", "assignPublicIp") is True:
        yield "scheduled ECS tasks must not get public IPs"


def _fargate_latest(_: str, props: Props, __: Config) -> Iterator[str]:
    providers = [dig(s, "capacityProvider") for s in as_list(props.get("capacityProviderStrategies"))]
    fargate = props.get("launchType") == "FARGATE" or any(str(p).startswith("FARGATE") for p in providers)
    version = props.get("platformVersion", "LATEST")
    if fargate and version != "LATEST":
        yield f"Fargate platform version {version!r} is pinned; use LATEST for current security patches"


def _containers(props: Props) -> list[Mapping[str, Any]]:
    return [c for c in as_list(parse_json(props.get("containerDefinitions"))) if isinstance(c, Mapping)]


def _non_privileged(_: str, props: Props, __: Config) -> Iterator[str]:
    for container in _containers(props):
        if container.get("privileged") is True:
            yield f"container {container.get('name')} runs privileged"


def _read_only_root(_: str, props: Props, __: Config) -> Iterator[str]:
    for container in _containers(props):
        if container.get("readonlyRootFilesystem") is not True:
            yield f"container {container.get('name')} has a writable root filesystem"


def _no_host_namespaces(_: str, props: Props, __: Config) -> Iterator[str]:
    for mode in ("pidMode", "ipcMode", "networkMode"):
        if props.get(mode) == "host":
            yield f"task shares the host's namespace ({mode}=host)"


def _no_secrets_in_task_env(_: str, props: Props, __: Config) -> Iterator[str]:
    for container in _containers(props):
        pairs = [(str(e.get("name")), e.get("value")) for e in as_list(container.get("environment"))]
        for message in environment_secrets(pairs):
            yield f"container {container.get('name')}: {message}"


def _container_logging(_: str, props: Props, __: Config) -> Iterator[str]:
    for container in _containers(props):
        if not dig(container, "logConfiguration", "logDriver"):
            yield f"container {container.get('name')} has no log configuration"


def _separate_roles(_: str, props: Props, __: Config) -> Iterator[str]:
    task, execution = props.get("taskRoleArn"), props.get("executionRoleArn")
    if task and task == execution:
        yield "the task role and the execution role must differ (the application must not hold ECS's rights)"


def _scan_on_push(_: str, props: Props, __: Config) -> Iterator[str]:
    if dig(props, "imageScanningConfiguration", "scanOnPush") is not True:
        yield "images must be scanned on push"


def _immutable_tags(_: str, props: Props, __: Config) -> Iterator[str]:
    if props.get("imageTagMutability") != "IMMUTABLE":
        yield "image tags must be immutable"


POLICIES: list[Rule] = [
    resource_rule(
        "pci-lambda-1-not-public",
        describe("v4.0.1 req 7.2.1", "Lambda.1", "CKV_AWS_301, CKV_AWS_258",
                 "function permissions name one service (with sourceArn/sourceAccount) or account; no public URL."),
        (*PERMISSION, *FUNCTION_URL),
        _permission_scoped,
    ),
    resource_rule(
        "pci-lambda-2-supported-runtime",
        describe("v4.0.1 req 6.3.3, 12.3.4", "Lambda.2", "CKV_AWS_363",
                 "functions run a supported runtime from allowedRuntimes."),
        FUNCTION,
        _supported_runtime,
        {"allowedRuntimes": {"type": "array", "items": {"type": "string"}, "default": SUPPORTED_RUNTIMES}},
    ),
    resource_rule(
        "pci-lambda-3-in-vpc",
        describe("v3.2.1 req 1.3.1", "Lambda.3", "CKV_AWS_117",
                 "functions run inside the VPC with a security group."),
        FUNCTION,
        _in_vpc,
    ),
    resource_rule(
        "pci-lambda-env-cmk",
        describe("v4.0.1 req 8.3.2", None, "CKV_AWS_173",
                 "function environment variables are encrypted with a customer-managed key."),
        FUNCTION,
        _environment_encrypted,
    ),
    resource_rule(
        "pci-lambda-no-secrets-in-env",
        describe("v4.0.1 req 8.6.2", None, "CKV_AWS_45",
                 "no credential value is hard-coded in a function's environment (references only)."),
        FUNCTION,
        _no_secrets_in_lambda_env,
    ),
    stack_rule(
        "pci-lambda-log-group",
        describe("v4.0.1 req 10.5.1, 10.3.2", None, "CKV_AWS_66 (nearest: log group retention set)",
                 "every function writes to a log group the stack creates (with retention and a KMS key), never "
                 "to one Lambda creates itself, unencrypted and kept forever."),
        _lambda_log_groups,
    ),
    resource_rule(
        "pci-lambda-stream-failure-destination",
        describe("v4.0.1 req 10.7.2 (supporting)", None, "CKV_AWS_116 (nearest: Lambda dead-letter queue)",
                 "stream event source mappings keep failed records in an on-failure destination and bound retries, "
                 "so a failing fraud analysis is detected, not lost or stalled."),
        EVENT_SOURCE_MAPPING,
        _stream_failures,
    ),
    resource_rule(
        "pci-ecs-2-no-public-ip",
        describe("v4.0.1 req 1.4.4", "ECS.2", "CKV_AWS_333",
                 "ECS services do not assign public IPs to tasks."),
        ECS_SERVICE,
        _service_no_public_ip,
    ),
    resource_rule(
        "pci-ecs-2-scheduled-task-no-public-ip",
        describe("v4.0.1 req 1.4.4", "ECS.2", "CKV_AWS_333",
                 "EventBridge Scheduler schedules do not assign public IPs to the ECS tasks they start."),
        SCHEDULE,
        _scheduled_task_no_public_ip,
    ),
    resource_rule(
        "pci-ecs-10-fargate-latest",
        describe("v4.0.1 req 6.3.3", "ECS.10", "CKV_AWS_332",
                 "Fargate services run the LATEST platform version."),
        ECS_SERVICE,
        _fargate_latest,
    ),
    resource_rule(
        "pci-ecs-4-non-privileged",
        describe("v4.0.1 req 2.2.6", "ECS.4", "CKV_AWS_334",
                 "no container runs privileged."),
        TASK_DEFINITION,
        _non_privileged,
    ),
    resource_rule(
        "pci-ecs-5-read-only-root",
        describe("v4.0.1 req 2.2.6", "ECS.5", "CKV_AWS_336",
                 "every container's root filesystem is read-only."),
        TASK_DEFINITION,
        _read_only_root,
    ),
    resource_rule(
        "pci-ecs-3-no-host-namespaces",
        describe("v4.0.1 req 2.2.6", "ECS.3", "CKV_AWS_335",
                 "tasks share no process, IPC or network namespace with the host."),
        TASK_DEFINITION,
        _no_host_namespaces,
    ),
    resource_rule(
        "pci-ecs-8-no-secrets-in-env",
        describe("v4.0.1 req 8.6.2", "ECS.8", "CKV_AWS_45 (nearest: the Lambda equivalent)",
                 "container environments carry no credential values (Secrets Manager references only)."),
        TASK_DEFINITION,
        _no_secrets_in_task_env,
    ),
    resource_rule(
        "pci-ecs-9-container-logging",
        describe("v4.0.1 req 10.2.1", "ECS.9", "CKV_AWS_223 (nearest: ECS logging)",
                 "every container has a log configuration."),
        TASK_DEFINITION,
        _container_logging,
    ),
    resource_rule(
        "pci-ecs-separate-task-roles",
        describe("v4.0.1 req 7.2.2", None, "CKV_AWS_249",
                 "a task's role differs from its execution role."),
        TASK_DEFINITION,
        _separate_roles,
    ),
    resource_rule(
        "pci-ecr-1-scan-on-push",
        describe("v4.0.1 req 6.3.1", "ECR.1", "CKV_AWS_163",
                 "private repositories scan images on push."),
        ECR_REPOSITORY,
        _scan_on_push,
    ),
    resource_rule(
        "pci-ecr-2-immutable-tags",
        describe("v4.0.1 req 6.5.1", "ECR.2", "CKV_AWS_51",
                 "image tags are immutable: a deployed tag always names the image that was reviewed and scanned."),
        ECR_REPOSITORY,
        _immutable_tags,
    ),
]  # fmt: skip
