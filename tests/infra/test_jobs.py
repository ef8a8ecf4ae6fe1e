"""FraudJobs in the whole program: the export and retraining tasks, their schedules, roles, network and image."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.image import dockerignore_text
from components.jobs import JOBS_IMAGE_SOURCES
from tests.infra.test_config import _problem
from tests.support.harness import ACCOUNT_ID, ROOT, ProgramRun

SCHEDULE = "aws:scheduler/schedule:Schedule"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
POLICY = "aws:iam/rolePolicy:RolePolicy"
DIGEST = "sha256:" + "ab" * 32


def _statements(run: ProgramRun, role: str) -> dict[str, dict[str, Any]]:
    policy = json.loads(run.named(POLICY, f"fraud-jobs-{role}-role-policy").inputs["policy"])
    return {s.pop("Sid"): s for s in policy["Statement"]}


def _container(run: ProgramRun, job: str) -> dict[str, Any]:
    [container] = json.loads(run.named(TASK, f"fraud-{job}-task").inputs["containerDefinitions"])
    return dict(container)


def _arn(run: ProgramRun, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{run.config['aws:region']}:{ACCOUNT_ID}:{resource}"


def test_jobs_export_runs_daily_and_retraining_weekly_in_private_subnets_without_public_ip(run: ProgramRun) -> None:
    for job, expression, group in (
        ("export", "cron(30 1 * * ? *)", "fraud-export-tasks-sg-id"),
        ("retrain", "cron(0 3 ? * MON *)", "fraud-retrain-sg-id"),
    ):
        schedule = run.named(SCHEDULE, f"fraud-{job}-schedule").inputs
        assert schedule["name"] == f"schedule-fraud-{job}-{run.suffix}"
        assert schedule["scheduleExpression"] == expression
        assert schedule["scheduleExpressionTimezone"] == "UTC"
        target = schedule["target"]
        assert target["arn"] == _arn(run, "ecs", f"cluster/ecs-fraud-{run.suffix}")
        assert (
            target["roleArn"]
            == f"arn:aws:iam:{run.config['aws:region']}:{ACCOUNT_ID}:role/role-jobs-schedule-{run.suffix}"
        )
        assert target["ecsParameters"] == {
            "launchType": "FARGATE",
            "taskCount": 1,
            "taskDefinitionArn": _arn(run, "ecs", f"task-definition/svc-fraud-{job}-{run.suffix}:1"),
            "networkConfiguration": {
                "subnets": ["subnet-private-0", "subnet-private-1", "subnet-private-2"],
                "securityGroups": [group],
                "assignPublicIp": False,
            },
        }
        # The schedule must not fire before its role may start the task.
        assert run.options[f"fraud-{job}-schedule"].depends_on == ("fraud-jobs-schedule-role-policy",)


def test_jobs_schedule_role_may_start_only_the_two_families_and_pass_only_their_roles(run: ProgramRun) -> None:
    role = run.named("aws:iam/role:Role", "fraud-jobs-schedule-role").inputs
    assert json.loads(role["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    roles = f"arn:aws:iam:{run.config['aws:region']}:{ACCOUNT_ID}:role/role-jobs"
    assert _statements(run, "schedule") == {
        "RunJobTasks": {
            "Effect": "Allow",
            "Action": ["ecs:RunTask"],
            "Resource": [
                _arn(run, "ecs", f"task-definition/svc-fraud-export-{run.suffix}:*"),
                _arn(run, "ecs", f"task-definition/svc-fraud-retrain-{run.suffix}:*"),
            ],
            "Condition": {"ArnEquals": {"ecs:cluster": _arn(run, "ecs", f"cluster/ecs-fraud-{run.suffix}")}},
        },
        "PassJobRoles": {
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": [
                f"{roles}-execution-{run.suffix}",
                f"{roles}-export-{run.suffix}",
                f"{roles}-retrain-{run.suffix}",
            ],
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        },
    }


def test_jobs_export_role_reads_the_day_index_and_aurora_as_export_user_and_writes_exports_only(
    run: ProgramRun,
) -> None:
    bucket = f"arn:aws:s3:::s3-reports-{run.suffix}-{ACCOUNT_ID}"
    assert _statements(run, "export") == {
        "QueryByDay": {
            "Effect": "Allow",
            "Action": ["dynamodb:Query"],
            "Resource": [_arn(run, "dynamodb", f"table/transactions-{run.suffix}/index/day-time")],
        },
        "ConnectAsExportUser": {
            "Effect": "Allow",
            "Action": ["rds-db:connect"],
            "Resource": [_arn(run, "rds-db", "dbuser:cluster-ABCDEFGHIJKL/fraud_export")],
        },
        "WriteExports": {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [f"{bucket}/exports/*"]},
        "UseDataKey": {
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [_arn(run, "kms", "key/fraud-data-key")],
        },
    }


def test_jobs_retrain_role_reads_exports_writes_models_and_moves_only_the_promoted_pointer(run: ProgramRun) -> None:
    exports = f"arn:aws:s3:::s3-reports-{run.suffix}-{ACCOUNT_ID}"
    models = f"arn:aws:s3:::s3-models-{run.suffix}-{ACCOUNT_ID}"
    key = [_arn(run, "kms", "key/fraud-data-key")]
    assert _statements(run, "retrain") == {
        "ReadExports": {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"{exports}/exports/*"]},
        "ListExports": {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [exports],
            "Condition": {"StringLike": {"s3:prefix": ["exports/*"]}},
        },
        "ReadWriteModels": {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [f"{models}/models/*"],
        },
        "ListModels": {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [models],
            "Condition": {"StringLike": {"s3:prefix": ["models/*"]}},
        },
        "MovePromotedPointer": {
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:PutParameter"],
            "Resource": [_arn(run, "ssm", f"parameter/fraud-detection/{run.suffix}/model/promoted")],
        },
        "DecryptExports": {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": key},
        "UseModelsKey": {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key},
    }


def test_jobs_tasks_run_the_jobs_image_unprivileged_read_only_with_their_own_roles_and_logs(run: ProgramRun) -> None:
    image = f"{ACCOUNT_ID}.dkr.ecr.{run.config['aws:region']}.amazonaws.com/ecr-fraud-jobs-{run.suffix}"
    for job in ("export", "retrain"):
        task = run.named(TASK, f"fraud-{job}-task").inputs
        assert (task["family"], task["cpu"], task["memory"]) == (f"svc-fraud-{job}-{run.suffix}", "2048", "8192")
        assert task["requiresCompatibilities"] == ["FARGATE"] and task["networkMode"] == "awsvpc"
        roles = f"arn:aws:iam:{run.config['aws:region']}:{ACCOUNT_ID}:role/role-jobs"
        assert task["taskRoleArn"] == f"{roles}-{job}-{run.suffix}"
        assert task["executionRoleArn"] == f"{roles}-execution-{run.suffix}"
        container = _container(run, job)
        assert container["image"].startswith(image + ":") and container["image"].endswith("@" + DIGEST)
        assert container["command"] == ["python", "-m", f"fraud_scoring.{job}"]
        assert container["user"] == "10001:10001"
        assert container["readonlyRootFilesystem"] is True
        assert container["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}]
        assert container["logConfiguration"]["options"]["awslogs-group"] == f"/fraud/fraud-{job}-{run.suffix}"
        group = run.named("aws:cloudwatch/logGroup:LogGroup", f"fraud-{job}-logs").inputs
        assert group["kmsKeyId"] == _arn(run, "kms", "key/fraud-logs-key")
        assert group["retentionInDays"] == 7  # logRetentionDays of both stack files


def test_jobs_tasks_get_exactly_the_settings_their_modules_read(run: ProgramRun) -> None:
    exports = f"s3://s3-reports-{run.suffix}-{ACCOUNT_ID}/exports"
    env = {job: {e["name"]: e["value"] for e in _container(run, job)["environment"]} for job in ("export", "retrain")}
    assert env["export"] == {
        "FRAUD_EXPORT_LOCATION": exports,
        "FRAUD_EXPORT_KMS_KEY_ARN": _arn(run, "kms", "key/fraud-data-key"),
        "FRAUD_EXPORT_TABLE_NAME": f"transactions-{run.suffix}",
        "PGHOST": f"aurora-fraud-{run.suffix}.cluster-abc.{run.config['aws:region']}.rds.amazonaws.com",
        "PGPORT": "5432",
        "PGDATABASE": "fraud",
        "PGUSER": "fraud_export",
    }
    assert env["retrain"] == {
        "FRAUD_EXPORT_LOCATION": exports,
        "FRAUD_MODELS_BUCKET": f"s3-models-{run.suffix}-{ACCOUNT_ID}",
        "FRAUD_MODEL_POINTER_PARAMETER": f"/fraud-detection/{run.suffix}/model/promoted",
    }


def test_jobs_only_the_export_may_reach_aurora(run: ProgramRun) -> None:
    egress = run.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    to_database = [
        (r.inputs["securityGroupId"], r.inputs["fromPort"]) for r in egress if r.inputs.get("fromPort") == 5432
    ]
    assert ("fraud-export-tasks-sg-id", 5432) in to_database
    assert not [g for g, _ in to_database if g == "fraud-retrain-sg-id"]
    # Either group: HTTPS out, and nothing admitted in.
    for group in ("fraud-export-tasks-sg-id", "fraud-retrain-sg-id"):
        ports = sorted({r.inputs["fromPort"] for r in egress if r.inputs["securityGroupId"] == group})
        assert ports == ([443, 5432] if "export" in group else [443])
        ingress = run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        assert not [r for r in ingress if r.inputs["securityGroupId"] == group]


def test_jobs_image_is_built_from_the_jobs_dockerfile_and_its_context_is_exactly_what_is_hashed(
    run: ProgramRun,
) -> None:
    image = run.named("docker-build:index:Image", "fraud-jobs-image").inputs
    assert image["dockerfile"]["location"].endswith("fraud_scoring/Dockerfile")
    assert image["platforms"] == ["linux/amd64"] and image["push"] is True and image["buildOnPreview"] is False
    repository = run.named("aws:ecr/repository:Repository", "fraud-jobs-repository").inputs
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert JOBS_IMAGE_SOURCES == ("fraud_common", "fraud_scoring", "functions/common")
    assert (ROOT / "fraud_scoring" / "Dockerfile.dockerignore").read_text() == dockerignore_text(JOBS_IMAGE_SOURCES)


def test_jobs_dockerfile_installs_the_locked_jobs_group_with_hashes_and_runs_as_non_root() -> None:
    dockerfile = (ROOT / "fraud_scoring" / "Dockerfile").read_text()
    assert "COPY fraud_scoring/requirements.txt /tmp/requirements.txt" in dockerfile
    assert "pip install --require-hashes --no-deps --only-binary=:all: -r /tmp/requirements.txt" in dockerfile
    assert "USER 10001:10001" in dockerfile
    assert (
        (ROOT / "fraud_scoring" / "requirements.txt")
        .read_text()
        .startswith("# Generated by `make lock` from uv.lock (group jobs)")
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"jobsMemory": "3000"}, "fraud-detection:jobsMemory = 'cpu=2048, memory=3000' is invalid"),
        ({"exportSchedule": "daily"}, "fraud-detection:exportSchedule = 'daily' is invalid"),
        ({"retrainSchedule": "every monday"}, "fraud-detection:retrainSchedule = 'every monday' is invalid"),
    ],
)
def test_jobs_config_refuses_an_invalid_size_or_schedule_naming_the_key(
    overrides: dict[str, str], expected: str
) -> None:
    assert _problem(**overrides).startswith(expected)
