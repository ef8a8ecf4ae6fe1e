"""Customer-managed KMS keys: rotation on, 7-day deletion window, a key policy naming who may use them."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from components.context import AwsContext
from components.naming import Kind, Namer
from components.policies import Statement, document, key_admin_statement

# The shortest window AWS allows: `pulumi destroy` leaves nothing behind for long.
KEY_DELETION_WINDOW_DAYS = 7


def create_key(
    resource_name: str,
    *,
    purpose: str,
    description: str,
    ctx: AwsContext,
    namer: Namer,
    usage_statements: Sequence[Statement],
    parent: pulumi.Resource,
) -> aws.kms.Key:
    """Create a key and its alias `alias/kms-<purpose>-<suffix>` as children of `parent`."""
    opts = pulumi.ResourceOptions(parent=parent)
    key = aws.kms.Key(
        resource_name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
        policy=document([key_admin_statement(ctx), *usage_statements]),
        opts=opts,
    )
    aws.kms.Alias(
        f"{resource_name}-alias", name=namer.name(Kind.KMS_ALIAS, purpose), target_key_id=key.key_id, opts=opts
    )
    return key
