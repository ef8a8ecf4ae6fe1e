"""Composition root: read the stack configuration once, build the components in order, export."""

import pulumi

from components.api_service import FraudApiService, FraudApiServiceArgs
from components.context import Stack
from components.data_plane import FraudDataPlane, FraudDataPlaneArgs
from components.jobs import FraudJobs, FraudJobsArgs
from components.observability import FraudObservability, FraudObservabilityArgs
from components.pipeline import FraudPipeline, FraudPipelineArgs
from components.vpc import FraudVpc, FraudVpcArgs

stack = Stack.load()
# Every component and its children use this provider, whose default_tags carry the mandatory tags.
opts = pulumi.ResourceOptions(providers=[stack.provider])

vpc = FraudVpc("fraud", FraudVpcArgs.of(stack), opts)
data = FraudDataPlane("fraud", FraudDataPlaneArgs.of(stack, vpc.outputs), opts)
pipeline = FraudPipeline("fraud", FraudPipelineArgs.of(stack, vpc.outputs, data.outputs), opts)
api = FraudApiService("fraud", FraudApiServiceArgs.of(stack, vpc.outputs, data.outputs, pipeline.outputs), opts)
jobs = FraudJobs(
    "fraud",
    FraudJobsArgs.of(
        stack,
        vpc.outputs,
        data.outputs,
        cluster_arn=pulumi.Output.concat(stack.ctx.arn("ecs", "cluster/"), api.outputs.cluster_name),
        models_bucket_name=data.outputs.models_bucket_name,
        models_bucket_arn=data.outputs.models_bucket_arn,
        models_key_arn=data.outputs.data_key_arn,  # the models bucket is encrypted with the data key
        model_pointer_name=data.outputs.model_pointer_name,
        model_pointer_arn=data.outputs.model_pointer_arn,
    ),
    opts,
)
observability = FraudObservability(
    "fraud", FraudObservabilityArgs.of(stack, data.outputs, pipeline.outputs, api.outputs), opts
)

# What an operator needs: the front door, the dashboard, where reports land, and the identifiers
# the README's runbooks refer to.
pulumi.export("api_url", api.outputs.api_url)
pulumi.export("alb_dns_name", api.outputs.alb_dns_name)
pulumi.export("dashboard_url", observability.dashboard_url)
pulumi.export("reports_bucket_name", data.outputs.reports_bucket_name)
pulumi.export("api_key_id", api.outputs.api_key_id)
pulumi.export("alarm_topic_arn", observability.alarm_topic_arn)
pulumi.export("region", stack.config.region)
pulumi.export("vpc_id", vpc.outputs.vpc_id)
pulumi.export("private_subnet_ids", vpc.outputs.private_subnet_ids)
pulumi.export("ecs_cluster_name", api.outputs.cluster_name)
pulumi.export("ecs_service_name", api.outputs.service_name)
pulumi.export("db_endpoint", data.outputs.db_endpoint)
pulumi.export("db_master_secret_arn", data.outputs.db_master_secret_arn)
pulumi.export("transactions_table_name", data.outputs.table_name)
pulumi.export("archive_bucket_name", data.outputs.archive_bucket_name)
pulumi.export("api_config_secret_arn", data.outputs.api_config_secret_arn)
pulumi.export("models_bucket_name", data.outputs.models_bucket_name)
pulumi.export("model_pointer_parameter", data.outputs.model_pointer_name)
pulumi.export("model_shadow_parameter", data.outputs.model_shadow_pointer_name)
pulumi.export("function_names", pipeline.outputs.function_names)
pulumi.export("analyzer_failure_queue_url", pipeline.outputs.failure_queue_url)
pulumi.export("export_task_definition_arn", jobs.export_task_definition_arn)
pulumi.export("retrain_task_definition_arn", jobs.retrain_task_definition_arn)
