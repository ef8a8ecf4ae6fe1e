"""FraudJobs: the training export and retraining, each an ECS Fargate task started by EventBridge Scheduler.

- export (daily, ``exportSchedule``): ``python -m fraud_scoring.export``, the labelled window from
  DynamoDB and Aurora to ``s3://<reports bucket>/exports/`` as Parquet (SSE-KMS, the stack's data key).
- retrain (weekly by default, ``retrainSchedule``): ``python -m fraud_scoring.retrain``, reads
  ``exports/``, writes model artifacts and cards to the registry's bucket and moves its pointer.

Both run the jobs image (fraud_scoring/Dockerfile, from the locked ``jobs`` group) in the private
subnets without a public IP, on a read-only root filesystem, each with its own task role, security
group and log group; the schedule role may start exactly these two task families.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from components.config import JobsConfig
from components.context import AwsContext, Stack
from components.data_plane import DataPlaneOutputs
from components.iam import WorkloadRole, allow, create_workload_role
from components.image import PLATFORM, encrypted_repository, image_tag
from components.lambda_package import ROOT
from components.naming import Kind, Namer
from components.observability import data_protection_policy
from components.vpc import NetworkOutputs, allow_https_to_aws_apis
from fraud_common import jobs
from fraud_common.tables import BY_DAY

JOBS_DOCKERFILE = ROOT / "fraud_scoring" / "Dockerfile"
# What fraud_scoring/Dockerfile copies (functions/common: the table item mapping the export reads);
# fraud_scoring/Dockerfile.dockerignore admits exactly these (dockerignore_text, kept equal by a test).
JOBS_IMAGE_SOURCES = ("fraud_common", "fraud_scoring", "functions/common")
JOB_COMMANDS = {
    "export": ["python", "-m", "fraud_scoring.export"],
    "retrain": ["python", "-m", "fraud_scoring.retrain"],
}
MODELS_PREFIX = "models"
"""The registry's key prefix (issue 14 contract: ``models/<version>/model.json``, ``card.json``, ``card.html``)."""
JOB_USER = "10001:10001"
"""The image's non-root user (fraud_scoring/Dockerfile)."""


@dataclass(frozen=True)
class FraudJobsArgs:
    ctx: AwsContext
    namer: Namer
    jobs: JobsConfig
    log_retention_days: int
    network: NetworkOutputs
    data: DataPlaneOutputs
    cluster_arn: pulumi.Input[str]
    """The ECS cluster the tasks run in (fraud-api's)."""
    models_bucket_name: pulumi.Input[str]
    """The model registry's versioned bucket (created by the registry's component)."""
    models_bucket_arn: pulumi.Input[str]
    models_key_arn: pulumi.Input[str]
    """The KMS key the registry's bucket encrypts with."""
    model_pointer_name: pulumi.Input[str]
    """SSM parameter of the promoted version, ``/<project>/<env>/model/promoted``."""
    model_pointer_arn: pulumi.Input[str]

    @classmethod
    def of(
        cls,
        stack: Stack,
        network: NetworkOutputs,
        data: DataPlaneOutputs,
        *,
        cluster_arn: pulumi.Input[str],
        models_bucket_name: pulumi.Input[str],
        models_bucket_arn: pulumi.Input[str],
        models_key_arn: pulumi.Input[str],
        model_pointer_name: pulumi.Input[str],
        model_pointer_arn: pulumi.Input[str],
    ) -> FraudJobsArgs:
        return cls(
            ctx=stack.ctx,
            namer=stack.namer,
            jobs=stack.config.jobs,
            log_retention_days=stack.config.observability.log_retention_days,
            network=network,
            data=data,
            cluster_arn=cluster_arn,
            models_bucket_name=models_bucket_name,
            models_bucket_arn=models_bucket_arn,
            models_key_arn=models_key_arn,
            model_pointer_name=model_pointer_name,
            model_pointer_arn=model_pointer_arn,
        )


