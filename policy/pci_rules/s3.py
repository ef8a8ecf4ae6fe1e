"""S3: every bucket private, encrypted, TLS-only, versioned, logged, with bounded and sufficient retention.

pulumi-aws v7 configures a bucket through separate resources (public access block, encryption,
versioning, ownership controls, policy, lifecycle, logging). The per-resource rules check each of
those; the stack rules join them to their bucket, which is the only place that knows whether a
bucket has one at all and what the bucket is for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource

from .base import (
    Config,
    Props,
    Rule,
    StackGraph,
    as_list,
    describe,
    dig,
    is_public_allow,
    number,
    principals,
    resource_rule,
    stack_rule,
    statements,
)


def _v2(token: str) -> tuple[str, str]:
    """The v7 type and its deprecated *V2 alias (same resource, older name)."""
    module, name = token.rsplit(":", 1)
    mod, _ = module.rsplit("/", 1)
    return token, f"{mod}/{name[0].lower()}{name[1:]}V2:{name}V2"


BUCKET = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
ENCRYPTION = _v2("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
VERSIONING = _v2("aws:s3/bucketVersioning:BucketVersioning")
OWNERSHIP = ("aws:s3/bucketOwnershipControls:BucketOwnershipControls",)
ACL = _v2("aws:s3/bucketAcl:BucketAcl")
POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
LIFECYCLE = _v2("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
LOGGING = _v2("aws:s3/bucketLogging:BucketLogging")

KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
PUBLIC_CANNED_ACLS = ("public-read", "public-read-write", "authenticated-read")
# Services that deliver logs into a bucket: such a bucket is itself a log archive.
LOG_DELIVERY_SERVICES = (
    "delivery.logs.amazonaws.com",  # VPC flow logs, WAF logs
    "logging.s3.amazonaws.com",  # S3 server access logs
    "logdelivery.elasticloadbalancing.amazonaws.com",  # ALB access logs
)
# ...of which these cannot write to an SSE-KMS bucket (AWS: S3 server access logs and ALB access
# logs support SSE-S3 only). The one documented reason a bucket may be SSE-S3.
SSE_S3_ONLY_LOG_SERVICES = ("logging.s3.amazonaws.com", "logdelivery.elasticloadbalancing.amazonaws.com")
# Storage classes whose objects must be restored before they can be read (not "immediately available").
ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")


def _block_public_access(_: str, props: Props, __: Config) -> Iterator[str]:
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        if props.get(flag) is not True:
            yield f"public access block must set {flag}=true"


def _sse_enabled(_: str, props: Props, __: Config) -> Iterator[str]:
    rules = as_list(props.get("rules"))
    if not rules:
        yield "encryption configuration has no rule"
    for rule in rules:
        default = dig(rule, "applyServerSideEncryptionByDefault")
        algorithm = dig(default, "sseAlgorithm")
        if algorithm in KMS_ALGORITHMS:
            key = dig(default, "kmsMasterKeyId")
            if not key or str(key).endswith("alias/aws/s3"):
                yield f"{algorithm} without a customer-managed key (kmsMasterKeyId)"
        elif algorithm != "AES256":
            yield f"default encryption must be aws:kms (or AES256 for log delivery), not {algorithm!r}"


def _ssl_only(_: str, props: Props, __: Config) -> Iterator[str]:
    for statement in statements(props.get("policy")):
        condition = dig(statement, "Condition", "Bool", "aws:SecureTransport")
        actions = as_list(statement.get("Action"))
        if (
            statement.get("Effect") == "Deny"
            and "*" in principals(statement)
            and any(a in ("s3:*", "*") for a in actions)
            and str(condition).lower() == "false"
        ):
            return
    yield "bucket policy must deny every request with aws:SecureTransport=false"


def _no_public_policy(_: str, props: Props, __: Config) -> Iterator[str]:
    for statement in statements(props.get("policy")):
        if is_public_allow(statement):
            yield f"statement {statement.get('Sid', '?')!r} allows any principal without a condition"


def _acls_disabled(resource_type: str, props: Props, __: Config) -> Iterator[str]:
    if resource_type in OWNERSHIP:
        if dig(props, "rule", "objectOwnership") != "BucketOwnerEnforced":
            yield "object ownership must be BucketOwnerEnforced (ACLs disabled)"
        return
    # A bucket or ACL resource: no public canned ACL, no grant to everyone.
    acl = props.get("acl")
    if acl in PUBLIC_CANNED_ACLS:
        yield f"canned ACL {acl!r} makes the bucket public"
    grants = as_list(props.get("grants")) + as_list(dig(props, "accessControlPolicy", "grants"))
    for grant in grants:
        uri = str(dig(grant, "uri") or dig(grant, "grantee", "uri") or "")
        if uri.endswith(("/global/AllUsers", "/global/AuthenticatedUsers")):
            yield f"ACL grant to {uri}"


def _versioning(_: str, props: Props, __: Config) -> Iterator[str]:
    status = dig(props, "versioningConfiguration", "status")
    if status != "Enabled":
        yield f"versioning must be Enabled, not {status!r}"


def _lifecycle(_: str, props: Props, __: Config) -> Iterator[str]:
    expiring = [
        r
        for r in as_list(props.get("rules"))
        if dig(r, "status") == "Enabled" and (number(dig(r, "expiration", "days")) or dig(r, "expiration", "date"))
    ]
    if not expiring:
        yield "no enabled lifecycle rule expires objects: data would be kept without limit"


# --- stack rules --------------------------------------------------------------------------------


def _label(bucket: PolicyResource) -> str:
    name = bucket.props.get("bucket")
    return name if isinstance(name, str) else bucket.name


def _companions(graph: StackGraph, bucket: PolicyResource, types: Iterable[str]) -> list[PolicyResource]:
    return graph.referrers(bucket, types, "bucket")


def _policy_grants_put(graph: StackGraph, bucket: PolicyResource, services: Iterable[str]) -> bool:
    wanted = set(services)
    for policy in _companions(graph, bucket, POLICY):
        for statement in statements(policy.props.get("policy")):
            actions = as_list(statement.get("Action"))
            if (
                statement.get("Effect") == "Allow"
                and any(a in ("s3:PutObject", "s3:*") for a in actions)
                and wanted.intersection(principals(statement))
            ):
                return True
    return False


def is_log_destination(graph: StackGraph, bucket: PolicyResource) -> bool:
    """A bucket that AWS services deliver logs to, or that other buckets log their access to."""
    return _policy_grants_put(graph, bucket, LOG_DELIVERY_SERVICES) or bool(
        graph.referrers(bucket, LOGGING, "targetBucket")
    )


REQUIRED_COMPANIONS: Mapping[str, tuple[str, ...]] = {
    "public access block": PUBLIC_ACCESS_BLOCK,
    "default encryption": ENCRYPTION,
    "versioning": VERSIONING,
    "ownership controls": OWNERSHIP,
    "bucket policy (TLS only)": POLICY,
    "lifecycle configuration": LIFECYCLE,
}


def _bucket_controls(graph: StackGraph, _: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    for bucket in graph.of_type(*BUCKET):
        for what, types in REQUIRED_COMPANIONS.items():
            if not _companions(graph, bucket, types):
                yield bucket, f"bucket {_label(bucket)} has no {what}"


def _sse_kms(graph: StackGraph, _: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    for bucket in graph.of_type(*BUCKET):
        for encryption in _companions(graph, bucket, ENCRYPTION):
            algorithms = {
                dig(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
                for rule in as_list(encryption.props.get("rules"))
            }
            if algorithms and algorithms <= set(KMS_ALGORITHMS):
                continue
            # Exemption (documented in components/bucket.py and data_plane.py): SSE-S3 is allowed only
            # on a bucket whose policy admits S3 server access logs or ALB access logs, which AWS
            # cannot deliver to SSE-KMS buckets. Such a bucket holds request metadata, never card data.
            if algorithms == {"AES256"} and _policy_grants_put(graph, bucket, SSE_S3_ONLY_LOG_SERVICES):
                continue
            yield bucket, f"bucket {_label(bucket)} must use SSE-KMS with a customer-managed key, not {algorithms}"


def _access_logging(graph: StackGraph, _: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    for bucket in graph.of_type(*BUCKET):
        if _companions(graph, bucket, LOGGING):
            continue
        # Exemption (components/bucket.py: "None for the log buckets themselves"): a log archive is
        # written only by AWS log delivery; logging its own access would loop or add no evidence.
        if is_log_destination(graph, bucket):
            continue
        yield bucket, f"bucket {_label(bucket)} has no server access logging"


def _log_retention(graph: StackGraph, config: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    minimum = int(config["minRetentionDays"])
    hot = int(config["immediatelyAvailableDays"])
    for bucket in graph.of_type(*BUCKET):
        if not is_log_destination(graph, bucket):
            continue
        for lifecycle in _companions(graph, bucket, LIFECYCLE):
            for rule in as_list(lifecycle.props.get("rules")):
                if dig(rule, "status") != "Enabled":
                    continue
                days = number(dig(rule, "expiration", "days"))
                if days is not None and days < minimum:
                    yield bucket, f"log bucket {_label(bucket)} expires logs after {days:g} days (< {minimum})"
                for transition in as_list(dig(rule, "transitions")):
                    moved = number(dig(transition, "days"))
                    if dig(transition, "storageClass") in ARCHIVE_CLASSES and moved is not None and moved < hot:
                        yield bucket, f"log bucket {_label(bucket)} archives logs after {moved:g} days (< {hot})"


def _day_settings(**settings: Any) -> dict[str, dict[str, Any]]:
    return {name: {"type": "integer", "minimum": 1, "default": default} for name, default in settings.items()}


POLICIES: list[Rule] = [
    resource_rule(
        "pci-s3-8-block-public-access",
        describe("v4.0.1 req 1.4.4", "S3.1/S3.8", "CKV_AWS_53/54/55/56",
                 "every bucket public access block sets all four flags."),
        PUBLIC_ACCESS_BLOCK,
        _block_public_access,
    ),
    resource_rule(
        "pci-s3-4-sse-enabled",
        describe("v3.2.1 req 3.4", "S3.4", "CKV_AWS_19",
                 "a bucket's default encryption is SSE-KMS with a customer-managed key, or SSE-S3."),
        ENCRYPTION,
        _sse_enabled,
    ),
    stack_rule(
        "pci-s3-17-sse-kms",
        describe("v4.0.1 req 3.5.1", "S3.17", "CKV_AWS_145",
                 "buckets are encrypted with a customer-managed KMS key; SSE-S3 only for buckets that receive "
                 "S3 server access logs or ALB access logs (AWS cannot deliver those to SSE-KMS buckets)."),
        _sse_kms,
    ),
    resource_rule(
        "pci-s3-5-ssl-requests-only",
        describe("v4.0.1 req 4.2.1", "S3.5", "CKV_AWS_379",
                 "bucket policies deny every request without TLS (aws:SecureTransport=false)."),
        POLICY,
        _ssl_only,
    ),
    resource_rule(
        "pci-s3-2-no-public-policy",
        describe("v4.0.1 req 1.4.4", "S3.2/S3.3", "CKV_AWS_70",
                 "no bucket policy statement allows any principal ('*') without a condition."),
        POLICY,
        _no_public_policy,
    ),
    resource_rule(
        "pci-s3-12-acls-disabled",
        describe("v4.0.1 req 7.2.1", "S3.12", "CKV2_AWS_65",
                 "ACLs are disabled (BucketOwnerEnforced) and no public canned ACL or grant exists."),
        (*OWNERSHIP, *ACL, *BUCKET),
        _acls_disabled,
    ),
    resource_rule(
        "pci-s3-14-versioning",
        describe("v4.0.1 req 10.3.2", "S3.14", "CKV_AWS_21",
                 "versioning is enabled, so overwritten or deleted objects (audit evidence) are recoverable."),
        VERSIONING,
        _versioning,
    ),
    resource_rule(
        "pci-s3-lifecycle-expiration",
        describe("v4.0.1 req 3.2.1", None, "CKV2_AWS_61",
                 "every lifecycle configuration expires objects: storage is limited to the retention period."),
        LIFECYCLE,
        _lifecycle,
    ),
    stack_rule(
        "pci-s3-bucket-controls",
        describe("v4.0.1 req 1.4.4, 3.5.1", "S3.8", "CKV2_AWS_6",
                 "every bucket has a public access block, default encryption, versioning, ownership controls, "
                 "a bucket policy and a lifecycle configuration (separate resources in pulumi-aws v7)."),
        _bucket_controls,
    ),
    stack_rule(
        "pci-s3-9-access-logging",
        describe("v4.0.1 req 10.2.1", "S3.9", "CKV_AWS_18",
                 "every bucket logs server access, except log archives written by AWS log delivery."),
        _access_logging,
    ),
    stack_rule(
        "pci-s3-log-archive-retention",
        describe("v4.0.1 req 10.5.1", None, "CKV2_AWS_61 (nearest: lifecycle configured)",
                 "log archive buckets keep logs at least minRetentionDays and keep them immediately readable "
                 "(no GLACIER/DEEP_ARCHIVE) for immediatelyAvailableDays."),
        _log_retention,
        _day_settings(minRetentionDays=365, immediatelyAvailableDays=90),
    ),
]  # fmt: skip
