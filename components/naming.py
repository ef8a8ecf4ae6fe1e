"""Physical names: `{resource-type}-{purpose}-{environmentSuffix}`, checked against each service's rules.

Hyphens everywhere because S3, ALB, target group and RDS names reject underscores. Names that must be
unique across all AWS accounts (S3 buckets) end with the account id. A name that breaks its service's
length or character rules fails here, at program time, instead of half-way through `pulumi up`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class _Rule:
    prefix: str
    max_length: int
    globally_unique: bool = False


class Kind(Enum):
    """Resource kinds with their name prefix and the service's length limit."""

    VPC = _Rule("vpc", 255)
    SECURITY_GROUP = _Rule("sg", 255)
    KMS_ALIAS = _Rule("alias/kms", 256)
    BUCKET = _Rule("s3", 63, globally_unique=True)
    # WAF delivers logs only to buckets whose name starts with "aws-waf-logs-".
    WAF_LOG_BUCKET = _Rule("aws-waf-logs", 63, globally_unique=True)
    DB_CLUSTER = _Rule("aurora", 63)
    DB_SUBNET_GROUP = _Rule("dbsubnets", 255)
    DB_PARAMETER_GROUP = _Rule("dbparams", 255)
    # The seed fixes the table name as `transactions-{suffix}`: no type prefix.
    TABLE = _Rule("", 255)
    SECRET = _Rule("secret", 512)
    FUNCTION = _Rule("lambda", 64)
    LAYER = _Rule("layer", 140)
    ROLE = _Rule("role", 64)
    POLICY = _Rule("policy", 128)
    QUEUE = _Rule("sqs", 80)
    TOPIC = _Rule("sns", 256)
    LOAD_BALANCER = _Rule("alb", 32)
    TARGET_GROUP = _Rule("tg", 32)
    ECS_CLUSTER = _Rule("ecs", 255)
    ECS_SERVICE = _Rule("svc", 255)
    # Application Auto Scaling policies and scheduled actions (1-256 characters).
    SCALING_POLICY = _Rule("scaling", 256)
    SCHEDULED_ACTION = _Rule("schedule", 256)
    ECR_REPOSITORY = _Rule("ecr", 256)
    WEB_ACL = _Rule("waf", 128)
    REST_API = _Rule("apigw", 1024)
    EVENT_RULE = _Rule("rule", 64)
    DASHBOARD = _Rule("dashboard", 255)
    ALARM = _Rule("alarm", 255)
    LOG_GROUP = _Rule("/fraud/", 512)


_PURPOSE_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_NAME_RE = re.compile(r"^[a-z0-9/][a-z0-9/-]*[a-z0-9]$")


class InvalidNameError(ValueError):
    """A derived physical name breaks its service's rules."""


@dataclass(frozen=True)
class Namer:
    """Derives every physical name of one stack."""

    environment_suffix: str
    account_id: str

    def name(self, kind: Kind, purpose: str) -> str:
        rule = kind.value
        if not _PURPOSE_RE.match(purpose):
            raise InvalidNameError(f"purpose {purpose!r} for {kind.name}: use lowercase words joined by single hyphens")
        # A prefix ending in "/" is a path ("/fraud/audit-dev"); an empty one adds nothing.
        joiner = "" if not rule.prefix or rule.prefix.endswith("/") else "-"
        name = f"{rule.prefix}{joiner}{purpose}-{self.environment_suffix}"
        if rule.globally_unique:
            name = f"{name}-{self.account_id}"
        if len(name) > rule.max_length:
            raise InvalidNameError(
                f"{kind.name} name {name!r} has {len(name)} characters; the service allows {rule.max_length}. "
                "Use a shorter environmentSuffix or purpose."
            )
        if not _NAME_RE.match(name) or "--" in name:
            raise InvalidNameError(f"{kind.name} name {name!r} must be lowercase letters, digits and single hyphens")
        return name
