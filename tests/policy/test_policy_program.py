"""The whole program, both stacks, under every rule with that stack's config: zero violations.

The resources come from tests/support's mocks harness (the real __main__.py). Resource rules see each
resource's inputs, as in `pulumi preview`; stack rules see outputs, here what the mocks answered
(inputs, id and ARN, plus the computed attributes). Mutation tests then remove or change one thing in
the recorded program and expect the matching stack rule to object, which proves the zero above is
not a rule that never found what it judges.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from policy_support import RULES, policy_resource, resource_violations, stack_config, stack_violations
from pulumi_policy import PolicyResource, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UnknownValueError

from policy.pci_rules.base import TypedResourcePolicy
from tests.support.harness import COMPUTED, REMOTE_COMPONENT_OUTPUTS, STACKS, ProgramRun, RecordingMocks, run_program

_RUNS: dict[str, ProgramRun] = {}

# Types the program creates that no PCI DSS rule judges, and why.
OUT_OF_SCOPE = {
    "pulumi:providers:aws": "provider: its default tags are asserted by tests/infra",
    "awsx:ec2:Vpc": "remote component: its children (subnets, NAT) are judged in a real preview",
    "aws:kms/alias:Alias": "a name for a key",
    "aws:rds/subnetGroup:SubnetGroup": "private subnets are asserted by tests/infra",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "keeps traffic private; nothing to misconfigure against PCI DSS",
    "aws:secretsmanager/secretVersion:SecretVersion": "the value: a Pulumi secret, never in plain state",
    "aws:cloudwatch/eventRule:EventRule": "a schedule",
    "aws:lambda/layerVersion:LayerVersion": "hash-pinned libraries from uv.lock; private (no layer permission)",
    "aws:cloudwatch/eventTarget:EventTarget": "a schedule's target",
    "aws:s3/bucketNotification:BucketNotification": "which objects invoke the labeler; its permission is judged",
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": "retries; the queue it fails to is judged",
    "aws:cloudwatch/dashboard:Dashboard": "a view of metrics",
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": "counts log lines into a metric; reads nothing else",
    "aws:xray/samplingRule:SamplingRule": "no PCI DSS control applies to trace sampling",
    "aws:xray/group:Group": "no PCI DSS control applies to trace groups",
    "aws:sns/topicSubscription:TopicSubscription": "the on-call e-mail",
    "aws:apigateway/restApi:RestApi": "judged through its stage, methods, settings and integrations",
    "aws:apigateway/resource:Resource": "a path",
    "aws:apigateway/deployment:Deployment": "a snapshot of the routes",
    "aws:apigateway/account:Account": "the CloudWatch role of execution logging",
    "aws:apigateway/usagePlan:UsagePlan": "throttling",
    "aws:apigateway/apiKey:ApiKey": "a client identifier",
    "aws:apigateway/usagePlanKey:UsagePlanKey": "a client's plan",
    "aws:appautoscaling/target:Target": "capacity",
    "aws:appautoscaling/policy:Policy": "capacity",
    "aws:appautoscaling/scheduledAction:ScheduledAction": "capacity",
    "aws:ecs/cluster:Cluster": "Container Insights is not a PCI control",
    "aws:iam/serviceLinkedRole:ServiceLinkedRole": "AWS-defined roles",
    "aws:route53/record:Record": "DNS",
    "aws:acm/certificateValidation:CertificateValidation": "DNS validation",
    "random:index/randomPassword:RandomPassword": "generates secrets; Pulumi keeps them encrypted",
    "tls:index/selfSignedCert:SelfSignedCert": "its key is judged (pci-acm-2-key-length)",
    "aws:ecr/pullThroughCacheRule:PullThroughCacheRule": "an upstream for ECR; its cache repositories are judged",
    "docker-build:index:Image": "the build; the repository it pushes to is judged (scan on push, immutable tags)",
    "aws:ssm/parameter:Parameter": "the promoted model's version name (a String, no secret); its bucket is judged",
}
# Judged by stack rules only, which join them to what they protect or log.
STACK_JUDGED = {
    "aws:s3/bucketLogging:BucketLogging",
    "aws:lb/listenerRule:ListenerRule",
    "aws:wafv2/webAclAssociation:WebAclAssociation",
}


@dataclass(frozen=True)
class Item:
    """A recorded resource, as plain data that mutations can change."""

    typ: str
    name: str
    props: dict[str, Any]
    outputs: dict[str, Any]


def program(stack: str) -> ProgramRun:
    if stack not in _RUNS:
        _RUNS[stack] = run_program(stack)
    return _RUNS[stack]


def items(run: ProgramRun) -> list[Item]:
    mocks = RecordingMocks(run.config["aws:region"])
    found = []
    for r in run.resources:
        if r.typ in REMOTE_COMPONENT_OUTPUTS:
            outputs = REMOTE_COMPONENT_OUTPUTS[r.typ](mocks.region, r.name, r.inputs)
        else:
            physical = r.inputs.get("name") if isinstance(r.inputs.get("name"), str) else None
            outputs = {**r.inputs, "arn": mocks._arn(r.typ, physical or r.name)}
            outputs.update(COMPUTED.get(r.typ, lambda *_: {})(mocks.region, r.name, r.inputs))
        found.append(Item(r.typ, r.name, dict(r.inputs), {**outputs, "id": f"{r.name}-id"}))
    return found


def stack_resources(stack: str, program_items: list[Item]) -> list[PolicyResource]:
    return [policy_resource(i.typ, i.name, i.outputs, stack=stack) for i in program_items]


def stack_rule_violations(stack: str, program_items: list[Item], rule: str | None = None) -> list[str]:
    config, resources = stack_config(stack), stack_resources(stack, program_items)
    rules = [RULES[rule]] if rule else [p for p in RULES.values() if isinstance(p, StackValidationPolicy)]
    return [
        f"{policy.name}: {message}"
        for policy in rules
        for _, message in stack_violations(policy.name, resources, config.get(policy.name))
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_passes_every_resource_rule(stack: str) -> None:
    config = stack_config(stack)
    violations = [
        f"{policy.name} {item.typ} {item.name}: {message}"
        for item in items(program(stack))
        for policy in RULES.values()
        if isinstance(policy, ResourceValidationPolicy)
        for message in resource_violations(policy, item.typ, item.props, config.get(policy.name), item.name)
    ]
    assert violations == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_stack_passes_every_stack_rule(stack: str) -> None:
    assert stack_rule_violations(stack, items(program(stack))) == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_type_is_judged_or_deliberately_out_of_scope(stack: str) -> None:
    judged = {t for p in RULES.values() if isinstance(p, TypedResourcePolicy) for t in p.resource_types}
    assert not judged & set(OUT_OF_SCOPE), "a judged type is also listed as out of scope"
    types = {r.typ for r in program(stack).resources if r.custom or r.typ.startswith("awsx:")}
    assert sorted(types - judged - set(OUT_OF_SCOPE) - STACK_JUDGED) == []


def _without(typ: str, name_part: str = "") -> Callable[[list[Item]], list[Item]]:
    return lambda found: [i for i in found if not (i.typ == typ and name_part in i.name)]


def _changed(typ: str, name_part: str, **props: Any) -> Callable[[list[Item]], list[Item]]:
    def mutate(found: list[Item]) -> list[Item]:
        return [
            replace(i, props={**i.props, **props}, outputs={**i.outputs, **props})
            if i.typ == typ and name_part in i.name
            else i
            for i in found
        ]

    return mutate


def _alb_group_on_service(found: list[Item]) -> list[Item]:
    alb_group = next(
        i.outputs["id"] for i in found if i.typ == "aws:ec2/securityGroup:SecurityGroup" and "lb" in i.name
    )
    service = next(i for i in found if i.typ == "aws:ecs/service:Service")
    network = {**service.outputs["networkConfiguration"], "securityGroups": [alb_group]}
    return _changed("aws:ecs/service:Service", service.name, networkConfiguration=network)(found)


def _rule_without_origin_header(found: list[Item]) -> list[Item]:
    rule = next(i for i in found if i.typ == "aws:lb/listenerRule:ListenerRule" and "production" in i.name)
    conditions = [c for c in rule.outputs["conditions"] if "httpHeader" not in c]
    return _changed(rule.typ, rule.name, conditions=conditions)(found)


WAF_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
WAF_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"

MUTATIONS: dict[str, tuple[str, Callable[[list[Item]], list[Item]]]] = {
    "api-stage-without-waf": ("pci-apigateway-4-waf", _without(WAF_ASSOCIATION)),
    "alb-without-waf": ("pci-elb-16-waf", _without(WAF_ASSOCIATION)),
    "waf-without-logging": ("pci-waf-11-logging", _without(WAF_LOGGING)),
    "vpc-without-flow-log": ("pci-ec2-6-vpc-flow-logs", _without("aws:ec2/flowLog:FlowLog")),
    "default-sg-not-adopted": ("pci-ec2-2-default-sg-adopted", _without(DEFAULT_SG)),
    "alb-sg-on-tasks": ("pci-ec2-public-ingress-alb-only", _alb_group_on_service),
    "alb-rule-without-header": ("pci-elb-public-alb-origin-verify", _rule_without_origin_header),
    "bucket-without-pab": ("pci-s3-bucket-controls", _without(PAB, "reports")),
    "reports-not-logged": ("pci-s3-9-access-logging", _without("aws:s3/bucketLogging:BucketLogging", "reports")),
    # The SSE-S3 exemption of the access-log bucket rests on its log-delivery grants.
    "sse-s3-without-log-delivery": ("pci-s3-17-sse-kms", _without("aws:s3/bucketPolicy:BucketPolicy", "access-logs")),
    "short-audit-archive": ("pci-s3-log-archive-retention", _changed(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "archive",
        rules=[{"id": "r", "status": "Enabled", "expiration": {"days": 30}}])),
    "lambda-without-log-group": ("pci-lambda-log-group", _without("aws:cloudwatch/logGroup:LogGroup", "processor")),
    "log-group-unprotected": ("pci-cloudwatch-log-groups-protected", _without(
        "aws:cloudwatch/logDataProtectionPolicy:LogDataProtectionPolicy")),
    "secret-not-rotated": ("pci-secretsmanager-1-rotation-enabled", _without(
        "aws:secretsmanager/secretRotation:SecretRotation")),
    "cluster-default-parameters": ("pci-rds-custom-parameter-group", _without(
        "aws:rds/clusterParameterGroup:ClusterParameterGroup")),
}  # fmt: skip


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_stack_rules_see_the_program_they_judge(stack: str, mutation: str) -> None:
    rule, mutate = MUTATIONS[mutation]
    assert stack_rule_violations(stack, mutate(items(program(stack))), rule), f"{rule} missed {mutation}"


def test_every_stack_rule_is_exercised_on_the_program() -> None:
    stack_rules = {name for name, p in RULES.items() if isinstance(p, StackValidationPolicy)}
    assert stack_rules == {rule for rule, _ in MUTATIONS.values()}


def test_an_unknown_value_is_not_judged_during_preview() -> None:
    # The engine reports "can't run policy during preview" for this error, instead of a verdict.
    with pytest.raises(UnknownValueError):
        resource_violations(
            "pci-s3-14-versioning",
            "aws:s3/bucketVersioning:BucketVersioning",
            {"bucket": "b", "versioningConfiguration": UNKNOWN_OBJECT_VALUE},
        )