class FraudJobs(pulumi.ComponentResource):
    """The export and retraining tasks, their image, roles, network, logs and schedules."""

    def __init__(self, name: str, args: FraudJobsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fraud:jobs:FraudJobs", name, None, opts)
        self._args = args
        self._resource_name = name
        self._child = pulumi.ResourceOptions(parent=self)

        self.repository = self._create_repository()
        self.image = self._build_image()
        self.log_groups = {job: self._create_log_group(job) for job in JOB_COMMANDS}
        self.execution_role = self._create_execution_role()
        self.export_role = self._create_export_role()
        self.retrain_role = self._create_retrain_role()
        self.retrain_security_group = self._create_retrain_security_group()
        self._allow_export_egress()
        self.export_task = self._create_task_definition("export", self.export_role, self._export_env())
        self.retrain_task = self._create_task_definition("retrain", self.retrain_role, self._retrain_env())
        self.schedule_role = self._create_schedule_role()
        self.export_schedule = self._create_schedule(
            "export", args.jobs.export_schedule, self.export_task, args.network.export_security_group_id
        )
        self.retrain_schedule = self._create_schedule(
            "retrain", args.jobs.retrain_schedule, self.retrain_task, self.retrain_security_group.id
        )

        self.export_task_definition_arn: pulumi.Output[str] = self.export_task.arn
        self.retrain_task_definition_arn: pulumi.Output[str] = self.retrain_task.arn
        self.retrain_security_group_id: pulumi.Output[str] = self.retrain_security_group.id
        self.register_outputs(
            {
                "export_task_definition_arn": self.export_task_definition_arn,
                "retrain_task_definition_arn": self.retrain_task_definition_arn,
                "retrain_security_group_id": self.retrain_security_group_id,
            }
        )

    # --- image and logs ------------------------------------------------------------------------

    def _create_repository(self) -> aws.ecr.Repository:
        a = self._args
        return encrypted_repository(
            f"{self._resource_name}-jobs-repository",
            a.namer.name(Kind.ECR_REPOSITORY, "fraud-jobs"),
            a.data.data_key_arn,
            self._child,
        )

    def _build_image(self) -> docker_build.Image:
        """fraud_scoring/Dockerfile pushed to the jobs repository, referenced by digest (as fraud-api's)."""
        repository = self.repository
        token = aws.ecr.get_authorization_token_output(
            registry_id=repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        return docker_build.Image(
            f"{self._resource_name}-jobs-image",
            context=docker_build.BuildContextArgs(location=str(ROOT)),
            dockerfile=docker_build.DockerfileArgs(location=str(JOBS_DOCKERFILE)),
            platforms=[PLATFORM],
            tags=[pulumi.Output.concat(repository.repository_url, ":", image_tag(sources=JOBS_IMAGE_SOURCES))],
            push=True,
            registries=[
                docker_build.RegistryArgs(
                    address=repository.repository_url, username=token.user_name, password=token.password
                )
            ],
            # Like fraud-api's: a preview needs no Docker daemon.
            build_on_preview=False,
            opts=self._child,
        )

    def _create_log_group(self, job: str) -> aws.cloudwatch.LogGroup:
        a = self._args
        group = aws.cloudwatch.LogGroup(
            f"{self._resource_name}-{job}-logs",
            name=a.namer.name(Kind.LOG_GROUP, f"fraud-{job}"),
            retention_in_days=a.log_retention_days,
            kms_key_id=a.data.logs_key_arn,
            opts=self._child,
        )
        # Every log group masks card data (PCI DSS 3.4), as FraudObservability does for the others:
        # the jobs never read card data, and the policy keeps it so if one ever logs a stray row.
        aws.cloudwatch.LogDataProtectionPolicy(
            f"{self._resource_name}-{job}-logs-card-data",
            log_group_name=group.name,
            policy_document=data_protection_policy(f"fraud-card-data-{job}"),
            opts=self._child,
        )
        return group

    # --- roles ---------------------------------------------------------------------------------

    def _role(self, purpose: str, statements: list[dict[str, object]], service: str = "ecs-tasks") -> WorkloadRole:
        return create_workload_role(
            f"{self._resource_name}-{purpose}-role",
            purpose=purpose,
            service=service,
            statements=statements,
            namer=self._args.namer,
            parent=self,
        )

    def _create_execution_role(self) -> WorkloadRole:
        """What ECS needs to start either task: pull the jobs image, write the two log groups."""
        pull = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
        streams = [pulumi.Output.concat(group.arn, ":*") for group in self.log_groups.values()]
        return self._role("jobs-execution", [
            allow(["ecr:GetAuthorizationToken"], ["*"], "RegistryLogin"),  # no resource-level permission
            allow(pull, [self.repository.arn], "PullImage"),
            allow(["logs:CreateLogStream", "logs:PutLogEvents"], streams, "WriteLogs"),
            allow(["kms:Decrypt"], [self._args.data.data_key_arn], "DecryptImageLayers"),
        ])  # fmt: skip

    def _exports_objects(self) -> pulumi.Output[str]:
        return pulumi.Output.concat(self._args.data.reports_bucket_arn, f"/{jobs.EXPORT_PREFIX}/*")

    def _create_export_role(self) -> WorkloadRole:
        """Query the table's by-day index, read Aurora as the export user, write exports/ only."""
        ctx, data = self._args.ctx, self._args.data
        db_user = pulumi.Output.concat(
            f"arn:{ctx.partition}:rds-db:{ctx.region}:{ctx.account_id}:dbuser:",
            data.db_cluster_resource_id,
            f"/{jobs.EXPORT_DB_USER}",
        )
        return self._role("jobs-export", [
            allow(["dynamodb:Query"], [pulumi.Output.concat(data.table_arn, f"/index/{BY_DAY.name}")], "QueryByDay"),
            allow(["rds-db:connect"], [db_user], "ConnectAsExportUser"),
            allow(["s3:PutObject"], [self._exports_objects()], "WriteExports"),
            # The table is encrypted with the data key, and each export object is written under it.
            allow(["kms:Decrypt", "kms:GenerateDataKey"], [data.data_key_arn], "UseDataKey"),
        ])  # fmt: skip

    def _create_retrain_role(self) -> WorkloadRole:
        """Read exports/; read and write models/ in the registry; read and move the promoted pointer."""
        a = self._args
        return self._role("jobs-retrain", [
            allow(["s3:GetObject"], [self._exports_objects()], "ReadExports"),
            # Without ListBucket S3 answers a missing key with 403, not 404: the reader could not
            # tell "day never exported" or "version unknown" from "not allowed".
            {**allow(["s3:ListBucket"], [a.data.reports_bucket_arn], "ListExports"),
             "Condition": {"StringLike": {"s3:prefix": [f"{jobs.EXPORT_PREFIX}/*"]}}},
            allow(["s3:GetObject", "s3:PutObject"], [pulumi.Output.concat(a.models_bucket_arn, f"/{MODELS_PREFIX}/*")],
                  "ReadWriteModels"),
            {**allow(["s3:ListBucket"], [a.models_bucket_arn], "ListModels"),
             "Condition": {"StringLike": {"s3:prefix": [f"{MODELS_PREFIX}/*"]}}},
            allow(["ssm:GetParameter", "ssm:PutParameter"], [a.model_pointer_arn], "MovePromotedPointer"),
            allow(["kms:Decrypt"], [a.data.data_key_arn], "DecryptExports"),
            allow(["kms:Decrypt", "kms:GenerateDataKey"], [a.models_key_arn], "UseModelsKey"),
        ])  # fmt: skip

    def _create_schedule_role(self) -> WorkloadRole:
        """EventBridge Scheduler may start these two task families in this cluster, nothing else."""
        a = self._args
        # Every revision of the two families: a new image or setting registers a new revision,
        # which the role then needs no change to start.
        revisions = [pulumi.Output.concat(t.arn_without_revision, ":*") for t in (self.export_task, self.retrain_task)]
        run = {
            **allow(["ecs:RunTask"], revisions, "RunJobTasks"),
            "Condition": {"ArnEquals": {"ecs:cluster": a.cluster_arn}},
        }
        # RunTask hands ECS the task roles and the execution role: PassRole on exactly those, to ECS only.
        roles = [self.execution_role.role.arn, self.export_role.role.arn, self.retrain_role.role.arn]
        pass_role = {
            **allow(["iam:PassRole"], roles, "PassJobRoles"),
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        }
        return self._role("jobs-schedule", [run, pass_role], service="scheduler")

    # --- network, tasks, schedules ---------------------------------------------------------------

    def _allow_export_egress(self) -> None:
        """The export group (FraudVpc's, so Aurora can admit it) gets HTTPS to AWS APIs and PostgreSQL."""
        a = self._args
        allow_https_to_aws_apis(
            f"{self._resource_name}-export-https",
            security_group_id=a.network.export_security_group_id,
            network=a.network,
            parent=self,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{self._resource_name}-export-to-database",
            security_group_id=a.network.export_security_group_id,
            description="PostgreSQL to Aurora",
            ip_protocol="tcp",
            from_port=a.data.db_port,
            to_port=a.data.db_port,
            referenced_security_group_id=a.data.db_security_group_id,
            opts=self._child,
        )

    def _create_retrain_security_group(self) -> aws.ec2.SecurityGroup:
        """No ingress; HTTPS to AWS APIs only (retraining never touches the database)."""
        a = self._args
        group = aws.ec2.SecurityGroup(
            f"{self._resource_name}-retrain-sg",
            name=a.namer.name(Kind.SECURITY_GROUP, "retrain-tasks"),
            description="Retraining Fargate tasks",
            vpc_id=a.network.vpc_id,
            opts=self._child,
        )
        allow_https_to_aws_apis(
            f"{self._resource_name}-retrain-https", security_group_id=group.id, network=a.network, parent=self
        )
        return group

    def _exports_location(self) -> pulumi.Output[str]:
        return pulumi.Output.concat("s3://", self._args.data.reports_bucket_name, f"/{jobs.EXPORT_PREFIX}")

    def _export_env(self) -> dict[str, pulumi.Input[str]]:
        a = self._args
        return {
            jobs.EXPORT_LOCATION: self._exports_location(),
            jobs.EXPORT_KMS_KEY_ARN: a.data.data_key_arn,
            jobs.EXPORT_TABLE_NAME: a.data.table_name,
            jobs.PG_HOST: a.data.db_endpoint,
            jobs.PG_PORT: str(a.data.db_port),
            jobs.PG_DATABASE: a.data.db_name,
            jobs.PG_USER: jobs.EXPORT_DB_USER,
        }

    def _retrain_env(self) -> dict[str, pulumi.Input[str]]:
        a = self._args
        return {
            jobs.EXPORT_LOCATION: self._exports_location(),
            jobs.MODELS_BUCKET: a.models_bucket_name,
            jobs.MODEL_POINTER_PARAMETER: a.model_pointer_name,
        }

    def _create_task_definition(
        self, job: str, role: WorkloadRole, environment: dict[str, pulumi.Input[str]]
    ) -> aws.ecs.TaskDefinition:
        a = self._args
        names = list(environment)

        def containers(values: list[Any]) -> str:
            image, log_group, *env_values = values
            return json.dumps([{
                "name": job,
                "image": image,
                "essential": True,
                "command": JOB_COMMANDS[job],
                "user": JOB_USER,
                "readonlyRootFilesystem": True,
                "environment": [{"name": n, "value": v} for n, v in zip(names, env_values, strict=True)],
                "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": log_group, "awslogs-region": a.ctx.region, "awslogs-stream-prefix": job}},
            }])  # fmt: skip

        return aws.ecs.TaskDefinition(
            f"{self._resource_name}-{job}-task",
            family=a.namer.name(Kind.ECS_SERVICE, f"fraud-{job}"),
            cpu=str(a.jobs.cpu),
            memory=str(a.jobs.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(operating_system_family="LINUX",
                                                                       cpu_architecture="X86_64"),
            execution_role_arn=self.execution_role.role.arn,
            task_role_arn=role.role.arn,
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name="tmp")],
            container_definitions=pulumi.Output.all(
                self.image.ref, self.log_groups[job].name, *environment.values()
            ).apply(containers),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*role.grants, *self.execution_role.grants]),
        )  # fmt: skip

    def _create_schedule(
        self, job: str, expression: str, task: aws.ecs.TaskDefinition, security_group_id: pulumi.Input[str]
    ) -> aws.scheduler.Schedule:
        a = self._args
        return aws.scheduler.Schedule(
            f"{self._resource_name}-{job}-schedule",
            name=a.namer.name(Kind.SCHEDULED_ACTION, f"fraud-{job}"),
            schedule_expression=expression,
            schedule_expression_timezone="UTC",
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            target=aws.scheduler.ScheduleTargetArgs(
                arn=a.cluster_arn,
                role_arn=self.schedule_role.role.arn,
                # A start refused (capacity, throttling) is retried for up to an hour; both jobs
                # rewrite whole objects, so a second run is harmless.
                retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                    maximum_event_age_in_seconds=3600, maximum_retry_attempts=3
                ),
                ecs_parameters=aws.scheduler.ScheduleTargetEcsParametersArgs(
                    task_definition_arn=task.arn,
                    launch_type="FARGATE",
                    task_count=1,
                    network_configuration=aws.scheduler.ScheduleTargetEcsParametersNetworkConfigurationArgs(
                        subnets=a.network.private_subnet_ids,
                        security_groups=[security_group_id],
                        assign_public_ip=False,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.schedule_role.grants)),
        )
