"""FraudPipeline: the processor, analyzer, reporter, rotator and labeler Lambdas and what connects them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import PipelineConfig
from components.context import AwsContext, Stack
from components.data_plane import DataPlaneOutputs
from components.iam import WorkloadRole, allow, create_workload_role
from components.lambda_package import code_archive, layer_archive
from components.naming import Kind, Namer
from components.vpc import NetworkOutputs, allow_https_to_aws_apis
from fraud_common import env
from fraud_common.labels import LABELS_PREFIX, RESULTS_PREFIX
from fraud_common.stream import INSERT_FILTER
from fraud_common.tables import BY_DAY, CUSTOMER_HISTORY, TERMINAL_HISTORY

RUNTIME = "python3.11"
# Graviton: cheaper per GB-second than x86 for this pure-Python code; the runtime layer is built for it
# (lambda_package.LAYER_PLATFORM).
ARCHITECTURE = "arm64"
API_CONFIG_ROTATION_DAYS = 30
FAILURE_QUEUE_RETENTION_SECONDS = 14 * 24 * 3600
# A label file that failed (DynamoDB unavailable) is retried twice by Lambda, within an hour, then
# queued: applying a file again is idempotent, so retries can only complete it.
LABELER_RETRIES = 2
LABELER_MAX_EVENT_AGE_SECONDS = 3600
# The drift job: after the UTC day ends (and after the 00:15 report, so both read a quiet index); a
# batch job, not a request, so it gets minutes where the request path's functions get seconds.
DRIFT_SCHEDULE = "cron(45 0 * * ? *)"
DRIFT_TIMEOUT_SECONDS = 300

# Training, evaluation and operators' code never ships (ARCHITECTURE: not imported at serving time).
SCORING_TRAINING_MODULES = (
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
)
# The drift job's module and the reference it reads: shipped with the drift function only.
DRIFT_MODULES = ("fraud_scoring/drift.py", "fraud_scoring/reference.json")
# What each function's package holds: only what its handler imports.
_COMMON = ("functions/__init__.py", "functions/common", "fraud_common")
PACKAGES: dict[str, tuple[str, ...]] = {
    "processor": (*_COMMON, "functions/processor"),
    "analyzer": (*_COMMON, "functions/analyzer", "fraud_scoring"),
    "reporter": (*_COMMON, "functions/reporter"),
    "rotator": (*_COMMON, "functions/rotator"),
    "labeler": (*_COMMON, "functions/labeler"),
    # The reporter's day reader and the analyzer's history reads and item conversion, not their handlers.
    "drift": (
        *_COMMON,
        "functions/drift",
        "functions/analyzer/__init__.py",
        "functions/analyzer/analyze.py",
        "functions/analyzer/history.py",
        "functions/reporter/__init__.py",
        "functions/reporter/daily.py",
        "fraud_scoring",
    ),
}


def package_exclusions(fn: str) -> tuple[str, ...]:
    """Files under ``PACKAGES[fn]``'s folders that function never imports."""
    return SCORING_TRAINING_MODULES if fn == "drift" else (*SCORING_TRAINING_MODULES, *DRIFT_MODULES)


@dataclass(frozen=True)
class PipelineOutputs:
    """What the components downstream need from the pipeline."""

    function_names: Mapping[str, pulumi.Output[str]]
    processor_function_name: pulumi.Output[str]
    processor_invoke_arn: pulumi.Output[str]
    failure_queue_name: pulumi.Output[str]
    failure_queue_url: pulumi.Output[str]
    log_group_names: Sequence[pulumi.Output[str]]
    model_log_group_name: pulumi.Output[str]
    """The analyzer's: it loads the promoted model and logs a refused one."""
    stream_consumer: str = "analyzer"


@dataclass(frozen=True)
class FraudPipelineArgs:
    ctx: AwsContext
    namer: Namer
    pipeline: PipelineConfig
    log_retention_days: int
    network: NetworkOutputs
    data: DataPlaneOutputs

    @classmethod
    def of(cls, stack: Stack, network: NetworkOutputs, data: DataPlaneOutputs) -> FraudPipelineArgs:
        return cls(
            ctx=stack.ctx,
            namer=stack.namer,
            pipeline=stack.config.pipeline,
            log_retention_days=stack.config.observability.log_retention_days,
            network=network,
            data=data,
        )


