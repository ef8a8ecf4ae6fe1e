"""FraudObservability: dashboard, alarms and their topic, X-Ray sampling and group, log data protection."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.alarms import AlarmSpec, MonitoredResources, alarm_specs
from components.api_service import ApiServiceOutputs
from components.config import ObservabilityConfig
from components.context import AwsContext, Stack
from components.dashboard import dashboard_body
from components.data_plane import DataPlaneOutputs
from components.naming import Kind, Namer
from components.pipeline import PipelineOutputs
from fraud_common import env
from fraud_common.metrics import MODEL_REFUSED
from fraud_scoring.registry import MODEL_REFUSED_MESSAGE

# CloudWatch's managed identifiers for card data: the backstop behind the application's own masking.
CARD_DATA_IDENTIFIERS = tuple(
    f"arn:aws:dataprotection::aws:data-identifier/{name}"
    for name in ("CreditCardNumber", "CreditCardSecurityCode", "CreditCardExpiration")
)
# Both services that load the promoted model log as JSON with the text under "message": fraud-api through
# its JsonFormatter (fraud_api/app/core/logging.py), the analyzer because its functions use the Lambda
# JSON log format, where the runtime writes standard-library records as {"timestamp", "level",
# "message", "logger", "requestId", ...} (AWS Lambda Developer Guide, "Configuring JSON and plain text
# log formats"). A JSON filter pattern matches that field exactly, not a line that merely quotes it
# (CloudWatch Logs User Guide, "Using filter patterns to match terms in JSON log events").
MODEL_REFUSED_PATTERN = '{ $.message = "' + MODEL_REFUSED_MESSAGE + '" }'
# Services whose traces belong to this stack (the Lambdas and fraud-api name themselves fraud-*).
TRACED_SERVICES = "fraud-*"
SAMPLING_RATE = 0.05


@dataclass(frozen=True)
class FraudObservabilityArgs:
    ctx: AwsContext
    namer: Namer
    observability: ObservabilityConfig
    data: DataPlaneOutputs
    pipeline: PipelineOutputs
    api: ApiServiceOutputs

    def monitored(self) -> MonitoredResources:
        data, pipeline, api = self.data, self.pipeline, self.api
        return MonitoredResources(
            rest_api_name=api.rest_api_name,
            stage_name=api.stage_name,
            alb_arn_suffix=api.alb_arn_suffix,
            certificate_arn=api.certificate_arn,
            target_group_arn_suffixes=api.target_group_arn_suffixes,
            cluster_name=api.cluster_name,
            service_name=api.service_name,
            db_cluster_identifier=data.db_cluster_identifier,
            db_max_acu=data.db_max_acu,
            function_names=pipeline.function_names,
            stream_consumer=pipeline.stream_consumer,
            failure_queue_name=pipeline.failure_queue_name,
            web_acl_name=api.web_acl_name,
        )

    def log_group_names(self) -> list[pulumi.Output[str]]:
        """Every log group the stack creates: each gets the card-data protection policy."""
        return [self.data.db_log_group_name, *self.pipeline.log_group_names, *self.api.log_group_names]

    @classmethod
    def of(
        cls, stack: Stack, data: DataPlaneOutputs, pipeline: PipelineOutputs, api: ApiServiceOutputs
    ) -> FraudObservabilityArgs:
        return cls(
            ctx=stack.ctx,
            namer=stack.namer,
            observability=stack.config.observability,
            data=data,
            pipeline=pipeline,
            api=api,
        )


def data_protection_policy(name: str) -> str:
    """Audit and mask card numbers, security codes and expiry dates in a log group."""
    identifiers = list(CARD_DATA_IDENTIFIERS)
    return json.dumps(
        {
            "Name": name,
            "Description": "Card data must never reach logs (PCI DSS 3.3, 3.4); this masks any that does.",
            "Version": "2021-06-01",
            "Statement": [
                {"Sid": "audit", "DataIdentifier": identifiers, "Operation": {"Audit": {"FindingsDestination": {}}}},
                {"Sid": "redact", "DataIdentifier": identifiers, "Operation": {"Deidentify": {"MaskConfig": {}}}},
            ],
        },
        sort_keys=True,
    )


class FraudObservability(pulumi.ComponentResource):
    """What an on-call engineer looks at, and what wakes them."""

    def __init__(self, name: str, args: FraudObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fraud:observability:FraudObservability", name, None, opts)
        self._args = args
        self._resource_name = name
        self._child = pulumi.ResourceOptions(parent=self)

        self._resources = args.monitored()
        self.model_refusals = self._count_model_refusals()
        self.topic = self._create_alarm_topic()
        self.alarms = [
            self._create_alarm(spec) for spec in alarm_specs(self._resources, args.observability.api_p99_threshold_ms)
        ]
        self.dashboard = self._create_dashboard()
        self._configure_tracing()
        self._protect_log_groups()

        region, dashboard = args.ctx.region, self.dashboard.dashboard_name
        self.dashboard_url: pulumi.Output[str] = pulumi.Output.concat(
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name=", dashboard
        )
        self.alarm_topic_arn: pulumi.Output[str] = self.topic.arn
        self.register_outputs({"dashboard_url": self.dashboard_url, "alarm_topic_arn": self.alarm_topic_arn})

    def _create_alarm_topic(self) -> aws.sns.Topic:
        ctx = self._args.ctx
        topic_name = self._args.namer.name(Kind.TOPIC, "alarms")
        topic = aws.sns.Topic(
            f"{self._resource_name}-alarms",
            name=topic_name,
            kms_master_key_id=self._args.data.data_key_arn,
            opts=self._child,
        )
        aws.sns.TopicPolicy(
            f"{self._resource_name}-alarms-policy",
            arn=topic.arn,
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "CloudWatchAlarmsOfThisAccount",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": ctx.arn("sns", topic_name),
                            "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
                        }
                    ],
                }
            ),
            opts=self._child,
        )
        email = self._args.observability.alarm_email
        if email:
            aws.sns.TopicSubscription(
                f"{self._resource_name}-alarms-email",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=self._child,
            )
        return topic

    def _count_model_refusals(self) -> list[aws.cloudwatch.LogMetricFilter]:
        """One metric, ModelRefused, counted from both services' refusal log lines (the model-refused alarm)."""
        services = {"analyzer": self._args.pipeline.model_log_group_name, "api": self._args.api.model_log_group_name}
        return [
            aws.cloudwatch.LogMetricFilter(
                f"{self._resource_name}-model-refused-{service}",
                name="model-refused",
                log_group_name=log_group,
                pattern=MODEL_REFUSED_PATTERN,
                metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                    name=MODEL_REFUSED, namespace=env.METRICS_NAMESPACE, value="1", unit="Count"
                ),
                opts=self._child,
            )
            for service, log_group in services.items()
        ]

    def _create_alarm(self, spec: AlarmSpec) -> aws.cloudwatch.MetricAlarm:
        return aws.cloudwatch.MetricAlarm(
            f"{self._resource_name}-{spec.purpose}",
            name=self._args.namer.name(Kind.ALARM, spec.purpose),
            alarm_description=spec.description,
            comparison_operator=spec.comparison,
            threshold=spec.threshold,
            evaluation_periods=spec.evaluation_periods,
            datapoints_to_alarm=spec.datapoints_to_alarm,
            treat_missing_data=spec.treat_missing_data,
            metric_queries=spec.queries or None,
            actions_enabled=True,
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            opts=self._child,
            **spec.metric,
        )

    def _create_dashboard(self) -> aws.cloudwatch.Dashboard:
        body = dashboard_body(self._resources, self._args.ctx.region, [a.arn for a in self.alarms])
        return aws.cloudwatch.Dashboard(
            f"{self._resource_name}-dashboard",
            dashboard_name=self._args.namer.name(Kind.DASHBOARD, "fraud"),
            dashboard_body=pulumi.Output.json_dumps(body),
            opts=self._child,
        )

    def _configure_tracing(self) -> None:
        suffix = self._args.namer.environment_suffix
        # X-Ray names allow at most 32 characters; the suffix is at most 12.
        aws.xray.SamplingRule(
            f"{self._resource_name}-sampling",
            rule_name=f"fraud-{suffix}",
            priority=1000,
            version=1,
            reservoir_size=5,
            fixed_rate=SAMPLING_RATE,
            service_name=TRACED_SERVICES,
            service_type="*",
            host="*",
            http_method="*",
            url_path="*",
            resource_arn="*",
            opts=self._child,
        )
        aws.xray.Group(
            f"{self._resource_name}-trace-group",
            group_name=f"fraud-{suffix}",
            filter_expression='service("fraud-api") OR service(id(name: "lambda-processor-' + suffix + '"))'
            ' OR service(id(name: "lambda-analyzer-' + suffix + '"))',
            insights_configuration=aws.xray.GroupInsightsConfigurationArgs(
                insights_enabled=True, notifications_enabled=False
            ),
            opts=self._child,
        )

    def _protect_log_groups(self) -> None:
        for index, log_group in enumerate(self._args.log_group_names()):
            aws.cloudwatch.LogDataProtectionPolicy(
                f"{self._resource_name}-card-data-{index}",
                log_group_name=log_group,
                policy_document=data_protection_policy(f"fraud-card-data-{index}"),
                opts=self._child,
            )
