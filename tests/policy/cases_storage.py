"""Compliant and non-compliant cases for the S3 and data-store rules."""

from __future__ import annotations

from typing import Any

from policy_support import Case, StackCase, doc, res

BUCKET = "aws:s3/bucket:Bucket"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/k"

TLS_ONLY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
ALL_FLAGS = {
    "blockPublicAcls": True,
    "blockPublicPolicy": True,
    "ignorePublicAcls": True,
    "restrictPublicBuckets": True,
}


def sse(algorithm: str, key: str | None = KEY_ARN) -> dict[str, Any]:
    default = {"sseAlgorithm": algorithm, **({"kmsMasterKeyId": key} if key else {})}
    return {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": default}]}


def put_for(service: str) -> dict[str, Any]:
    return {
        "Sid": "Delivery",
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::b/*",
    }


def lifecycle(expire: int, transition: tuple[int, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": "r", "status": "Enabled", "expiration": {"days": expire}}
    if transition:
        rule["transitions"] = [{"days": transition[0], "storageClass": transition[1]}]
    return {"bucket": "b", "rules": [rule]}


def bucket_stack(
    *,
    algorithm: str = "aws:kms",
    policy: list[dict[str, Any]] | None = None,
    logged: bool = True,
    lifecycle_props: dict[str, Any] | None = None,
    skip: str = "",
) -> list[Any]:
    """A bucket `b` with its companions (all linked by the bucket's name, as v7 ids are)."""
    companions: dict[str, tuple[str, dict[str, Any]]] = {
        "pab": (PAB, {"bucket": "b", **ALL_FLAGS}),
        "sse": (SSE, sse(algorithm, KEY_ARN if algorithm != "AES256" else None)),
        "versioning": (VERSIONING, {"bucket": "b", "versioningConfiguration": {"status": "Enabled"}}),
        "ownership": (OWNERSHIP, {"bucket": "b", "rule": {"objectOwnership": "BucketOwnerEnforced"}}),
        "policy": (POLICY, {"bucket": "b", "policy": doc(TLS_ONLY, *(policy or []))}),
        "lifecycle": (LIFECYCLE, lifecycle_props or lifecycle(365)),
    }
    if logged:
        companions["logging"] = (LOGGING, {"bucket": "b", "targetBucket": "logs", "targetPrefix": "s3/b/"})
    resources = [res(typ, f"b-{key}", **props) for key, (typ, props) in companions.items() if key != skip]
    return [res(BUCKET, "b", bucket="b", id="b", arn="arn:aws:s3:::b"), *resources]


CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
PARAMS = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
SECRET = "aws:secretsmanager/secret:Secret"
ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
PG = {"family": "aurora-postgresql16", "name": "pg"}


def params(**values: str) -> dict[str, Any]:
    return {**PG, "parameters": [{"name": k.replace("__", "."), "value": v} for k, v in values.items()]}


CASES = [
    Case("pci-s3-8-block-public-access", PAB, ALL_FLAGS),
    Case("pci-s3-8-block-public-access", PAB, {**ALL_FLAGS, "restrictPublicBuckets": False}, "restrictPublicBuckets"),
    Case("pci-s3-4-sse-enabled", SSE, sse("aws:kms"), label="kms"),
    Case("pci-s3-4-sse-enabled", SSE, sse("AES256", None), label="sse-s3"),
    Case("pci-s3-4-sse-enabled", SSE, sse("aws:kms", None), "customer-managed key", label="no-key"),
    Case(
        "pci-s3-4-sse-enabled",
        SSE,
        sse("aws:kms", "arn:aws:kms:eu-west-1:1:alias/aws/s3"),
        "customer-managed",
        label="aws-managed",
    ),
    Case("pci-s3-4-sse-enabled", SSE, {"bucket": "b", "rules": []}, "no rule", label="empty"),
    Case("pci-s3-4-sse-enabled", SSE, sse("aws:fsx", None), "must be aws:kms", label="other-algorithm"),
    Case("pci-s3-4-sse-enabled", SSE, {"bucket": "b", "rules": [{"bucketKeyEnabled": True}]}, "not None", label="none"),
    Case("pci-s3-5-ssl-requests-only", POLICY, {"policy": doc(TLS_ONLY)}),
    Case("pci-s3-5-ssl-requests-only", POLICY, {"policy": doc(put_for("logging.s3.amazonaws.com"))}, "SecureTransport"),
    Case("pci-s3-2-no-public-policy", POLICY, {"policy": doc(TLS_ONLY, put_for("logging.s3.amazonaws.com"))}),
    Case(
        "pci-s3-2-no-public-policy",
        POLICY,
        {"policy": doc({"Sid": "Open", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject"})},
        "any principal",
    ),
    Case("pci-s3-12-acls-disabled", OWNERSHIP, {"rule": {"objectOwnership": "BucketOwnerEnforced"}}),
    Case("pci-s3-12-acls-disabled", OWNERSHIP, {"rule": {"objectOwnership": "ObjectWriter"}}, "BucketOwnerEnforced"),
    Case("pci-s3-12-acls-disabled", BUCKET, {"bucket": "b", "acl": "public-read"}, "public", label="canned-acl"),
    Case("pci-s3-14-versioning", VERSIONING, {"versioningConfiguration": {"status": "Enabled"}}),
    Case("pci-s3-14-versioning", VERSIONING, {"versioningConfiguration": {"status": "Suspended"}}, "Enabled"),
    Case("pci-s3-lifecycle-expiration", LIFECYCLE, lifecycle(90)),
    Case("pci-s3-lifecycle-expiration", LIFECYCLE, {"rules": [{"id": "r", "status": "Enabled"}]}, "without limit"),
    # KMS
    Case("pci-kms-4-key-rotation", "aws:kms/key:Key", {"enableKeyRotation": True}),
    Case("pci-kms-4-key-rotation", "aws:kms/key:Key", {"customerMasterKeySpec": "RSA_2048"}, label="asymmetric"),
    Case("pci-kms-4-key-rotation", "aws:kms/key:Key", {"enableKeyRotation": False}, "enableKeyRotation"),
    Case(
        "pci-kms-4-key-rotation",
        "aws:kms/key:Key",
        {"enableKeyRotation": True, "rotationPeriodInDays": 730},
        "730",
        {"maxRotationPeriodDays": 365},
        label="period",
    ),
    Case(
        "pci-kms-key-policy-restricted",
        "aws:kms/key:Key",
        {"policy": doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "kms:*"})},
    ),
    Case("pci-kms-key-policy-restricted", "aws:kms/key:Key", {"enableKeyRotation": True}, "no explicit key policy"),
    Case(
        "pci-kms-key-policy-restricted",
        "aws:kms/key:Key",
        {"policy": doc({"Sid": "All", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt"})},
        "any principal",
        label="public",
    ),
    # DynamoDB
    Case(
        "pci-dynamodb-cmk-encryption",
        "aws:dynamodb/table:Table",
        {"serverSideEncryption": {"enabled": True, "kmsKeyArn": KEY_ARN}},
    ),
    Case(
        "pci-dynamodb-cmk-encryption",
        "aws:dynamodb/table:Table",
        {"serverSideEncryption": {"enabled": True}},
        "customer-managed",
    ),
    # RDS
    Case("pci-rds-27-storage-encrypted", CLUSTER, {"storageEncrypted": True, "kmsKeyId": KEY_ARN}),
    Case("pci-rds-27-storage-encrypted", CLUSTER, {"storageEncrypted": False}, "storageEncrypted"),
    Case("pci-rds-2-no-public-access", INSTANCE, {"publiclyAccessible": False}),
    Case("pci-rds-2-no-public-access", INSTANCE, {"publiclyAccessible": True}, "publicly"),
    Case("pci-rds-13-auto-minor-upgrade", INSTANCE, {"autoMinorVersionUpgrade": True}),
    Case("pci-rds-13-auto-minor-upgrade", INSTANCE, {"autoMinorVersionUpgrade": False}, "minor"),
    Case("pci-rds-24-custom-admin-username", CLUSTER, {"masterUsername": "fraudadmin"}),
    Case("pci-rds-24-custom-admin-username", CLUSTER, {"masterUsername": "postgres"}, "default"),
    Case(
        "pci-rds-37-log-exports",
        CLUSTER,
        {"engine": "aurora-postgresql", "enabledCloudwatchLogsExports": ["postgresql"]},
    ),
    Case(
        "pci-rds-37-log-exports",
        CLUSTER,
        {"engine": "aurora-postgresql", "enabledCloudwatchLogsExports": []},
        "postgresql",
    ),
    Case("pci-rds-12-iam-authentication", CLUSTER, {"iamDatabaseAuthenticationEnabled": True}),
    Case("pci-rds-12-iam-authentication", CLUSTER, {}, "IAM"),
    Case(
        "pci-rds-managed-master-password",
        CLUSTER,
        {"manageMasterUserPassword": True, "masterUserSecretKmsKeyId": KEY_ARN},
    ),
    Case("pci-rds-managed-master-password", CLUSTER, {"masterPassword": "hunter2hunter2"}, "RDS-managed"),
    Case(
        "pci-rds-managed-master-password",
        "aws:rds/instance:Instance",
        {"manageMasterUserPassword": True, "masterUserSecretKmsKeyId": KEY_ARN, "password": "hunter2hunter2"},
        "RDS-managed",
        label="instance",
    ),
    Case(
        "pci-rds-managed-master-password",
        CLUSTER,
        {"manageMasterUserPassword": True},
        "customer-managed",
        label="no-key",
    ),
    Case("pci-rds-force-ssl", PARAMS, params(rds__force_ssl="1", ssl_min_protocol_version="TLSv1.2")),
    Case("pci-rds-force-ssl", PARAMS, params(rds__force_ssl="0"), "rds.force_ssl"),
    Case(
        "pci-rds-force-ssl", PARAMS, params(rds__force_ssl="1", ssl_min_protocol_version="TLSv1"), "older", label="tls1"
    ),
    Case("pci-rds-connection-logging", PARAMS, params(log_connections="1", log_disconnections="1")),
    Case("pci-rds-connection-logging", PARAMS, params(log_connections="1"), "log_disconnections"),
    Case(
        "pci-rds-performance-insights-cmk",
        INSTANCE,
        {"performanceInsightsEnabled": True, "performanceInsightsKmsKeyId": KEY_ARN},
    ),
    Case("pci-rds-performance-insights-cmk", INSTANCE, {"performanceInsightsEnabled": True}, "customer-managed"),
    # Secrets Manager, SQS
    Case("pci-secretsmanager-cmk", SECRET, {"kmsKeyId": KEY_ARN}),
    Case("pci-secretsmanager-cmk", SECRET, {"name": "s"}, "customer-managed"),
    Case("pci-secretsmanager-4-rotation-days", ROTATION, {"rotationRules": {"automaticallyAfterDays": 30}}),
    Case(
        "pci-secretsmanager-4-rotation-days",
        ROTATION,
        {"rotationRules": {"scheduleExpression": "rate(10 days)"}},
        label="rate",
    ),
    Case("pci-secretsmanager-4-rotation-days", ROTATION, {"rotationRules": {"automaticallyAfterDays": 120}}, "120"),
    Case(
        "pci-secretsmanager-4-rotation-days",
        ROTATION,
        {"rotationRules": {"scheduleExpression": "cron(0 0 1 * ? *)"}},
        "cannot be checked",
        label="cron",
    ),
    Case("pci-sqs-cmk-encryption", "aws:sqs/queue:Queue", {"kmsMasterKeyId": KEY_ARN}),
    Case("pci-sqs-cmk-encryption", "aws:sqs/queue:Queue", {"sqsManagedSseEnabled": True}, "customer-managed"),
    Case(
        "pci-sqs-no-public-policy",
        "aws:sqs/queuePolicy:QueuePolicy",
        {
            "policy": doc(
                {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage"}
            )
        },
    ),
    Case(
        "pci-sqs-no-public-policy",
        "aws:sqs/queuePolicy:QueuePolicy",
        {"policy": doc({"Sid": "Any", "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage"})},
        "any principal",
    ),
]


def _cluster(**props: Any) -> Any:
    return res(CLUSTER, "db", engine="aurora-postgresql", clusterIdentifier="db", **props)


def _secret(name: str) -> Any:
    return res(SECRET, name, name=name, arn=f"arn:aws:secretsmanager:eu-west-1:1:secret:{name}")


LOG_DESTINATION = [put_for("logging.s3.amazonaws.com")]

STACK_CASES = [
    StackCase("pci-s3-bucket-controls", bucket_stack()),
    StackCase("pci-s3-bucket-controls", bucket_stack(skip="pab"), "no public access block"),
    StackCase("pci-s3-bucket-controls", bucket_stack(skip="lifecycle"), "no lifecycle", label="lifecycle"),
    StackCase("pci-s3-17-sse-kms", bucket_stack()),
    StackCase(
        "pci-s3-17-sse-kms", bucket_stack(algorithm="AES256", policy=LOG_DESTINATION), label="server-access-logs"
    ),
    StackCase("pci-s3-17-sse-kms", bucket_stack(algorithm="AES256"), "SSE-KMS"),
    StackCase(
        "pci-s3-17-sse-kms",
        bucket_stack(algorithm="AES256", policy=[put_for("delivery.logs.amazonaws.com")]),
        "SSE-KMS",
        label="flow-logs-can-use-kms",
    ),
    StackCase("pci-s3-9-access-logging", bucket_stack()),
    StackCase(
        "pci-s3-9-access-logging",
        bucket_stack(logged=False, policy=[put_for("delivery.logs.amazonaws.com")]),
        label="log-archive",
    ),
    StackCase("pci-s3-9-access-logging", bucket_stack(logged=False), "no server access logging"),
    StackCase(
        "pci-s3-log-archive-retention",
        bucket_stack(policy=LOG_DESTINATION, lifecycle_props=lifecycle(400, (90, "GLACIER"))),
        config={"minRetentionDays": 365},
    ),
    StackCase("pci-s3-log-archive-retention", bucket_stack(lifecycle_props=lifecycle(30)), label="not-a-log-bucket"),
    StackCase(
        "pci-s3-log-archive-retention",
        bucket_stack(policy=LOG_DESTINATION, lifecycle_props=lifecycle(90)),
        "90 days (< 365)",
        {"minRetentionDays": 365},
    ),
    StackCase(
        "pci-s3-log-archive-retention",
        bucket_stack(policy=LOG_DESTINATION, lifecycle_props=lifecycle(400, (30, "DEEP_ARCHIVE"))),
        "archives logs after 30",
        label="cold-too-early",
    ),
    StackCase("pci-rds-custom-parameter-group", [_cluster(dbClusterParameterGroupName="pg"), res(PARAMS, "pg", **PG)]),
    StackCase("pci-rds-custom-parameter-group", [_cluster(), res(PARAMS, "pg", **PG)], "parameter group"),
    StackCase(
        "pci-secretsmanager-1-rotation-enabled",
        [_secret("api"), res(ROTATION, "rot", secretId="arn:aws:secretsmanager:eu-west-1:1:secret:api")],
    ),
    StackCase(
        "pci-secretsmanager-1-rotation-enabled",
        [_secret("secret-origin-verify-dev")],
        config={"manuallyRotatedSecrets": ["secret-origin-verify-*"]},
        label="manual",
    ),
    StackCase("pci-secretsmanager-1-rotation-enabled", [_secret("api")], "no automatic rotation"),
]
