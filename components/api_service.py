"""FraudApiService: the front door and the real-time service.

client → WAF → API Gateway → ALB → ECS Fargate fraud-api → Aurora PostgreSQL; the same API
Gateway routes /transactions to the processor Lambda.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.api_gateway import ApiFrontDoor, ApiFrontDoorArgs
from components.autoscaling import scale_service
from components.config import ApiConfig, WafConfig
from components.containers import CONTAINER, CONTAINER_PORT, HEALTH_PATH, container_definitions
from components.context import AwsContext, Stack
from components.data_plane import DataPlaneOutputs
from components.iam import WorkloadRole, allow, create_service_linked_roles, create_workload_role
from components.image import ADOT_COLLECTOR, ImageSource, PublicImageCache, build_fraud_api_image, prebuilt_image
from components.load_balancer import ApiLoadBalancer, ApiLoadBalancerArgs
from components.naming import Kind, Namer
from components.pipeline import PipelineOutputs
from components.vpc import NetworkOutputs, allow_https_to_aws_apis
from components.waf import WebFirewall, WebFirewallArgs

# The request pool's database user (fraud_api migration 002 creates it; tests keep the names equal).
DB_USER = "fraud_api"
ALB_LOG_PREFIX = "alb"


@dataclass(frozen=True)
class ApiServiceOutputs:
    """What operators and the observability component need from the front door and the service."""

    api_url: pulumi.Output[str]
    api_key_id: pulumi.Output[str]
    rest_api_name: str
    stage_name: str
    alb_dns_name: pulumi.Output[str]
    alb_arn_suffix: pulumi.Output[str]
    certificate_arn: pulumi.Output[str]
    """The ALB's certificate (self-signed and imported, or ACM-issued): its expiry is alarmed."""
    target_group_arn_suffixes: tuple[pulumi.Output[str], ...]
    cluster_name: pulumi.Output[str]
    service_name: pulumi.Output[str]
    web_acl_name: str
    log_group_names: Sequence[pulumi.Output[str]]
    model_log_group_name: pulumi.Output[str]
    """fraud-api's own: it loads the promoted model and logs a refused one."""


@dataclass(frozen=True)
class FraudApiServiceArgs:
    ctx: AwsContext
    namer: Namer
    api: ApiConfig
    waf: WafConfig
    log_retention_days: int
    network: NetworkOutputs
    data: DataPlaneOutputs
    pipeline: PipelineOutputs

    @classmethod
    def of(
        cls, stack: Stack, network: NetworkOutputs, data: DataPlaneOutputs, pipeline: PipelineOutputs
    ) -> FraudApiServiceArgs:
        config = stack.config
        return cls(
            ctx=stack.ctx,
            namer=stack.namer,
            api=config.api,
            waf=config.waf,
            log_retention_days=config.observability.log_retention_days,
            network=network,
            data=data,
            pipeline=pipeline,
        )


