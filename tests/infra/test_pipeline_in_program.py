"""Where the program puts the pipeline: its parents (a parent is part of every URN) and what the rest of
the stack reads from it. The functions, grants, mapping, schedule and rotation are tested on the
component alone (test_pipeline_component.py), where mutation testing runs them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.harness import ACCOUNT_ID, ProgramRun, run_program

FUNCTIONS = ("processor", "analyzer", "reporter", "rotator", "labeler")
PIPELINE = "fraud:pipeline:FraudPipeline::fraud"
ARN = f"us-east-2:{ACCOUNT_ID}"


@pytest.fixture(scope="module")
def custom() -> ProgramRun:
    """dev with a non-default value for every key the pipeline reads."""
    return run_program(
        "dev",
        {
            "fraud-detection:lambdaTimeoutSeconds": "45",
            "fraud-detection:lambdaMemoryMb": "768",
            "fraud-detection:lambdaReservedConcurrency": "150",
            "fraud-detection:streamBatchSize": "40",
            "fraud-detection:streamBatchingWindowSeconds": "3",
            "fraud-detection:streamMaxRetries": "5",
            "fraud-detection:streamMaxRecordAgeSeconds": "7200",
            "fraud-detection:reportSchedule": "cron(30 2 * * ? *)",
            "fraud-detection:logRetentionDays": "14",
        },
    )


def _inputs(run: ProgramRun, typ: str, name: str) -> dict[str, Any]:
    return run.named(typ, name).inputs


def test_pipeline_resources_belong_to_the_pipeline_component(custom: ProgramRun) -> None:
    # A resource that changes parent changes URN: Pulumi would replace a live function or queue.
    custom.named("fraud:pipeline:FraudPipeline", "fraud")
    children = ["fraud-runtime-layer", "fraud-analyzer-failures", "fraud-analyzer-stream", "fraud-daily-report"]
    children += ["fraud-daily-report-target", "fraud-reporter-invoke", "fraud-rotator-invoke"]
    children += ["fraud-api-config-rotation", *(f"fraud-lambda-egress-{i}" for i in range(3))]
    for fn in FUNCTIONS:
        children += [f"fraud-{fn}", f"fraud-{fn}-logs", f"fraud-{fn}-role", f"fraud-{fn}-role-policy"]
    assert {name: custom.options[name].parent for name in children} == dict.fromkeys(children, PIPELINE)
    assert custom.registered_outputs[PIPELINE] == ("failure_queue_url", "function_names", "processor_invoke_arn")


def test_pipeline_feeds_the_api_routes_alarms_and_log_protection_downstream(custom: ProgramRun) -> None:
    # API Gateway proxies /transactions to the processor and may invoke it
    processor = f"arn:aws:lambda:{ARN}:function:lambda-processor-dev"
    invoke_arn = f"arn:aws:apigateway:us-east-2:lambda:path/2015-03-31/functions/{processor}/invocations"
    proxies = [r for r in custom.of_type("aws:apigateway/integration:Integration") if r.inputs["type"] == "AWS_PROXY"]
    assert proxies and {r.inputs["uri"] for r in proxies} == {invoke_arn}
    for key in ("post", "get"):
        assert _inputs(custom, "aws:lambda/permission:Permission", f"fraud-gateway-processor-{key}")["function"] == (
            "lambda-processor-dev"
        )
    # the alarms watch the stream consumer's iterator age and the failure queue
    alarms = {r.inputs["name"]: r.inputs for r in custom.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert alarms["alarm-stream-iterator-age-dev"]["dimensions"] == {"FunctionName": "lambda-analyzer-dev"}
    assert alarms["alarm-analyzer-failures-queued-dev"]["dimensions"] == {"QueueName": "sqs-analyzer-failures-dev"}
    # card data is masked in every function's log group
    protected = {
        r.inputs["logGroupName"]
        for r in custom.of_type("aws:cloudwatch/logDataProtectionPolicy:LogDataProtectionPolicy")
    }
    assert {f"/aws/lambda/lambda-{fn}-dev" for fn in FUNCTIONS} <= protected
