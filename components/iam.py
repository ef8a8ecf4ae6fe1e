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
class WorkloadRole:
    """A role and what grants it its rights: a workload that must not start before its rights exist
    depends on `grants` (IAM applies a policy after the role ARN is already usable)."""

    role: aws.iam.Role
    grants: tuple[pulumi.Resource, ...]


def create_workload_role(
    resource_name: str,
    *,
    purpose: str,
    service: str,
    statements: Sequence[dict[str, object] | Statement],
    namer: Namer,
    parent: pulumi.Resource,
    managed_policy_arns: Sequence[str] = (),
) -> WorkloadRole:
    """A role `role-<purpose>-<suffix>` assumable by `service`, with its inline policy and attachments."""
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
    return WorkloadRole(role=role, grants=(policy, *attachments))


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
