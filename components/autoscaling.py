"""Autoscaling of the fraud-api service: target tracking on CPU and on requests, a daily floor."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.config import ApiConfig
from components.naming import Kind, Namer

# Scale on CPU first; requests per task catch I/O-bound load that CPU does not show.
CPU_TARGET_PERCENT = 70
REQUESTS_PER_TASK_PER_MINUTE = 12000
# Out quickly, in slowly: a fraud spike must not meet a shrinking fleet.
SCALE_OUT_COOLDOWN_S = 60
SCALE_IN_COOLDOWN_S = 300

_scaling = aws.appautoscaling
_Tracking = _scaling.PolicyTargetTrackingScalingPolicyConfigurationArgs
_Custom = _scaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationArgs
_Query = _scaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricArgs
_Stat = _scaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatArgs
_Metric = _scaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetricArgs
_Dimension = _scaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetricDimensionArgs  # noqa: E501
_Predefined = _scaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs


def _stat(stat: str, namespace: str, name: str, dimensions: dict[str, pulumi.Input[str]]) -> _Stat:
    return _Stat(
        stat=stat,
        metric=_Metric(
            namespace=namespace,
            metric_name=name,
            dimensions=[_Dimension(name=k, value=v) for k, v in dimensions.items()],
        ),
    )


def _cpu() -> _Tracking:
    return _Tracking(
        target_value=CPU_TARGET_PERCENT,
        scale_out_cooldown=SCALE_OUT_COOLDOWN_S,
        scale_in_cooldown=SCALE_IN_COOLDOWN_S,
        predefined_metric_specification=_Predefined(predefined_metric_type="ECSServiceAverageCPUUtilization"),
    )


def _requests_per_task(
    load_balancer_arn_suffix: pulumi.Input[str], cluster_name: pulumi.Input[str], service_name: pulumi.Input[str]
) -> _Tracking:
    # Over the whole ALB, divided by running tasks: unlike ALBRequestCountPerTarget it does not
    # follow one target group, which every blue/green deployment swaps.
    requests = _stat("Sum", "AWS/ApplicationELB", "RequestCount", {"LoadBalancer": load_balancer_arn_suffix})
    tasks = _stat(
        "Average",
        "ECS/ContainerInsights",
        "RunningTaskCount",
        {"ClusterName": cluster_name, "ServiceName": service_name},
    )
    return _Tracking(
        target_value=REQUESTS_PER_TASK_PER_MINUTE,
        scale_out_cooldown=SCALE_OUT_COOLDOWN_S,
        scale_in_cooldown=SCALE_IN_COOLDOWN_S,
        customized_metric_specification=_Custom(
            metrics=[
                _Query(id="requests", return_data=False, metric_stat=requests),
                _Query(id="tasks", return_data=False, metric_stat=tasks),
                _Query(id="per_task", expression="requests / MAX([tasks, 1])", label="requests per task",
                       return_data=True),
            ]
        ),
    )  # fmt: skip


def scale_service(
    resource_name: str,
    *,
    api: ApiConfig,
    namer: Namer,
    cluster_name: pulumi.Input[str],
    service_name: pulumi.Input[str],
    load_balancer_arn_suffix: pulumi.Input[str],
    parent: pulumi.Resource,
) -> aws.appautoscaling.Target:
    opts = pulumi.ResourceOptions(parent=parent)
    target = aws.appautoscaling.Target(
        f"{resource_name}-target",
        service_namespace="ecs",
        scalable_dimension="ecs:service:DesiredCount",
        resource_id=pulumi.Output.concat("service/", cluster_name, "/", service_name),
        min_capacity=api.min_tasks,
        max_capacity=api.max_tasks,
        opts=opts,
    )
    for key, config in (
        ("cpu", _cpu()),
        ("requests", _requests_per_task(load_balancer_arn_suffix, cluster_name, service_name)),
    ):
        aws.appautoscaling.Policy(
            f"{resource_name}-{key}",
            name=namer.name(Kind.SCALING_POLICY, f"fraud-api-{key}"),
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            target_tracking_scaling_policy_configuration=config,
            opts=opts,
        )
    # A higher floor for the daily peak, the normal one at night (hours in UTC, from config).
    for key, hour, floor in (
        ("peak", api.peak_start_hour_utc, api.peak_min_tasks),
        ("night", api.peak_end_hour_utc, api.min_tasks),
    ):
        aws.appautoscaling.ScheduledAction(
            f"{resource_name}-{key}",
            name=namer.name(Kind.SCHEDULED_ACTION, f"fraud-api-{key}"),
            service_namespace=target.service_namespace,
            resource_id=target.resource_id,
            scalable_dimension=target.scalable_dimension,
            schedule=f"cron(0 {hour} * * ? *)",
            timezone="Etc/UTC",
            scalable_target_action=aws.appautoscaling.ScheduledActionScalableTargetActionArgs(
                min_capacity=floor, max_capacity=api.max_tasks
            ),
            opts=opts,
        )
    return target
