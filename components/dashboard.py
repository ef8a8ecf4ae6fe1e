"""The on-call dashboard, one row per hop of a request: front door, service, database, pipeline, fraud.

Built as a plain dict (with Outputs inside) and serialized by `pulumi.Output.json_dumps`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from components.alarms import DAY, DECLINE_BAND_PERCENT, MonitoredResources
from fraud_common.env import METRIC_SHADOW_FAILURES, METRICS_NAMESPACE, SERVICE_NAMES
from fraud_common.metrics import DECLINE_RATE, FEATURE, FEATURE_PSI, MODEL_REFUSED, REVIEW_RATE, SCORE_PSI
from fraud_scoring.drift import PSI_ACT, PSI_WATCH

WIDTH = 24
PERIOD = 60
Metric = list[Any]


def _widget(
    title: str, metrics: Sequence[Metric], x: int, y: int, w: int = 8, h: int = 6, **props: Any
) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": w,
        "height": h,
        "properties": {"title": title, "metrics": list(metrics), "view": "timeSeries", "period": PERIOD, **props},
    }


def _row(y: int, *widgets: tuple[str, Sequence[Metric], dict[str, Any]]) -> list[dict[str, Any]]:
    """Widgets of equal width side by side."""
    width = WIDTH // len(widgets)
    return [
        _widget(title, metrics, i * width, y, w=width, **props) for i, (title, metrics, props) in enumerate(widgets)
    ]


def dashboard_body(r: MonitoredResources, region: str, alarm_arns: Sequence[pulumi.Input[str]]) -> dict[str, Any]:
    api = ["ApiName", r.rest_api_name, "Stage", r.stage_name]
    alb = ["LoadBalancer", r.alb_arn_suffix]
    service = ["ClusterName", r.cluster_name, "ServiceName", r.service_name]
    db = ["DBClusterIdentifier", r.db_cluster_identifier]
    functions = list(r.function_names.items())
    region_prop = {"region": region}
    drift = ["service", SERVICE_NAMES["drift"]]
    daily = {**region_prop, "period": DAY}

    def per_function(metric: str, stat: str) -> list[Metric]:
        return [["AWS/Lambda", metric, "FunctionName", name, {"stat": stat, "label": fn}] for fn, name in functions]

    widgets: list[dict[str, Any]] = [
        {
            "type": "alarm",
            "x": 0,
            "y": 0,
            "width": WIDTH,
            "height": 3,
            "properties": {"title": "Alarms (README: Operations says what to do for each)", "alarms": list(alarm_arns)},
        },
        *_row(
            3,
            ("API Gateway latency (ms)", [["AWS/ApiGateway", "Latency", *api, {"stat": s, "label": s}]
                                          for s in ("p50", "p90", "p99")], region_prop),
            ("API Gateway 4xx / 5xx", [["AWS/ApiGateway", m, *api, {"stat": "Sum"}] for m in ("4XXError", "5XXError")],
             region_prop),
            ("ALB target response p99 (s) and 5xx",
             [["AWS/ApplicationELB", "TargetResponseTime", *alb, {"stat": "p99"}],
              ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", *alb, {"stat": "Sum", "yAxis": "right"}],
              ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", *alb, {"stat": "Sum", "yAxis": "right"}]], region_prop),
        ),
        *_row(
            9,
            ("fraud-api CPU / memory (%)", [["AWS/ECS", m, *service, {"stat": "Average"}]
                                            for m in ("CPUUtilization", "MemoryUtilization")], region_prop),
            ("fraud-api tasks: running vs desired", [["ECS/ContainerInsights", m, *service, {"stat": "Average"}]
                                                     for m in ("RunningTaskCount", "DesiredTaskCount")], region_prop),
            ("Aurora connections, ACU, CPU",
             [["AWS/RDS", "DatabaseConnections", *db, {"stat": "Maximum"}],
              ["AWS/RDS", "ServerlessDatabaseCapacity", *db, {"stat": "Maximum"}],
              ["AWS/RDS", "CPUUtilization", *db, {"stat": "Average", "yAxis": "right"}]], region_prop),
        ),
        *_row(
            15,
            ("Lambda invocations", per_function("Invocations", "Sum"), region_prop),
            ("Lambda errors", per_function("Errors", "Sum"), region_prop),
            ("Lambda throttles", per_function("Throttles", "Sum"), region_prop),
        ),
        *_row(
            21,
            ("Lambda duration p99 (ms)", per_function("Duration", "p99"), region_prop),
            ("Lambda concurrency", per_function("ConcurrentExecutions", "Maximum"), region_prop),
            ("Stream iterator age (ms) and failure queue depth",
             [["AWS/Lambda", "IteratorAge", "FunctionName", r.function_names[r.stream_consumer], {"stat": "Maximum"}],
              ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", r.failure_queue_name,
               {"stat": "Maximum", "yAxis": "right"}]], region_prop),
        ),
        *_row(
            27,
            ("WAF blocked requests", [["AWS/WAFV2", "BlockedRequests", "WebACL", r.web_acl_name, "Region", region,
                                       "Rule", "ALL", {"stat": "Sum"}]], region_prop),
            # Every outcome the analyzer and fraud-api emit (EMF), whatever other dimensions they carry.
            ("Fraud decisions per minute by outcome",
             [[{"expression": f"SEARCH('Namespace=\"{METRICS_NAMESPACE}\" MetricName=\"Decisions\"', 'Sum', {PERIOD})",
                "id": "decisions", "label": ""}]], {**region_prop, "stacked": True}),
            # fraud-api's admission control (fraud_api/README.md "Overload"): requests refused with 503
            # per reason. Sustained refusals mean too few tasks or a slow database, not a client error.
            ("fraud-api requests refused per minute by reason",
             [[{"expression": f"SEARCH('Namespace=\"{METRICS_NAMESPACE}\" MetricName=\"Refused\"', 'Sum', {PERIOD})",
                "id": "refused", "label": ""}]], {**region_prop, "stacked": True}),
        ),
        # The drift job's daily figures (README: Drift): PSI lines at the watch and act levels.
        *_row(
            33,
            ("Drift: PSI of the score and of each top feature (daily)",
             [[METRICS_NAMESPACE, SCORE_PSI, *drift, {"stat": "Maximum", "label": "score"}],
              [{"expression": f"SEARCH('{{{METRICS_NAMESPACE},{FEATURE},service}} MetricName=\"{FEATURE_PSI}\"', "
                              f"'Maximum', {DAY})", "id": "features", "label": ""}]],
             {**daily, "annotations": {"horizontal": [{"label": "watch", "value": PSI_WATCH},
                                                      {"label": "act", "value": PSI_ACT}]}}),
            ("Review and decline rate (%, daily)",
             [[METRICS_NAMESPACE, m, *drift, {"stat": "Maximum"}] for m in (REVIEW_RATE, DECLINE_RATE)],
             {**daily, "annotations": {"horizontal": [{"label": "decline band", "value": v}
                                                      for v in DECLINE_BAND_PERCENT]}}),
            # The model registry (README: Promote / roll back, Shadow scoring): promoted or shadow versions
            # refused (the model-refused alarm) and shadow scores that failed, per version.
            ("Model versions refused, shadow failures (per 5 min)",
             [[METRICS_NAMESPACE, MODEL_REFUSED, {"stat": "Sum", "label": "refused"}],
              [{"expression": f"SEARCH('Namespace=\"{METRICS_NAMESPACE}\" MetricName=\"{METRIC_SHADOW_FAILURES}\"', "
                              "'Sum', 300)", "id": "shadow", "label": ""}]],
             {**region_prop, "period": 300}),
        ),
    ]  # fmt: skip
    return {"widgets": widgets}
