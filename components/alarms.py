"""The stack's alarms as data: what each watches, when it fires, and what missing data means.

Every alarm's description says what to do when it fires (the README's operations section has the
longer runbook). `treat_missing_data` is chosen per alarm: a latency or error-rate metric is
missing when nothing happens (notBreaching), while a missing task count means the service stopped
reporting, which is itself the incident (breaching).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypedDict

import pulumi
import pulumi_aws as aws

from fraud_common import env
from fraud_common.metrics import DECLINE_RATE, FEATURE_PSI, MODEL_REFUSED, SCORE_PSI
from fraud_scoring.drift import PSI_ACT

_Query = aws.cloudwatch.MetricAlarmMetricQueryArgs
_QueryMetric = aws.cloudwatch.MetricAlarmMetricQueryMetricArgs

MINUTE = 60
DAY = 24 * 60 * MINUTE
# Days before expiry the certificate alarm fires: when a `pulumi up` starts renewing the self-signed
# certificate (load_balancer.EARLY_RENEWAL_DAYS), and 30 days before ACM's own renewal deadline.
CERTIFICATE_EXPIRY_DAYS = 30
# Aurora PostgreSQL: max_connections = LEAST(DBInstanceClassMemory / 9531392, 5000); an ACU is 2 GiB.
_BYTES_PER_ACU = 2 * 1024**3
_BYTES_PER_CONNECTION = 9531392
# The band the daily decline rate (percent) should stay in: the shipped model declines 0.63 % of its
# training window's transactions at the default thresholds (every 10th transaction of simulator seeds
# 1000-1001 from 2018-05-08, as fraud_scoring/reference.json), and a third of that or three times it
# means the traffic or the model changed, or someone moved the decline threshold in the API configuration.
DECLINE_BAND_PERCENT = (0.2, 1.9)


@dataclass(frozen=True)
class MonitoredResources:
    """Names and dimensions of what the other components built."""

    rest_api_name: pulumi.Input[str]
    stage_name: pulumi.Input[str]
    alb_arn_suffix: pulumi.Input[str]
    certificate_arn: pulumi.Input[str]
    target_group_arn_suffixes: tuple[pulumi.Input[str], ...]
    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    db_cluster_identifier: str
    db_max_acu: float
    function_names: Mapping[str, pulumi.Input[str]]
    stream_consumer: str
    """The function whose iterator age measures the DynamoDB stream's backlog."""
    failure_queue_name: pulumi.Input[str]
    web_acl_name: str


class SingleMetric(TypedDict, total=False):
    """The keyword arguments of aws.cloudwatch.MetricAlarm for one metric: typed, so a misspelled
    key is a mypy error instead of a keyword the alarm never receives."""

    namespace: str
    metric_name: str
    dimensions: Mapping[str, pulumi.Input[str]]
    statistic: str
    extended_statistic: str
    period: int


@dataclass(frozen=True)
class AlarmSpec:
    purpose: str
    description: str
    threshold: float
    comparison: str
    treat_missing_data: str
    evaluation_periods: int = 5
    datapoints_to_alarm: int = 3
    metric: SingleMetric = field(default_factory=lambda: SingleMetric())
    """Keyword arguments of a single-metric alarm (namespace, metric_name, dimensions, statistic...)."""
    queries: list[aws.cloudwatch.MetricAlarmMetricQueryArgs] = field(default_factory=list)
    """Metric math instead: the queries; the one with return_data is compared."""


def _metric(
    query_id: str,
    namespace: str,
    name: str,
    dimensions: Mapping[str, pulumi.Input[str]],
    stat: str,
    period: int = MINUTE,
) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    return _Query(
        id=query_id,
        metric=_QueryMetric(
            namespace=namespace, metric_name=name, dimensions=dict(dimensions), period=period, stat=stat
        ),
    )


