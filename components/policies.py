"""IAM, KMS key and bucket policy statements shared by the components.

Policies are plain JSON built from plain values (account, region, partition and physical names are
known at program time), so `pulumi preview` shows them in full and the tests read them directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from components.context import AwsContext

Statement = dict[str, Any]


def document(statements: Iterable[Statement]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def service_principal(service: str) -> dict[str, str]:
    return {"Service": f"{service}.amazonaws.com"}


# Managing a key, not using it: encrypt/decrypt are granted only through the service statements below.
KEY_ADMIN_ACTIONS = [
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
    "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand",
]  # fmt: skip


def key_admin_statement(ctx: AwsContext) -> Statement:
    """Lets the account administer the key through IAM (without it the key becomes unmanageable).

    Administration only: no principal may encrypt or decrypt directly with the key.
    """
    return {
        "Sid": "AccountAdministersKey",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{ctx.partition}:iam::{ctx.account_id}:root"},
        "Action": KEY_ADMIN_ACTIONS,
        "Resource": "*",
    }


def cloudwatch_logs_key_statement(ctx: AwsContext) -> Statement:
    """CloudWatch Logs may use the key for log groups of this account and region only."""
    return {
        "Sid": "CloudWatchLogsEncryptLogGroups",
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{ctx.region}.amazonaws.com"},
        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        "Resource": "*",
        "Condition": {
            "ArnLike": {"kms:EncryptionContext:aws:logs:arn": ctx.arn("logs", "log-group:*")},
        },
    }


def log_delivery_key_statement(ctx: AwsContext) -> Statement:
    """The log delivery service (VPC flow logs, WAF logs) writes SSE-KMS objects for this account only."""
    return {
        "Sid": "LogDeliveryWritesEncryptedObjects",
        "Effect": "Allow",
        "Principal": service_principal("delivery.logs"),
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
    }


def via_service_key_statement(ctx: AwsContext, sid: str, services: Sequence[str]) -> Statement:
    """AWS services that encrypt on behalf of callers in this account (DynamoDB, RDS, Secrets Manager, ...).

    The caller still needs its own IAM permission on the key; this only states which services may
    carry the request, so a stolen role credential cannot use the key directly from outside them.
    """
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{ctx.partition}:iam::{ctx.account_id}:root"},
        "Action": [
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:CreateGrant",
            "kms:DescribeKey",
        ],
        "Resource": "*",
        "Condition": {
            "StringEquals": {
                "kms:CallerAccount": ctx.account_id,
                "kms:ViaService": [f"{s}.{ctx.region}.amazonaws.com" for s in services],
            }
        },
    }


def service_key_statement(ctx: AwsContext, sid: str, service: str, actions: Sequence[str]) -> Statement:
    """A service principal (e.g. CloudWatch alarms publishing to an encrypted topic) scoped to this account."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": service_principal(service),
        "Action": list(actions),
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
    }


def bucket_arn(ctx: AwsContext, bucket_name: str) -> str:
    return f"arn:{ctx.partition}:s3:::{bucket_name}"


def deny_insecure_transport(ctx: AwsContext, bucket_name: str) -> list[Statement]:
    """PCI DSS 4.2.1 / S3.5: no plain HTTP and nothing older than TLS 1.2."""
    arn = bucket_arn(ctx, bucket_name)
    resources = [arn, f"{arn}/*"]
    return [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyOutdatedTls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
        },
    ]


def log_delivery_bucket_statements(ctx: AwsContext, bucket_name: str, prefix: str = "") -> list[Statement]:
    """delivery.logs.amazonaws.com (flow logs, WAF logs) writes under `[<prefix>/]AWSLogs/<account>/` only."""
    arn = bucket_arn(ctx, bucket_name)
    path = f"{prefix}/" if prefix else ""
    source = {"aws:SourceAccount": ctx.account_id}
    arn_like = {"aws:SourceArn": ctx.arn("logs", "*")}
    return [
        {
            "Sid": "LogDeliveryAclCheck",
            "Effect": "Allow",
            "Principal": service_principal("delivery.logs"),
            "Action": "s3:GetBucketAcl",
            "Resource": arn,
            "Condition": {"StringEquals": source, "ArnLike": arn_like},
        },
        {
            "Sid": "LogDeliveryWrite",
            "Effect": "Allow",
            "Principal": service_principal("delivery.logs"),
            "Action": "s3:PutObject",
            "Resource": f"{arn}/{path}AWSLogs/{ctx.account_id}/*",
            "Condition": {
                "StringEquals": {**source, "s3:x-amz-acl": "bucket-owner-full-control"},
                "ArnLike": arn_like,
            },
        },
    ]


def alb_access_log_statements(ctx: AwsContext, bucket_name: str, prefix: str, elb_account_arn: str) -> list[Statement]:
    """ALB access logs under `<prefix>/AWSLogs/<account>/`.

    Regions older than August 2022 deliver as the region's ELB account, newer ones as the
    logdelivery service principal; both are admitted so the code assumes no region.
    """
    resource = f"{bucket_arn(ctx, bucket_name)}/{prefix}/AWSLogs/{ctx.account_id}/*"
    return [
        {
            "Sid": "AlbAccessLogsRegionalElbAccount",
            "Effect": "Allow",
            "Principal": {"AWS": elb_account_arn},
            "Action": "s3:PutObject",
            "Resource": resource,
        },
        {
            "Sid": "AlbAccessLogsDeliveryService",
            "Effect": "Allow",
            "Principal": service_principal("logdelivery.elasticloadbalancing"),
            "Action": "s3:PutObject",
            "Resource": resource,
        },
    ]


def server_access_log_statement(ctx: AwsContext, bucket_name: str, prefix: str) -> Statement:
    """S3 server access logs (S3.9) from this account's buckets."""
    return {
        "Sid": "S3ServerAccessLogs",
        "Effect": "Allow",
        "Principal": service_principal("logging.s3"),
        "Action": "s3:PutObject",
        "Resource": f"{bucket_arn(ctx, bucket_name)}/{prefix}/*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
    }


def assume_role_policy(service: str) -> str:
    return document([{"Effect": "Allow", "Principal": service_principal(service), "Action": "sts:AssumeRole"}])
