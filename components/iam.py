"""Least-privilege roles: one role per workload, one inline policy naming exact actions on exact ARNs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.naming import Kind, Namer
from components.policies import Statement, assume_role_policy


def allow(actions: Sequence[str], resources: Sequence[pulumi.Input[str]], sid: str) -> dict[str, object]:
    """An Allow statement; resources may be Outputs (resolved when the policy is rendered)."""
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}


@dataclass(frozen=True)
class RoleWithGrants:
    role: aws.iam.Role
    grants: tuple[pulumi.Resource, ...]
    """The inline policy and the managed-policy attachments. A workload depends on these, not only on
    the role's ARN: the ARN exists before its permissions, so a first invocation (or a stream
    mapping, which AWS validates against the role) could otherwise run before they are attached."""


def create_role(
    resource_name: str,
    *,
    purpose: str,
    service: str,
    statements: Sequence[dict[str, object] | Statement],
    namer: Namer,
    parent: pulumi.Resource,
    managed_policy_arns: Sequence[str] = (),
) -> aws.iam.Role:
    """A role `role-<purpose>-<suffix>` assumable by `service`, with its inline policy."""
    return create_role_with_grants(
        resource_name,
        purpose=purpose,
        service=service,
        statements=statements,
        namer=namer,
        parent=parent,
        managed_policy_arns=managed_policy_arns,
    ).role


def create_role_with_grants(
    resource_name: str,
    *,
    purpose: str,
    service: str,
    statements: Sequence[dict[str, object] | Statement],
    namer: Namer,
    parent: pulumi.Resource,
    managed_policy_arns: Sequence[str] = (),
) -> RoleWithGrants:
    """`create_role`, also returning the resources that grant the role its permissions."""
    opts = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        resource_name,
        name=namer.name(Kind.ROLE, purpose),
        assume_role_policy=assume_role_policy(service),
        opts=opts,
    )
    policy = aws.iam.RolePolicy(
        f"{resource_name}-policy",
        name=namer.name(Kind.POLICY, purpose),
        role=role.id,
        policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)}),
        opts=opts,
    )
    attachments = [
        aws.iam.RolePolicyAttachment(f"{resource_name}-managed-{index}", role=role.name, policy_arn=arn, opts=opts)
        for index, arn in enumerate(managed_policy_arns)
    ]
    return RoleWithGrants(role, (policy, *attachments))


# The roles ECS, Application Auto Scaling, Elastic Load Balancing and RDS act through.
SERVICE_LINKED_ROLES = (
    "ecs.amazonaws.com",
    "ecs.application-autoscaling.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    "rds.amazonaws.com",
)


def create_service_linked_roles(resource_name: str, *, parent: pulumi.Resource) -> list[aws.iam.ServiceLinkedRole]:
    """Only for a fresh account: AWS otherwise creates them on first use, and a second creation fails."""
    opts = pulumi.ResourceOptions(parent=parent)
    return [
        aws.iam.ServiceLinkedRole(f"{resource_name}-{i}", aws_service_name=service, opts=opts)
        for i, service in enumerate(SERVICE_LINKED_ROLES)
    ]