def _expression(query_id: str, expression: str, label: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    """The query the alarm compares."""
    return _Query(id=query_id, expression=expression, label=label, return_data=True)


def _ratio_percent(
    label: str,
    numerator: tuple[str, str, Mapping[str, pulumi.Input[str]], str],
    denominator: tuple[str, str, Mapping[str, pulumi.Input[str]], str],
) -> list[aws.cloudwatch.MetricAlarmMetricQueryArgs]:
    """100 * numerator / denominator, 0 when nothing was counted; each is (namespace, metric, dimensions, stat)."""
    return [
        _metric("numerator", *numerator),
        _metric("denominator", *denominator),
        _expression("rate", "IF(denominator > 0, 100 * numerator / denominator, 0)", label),
    ]  # fmt: skip


def max_connections_threshold(max_acu: float, share: float = 0.8) -> int:
    """`share` of the connections Aurora allows at the cluster's maximum capacity."""
    return int(share * min(max_acu * _BYTES_PER_ACU / _BYTES_PER_CONNECTION, 5000))


def alarm_specs(r: MonitoredResources, p99_threshold_ms: int) -> list[AlarmSpec]:
    api = {"ApiName": r.rest_api_name, "Stage": r.stage_name}
    alb = {"LoadBalancer": r.alb_arn_suffix}
    service = {"ClusterName": r.cluster_name, "ServiceName": r.service_name}
    db = {"DBClusterIdentifier": r.db_cluster_identifier}
    drift = {"service": env.SERVICE_NAMES["drift"]}
    low, high = DECLINE_BAND_PERCENT
    specs = [
        AlarmSpec(
            "api-latency-p99",
            f"API Gateway p99 latency above {p99_threshold_ms} ms for 3 of 5 minutes. Check the dashboard's "
            "ALB and Aurora rows to find the slow hop; scale fraud-api or the database (README: Operations).",
            p99_threshold_ms, "GreaterThanThreshold", "notBreaching",
            metric={"namespace": "AWS/ApiGateway", "metric_name": "Latency", "dimensions": api,
                    "extended_statistic": "p99", "period": MINUTE},
        ),
        AlarmSpec(
            "alb-latency-p99",
            f"fraud-api p99 response time at the ALB above {p99_threshold_ms} ms. Look at ECS CPU and Aurora "
            "connections/ACU; a recent deployment can be rolled back (README: blue-green).",
            p99_threshold_ms / 1000, "GreaterThanThreshold", "notBreaching",
            metric={"namespace": "AWS/ApplicationELB", "metric_name": "TargetResponseTime", "dimensions": alb,
                    "extended_statistic": "p99", "period": MINUTE},
        ),
        AlarmSpec(
            "api-5xx-rate",
            "More than 1% of API requests answer 5xx. Check the processor Lambda errors and fraud-api logs.",
            1, "GreaterThanThreshold", "notBreaching",
            queries=_ratio_percent(
                "5xx %",
                ("AWS/ApiGateway", "5XXError", api, "Sum"),
                ("AWS/ApiGateway", "Count", api, "Sum"),
            ),
        ),
        AlarmSpec(
            "alb-5xx-rate",
            "More than 1% of ALB requests to fraud-api answer 5xx (503 = database unavailable).",
            1, "GreaterThanThreshold", "notBreaching",
            queries=_ratio_percent(
                "target 5xx %",
                ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", alb, "Sum"),
                ("AWS/ApplicationELB", "RequestCount", alb, "Sum"),
            ),
        ),
        AlarmSpec(
            "ecs-tasks-below-desired",
            "Fewer fraud-api tasks running than desired for 3 minutes: tasks crash or cannot be placed. "
            "Read the service events and the stopped tasks' reasons.",
            0, "GreaterThanThreshold", "breaching", evaluation_periods=3, datapoints_to_alarm=3,
            queries=[
                _metric("desired", "ECS/ContainerInsights", "DesiredTaskCount", service, "Average"),
                _metric("running", "ECS/ContainerInsights", "RunningTaskCount", service, "Average"),
                _expression("missing", "desired - running", "tasks missing"),
            ],
        ),
        AlarmSpec(
            "alb-unhealthy-targets",
            "fraud-api targets fail the ALB health check (/api/health). Check the task logs.",
            0, "GreaterThanThreshold", "notBreaching", evaluation_periods=3, datapoints_to_alarm=2,
            queries=[
                *[_metric(f"tg{i}", "AWS/ApplicationELB", "UnHealthyHostCount", {**alb, "TargetGroup": tg}, "Maximum")
                  for i, tg in enumerate(r.target_group_arn_suffixes)],
                _expression("unhealthy", " + ".join(f"FILL(tg{i}, 0)" for i in range(len(r.target_group_arn_suffixes))),
                            "unhealthy targets"),
            ],
        ),
        AlarmSpec(
            "alb-certificate-expiry",
            f"The ALB's certificate expires in less than {CERTIFICATE_EXPIRY_DAYS} days; API Gateway then fails "
            "every /api/* request. Self-signed (no apiDomainName): run `pulumi up`, which replaces it in its last "
            "30 days. ACM-issued: check the DNS validation record (README: Certificates).",
            CERTIFICATE_EXPIRY_DAYS, "LessThanThreshold", "missing", evaluation_periods=1, datapoints_to_alarm=1,
            # ACM publishes DaysToExpiry once a day per certificate, imported ones included.
            metric={"namespace": "AWS/CertificateManager", "metric_name": "DaysToExpiry",
                    "dimensions": {"CertificateArn": r.certificate_arn}, "statistic": "Minimum", "period": DAY},
        ),
        AlarmSpec(
            "aurora-connections-high",
            "Aurora connections above 80% of what the maximum capacity allows. Check the fraud-api pool "
            "size against the task count, or raise dbMaxAcu.",
            max_connections_threshold(r.db_max_acu), "GreaterThanThreshold", "notBreaching",
            metric={"namespace": "AWS/RDS", "metric_name": "DatabaseConnections", "dimensions": db,
                    "statistic": "Maximum", "period": MINUTE},
        ),
        AlarmSpec(
            "aurora-acu-at-max",
            "Aurora has run at its maximum capacity for 15 minutes: queries queue. Raise dbMaxAcu.",
            r.db_max_acu, "GreaterThanOrEqualToThreshold", "notBreaching", evaluation_periods=15,
            datapoints_to_alarm=15,
            metric={"namespace": "AWS/RDS", "metric_name": "ServerlessDatabaseCapacity", "dimensions": db,
                    "statistic": "Minimum", "period": MINUTE},
        ),
        AlarmSpec(
            "stream-iterator-age",
            "The analyzer is more than a minute behind the transactions stream: scores arrive late. "
            "Check analyzer errors, throttles and duration.",
            60_000, "GreaterThanThreshold", "notBreaching",
            metric={"namespace": "AWS/Lambda", "metric_name": "IteratorAge",
                    "dimensions": {"FunctionName": r.function_names[r.stream_consumer]},
                    "statistic": "Maximum", "period": MINUTE},
        ),
        AlarmSpec(
            "analyzer-failures-queued",
            "Stream records failed all retries and wait in the failure queue. Read one, fix the cause, "
            "replay it (README: Operations).",
            0, "GreaterThanThreshold", "notBreaching", evaluation_periods=1, datapoints_to_alarm=1,
            metric={"namespace": "AWS/SQS", "metric_name": "ApproximateNumberOfMessagesVisible",
                    "dimensions": {"QueueName": r.failure_queue_name}, "statistic": "Maximum", "period": MINUTE},
        ),
        # The drift job publishes once a day (functions/drift): one daily datapoint decides, and a day
        # without one (no traffic) is no news; a failed run fires drift-error-rate instead.
        AlarmSpec(
            "drift-score-psi",
            f"The day's model scores moved away from the training reference (PSI > {PSI_ACT}). Check the "
            "dashboard's drift row and the day's decline rate; retrain, or roll back a recent promotion "
            "(README: Drift).",
            PSI_ACT, "GreaterThanThreshold", "notBreaching", evaluation_periods=1, datapoints_to_alarm=1,
            metric={"namespace": env.METRICS_NAMESPACE, "metric_name": SCORE_PSI, "dimensions": drift,
                    "statistic": "Maximum", "period": DAY},
        ),
        AlarmSpec(
            "drift-feature-psi",
            f"One of the model's ten most important features moved away from the training reference (PSI > "
            f"{PSI_ACT}). The dashboard's drift row names it; find why the traffic changed, then retrain "
            "(README: Drift).",
            PSI_ACT, "GreaterThanThreshold", "notBreaching", evaluation_periods=1, datapoints_to_alarm=1,
            # Without the Feature dimension: the Maximum over every feature the job published that day.
            metric={"namespace": env.METRICS_NAMESPACE, "metric_name": FEATURE_PSI, "dimensions": drift,
                    "statistic": "Maximum", "period": DAY},
        ),
        AlarmSpec(
            "drift-decline-rate",
            f"The day's decline rate left its band ({low}-{high} %). Check the thresholds in the API "
            "configuration, then the drift row: a promotion or a traffic change (README: Drift).",
            0, "GreaterThanThreshold", "notBreaching", evaluation_periods=1, datapoints_to_alarm=1,
            queries=[
                _metric("decline", env.METRICS_NAMESPACE, DECLINE_RATE, drift, "Maximum", period=DAY),
                _expression("outside", f"IF(decline < {low} OR decline > {high}, 1, 0)", "decline rate outside band"),
            ],
        ),
        AlarmSpec(
            "model-refused",
            "The analyzer or fraud-api refused the promoted (or shadow) model version: its artifact failed "
            "validation and the previous model keeps deciding. Their log line 'model version refused' names the "
            "version and the reason; roll the pointer back (python -m fraud_scoring.promote --rollback, README: "
            "Promote / roll back a model) or publish a fixed artifact.",
            0, "GreaterThanThreshold", "notBreaching", evaluation_periods=1, datapoints_to_alarm=1,
            metric={"namespace": env.METRICS_NAMESPACE, "metric_name": MODEL_REFUSED, "statistic": "Sum",
                    "period": 5 * MINUTE},
        ),
    ]  # fmt: skip
    for fn, function_name in r.function_names.items():
        specs.append(
            AlarmSpec(
                f"{fn}-error-rate",
                f"More than 1% of {fn} invocations fail. Its log group has the errors (no card data).",
                1, "GreaterThanThreshold", "notBreaching",
                queries=_ratio_percent(
                    f"{fn} errors %",
                    ("AWS/Lambda", "Errors", {"FunctionName": function_name}, "Sum"),
                    ("AWS/Lambda", "Invocations", {"FunctionName": function_name}, "Sum"),
                ),
            )
        )  # fmt: skip
    return specs
