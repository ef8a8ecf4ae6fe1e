"""Least privilege (PCI DSS 7.2.1, 7.2.2): exact actions, resource-scoped, no admin policies, scoped trust."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .base import Config, Props, Rule, as_list, describe, is_public_allow, resource_rule, statements

ROLE = ("aws:iam/role:Role",)
INLINE_POLICIES = (
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
)

# Actions AWS grants only on "*" (no resource-level permissions), plus the ENI actions Lambda needs to
# join a VPC, which AWS's own AWSLambdaVPCAccessExecutionRole grants on "*" (the ENIs do not exist yet).
UNSCOPED_ACTIONS = frozenset(
    a.lower()
    for a in (
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
        "ecr:GetAuthorizationToken",
        "cloudwatch:PutMetricData",
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    )
)
ADMIN_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")


def _documents(resource_type: str, props: Props) -> list[Any]:
    """The permission documents a resource carries (a role's inline policies included)."""
    if resource_type in ROLE:
        return [p.get("policy") for p in as_list(props.get("inlinePolicies")) if isinstance(p, Mapping)]
    return [props.get("policy")]


def _allows(resource_type: str, props: Props) -> Iterator[Mapping[str, Any]]:
    for document in _documents(resource_type, props):
        for statement in statements(document):
            if statement.get("Effect") == "Allow":
                yield statement


def _no_wildcard_actions(resource_type: str, props: Props, __: Config) -> Iterator[str]:
    for statement in _allows(resource_type, props):
        sid = statement.get("Sid", "?")
        if statement.get("NotAction") is not None:
            yield f"statement {sid!r} allows everything but NotAction"
        for action in as_list(statement.get("Action")):
            if action == "*" or str(action).endswith(":*"):
                yield f"statement {sid!r} allows {action!r}; name the actions"


def _scoped_resources(resource_type: str, props: Props, __: Config) -> Iterator[str]:
    for statement in _allows(resource_type, props):
        if "*" not in as_list(statement.get("Resource")) and statement.get("NotResource") is None:
            continue
        loose = [a for a in as_list(statement.get("Action")) if str(a).lower() not in UNSCOPED_ACTIONS]
        if loose:
            yield f"statement {statement.get('Sid', '?')!r} grants {loose} on every resource ('*')"


def _no_admin_policies(resource_type: str, props: Props, __: Config) -> Iterator[str]:
    arns = as_list(props.get("managedPolicyArns")) if resource_type in ROLE else [props.get("policyArn")]
    for arn in arns:
        if str(arn).rsplit("/", 1)[-1] in ADMIN_POLICIES:
            yield f"{arn} grants administrative rights"


def _scoped_trust(_: str, props: Props, __: Config) -> Iterator[str]:
    for statement in statements(props.get("assumeRolePolicy")):
        if is_public_allow(statement):
            yield f"trust statement {statement.get('Sid', '?')!r} lets any principal assume the role"


POLICIES: list[Rule] = [
    resource_rule(
        "pci-iam-no-wildcard-actions",
        describe("v4.0.1 req 7.2.1, 7.2.2", None, "CKV_AWS_62, CKV_AWS_63",
                 "IAM policies allow named actions only: no '*', no 'service:*', no Allow with NotAction."),
        (*ROLE, *INLINE_POLICIES),
        _no_wildcard_actions,
    ),
    resource_rule(
        "pci-iam-scoped-resources",
        describe("v4.0.1 req 7.2.2", None, "CKV_AWS_355",
                 "Resource '*' only for actions that have no resource-level permissions (X-Ray, ECR login, "
                 "Lambda's VPC network interfaces)."),
        (*ROLE, *INLINE_POLICIES),
        _scoped_resources,
    ),
    resource_rule(
        "pci-iam-no-admin-policies",
        describe("v4.0.1 req 7.2.2", None, "CKV_AWS_274, CKV2_AWS_56",
                 "no role, user or group gets AdministratorAccess, PowerUserAccess or IAMFullAccess."),
        (*ROLE, *ATTACHMENTS),
        _no_admin_policies,
    ),
    resource_rule(
        "pci-iam-scoped-trust",
        describe("v4.0.1 req 7.2.1", None, "CKV_AWS_60",
                 "role trust policies name who may assume the role; none admits any principal unconditionally."),
        ROLE,
        _scoped_trust,
    ),
]  # fmt: skip