class FraudPipeline(pulumi.ComponentResource):
    """Ingestion: processor → DynamoDB → stream → analyzer; daily reporter and drift job; API secret rotation; bulk
    labels."""

    def __init__(self, name: str, args: FraudPipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fraud:pipeline:FraudPipeline", name, None, opts)
        self._args = args
        self._resource_name = name
        self._child = pulumi.ResourceOptions(parent=self)
        self._log_groups: dict[str, aws.cloudwatch.LogGroup] = {}
        self._roles: dict[str, WorkloadRole] = {}

        self._restrict_egress()
        self.runtime_layer = self._create_runtime_layer()
        self.failure_queue = self._create_failure_queue()
        self.processor = self._create_function("processor", self._processor_statements())
        self.analyzer = self._create_function("analyzer", self._analyzer_statements())
        self.reporter = self._create_function("reporter", self._reporter_statements())
        self.rotator = self._create_function("rotator", self._rotator_statements())
        self.labeler = self._create_function("labeler", self._labeler_statements())
        self.drift = self._create_function("drift", self._drift_statements(), timeout=DRIFT_TIMEOUT_SECONDS)
        self.stream_mapping = self._connect_stream()
        self.report_schedule = self._schedule(
            "reporter", "daily-report", "Fraud report for the previous UTC day", self._args.pipeline.report_schedule
        )
        self.drift_schedule = self._schedule(
            "drift", "daily-drift", "Score and feature drift of the previous UTC day", DRIFT_SCHEDULE
        )
        self.api_config_rotation = self._rotate_api_config()
        self.label_notification = self._apply_label_files()

        self.outputs = PipelineOutputs(
            function_names={fn: getattr(self, fn).name for fn in PACKAGES},
            processor_function_name=self.processor.name,
            processor_invoke_arn=self.processor.invoke_arn,
            failure_queue_name=self.failure_queue.name,
            failure_queue_url=self.failure_queue.url,
            log_group_names=[log_group.name for log_group in self._log_groups.values()],
            model_log_group_name=self._log_groups["analyzer"].name,
        )
        self.register_outputs(
            {
                "function_names": self.outputs.function_names,
                "processor_invoke_arn": self.outputs.processor_invoke_arn,
                "failure_queue_url": self.outputs.failure_queue_url,
            }
        )

    # --- network -------------------------------------------------------------------------------

    def _restrict_egress(self) -> None:
        """HTTPS out only: to the endpoints inside the VPC (prod) or through the NAT (dev)."""
        network = self._args.network
        allow_https_to_aws_apis(
            f"{self._resource_name}-lambda-egress",
            security_group_id=network.lambda_security_group_id,
            network=network,
            parent=self,
        )

    # --- functions -----------------------------------------------------------------------------

    def _create_runtime_layer(self) -> aws.lambda_.LayerVersion:
        """Powertools, boto3 and their closure exactly as uv.lock pins them (lambda_package.py)."""
        return aws.lambda_.LayerVersion(
            f"{self._resource_name}-runtime-layer",
            layer_name=self._args.namer.name(Kind.LAYER, "runtime"),
            description="aws-lambda-powertools[tracer], boto3 and their dependencies, as pinned by uv.lock",
            code=layer_archive(),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            opts=self._child,
        )

    def _create_failure_queue(self) -> aws.sqs.Queue:
        return aws.sqs.Queue(
            f"{self._resource_name}-analyzer-failures",
            name=self._args.namer.name(Kind.QUEUE, "analyzer-failures"),
            kms_master_key_id=self._args.data.data_key_arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=FAILURE_QUEUE_RETENTION_SECONDS,
            opts=self._child,
        )

    def _function_name(self, fn: str) -> str:
        return self._args.namer.name(Kind.FUNCTION, fn)

    def _log_group_arn(self, fn: str) -> str:
        return self._args.ctx.arn("logs", f"log-group:/aws/lambda/{self._function_name(fn)}")

    def _base_statements(self, fn: str) -> list[dict[str, object]]:
        return [
            allow(["logs:CreateLogStream", "logs:PutLogEvents"], [f"{self._log_group_arn(fn)}:*"], "WriteOwnLogs"),
            # X-Ray and ENI management have no resource-level permissions: AWS offers nothing narrower.
            allow(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"], "Tracing"),
            allow(
                [
                    "ec2:CreateNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses",
                ],
                ["*"],
                "VpcNetworkInterfaces",
            ),
            # Environment variables are encrypted with the data key.
            allow(["kms:Decrypt"], [self._args.data.data_key_arn], "DecryptEnvironment"),
        ]

    def _index_arn(self, index: str) -> pulumi.Output[str]:
        return pulumi.Output.concat(self._args.data.table_arn, "/index/", index)

    def _processor_statements(self) -> list[dict[str, object]]:
        a = self._args
        return [
            allow(
                [
                    "dynamodb:PutItem",
                    "dynamodb:GetItem",
                    "dynamodb:Query",
                    "dynamodb:ConditionCheckItem",
                    # Labels: a conditional update of the label attributes only.
                    "dynamodb:UpdateItem",
                ],
                [a.data.table_arn],
                "StoreAndReadTransactions",
            ),
            allow(["secretsmanager:GetSecretValue"], [a.data.api_config_secret_arn], "ReadCardHashKey"),
            allow(["kms:Decrypt", "kms:GenerateDataKey"], [a.data.data_key_arn], "UseDataKey"),
        ]

    def _analyzer_statements(self) -> list[dict[str, object]]:
        a = self._args
        return [
            allow(
                ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
                [a.data.table_stream_arn],
                "ReadStream",
            ),
            allow(["dynamodb:ListStreams"], [pulumi.Output.concat(a.data.table_arn, "/stream/*")], "ListStreams"),
            allow(
                ["dynamodb:Query"],
                [self._index_arn(CUSTOMER_HISTORY.name), self._index_arn(TERMINAL_HISTORY.name)],
                "ReadHistory",
            ),
            allow(["dynamodb:UpdateItem"], [a.data.table_arn], "RecordDecision"),
            allow(["secretsmanager:GetSecretValue"], [a.data.api_config_secret_arn], "ReadThresholds"),
            allow(["sqs:SendMessage"], [self.failure_queue.arn], "SendFailures"),
            # The promoted and shadow models: their pointers and the artifacts (decrypted with the data key, below).
            allow(
                ["ssm:GetParameter"], [a.data.model_pointer_arn, a.data.model_shadow_pointer_arn], "ReadModelPointer"
            ),
            allow(["s3:GetObject"], [pulumi.Output.concat(a.data.models_bucket_arn, "/models/*")], "ReadModels"),
            allow(["kms:Decrypt", "kms:GenerateDataKey"], [a.data.data_key_arn], "UseDataKey"),
        ]

    def _reporter_statements(self) -> list[dict[str, object]]:
        a = self._args
        return [
            allow(["dynamodb:Query"], [self._index_arn(BY_DAY.name)], "ReadOneDay"),
            allow(["s3:PutObject"], [pulumi.Output.concat(a.data.reports_bucket_arn, "/reports/*")], "WriteReports"),
            allow(["kms:Decrypt", "kms:GenerateDataKey"], [a.data.data_key_arn], "UseDataKey"),
        ]

    def _drift_statements(self) -> list[dict[str, object]]:
        a = self._args
        # Read only: the day's items and the histories its sample's features need. The base
        # statements' kms:Decrypt on the data key covers reading the table it encrypts.
        return [
            allow(
                ["dynamodb:Query"],
                [self._index_arn(index.name) for index in (BY_DAY, CUSTOMER_HISTORY, TERMINAL_HISTORY)],
                "ReadDayAndHistory",
            ),
            # The promoted model's card, whose drift reference the day is compared with.
            allow(["ssm:GetParameter"], [a.data.model_pointer_arn], "ReadModelPointer"),
            allow(
                ["s3:GetObject"],
                [pulumi.Output.concat(a.data.models_bucket_arn, "/models/*/card.json")],
                "ReadModelCards",
            ),
        ]

    def _rotator_statements(self) -> list[dict[str, object]]:
        a = self._args
        return [
            allow(
                [
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:UpdateSecretVersionStage",
                ],
                [a.data.api_config_secret_arn],
                "RotateApiConfig",
            ),
            allow(["kms:Decrypt", "kms:GenerateDataKey"], [a.data.data_key_arn], "UseDataKey"),
        ]

    def _labeler_statements(self) -> list[dict[str, object]]:
        a = self._args
        bucket = a.data.reports_bucket_arn
        return [
            allow(["s3:GetObject"], [pulumi.Output.concat(bucket, "/", LABELS_PREFIX, "*")], "ReadLabelFiles"),
            allow(["s3:PutObject"], [pulumi.Output.concat(bucket, "/", RESULTS_PREFIX, "*")], "WriteLabelResults"),
            allow(["dynamodb:Query", "dynamodb:UpdateItem"], [a.data.table_arn], "RecordLabels"),
            # Lambda sends a failed event to its on-failure destination with the function's role.
            allow(["sqs:SendMessage"], [self.failure_queue.arn], "SendFailures"),
            allow(["kms:Decrypt", "kms:GenerateDataKey"], [a.data.data_key_arn], "UseDataKey"),
        ]

    def _environment(self, fn: str) -> dict[str, pulumi.Output[str] | str]:
        """Exactly the variables the handler requires (fraud_common.env), plus the PCI-fixed ones."""
        data = self._args.data
        return env.function_environment(
            fn,
            table_name=data.table_name,
            api_config_secret_arn=data.api_config_secret_arn,
            reports_bucket=data.reports_bucket_name,
            # Reports are encrypted with the data key, which the reporter's role may use.
            reports_kms_key_arn=data.data_key_arn,
            models_bucket=data.models_bucket_name,
            model_pointer_parameter=data.model_pointer_name,
            model_shadow_parameter=data.model_shadow_pointer_name,
        )

    def _create_function(
        self, fn: str, statements: list[dict[str, object]], *, timeout: int | None = None
    ) -> aws.lambda_.Function:
        a, cfg = self._args, self._args.pipeline
        resource_name = f"{self._resource_name}-{fn}"
        # Created before the function: Lambda would otherwise create it, unencrypted, kept forever.
        log_group = aws.cloudwatch.LogGroup(
            f"{resource_name}-logs",
            name=f"/aws/lambda/{self._function_name(fn)}",
            retention_in_days=a.log_retention_days,
            kms_key_id=a.data.logs_key_arn,
            opts=self._child,
        )
        self._log_groups[fn] = log_group
        role = self._roles[fn] = create_workload_role(
            f"{resource_name}-role",
            purpose=fn,
            service="lambda",
            statements=[*self._base_statements(fn), *statements],
            namer=a.namer,
            parent=self,
        )
        return aws.lambda_.Function(
            resource_name,
            name=self._function_name(fn),
            description=f"fraud-detection {fn}",
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=f"functions.{fn}.handler.lambda_handler",
            code=code_archive(PACKAGES[fn], exclude=package_exclusions(fn)),
            layers=[self.runtime_layer.arn],
            role=role.role.arn,
            timeout=timeout or cfg.lambda_timeout_seconds,
            memory_size=cfg.lambda_memory_mb,
            reserved_concurrent_executions=cfg.reserved_concurrency if fn in env.RESERVING_FUNCTIONS else None,
            vpc_config=aws.lambda_.FunctionVpcConfigArgs(
                subnet_ids=a.network.private_subnet_ids, security_group_ids=[a.network.lambda_security_group_id]
            ),
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=self._environment(fn)),
            kms_key_arn=a.data.data_key_arn,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=log_group.name),
            # The role's policy too, not only its ARN: a first invocation must not run without permissions.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, *role.grants]),
        )

    # --- wiring --------------------------------------------------------------------------------

    def _connect_stream(self) -> aws.lambda_.EventSourceMapping:
        cfg = self._args.pipeline
        return aws.lambda_.EventSourceMapping(
            f"{self._resource_name}-analyzer-stream",
            event_source_arn=self._args.data.table_stream_arn,
            function_name=self.analyzer.arn,
            starting_position="LATEST",
            batch_size=cfg.stream_batch_size,
            maximum_batching_window_in_seconds=cfg.stream_batching_window_seconds,
            function_response_types=["ReportBatchItemFailures"],
            bisect_batch_on_function_error=True,
            # Both default to -1 (retry forever): one poison record would block its shard for a day.
            maximum_retry_attempts=cfg.stream_max_retries,
            maximum_record_age_in_seconds=cfg.stream_max_record_age_seconds,
            destination_config=aws.lambda_.EventSourceMappingDestinationConfigArgs(
                on_failure=aws.lambda_.EventSourceMappingDestinationConfigOnFailureArgs(
                    destination_arn=self.failure_queue.arn
                )
            ),
            # Only new transactions wake the analyzer; its own SCORED updates never do.
            filter_criteria=aws.lambda_.EventSourceMappingFilterCriteriaArgs(
                filters=[
                    aws.lambda_.EventSourceMappingFilterCriteriaFilterArgs(pattern=json.dumps(dict(INSERT_FILTER)))
                ]
            ),
            # Lambda polls the stream and writes failures to the queue with the analyzer's role, and
            # checks those permissions when the mapping is created: wait for the policy, not the ARN.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self._roles["analyzer"].grants)),
        )

    def _schedule(self, fn: str, purpose: str, description: str, expression: str) -> aws.cloudwatch.EventRule:
        """An EventBridge rule invoking function ``fn`` on ``expression``; only that rule may invoke it."""
        function: aws.lambda_.Function = getattr(self, fn)
        rule = aws.cloudwatch.EventRule(
            f"{self._resource_name}-{purpose}",
            name=self._args.namer.name(Kind.EVENT_RULE, purpose),
            description=description,
            schedule_expression=expression,
            opts=self._child,
        )
        aws.cloudwatch.EventTarget(
            f"{self._resource_name}-{purpose}-target", rule=rule.name, arn=function.arn, opts=self._child
        )
        aws.lambda_.Permission(
            f"{self._resource_name}-{fn}-invoke",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
            opts=self._child,
        )
        return rule

    def _rotate_api_config(self) -> aws.secretsmanager.SecretRotation:
        permission = aws.lambda_.Permission(
            f"{self._resource_name}-rotator-invoke",
            action="lambda:InvokeFunction",
            function=self.rotator.name,
            principal="secretsmanager.amazonaws.com",
            source_arn=self._args.data.api_config_secret_arn,
            opts=self._child,
        )
        return aws.secretsmanager.SecretRotation(
            f"{self._resource_name}-api-config-rotation",
            secret_id=self._args.data.api_config_secret_arn,
            rotation_lambda_arn=self.rotator.arn,
            rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(
                automatically_after_days=API_CONFIG_ROTATION_DAYS
            ),
            # Rotation starts at once: without the first version, the rotator has no JSON to keep
            # thresholds and card-hash keys from, and Secrets Manager has no AWSCURRENT to rotate.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[permission, self._args.data.api_config_secret_initial_version]
            ),
        )

    def _apply_label_files(self) -> aws.s3.BucketNotification:
        """Every object created under labels/ in the reports bucket invokes the labeler."""
        data = self._args.data
        permission = aws.lambda_.Permission(
            f"{self._resource_name}-labeler-invoke",
            action="lambda:InvokeFunction",
            function=self.labeler.name,
            principal="s3.amazonaws.com",
            source_arn=data.reports_bucket_arn,
            # Bucket ARNs carry no account: without it, a bucket of that name elsewhere could invoke.
            source_account=self._args.ctx.account_id,
            opts=self._child,
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{self._resource_name}-labeler-async",
            function_name=self.labeler.name,
            maximum_retry_attempts=LABELER_RETRIES,
            maximum_event_age_in_seconds=LABELER_MAX_EVENT_AGE_SECONDS,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=self.failure_queue.arn
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self._roles["labeler"].grants)),
        )
        return aws.s3.BucketNotification(
            f"{self._resource_name}-label-files",
            bucket=data.reports_bucket_name,
            lambda_functions=[
                aws.s3.BucketNotificationLambdaFunctionArgs(
                    lambda_function_arn=self.labeler.arn,
                    events=["s3:ObjectCreated:*"],
                    filter_prefix=LABELS_PREFIX,
                )
            ],
            # S3 checks that it may invoke the function when the notification is set.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )
