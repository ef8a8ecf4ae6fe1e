"""Composition root: read the stack configuration once, build the components in order, export."""

import pulumi

from components.api_service import FraudApiService, FraudApiServiceArgs
from components.config import load_stack_config
from components.context import create_provider, lookup_context
from components.data_plane import FraudDataPlane, FraudDataPlaneArgs
from components.naming import Namer
from components.pipeline import FraudPipeline, FraudPipelineArgs
from components.vpc import FraudVpc, FraudVpcArgs

config = load_stack_config()
provider = create_provider(config)
ctx = lookup_context(config, provider)
namer = Namer(config.environment_suffix, ctx.account_id)
# Every component and its children use this provider, whose default_tags carry the mandatory tags.
opts = pulumi.ResourceOptions(providers=[provider])

vpc = FraudVpc("fraud", FraudVpcArgs(network=config.network, ctx=ctx, namer=namer), opts)
data = FraudDataPlane(
    "fraud",
    FraudDataPlaneArgs(
        ctx=ctx,
        namer=namer,
        database=config.database,
        report_retention_days=config.pipeline.report_retention_days,
        audit_retention_days=config.observability.audit_retention_days,
        log_retention_days=config.observability.log_retention_days,
        network=vpc.outputs,
    ),
    opts,
)
pipeline = FraudPipeline(
    "fraud",
    FraudPipelineArgs(
        ctx=ctx,
        namer=namer,
        pipeline=config.pipeline,
        log_retention_days=config.observability.log_retention_days,
        network=vpc.outputs,
        data=data.outputs,
    ),
    opts,
)

api = FraudApiService(
    "fraud",
    FraudApiServiceArgs(
        ctx=ctx,
        namer=namer,
        api=config.api,
        waf=config.waf,
        log_retention_days=config.observability.log_retention_days,
        network=vpc.outputs,
        data=data.outputs,
        processor_function_name=pipeline.processor_function_name,
        processor_invoke_arn=pipeline.processor_invoke_arn,
    ),
    opts,
)

pulumi.export("api_url", api.api_url)
pulumi.export("alb_dns_name", api.alb_dns_name)
pulumi.export("api_key_id", api.api_key_id)
pulumi.export("ecs_cluster_name", api.cluster_name)
pulumi.export("ecs_service_name", api.service_name)
pulumi.export("region", config.region)
pulumi.export("vpc_id", vpc.outputs.vpc_id)
pulumi.export("private_subnet_ids", vpc.outputs.private_subnet_ids)
pulumi.export("db_endpoint", data.outputs.db_endpoint)
pulumi.export("db_master_secret_arn", data.outputs.db_master_secret_arn)
pulumi.export("transactions_table_name", data.outputs.table_name)
pulumi.export("reports_bucket_name", data.outputs.reports_bucket_name)
pulumi.export("archive_bucket_name", data.outputs.archive_bucket_name)
pulumi.export("api_config_secret_arn", data.outputs.api_config_secret_arn)
pulumi.export("function_names", pipeline.function_names)
pulumi.export("analyzer_failure_queue_url", pipeline.failure_queue_url)
