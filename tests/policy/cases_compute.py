"""Compliant and non-compliant cases for the Lambda, ECS and ECR rules."""

from __future__ import annotations

import json
from typing import Any

from policy_support import Case, StackCase, res

FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SERVICE = "aws:ecs/service:Service"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
SCHEDULE = "aws:scheduler/schedule:Schedule"
REPOSITORY = "aws:ecr/repository:Repository"
STREAM = "arn:aws:dynamodb:eu-west-1:1:table/t/stream/2026"

VPC_CONFIG = {"subnetIds": ["subnet-1"], "securityGroupIds": ["sg-1"]}


def container(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "app",
        "image": "app:1",
        "readonlyRootFilesystem": True,
        "privileged": False,
        "user": "10001",
        "environment": [{"name": "DB_SECRET_ARN", "value": "arn:aws:secretsmanager:eu-west-1:1:secret:db"}],
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/fraud/api"}},
        **overrides,
    }


def task(*containers: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {
        "containerDefinitions": json.dumps(list(containers) or [container()]),
        "networkMode": "awsvpc",
        "taskRoleArn": "arn:role/task",
        "executionRoleArn": "arn:role/exec",
        **props,
    }


def mapping(**props: Any) -> dict[str, Any]:
    return {
        "eventSourceArn": STREAM,
        "maximumRetryAttempts": 3,
        "destinationConfig": {"onFailure": {"destinationArn": "arn:aws:sqs:eu-west-1:1:dlq"}},
        **props,
    }


CASES = [
    Case(
        "pci-lambda-1-not-public",
        PERMISSION,
        {"principal": "events.amazonaws.com", "sourceArn": "arn:aws:events:eu-west-1:1:rule/r"},
    ),
    Case("pci-lambda-1-not-public", PERMISSION, {"principal": "123456789012"}, label="account"),
    Case(
        "pci-lambda-1-not-public",
        PERMISSION,
        {"principal": "*"},
        "function may be invoked by any principal ('*'); name one service or account",
    ),
    Case(
        "pci-lambda-1-not-public",
        PERMISSION,
        {"principal": "apigateway.amazonaws.com"},
        "apigateway.amazonaws.com may invoke the function on behalf of anyone; set sourceArn or sourceAccount",
        label="unscoped-service",
    ),
    Case(
        "pci-lambda-1-not-public",
        "aws:lambda/functionUrl:FunctionUrl",
        {"authorizationType": "NONE"},
        "function URL must require IAM authorization",
        label="url",
    ),
    Case(
        "pci-lambda-1-not-public",
        PERMISSION,
        {"principal": "s3.amazonaws.com", "sourceAccount": "123456789012"},
        label="service-in-account",
    ),
    Case(
        "pci-lambda-1-not-public",
        PERMISSION,
        {"principal": "123456789012", "functionUrlAuthType": "NONE"},
        "permission opens an unauthenticated function URL",
        label="open-url-permission",
    ),
    Case("pci-lambda-2-supported-runtime", FUNCTION, {"runtime": "python3.11"}),
    Case("pci-lambda-2-supported-runtime", FUNCTION, {"packageType": "Image"}, label="image"),
    Case(
        "pci-lambda-2-supported-runtime",
        FUNCTION,
        {"runtime": "python3.8"},
        "runtime 'python3.8' is not on the supported list ['python3.11', 'python3.12', 'python3.13', 'nodejs20.x',"
        " 'nodejs22.x', 'java21', 'provided.al2023']",
    ),
    Case(
        "pci-lambda-2-supported-runtime",
        FUNCTION,
        {"runtime": "python3.12"},
        "runtime 'python3.12' is not on the supported list ['python3.11']",
        {"allowedRuntimes": ["python3.11"]},
        label="config",
    ),
    Case("pci-lambda-3-in-vpc", FUNCTION, {"vpcConfig": VPC_CONFIG}),
    Case(
        "pci-lambda-3-in-vpc",
        FUNCTION,
        {"vpcConfig": {"subnetIds": ["subnet-1"], "securityGroupIds": []}},
        "function must run in the VPC's private subnets with a security group (vpcConfig)",
    ),
    Case(
        "pci-lambda-3-in-vpc",
        FUNCTION,
        {"vpcConfig": {"subnetIds": [], "securityGroupIds": ["sg-1"]}},
        "function must run in the VPC's private subnets with a security group (vpcConfig)",
        label="no-subnets",
    ),
    Case("pci-lambda-env-cmk", FUNCTION, {"environment": {"variables": {"A": "b"}}, "kmsKeyArn": "arn:key"}),
    Case(
        "pci-lambda-env-cmk",
        FUNCTION,
        {"environment": {"variables": {"A": "b"}}},
        "environment variables must be encrypted with a customer-managed key (kmsKeyArn)",
    ),
    Case("pci-lambda-env-cmk", FUNCTION, {"environment": {"variables": {}}}, label="no-variables"),
    Case(
        "pci-lambda-no-secrets-in-env",
        FUNCTION,
        {
            "environment": {
                "variables": {
                    "API_CONFIG_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:c",
                    "LOG_LEVEL": "INFO",
                }
            }
        },
    ),
    Case(
        "pci-lambda-no-secrets-in-env",
        FUNCTION,
        {"environment": {"variables": {"DB_PASSWORD": "hunter2"}}},
        "DB_PASSWORD looks like a secret value; pass a Secrets Manager reference instead",
    ),
    Case(
        "pci-lambda-no-secrets-in-env",
        FUNCTION,
        {"environment": {"variables": {"CONFIG": "AKIAABCDEFGHIJKLMNOP"}}},
        "CONFIG holds an AWS access key",
        label="access-key",
    ),
    Case(
        "pci-lambda-no-secrets-in-env",
        FUNCTION,
        {"environment": {"variables": {"DB_SECRET": "arn:aws:secretsmanager:eu-west-1:1:secret:db"}}},
        label="secret-reference",
    ),
    Case("pci-lambda-stream-failure-destination", MAPPING, mapping()),
    Case(
        "pci-lambda-stream-failure-destination", MAPPING, {"eventSourceArn": "arn:aws:sqs:eu-west-1:1:q"}, label="queue"
    ),
    Case(
        "pci-lambda-stream-failure-destination",
        MAPPING,
        mapping(destinationConfig={}),
        "stream mapping needs an on-failure destination: failed records would be dropped unseen",
    ),
    Case(
        "pci-lambda-stream-failure-destination",
        MAPPING,
        mapping(destinationConfig={"onFailure": {"destinationArn": ""}}),
        "stream mapping needs an on-failure destination: failed records would be dropped unseen",
        label="empty-destination-arn",
    ),
    Case("pci-lambda-stream-failure-destination", MAPPING, mapping(maximumRetryAttempts=0), label="no-retries"),
    Case(
        "pci-lambda-stream-failure-destination",
        MAPPING,
        mapping(maximumRetryAttempts=-1),
        "stream mapping retries forever (maximumRetryAttempts unset or -1): one bad record stalls its shard",
        label="infinite-retries",
    ),
    # ECS and ECR
    Case("pci-ecs-2-no-public-ip", SERVICE, {"networkConfiguration": {"assignPublicIp": False}}),
    Case(
        "pci-ecs-2-no-public-ip",
        SERVICE,
        {"networkConfiguration": {"assignPublicIp": True}},
        "service tasks must not get public IPs",
    ),
    Case(
        "pci-ecs-2-scheduled-task-no-public-ip",
        SCHEDULE,
        {"target": {"ecsParameters": {"networkConfiguration": {"assignPublicIp": False}}}},
    ),
    Case(
        "pci-ecs-2-scheduled-task-no-public-ip",
        SCHEDULE,
        {"target": {"ecsParameters": {"networkConfiguration": {"assignPublicIp": True}}}},
        "scheduled ECS tasks must not get public IPs",
    ),
    Case("pci-ecs-2-scheduled-task-no-public-ip", SCHEDULE, {"target": {"arn": "arn:aws:sqs:::q"}}, label="not-ecs"),
    Case("pci-ecs-10-fargate-latest", SERVICE, {"launchType": "FARGATE", "platformVersion": "LATEST"}),
    Case(
        "pci-ecs-10-fargate-latest",
        SERVICE,
        {"launchType": "FARGATE", "platformVersion": "1.3.0"},
        "Fargate platform version '1.3.0' is pinned; use LATEST for current security patches",
    ),
    Case("pci-ecs-10-fargate-latest", SERVICE, {"launchType": "FARGATE"}, label="default-version"),
    Case("pci-ecs-10-fargate-latest", SERVICE, {"launchType": "EC2", "platformVersion": "1.3.0"}, label="ec2"),
    Case(
        "pci-ecs-10-fargate-latest",
        SERVICE,
        {"capacityProviderStrategies": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}], "platformVersion": "1.4.0"},
        "Fargate platform version '1.4.0' is pinned; use LATEST for current security patches",
        label="capacity-provider",
    ),
    Case("pci-ecs-4-non-privileged", TASK, task()),
    Case("pci-ecs-4-non-privileged", TASK, task(container(privileged=True)), "container app runs privileged"),
    Case("pci-ecs-5-read-only-root", TASK, task()),
    Case(
        "pci-ecs-5-read-only-root",
        TASK,
        task(container(), container(name="sidecar", readonlyRootFilesystem=False)),
        "container sidecar has a writable root filesystem",
    ),
    Case("pci-ecs-3-no-host-namespaces", TASK, task()),
    Case("pci-ecs-3-no-host-namespaces", TASK, task(pidMode="host"), "task shares the host's namespace (pidMode=host)"),
    Case(
        "pci-ecs-3-no-host-namespaces",
        TASK,
        task(ipcMode="host", networkMode="host"),
        ("task shares the host's namespace (ipcMode=host)", "task shares the host's namespace (networkMode=host)"),
        label="ipc-network",
    ),
    Case("pci-ecs-8-no-secrets-in-env", TASK, task()),
    Case(
        "pci-ecs-8-no-secrets-in-env",
        TASK,
        task(container(environment=[{"name": "SIGNING_KEY", "value": "s3cr3t"}])),
        "container app: SIGNING_KEY looks like a secret value; pass a Secrets Manager reference instead",
    ),
    Case(
        "pci-ecs-8-no-secrets-in-env",
        TASK,
        task(container(environment=[{"name": "CONFIG", "value": "ASIAABCDEFGHIJKLMNOP"}])),
        "container app: CONFIG holds an AWS access key",
        label="access-key",
    ),
    Case("pci-ecs-9-container-logging", TASK, task()),
    Case(
        "pci-ecs-9-container-logging",
        TASK,
        task(container(logConfiguration=None)),
        "container app has no log configuration",
    ),
    Case(
        "pci-ecs-9-container-logging",
        TASK,
        task(container(logConfiguration={"options": {"awslogs-group": "/fraud/api"}})),
        "container app has no log configuration",
        label="no-driver",
    ),
    Case("pci-ecs-separate-task-roles", TASK, task()),
    Case(
        "pci-ecs-separate-task-roles",
        TASK,
        task(taskRoleArn="arn:role/x", executionRoleArn="arn:role/x"),
        "the task role and the execution role must differ (the application must not hold ECS's rights)",
    ),
    Case("pci-ecr-1-scan-on-push", REPOSITORY, {"imageScanningConfiguration": {"scanOnPush": True}}),
    Case("pci-ecr-1-scan-on-push", REPOSITORY, {}, "images must be scanned on push"),
    Case("pci-ecr-2-immutable-tags", REPOSITORY, {"imageTagMutability": "IMMUTABLE"}),
    Case("pci-ecr-2-immutable-tags", REPOSITORY, {"imageTagMutability": "MUTABLE"}, "image tags must be immutable"),
]


def _function(logging_config: dict[str, Any] | None = None) -> Any:
    return res(
        FUNCTION, "fn", name="lambda-processor-dev", **({"loggingConfig": logging_config} if logging_config else {})
    )


STACK_CASES = [
    StackCase("pci-lambda-log-group", [_function(), res(LOG_GROUP, "lg", name="/aws/lambda/lambda-processor-dev")]),
    StackCase(
        "pci-lambda-log-group",
        [_function({"logGroup": "/fraud/processor"}), res(LOG_GROUP, "lg", name="/fraud/processor")],
        label="explicit",
    ),
    StackCase(
        "pci-lambda-log-group",
        [_function()],
        "function lambda-processor-dev has no log group /aws/lambda/lambda-processor-dev of this stack",
    ),
    StackCase(
        "pci-lambda-log-group",
        [_function({"logGroup": "/fraud/elsewhere"}), res(LOG_GROUP, "lg", name="/aws/lambda/lambda-processor-dev")],
        "function lambda-processor-dev has no log group /fraud/elsewhere of this stack",
        label="explicit-missing",
    ),
]