class FraudApiService(pulumi.ComponentResource):
    """ECS Fargate fraud-api behind an ALB, fronted by API Gateway and WAF."""

    def __init__(self, name: str, args: FraudApiServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fraud:api:FraudApiService", name, None, opts)
        self._args = args
        self._resource_name = name
        self._child = pulumi.ResourceOptions(parent=self)

        self.service_linked_roles = self._create_service_linked_roles()
        self.image = self._api_image()
        self.collector_image = self._collector_image()
        self.performance_log_group = self._create_performance_log_group()
        self.cluster = self._create_cluster()
        self.log_group = self._create_log_group()
        self.execution_role = self._create_execution_role()
        self.task_role = self._create_task_role()
        self.task_definition = self._create_task_definition()
        self.origin_verify = self._create_origin_verify_secret()
        self.load_balancer = self._create_load_balancer()
        self.infrastructure_role = self._create_infrastructure_role()
        self.service = self._create_service()
        self._scale()
        self.front_door = self._create_front_door()
        self.firewall = self._create_firewall()

        lb, door = self.load_balancer, self.front_door
        self.outputs = ApiServiceOutputs(
            api_url=door.url,
            api_key_id=door.api_key_id,
            rest_api_name=door.rest_api_name,
            stage_name=door.stage_name,
            alb_dns_name=lb.dns_name,
            alb_arn_suffix=lb.arn_suffix,
            certificate_arn=lb.certificate_arn,
            target_group_arn_suffixes=(lb.blue.arn_suffix, lb.green.arn_suffix),
            cluster_name=self.cluster.name,
            service_name=self.service.name,
            web_acl_name=self.firewall.web_acl_name,
            log_group_names=[
                self.log_group.name,
                self.performance_log_group.name,
                door.access_log_group.name,
                door.execution_log_group.name,
            ],
            model_log_group_name=self.log_group.name,
        )
        self.register_outputs(
            {
                "api_url": self.outputs.api_url,
                "alb_dns_name": self.outputs.alb_dns_name,
                "api_key_id": self.outputs.api_key_id,
                "cluster_name": self.outputs.cluster_name,
                "service_name": self.outputs.service_name,
            }
        )

    # --- container -----------------------------------------------------------------------------

    def _create_service_linked_roles(self) -> list[aws.iam.ServiceLinkedRole]:
        # AWS creates these on first use, and creating one that exists fails: off unless asked for.
        if not self._args.api.create_service_linked_roles:
            return []
        return create_service_linked_roles(f"{self._resource_name}-slr", parent=self)

    def _api_image(self) -> ImageSource:
        a = self._args
        if a.api.image is not None:
            return prebuilt_image(a.api.image, a.ctx)
        return build_fraud_api_image(
            f"{self._resource_name}-api", namer=a.namer, kms_key_arn=a.data.data_key_arn, parent=self
        )

    def _collector_image(self) -> ImageSource:
        cache = PublicImageCache(
            f"{self._resource_name}-ecr-public", namer=self._args.namer, kms_key_arn=self._args.data.data_key_arn,
            parent=self,
        )  # fmt: skip
        repository, tag = ADOT_COLLECTOR
        return cache.image("otel-collector", repository, tag)

    def _cluster_name(self) -> str:
        return self._args.namer.name(Kind.ECS_CLUSTER, "fraud")

    def _create_performance_log_group(self) -> aws.cloudwatch.LogGroup:
        # Container Insights writes its performance events here. Left to ECS, the group would appear
        # unencrypted, kept forever, without the card-data protection, and outlive `pulumi destroy`.
        return aws.cloudwatch.LogGroup(
            f"{self._resource_name}-container-insights-logs",
            name=f"/aws/ecs/containerinsights/{self._cluster_name()}/performance",
            retention_in_days=self._args.log_retention_days,
            kms_key_id=self._args.data.logs_key_arn,
            opts=self._child,
        )

    def _create_cluster(self) -> aws.ecs.Cluster:
        return aws.ecs.Cluster(
            f"{self._resource_name}-cluster",
            name=self._cluster_name(),
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enhanced")],
            # The performance log group exists (encrypted, with retention) before ECS would create it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.performance_log_group]),
        )

    def _create_log_group(self) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(
            f"{self._resource_name}-logs",
            name=self._args.namer.name(Kind.LOG_GROUP, "fraud-api"),
            retention_in_days=self._args.log_retention_days,
            kms_key_id=self._args.data.logs_key_arn,
            opts=self._child,
        )

    def _create_execution_role(self) -> WorkloadRole:
        """What ECS itself needs to start the task: pull the images, write the logs. No secrets:
        the application reads its secrets at run time (it must re-read them after rotation)."""
        images = (self.image, self.collector_image)
        pull = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
        statements: list[dict[str, object]] = [
            # GetAuthorizationToken has no resource-level permission.
            allow(["ecr:GetAuthorizationToken"], ["*"], "RegistryLogin"),
            allow(pull, [image.repository_arn for image in images], "PullImages"),
            # The pull-through cache fetches upstream on the puller's behalf; its repository exists
            # already (image.py), so no ecr:CreateRepository.
            allow(["ecr:BatchImportUpstreamImage"], [i.repository_arn for i in images if i.pull_through_cache],
                  "ImportUpstreamImages"),
            allow(["logs:CreateLogStream", "logs:PutLogEvents"], [pulumi.Output.concat(self.log_group.arn, ":*")],
                  "WriteLogs"),
            # The stack's repositories (built image, pull-through cache) are encrypted with the data key.
            allow(["kms:Decrypt"], [self._args.data.data_key_arn], "DecryptImageLayers"),
        ]  # fmt: skip
        return create_workload_role(
            f"{self._resource_name}-execution-role",
            purpose="api-execution",
            service="ecs-tasks",
            statements=statements,
            namer=self._args.namer,
            parent=self,
        )

    def _create_task_role(self) -> WorkloadRole:
        """What fraud-api needs at run time: its two secrets, its database user, the promoted model, tracing."""
        ctx, data = self._args.ctx, self._args.data
        db_user = pulumi.Output.concat(
            f"arn:{ctx.partition}:rds-db:{ctx.region}:{ctx.account_id}:dbuser:",
            data.db_cluster_resource_id,
            f"/{DB_USER}",
        )
        return create_workload_role(
            f"{self._resource_name}-task-role",
            purpose="api-task",
            service="ecs-tasks",
            statements=[
                allow(["secretsmanager:GetSecretValue"], [data.db_master_secret_arn, data.api_config_secret_arn],
                      "ReadOwnSecrets"),
                allow(["kms:Decrypt"], [data.data_key_arn], "DecryptSecrets"),
                allow(["rds-db:connect"], [db_user], "ConnectAsServiceUser"),
                # The promoted and shadow models: their pointers and the artifacts (decrypted with the data key, above).
                allow(["ssm:GetParameter"], [data.model_pointer_arn, data.model_shadow_pointer_arn],
                      "ReadModelPointer"),
                allow(["s3:GetObject"], [pulumi.Output.concat(data.models_bucket_arn, "/models/*")], "ReadModels"),
                # The collector's X-Ray exporter (X-Ray has no resource-level permissions). No
                # GetSampling*: fraud-api samples in process (a rate, or the caller's decision).
                allow(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"], "Tracing"),
            ],
            namer=self._args.namer,
            parent=self,
        )  # fmt: skip

    def _create_task_definition(self) -> aws.ecs.TaskDefinition:
        a, data = self._args, self._args.data
        return aws.ecs.TaskDefinition(
            f"{self._resource_name}-task",
            family=a.namer.name(Kind.ECS_SERVICE, "fraud-api"),
            cpu=str(a.api.cpu),
            memory=str(a.api.memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(operating_system_family="LINUX",
                                                                       cpu_architecture="X86_64"),
            execution_role_arn=self.execution_role.role.arn,
            task_role_arn=self.task_role.role.arn,
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name="tmp")],
            container_definitions=pulumi.Output.all(
                self.image.ref, self.collector_image.ref, self.log_group.name, data.db_endpoint,
                data.db_master_secret_arn, data.api_config_secret_arn, data.models_bucket_name,
                data.model_pointer_name, data.model_shadow_pointer_name,
            ).apply(lambda v: container_definitions(a.ctx.region, *v, db_port=data.db_port, db_name=data.db_name)),
            opts=self._child,
        )  # fmt: skip

    # --- traffic -------------------------------------------------------------------------------

    def _create_origin_verify_secret(self) -> random.RandomPassword:
        value = random.RandomPassword(f"{self._resource_name}-origin-verify-value", length=48, special=False,
                                      opts=self._child)  # fmt: skip
        secret = aws.secretsmanager.Secret(
            f"{self._resource_name}-origin-verify",
            name=self._args.namer.name(Kind.SECRET, "origin-verify"),
            description="Header value API Gateway adds and the ALB requires (rotate: see README)",
            kms_key_id=self._args.data.data_key_arn,
            recovery_window_in_days=0,
            opts=self._child,
        )
        aws.secretsmanager.SecretVersion(
            f"{self._resource_name}-origin-verify-version", secret_id=secret.id, secret_string=value.result,
            opts=self._child,
        )  # fmt: skip
        return value

    def _create_load_balancer(self) -> ApiLoadBalancer:
        a = self._args
        return ApiLoadBalancer(
            f"{self._resource_name}-lb",
            ApiLoadBalancerArgs(
                ctx=a.ctx,
                namer=a.namer,
                vpc_id=a.network.vpc_id,
                public_subnet_ids=a.network.public_subnet_ids,
                service_security_group_id=a.network.api_security_group_id,
                container_port=CONTAINER_PORT,
                health_check_path=HEALTH_PATH,
                origin_verify_value=self.origin_verify.result,
                access_log_bucket=a.data.access_log_bucket_name,
                access_log_bucket_policy=a.data.access_log_bucket_policy,
                access_log_prefix=ALB_LOG_PREFIX,
                domain_name=a.api.domain_name,
                hosted_zone_id=a.api.hosted_zone_id,
                self_signed_cert_days=a.api.self_signed_cert_days,
            ),
            opts=self._child,
        )

    def _create_infrastructure_role(self) -> WorkloadRole:
        # ECS moves listener rules between the blue and green target groups with this role.
        return create_workload_role(
            f"{self._resource_name}-ecs-infrastructure-role",
            purpose="api-deployments",
            service="ecs",
            statements=[],
            namer=self._args.namer,
            parent=self,
            managed_policy_arns=[
                f"arn:{self._args.ctx.partition}:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
            ],
        )

    def _open_service_network(self) -> None:
        """The tasks accept traffic from the ALB only and reach the database and AWS APIs only."""
        a, lb = self._args, self.load_balancer
        group = a.network.api_security_group_id
        aws.vpc.SecurityGroupIngressRule(
            f"{self._resource_name}-from-alb", security_group_id=group, description="From the ALB",
            ip_protocol="tcp", from_port=CONTAINER_PORT, to_port=CONTAINER_PORT,
            referenced_security_group_id=lb.security_group.id, opts=self._child,
        )  # fmt: skip
        aws.vpc.SecurityGroupEgressRule(
            f"{self._resource_name}-to-database", security_group_id=group, description="PostgreSQL",
            ip_protocol="tcp", from_port=a.data.db_port, to_port=a.data.db_port,
            referenced_security_group_id=a.data.db_security_group_id, opts=self._child,
        )  # fmt: skip
        # Image pulls, Secrets Manager, X-Ray, logs.
        allow_https_to_aws_apis(f"{self._resource_name}-https", security_group_id=group, network=a.network, parent=self)

    def _create_service(self) -> aws.ecs.Service:
        a, lb = self._args, self.load_balancer
        self._open_service_network()
        roles = (self.execution_role, self.task_role, self.infrastructure_role)
        return aws.ecs.Service(
            f"{self._resource_name}-service",
            name=a.namer.name(Kind.ECS_SERVICE, "fraud-api"),
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=a.api.min_tasks,
            launch_type="FARGATE",
            platform_version="LATEST",
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=a.network.private_subnet_ids,
                security_groups=[a.network.api_security_group_id],
                assign_public_ip=False,
            ),
            load_balancers=[aws.ecs.ServiceLoadBalancerArgs(
                target_group_arn=lb.blue.arn,
                container_name=CONTAINER,
                container_port=CONTAINER_PORT,
                advanced_configuration=aws.ecs.ServiceLoadBalancerAdvancedConfigurationArgs(
                    alternate_target_group_arn=lb.green.arn,
                    production_listener_rule=lb.production_rule.arn,
                    test_listener_rule=lb.test_rule.arn,
                    role_arn=self.infrastructure_role.role.arn,
                ),
            )],
            deployment_controller=aws.ecs.ServiceDeploymentControllerArgs(type="ECS"),
            deployment_configuration=aws.ecs.ServiceDeploymentConfigurationArgs(
                strategy="BLUE_GREEN", bake_time_in_minutes="5"
            ),
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
            health_check_grace_period_seconds=60,
            propagate_tags="SERVICE",
            enable_execute_command=False,
            # `pulumi up` fails when the tasks never become healthy instead of reporting success: the
            # provider waits like `aws ecs wait services-stable` (pulumi_aws ecs/service.py,
            # wait_for_steady_state) within the resource's create/update timeouts, 20 minutes by
            # default (terraform-provider-aws aws_ecs_service "Timeouts"). A blue/green rollout is
            # start + health checks + test traffic + 5 minutes of bake: 30 minutes leaves room.
            wait_for_steady_state=True,
            # Autoscaling owns the task count; Pulumi sets only the starting value. The service starts
            # only once its roles hold their rights (IAM policies apply after the role exists).
            opts=pulumi.ResourceOptions(
                parent=self, ignore_changes=["desiredCount"],
                depends_on=[lb.https_listener, *self.service_linked_roles, *(g for r in roles for g in r.grants)],
                custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m"),
            ),
        )  # fmt: skip

    def _scale(self) -> None:
        scale_service(
            f"{self._resource_name}-scaling",
            api=self._args.api,
            namer=self._args.namer,
            cluster_name=self.cluster.name,
            service_name=self.service.name,
            load_balancer_arn_suffix=self.load_balancer.arn_suffix,
            parent=self,
        )

    # --- front door ----------------------------------------------------------------------------

    def _create_front_door(self) -> ApiFrontDoor:
        a = self._args
        return ApiFrontDoor(
            f"{self._resource_name}-gateway",
            ApiFrontDoorArgs(
                ctx=a.ctx,
                namer=a.namer,
                processor_function_name=a.pipeline.processor_function_name,
                processor_invoke_arn=a.pipeline.processor_invoke_arn,
                alb_dns_name=a.api.domain_name or self.load_balancer.dns_name,
                alb_certificate_is_self_signed=a.api.domain_name is None,
                origin_verify_value=self.origin_verify.result,
                rate_limit=a.api.rate_limit,
                burst_limit=a.api.burst_limit,
                log_retention_days=a.log_retention_days,
                logs_kms_key_arn=a.data.logs_key_arn,
                manage_account=a.api.manage_api_gateway_account,
            ),
            opts=self._child,
        )

    def _create_firewall(self) -> WebFirewall:
        return WebFirewall(
            f"{self._resource_name}-waf",
            WebFirewallArgs(
                namer=self._args.namer,
                waf=self._args.waf,
                api_rate_limit=self._args.api.rate_limit,
                api_burst_limit=self._args.api.burst_limit,
                stage_arn=self.front_door.stage_arn,
                load_balancer_arn=self.load_balancer.arn,
                log_bucket_arn=self._args.data.archive_bucket_arn,
            ),
            opts=self._child,
        )
