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
# The deprecated *V2 names of the same resources, which the rules also check.
SSE_V2 = "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2"
ACL_V2 = "aws:s3/bucketAclV2:BucketAclV2"
VERSIONING_V2 = "aws:s3/bucketVersioningV2:BucketVersioningV2"
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


KEY = "aws:kms/key:Key"
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
    Case(
        "pci-s3-8-block-public-access",
        PAB,
        {**ALL_FLAGS, "restrictPublicBuckets": False},
        "public access block must set restrictPublicBuckets=true",
    ),
    Case("pci-s3-4-sse-enabled", SSE, sse("aws:kms"), label="kms"),
    Case("pci-s3-4-sse-enabled", SSE, sse("AES256", None), label="sse-s3"),
    Case(
        "pci-s3-4-sse-enabled",
        SSE,
        sse("aws:kms", None),
        "aws:kms without a customer-managed key (kmsMasterKeyId)",
        label="no-key",
    ),
    Case(
        "pci-s3-4-sse-enabled",
        SSE,
        sse("aws:kms", "arn:aws:kms:eu-west-1:1:alias/aws/s3"),
        "aws:kms without a customer-managed key (kmsMasterKeyId)",
        label="aws-managed",
    ),
    Case(
        "pci-s3-4-sse-enabled", SSE, {"bucket": "b", "rules": []}, "encryption configuration has no rule", label="empty"
    ),
    Case(
        "pci-s3-4-sse-enabled",
        SSE,
        {"bucket": "b", "rules": [{"bucketKeyEnabled": True}]},
        "default encryption must be aws:kms (or AES256 for log delivery), not None",
        label="none",
    ),
    Case("pci-s3-5-ssl-requests-only", POLICY, {"policy": doc(TLS_ONLY)}),
    Case(
        "pci-s3-5-ssl-requests-only",
        POLICY,
        {"policy": doc(put_for("logging.s3.amazonaws.com"))},
        "bucket policy must deny every request with aws:SecureTransport=false",
    ),
    Case("pci-s3-2-no-public-policy", POLICY, {"policy": doc(TLS_ONLY, put_for("logging.s3.amazonaws.com"))}),
    Case(
        "pci-s3-2-no-public-policy",
        POLICY,
        {"policy": doc({"Sid": "Open", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject"})},
        "statement 'Open' allows any principal without a condition",
    ),
    Case("pci-s3-12-acls-disabled", OWNERSHIP, {"rule": {"objectOwnership": "BucketOwnerEnforced"}}),
    Case(
        "pci-s3-12-acls-disabled",
        OWNERSHIP,
        {"rule": {"objectOwnership": "ObjectWriter"}},
        "object ownership must be BucketOwnerEnforced (ACLs disabled)",
    ),
    Case(
        "pci-s3-12-acls-disabled",
        BUCKET,
        {"bucket": "b", "acl": "public-read"},
        "canned ACL 'public-read' makes the bucket public",
        label="canned-acl",
    ),
    Case("pci-s3-14-versioning", VERSIONING, {"versioningConfiguration": {"status": "Enabled"}}),
    Case(
        "pci-s3-14-versioning",
        VERSIONING,
        {"versioningConfiguration": {"status": "Suspended"}},
        "versioning must be Enabled, not 'Suspended'",
    ),
    Case("pci-s3-lifecycle-expiration", LIFECYCLE, lifecycle(90)),
    Case(
        "pci-s3-lifecycle-expiration",
        LIFECYCLE,
        {"rules": [{"id": "r", "status": "Enabled"}]},
        "no enabled lifecycle rule expires objects: data would be kept without limit",
    ),
    # KMS
    Case("pci-kms-4-key-rotation", "aws:kms/key:Key", {"enableKeyRotation": True}),
    Case("pci-kms-4-key-rotation", "aws:kms/key:Key", {"customerMasterKeySpec": "RSA_2048"}, label="asymmetric"),
    Case(
        "pci-kms-4-key-rotation",
        "aws:kms/key:Key",
        {"enableKeyRotation": False},
        "automatic key rotation must be enabled (enableKeyRotation=true)",
    ),
    Case(
        "pci-kms-4-key-rotation",
        "aws:kms/key:Key",
        {"enableKeyRotation": True, "rotationPeriodInDays": 730},
        "key rotates every 730 days (> 365)",
        {"maxRotationPeriodDays": 365},
        label="period",
    ),
    Case(
        "pci-kms-key-policy-restricted",
        "aws:kms/key:Key",
        {"policy": doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"}, "Action": "kms:*"})},
    ),
    Case(
        "pci-kms-key-policy-restricted",
        "aws:kms/key:Key",
        {"enableKeyRotation": True},
        "key has no explicit key policy (the default grants the whole account)",
    ),
    Case(
        "pci-kms-key-policy-restricted",
        "aws:kms/key:Key",
        {"policy": doc({"Sid": "All", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt"})},
        "key policy statement 'All' allows any principal without a condition",
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
        "table must be encrypted with a customer-managed KMS key (serverSideEncryption.kmsKeyArn)",
    ),
    # RDS
    Case("pci-rds-27-storage-encrypted", CLUSTER, {"storageEncrypted": True, "kmsKeyId": KEY_ARN}),
    Case(
        "pci-rds-27-storage-encrypted",
        CLUSTER,
        {"storageEncrypted": False},
        ("storage must be encrypted (storageEncrypted=true)", "storage must use a customer-managed KMS key (kmsKeyId)"),
    ),
    Case("pci-rds-2-no-public-access", INSTANCE, {"publiclyAccessible": False}),
    Case(
        "pci-rds-2-no-public-access",
        INSTANCE,
        {"publiclyAccessible": True},
        "database instance must not be publicly accessible",
    ),
    Case("pci-rds-13-auto-minor-upgrade", INSTANCE, {"autoMinorVersionUpgrade": True}),
    Case(
        "pci-rds-13-auto-minor-upgrade",
        INSTANCE,
        {"autoMinorVersionUpgrade": False},
        "automatic minor version upgrades must stay on (security patches)",
    ),
    Case("pci-rds-24-custom-admin-username", CLUSTER, {"masterUsername": "fraudadmin"}),
    Case(
        "pci-rds-24-custom-admin-username",
        CLUSTER,
        {"masterUsername": "postgres"},
        "administrator user name 'postgres' is a default; use a custom one",
    ),
    Case(
        "pci-rds-37-log-exports",
        CLUSTER,
        {"engine": "aurora-postgresql", "enabledCloudwatchLogsExports": ["postgresql"]},
    ),
    Case(
        "pci-rds-37-log-exports",
        CLUSTER,
        {"engine": "aurora-postgresql", "enabledCloudwatchLogsExports": []},
        "aurora-postgresql must export its 'postgresql' log to CloudWatch Logs (enabledCloudwatchLogsExports)",
    ),
    Case("pci-rds-12-iam-authentication", CLUSTER, {"iamDatabaseAuthenticationEnabled": True}),
    Case(
        "pci-rds-12-iam-authentication",
        CLUSTER,
        {},
        "IAM database authentication must be enabled (no static application passwords)",
    ),
    Case(
        "pci-rds-managed-master-password",
        CLUSTER,
        {"manageMasterUserPassword": True, "masterUserSecretKmsKeyId": KEY_ARN},
    ),
    Case(
        "pci-rds-managed-master-password",
        CLUSTER,
        {"masterPassword": "hunter2hunter2"},
        "the master password must be RDS-managed in Secrets Manager (manageMasterUserPassword), not set",
    ),
    Case(
        "pci-rds-managed-master-password",
        "aws:rds/instance:Instance",
        {"manageMasterUserPassword": True, "masterUserSecretKmsKeyId": KEY_ARN, "password": "hunter2hunter2"},
        "the master password must be RDS-managed in Secrets Manager (manageMasterUserPassword), not set",
        label="instance",
    ),
    Case(
        "pci-rds-managed-master-password",
        CLUSTER,
        {"manageMasterUserPassword": True},
        "the RDS-managed master secret must use a customer-managed key (masterUserSecretKmsKeyId)",
        label="no-key",
    ),
    Case("pci-rds-force-ssl", PARAMS, params(rds__force_ssl="1", ssl_min_protocol_version="TLSv1.2")),
    Case(
        "pci-rds-force-ssl", PARAMS, params(rds__force_ssl="0"), "PostgreSQL parameter group must set rds.force_ssl=1"
    ),
    Case(
        "pci-rds-force-ssl",
        PARAMS,
        params(rds__force_ssl="1", ssl_min_protocol_version="TLSv1"),
        "ssl_min_protocol_version 'TLSv1' allows TLS older than 1.2",
        label="tls1",
    ),
    Case("pci-rds-connection-logging", PARAMS, params(log_connections="1", log_disconnections="1")),
    Case(
        "pci-rds-connection-logging",
        PARAMS,
        params(log_connections="1"),
        "PostgreSQL parameter group must set log_disconnections=1",
    ),
    Case(
        "pci-rds-performance-insights-cmk",
        INSTANCE,
        {"performanceInsightsEnabled": True, "performanceInsightsKmsKeyId": KEY_ARN},
    ),
    Case(
        "pci-rds-performance-insights-cmk",
        INSTANCE,
        {"performanceInsightsEnabled": True},
        "Performance Insights data must be encrypted with a customer-managed key",
    ),
    # Secrets Manager, SQS
    Case("pci-secretsmanager-cmk", SECRET, {"kmsKeyId": KEY_ARN}),
    Case(
        "pci-secretsmanager-cmk",
        SECRET,
        {"name": "s"},
        "secret must be encrypted with a customer-managed KMS key (kmsKeyId)",
    ),
    Case("pci-secretsmanager-4-rotation-days", ROTATION, {"rotationRules": {"automaticallyAfterDays": 30}}),
    Case(
        "pci-secretsmanager-4-rotation-days",
        ROTATION,
        {"rotationRules": {"scheduleExpression": "rate(10 days)"}},
        label="rate",
    ),
    Case(
        "pci-secretsmanager-4-rotation-days",
        ROTATION,
        {"rotationRules": {"automaticallyAfterDays": 120}},
        "secret rotates every 120 days (> 90)",
    ),
    Case(
        "pci-secretsmanager-4-rotation-days",
        ROTATION,
        {"rotationRules": {"scheduleExpression": "cron(0 0 1 * ? *)"}},
        "schedule 'cron(0 0 1 * ? *)' cannot be checked against 90 days; use automaticallyAfterDays",
        label="cron",
    ),
    Case("pci-sqs-cmk-encryption", "aws:sqs/queue:Queue", {"kmsMasterKeyId": KEY_ARN}),
    Case(
        "pci-sqs-cmk-encryption",
        "aws:sqs/queue:Queue",
        {"sqsManagedSseEnabled": True},
        "queue must be encrypted with a customer-managed KMS key (kmsMasterKeyId)",
    ),
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
        "queue policy statement 'Any' allows any principal without a condition",
    ),
    # S3: each branch and boundary of the rules above
    Case(
        "pci-s3-8-block-public-access",
        PAB,
        {"blockPublicAcls": False, "ignorePublicAcls": True},
        (
            "public access block must set blockPublicAcls=true",
            "public access block must set blockPublicPolicy=true",
            "public access block must set restrictPublicBuckets=true",
        ),
        label="three-flags",
    ),
    Case("pci-s3-4-sse-enabled", SSE_V2, sse("aws:kms:dsse"), label="dsse-v2"),
    Case(
        "pci-s3-4-sse-enabled",
        SSE_V2,
        sse("aws:kms:dsse", None),
        "aws:kms:dsse without a customer-managed key (kmsMasterKeyId)",
        label="dsse-no-key",
    ),
    Case(
        "pci-s3-4-sse-enabled",
        SSE,
        {"bucket": "b", "rules": [{"applyServerSideEncryptionByDefault": {}}]},
        "default encryption must be aws:kms (or AES256 for log delivery), not None",
        label="no-algorithm",
    ),
    Case(
        "pci-s3-4-sse-enabled",
        SSE,
        sse("aws:fsx"),
        "default encryption must be aws:kms (or AES256 for log delivery), not 'aws:fsx'",
        label="other-algorithm",
    ),
    Case("pci-s3-5-ssl-requests-only", POLICY, {"policy": doc({**TLS_ONLY, "Action": ["*"]})}, label="any-action"),
    Case(
        "pci-s3-5-ssl-requests-only",
        POLICY,
        {"policy": doc({**TLS_ONLY, "Condition": {"Bool": {"aws:SecureTransport": False}}})},
        label="json-false",
    ),
    *[
        Case(
            "pci-s3-5-ssl-requests-only",
            POLICY,
            {"policy": doc({**TLS_ONLY, **change})},
            "bucket policy must deny every request with aws:SecureTransport=false",
            label=label,
        )
        for label, change in (
            ("allow", {"Effect": "Allow"}),
            ("one-principal", {"Principal": {"AWS": "arn:aws:iam::123456789012:root"}}),
            ("one-action", {"Action": "s3:GetObject"}),
            ("secure-true", {"Condition": {"Bool": {"aws:SecureTransport": "true"}}}),
        )
    ],
    Case(
        "pci-s3-2-no-public-policy",
        POLICY,
        {"policy": doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"})},
        "statement '?' allows any principal without a condition",
        label="no-sid",
    ),
    Case(
        "pci-s3-2-no-public-policy",
        POLICY,
        {
            "policy": doc(
                {
                    "Effect": "Allow",
                    "Principal": ["*"],
                    "Action": "s3:GetObject",
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}},
                }
            )
        },
        label="conditional",
    ),
    Case(
        "pci-s3-12-acls-disabled",
        OWNERSHIP,
        {},
        "object ownership must be BucketOwnerEnforced (ACLs disabled)",
        label="no-rule",
    ),
    Case("pci-s3-12-acls-disabled", ACL_V2, {"acl": "private"}, label="private-acl"),
    Case(
        "pci-s3-12-acls-disabled",
        ACL_V2,
        {"acl": "authenticated-read"},
        "canned ACL 'authenticated-read' makes the bucket public",
        label="authenticated-read",
    ),
    Case(
        "pci-s3-12-acls-disabled",
        ACL_V2,
        {
            "accessControlPolicy": {
                "grants": [
                    {"grantee": {"uri": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"}},
                    {"grantee": {"id": "owner-canonical-id"}},
                ]
            }
        },
        "ACL grant to http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
        label="grantee",
    ),
    Case(
        "pci-s3-12-acls-disabled",
        BUCKET,
        {"grants": [{"uri": "http://acs.amazonaws.com/groups/global/AllUsers", "permissions": ["READ"]}]},
        "ACL grant to http://acs.amazonaws.com/groups/global/AllUsers",
        label="bucket-grant",
    ),
    Case("pci-s3-14-versioning", VERSIONING_V2, {}, "versioning must be Enabled, not None", label="v2-unset"),
    Case(
        "pci-s3-lifecycle-expiration",
        LIFECYCLE,
        {"rules": [{"id": "r", "status": "Enabled", "expiration": {"date": "2030-01-01T00:00:00Z"}}]},
        label="date",
    ),
    Case(
        "pci-s3-lifecycle-expiration",
        LIFECYCLE,
        {"rules": [{"id": "r", "status": "Disabled", "expiration": {"days": 30}}]},
        "no enabled lifecycle rule expires objects: data would be kept without limit",
        label="disabled",
    ),
    Case(
        "pci-s3-lifecycle-expiration",
        LIFECYCLE,
        {"rules": [{"id": "r", "status": "Enabled", "expiration": {"expiredObjectDeleteMarker": True}}]},
        "no enabled lifecycle rule expires objects: data would be kept without limit",
        label="only-delete-markers",
    ),
    # Data stores: each branch and boundary of the rules above
    Case("pci-kms-4-key-rotation", KEY, {"keySpec": "ECC_NIST_P256"}, label="asymmetric-key-spec"),
    Case(
        "pci-kms-4-key-rotation",
        KEY,
        {"keySpec": "SYMMETRIC_DEFAULT", "keyUsage": "GENERATE_VERIFY_MAC"},
        label="mac-usage",
    ),
    Case(
        "pci-kms-4-key-rotation",
        KEY,
        {"customerMasterKeySpec": "SYMMETRIC_DEFAULT", "keyUsage": "ENCRYPT_DECRYPT"},
        "automatic key rotation must be enabled (enableKeyRotation=true)",
        label="symmetric-unset",
    ),
    Case(
        "pci-kms-4-key-rotation",
        KEY,
        {"enableKeyRotation": True, "rotationPeriodInDays": 180},
        config={"maxRotationPeriodDays": 180},
        label="period-at-limit",
    ),
    Case(
        "pci-kms-4-key-rotation",
        KEY,
        {"enableKeyRotation": True, "rotationPeriodInDays": 181},
        "key rotates every 181 days (> 180)",
        {"maxRotationPeriodDays": 180},
        label="period-a-day-over",
    ),
    Case(
        "pci-kms-key-policy-restricted",
        KEY,
        {"policy": doc({"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "kms:Decrypt"})},
        "key policy statement '?' allows any principal without a condition",
        label="no-sid",
    ),
    Case(
        "pci-dynamodb-cmk-encryption",
        "aws:dynamodb/table:Table",
        {"serverSideEncryption": {"enabled": False, "kmsKeyArn": KEY_ARN}},
        "table must be encrypted with a customer-managed KMS key (serverSideEncryption.kmsKeyArn)",
        label="disabled",
    ),
    Case(
        "pci-rds-27-storage-encrypted",
        "aws:rds/instance:Instance",
        {"storageEncrypted": True},
        "storage must use a customer-managed KMS key (kmsKeyId)",
        label="no-key",
    ),
    Case("pci-rds-2-no-public-access", "aws:rds/instance:Instance", {}, label="unset"),
    Case("pci-rds-13-auto-minor-upgrade", "aws:rds/instance:Instance", {}, label="unset"),
    Case("pci-rds-24-custom-admin-username", CLUSTER, {}, label="unset"),
    Case(
        "pci-rds-24-custom-admin-username",
        "aws:rds/instance:Instance",
        {"username": "Admin"},
        "administrator user name 'Admin' is a default; use a custom one",
        label="instance-any-case",
    ),
    Case(
        "pci-rds-37-log-exports",
        CLUSTER,
        {"engine": "aurora-mysql", "enabledCloudwatchLogsExports": ["audit"]},
        label="mysql",
    ),
    Case(
        "pci-rds-37-log-exports",
        CLUSTER,
        {"engine": "aurora-mysql", "enabledCloudwatchLogsExports": ["postgresql"]},
        "aurora-mysql must export its 'audit' log to CloudWatch Logs (enabledCloudwatchLogsExports)",
        label="mysql-no-audit",
    ),
    Case("pci-rds-37-log-exports", CLUSTER, {"engine": "neptune"}, label="other-engine"),
    Case(
        "pci-rds-managed-master-password",
        CLUSTER,
        {"manageMasterUserPassword": True, "masterUserSecretKmsKeyId": KEY_ARN, "masterPassword": "hunter2hunter2"},
        "the master password must be RDS-managed in Secrets Manager (manageMasterUserPassword), not set",
        label="managed-and-set",
    ),
    Case(
        "pci-rds-managed-master-password",
        CLUSTER,
        {"masterPassword": "hunter2hunter2", "replicationSourceIdentifier": "arn:aws:rds:eu-west-1:1:cluster:src"},
        label="replica",
    ),
    Case(
        "pci-rds-managed-master-password",
        "aws:rds/instance:Instance",
        {"snapshotIdentifier": "snap-1"},
        label="restore",
    ),
    Case("pci-rds-force-ssl", PARAMS, params(rds__force_ssl="1", ssl_min_protocol_version="TLSv1.3"), label="tls13"),
    Case("pci-rds-force-ssl", PARAMS, params(rds__force_ssl="1"), label="version-unset"),
    Case(
        "pci-rds-force-ssl",
        "aws:rds/parameterGroup:ParameterGroup",
        {"family": "mysql8.0", "name": "my", "parameters": []},
        label="mysql",
    ),
    Case(
        "pci-rds-force-ssl",
        "aws:rds/parameterGroup:ParameterGroup",
        {"family": "postgres16", "name": "pg", "parameters": []},
        "PostgreSQL parameter group must set rds.force_ssl=1",
        label="instance-group",
    ),
    Case(
        "pci-rds-connection-logging",
        PARAMS,
        params(log_connections="0"),
        (
            "PostgreSQL parameter group must set log_connections=1",
            "PostgreSQL parameter group must set log_disconnections=1",
        ),
        label="neither",
    ),
    Case(
        "pci-rds-connection-logging",
        PARAMS,
        {"family": "aurora-mysql8.0", "name": "my", "engine": "aurora-mysql"},
        label="mysql",
    ),
    Case("pci-rds-performance-insights-cmk", INSTANCE, {"performanceInsightsEnabled": False}, label="off"),
    Case(
        "pci-secretsmanager-cmk",
        SECRET,
        {"kmsKeyId": "arn:aws:kms:eu-west-1:1:alias/aws/secretsmanager"},
        "secret must be encrypted with a customer-managed KMS key (kmsKeyId)",
        label="aws-managed",
    ),
    Case(
        "pci-secretsmanager-4-rotation-days",
        ROTATION,
        {"rotationRules": {"automaticallyAfterDays": 30}},
        config={"maxRotationDays": 30},
        label="at-limit",
    ),
    Case(
        "pci-secretsmanager-4-rotation-days",
        ROTATION,
        {"rotationRules": {"automaticallyAfterDays": 31}},
        "secret rotates every 31 days (> 30)",
        {"maxRotationDays": 30},
        label="a-day-over",
    ),
    Case(
        "pci-secretsmanager-4-rotation-days",
        ROTATION,
        {"rotationRules": {"scheduleExpression": " rate(720 hours) "}},
        config={"maxRotationDays": 30},
        label="hours-at-limit",
    ),
    Case(
        "pci-secretsmanager-4-rotation-days",
        ROTATION,
        {"rotationRules": {"scheduleExpression": "rate(744 hours)"}},
        "secret rotates every 31 days (> 30)",
        {"maxRotationDays": 30},
        label="hours-over",
    ),
    Case(
        "pci-secretsmanager-4-rotation-days",
        ROTATION,
        {"rotationRules": {"scheduleExpression": "rate(31 days)"}},
        "secret rotates every 31 days (> 30)",
        {"maxRotationDays": 30},
        label="rate-days-over",
    ),
    Case("pci-secretsmanager-4-rotation-days", ROTATION, {}, "rotation has no schedule", label="none"),
    Case(
        "pci-sqs-cmk-encryption",
        "aws:sqs/queue:Queue",
        {"kmsMasterKeyId": "alias/aws/sqs"},
        "queue must be encrypted with a customer-managed KMS key (kmsMasterKeyId)",
        label="aws-managed",
    ),
    Case(
        "pci-sqs-no-public-policy",
        "aws:sqs/queue:Queue",
        {"policy": doc({"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage"})},
        "queue policy statement '?' allows any principal without a condition",
        label="queue-own-policy",
    ),
]


def _cluster(**props: Any) -> Any:
    return res(CLUSTER, "db", engine="aurora-postgresql", clusterIdentifier="db", **props)


def _secret(name: str) -> Any:
    return res(SECRET, name, name=name, arn=f"arn:aws:secretsmanager:eu-west-1:1:secret:{name}")


LOG_DESTINATION = [put_for("logging.s3.amazonaws.com")]

STACK_CASES = [
    StackCase("pci-s3-bucket-controls", bucket_stack()),
    StackCase("pci-s3-bucket-controls", bucket_stack(skip="pab"), "bucket b has no public access block"),
    StackCase(
        "pci-s3-bucket-controls",
        bucket_stack(skip="lifecycle"),
        "bucket b has no lifecycle configuration",
        label="lifecycle",
    ),
    StackCase("pci-s3-17-sse-kms", bucket_stack()),
    StackCase(
        "pci-s3-17-sse-kms", bucket_stack(algorithm="AES256", policy=LOG_DESTINATION), label="server-access-logs"
    ),
    StackCase(
        "pci-s3-17-sse-kms",
        bucket_stack(algorithm="AES256"),
        "bucket b must use SSE-KMS with a customer-managed key, not {'AES256'}",
    ),
    StackCase(
        "pci-s3-17-sse-kms",
        bucket_stack(algorithm="AES256", policy=[put_for("delivery.logs.amazonaws.com")]),
        "bucket b must use SSE-KMS with a customer-managed key, not {'AES256'}",
        label="flow-logs-can-use-kms",
    ),
    StackCase("pci-s3-9-access-logging", bucket_stack()),
    StackCase(
        "pci-s3-9-access-logging",
        bucket_stack(logged=False, policy=[put_for("delivery.logs.amazonaws.com")]),
        label="log-archive",
    ),
    StackCase("pci-s3-9-access-logging", bucket_stack(logged=False), "bucket b has no server access logging"),
    StackCase(
        "pci-s3-log-archive-retention",
        bucket_stack(policy=LOG_DESTINATION, lifecycle_props=lifecycle(400, (90, "GLACIER"))),
        config={"minRetentionDays": 365},
    ),
    StackCase("pci-s3-log-archive-retention", bucket_stack(lifecycle_props=lifecycle(30)), label="not-a-log-bucket"),
    StackCase(
        "pci-s3-log-archive-retention",
        bucket_stack(policy=LOG_DESTINATION, lifecycle_props=lifecycle(90)),
        "log bucket b expires logs after 90 days (< 365)",
        {"minRetentionDays": 365},
    ),
    StackCase(
        "pci-s3-log-archive-retention",
        bucket_stack(policy=LOG_DESTINATION, lifecycle_props=lifecycle(400, (30, "DEEP_ARCHIVE"))),
        "log bucket b archives logs after 30 days (< 90)",
        label="cold-too-early",
    ),
    StackCase("pci-rds-custom-parameter-group", [_cluster(dbClusterParameterGroupName="pg"), res(PARAMS, "pg", **PG)]),
    StackCase(
        "pci-rds-custom-parameter-group",
        [_cluster(), res(PARAMS, "pg", **PG)],
        "PostgreSQL cluster must use a parameter group of this stack (TLS-only, connection logs)",
    ),
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
    StackCase("pci-secretsmanager-1-rotation-enabled", [_secret("api")], "secret api has no automatic rotation"),
    # S3 stack rules: each companion, each exemption's limits, each retention boundary
    *[
        StackCase("pci-s3-bucket-controls", bucket_stack(skip=skip), f"bucket b has no {what}", label=skip)
        for skip, what in (
            ("sse", "default encryption"),
            ("versioning", "versioning"),
            ("ownership", "ownership controls"),
            ("policy", "bucket policy (TLS only)"),
        )
    ],
    StackCase(
        "pci-s3-bucket-controls",
        [res(BUCKET, "unnamed", id="u", arn="arn:aws:s3:::u")],
        tuple(
            f"bucket unnamed has no {what}"
            for what in (
                "public access block",
                "default encryption",
                "versioning",
                "ownership controls",
                "bucket policy (TLS only)",
                "lifecycle configuration",
            )
        ),
        label="bare-bucket-named-by-resource",
    ),
    StackCase("pci-s3-17-sse-kms", bucket_stack(algorithm="aws:kms:dsse"), label="dsse"),
    StackCase(
        "pci-s3-17-sse-kms",
        bucket_stack(algorithm="AES256", policy=[put_for("logdelivery.elasticloadbalancing.amazonaws.com")]),
        label="alb-access-logs",
    ),
    StackCase(
        "pci-s3-17-sse-kms",
        bucket_stack(algorithm="AES256", policy=[{**put_for("logging.s3.amazonaws.com"), "Action": "s3:*"}]),
        label="log-delivery-any-s3-action",
    ),
    StackCase(
        "pci-s3-17-sse-kms",
        bucket_stack(algorithm="AES256", policy=[{**put_for("logging.s3.amazonaws.com"), "Effect": "Deny"}]),
        "bucket b must use SSE-KMS with a customer-managed key, not {'AES256'}",
        label="log-delivery-denied",
    ),
    StackCase(
        "pci-s3-17-sse-kms",
        bucket_stack(algorithm="AES256", policy=[{**put_for("logging.s3.amazonaws.com"), "Action": "s3:GetObject"}]),
        "bucket b must use SSE-KMS with a customer-managed key, not {'AES256'}",
        label="log-delivery-reads-only",
    ),
    StackCase(
        "pci-s3-17-sse-kms",
        [*bucket_stack(skip="sse"), res(SSE, "b-sse", bucket="b", rules=[])],
        "bucket b must use SSE-KMS with a customer-managed key, not set()",
        label="no-rules",
    ),
    StackCase(
        "pci-s3-9-access-logging",
        [
            *bucket_stack(logged=False),
            res(BUCKET, "app", bucket="app", id="app"),
            res(LOGGING, "app-logging", bucket="app", targetBucket="b", targetPrefix="s3/app/"),
        ],
        label="target-of-another-bucket",
    ),
    StackCase(
        "pci-s3-log-archive-retention",
        bucket_stack(policy=LOG_DESTINATION, lifecycle_props=lifecycle(400, (120, "GLACIER"))),
        config={"minRetentionDays": 400, "immediatelyAvailableDays": 120},
        label="at-the-limits",
    ),
    StackCase(
        "pci-s3-log-archive-retention",
        bucket_stack(policy=LOG_DESTINATION, lifecycle_props=lifecycle(399, (119, "GLACIER"))),
        ("log bucket b expires logs after 399 days (< 400)", "log bucket b archives logs after 119 days (< 120)"),
        {"minRetentionDays": 400, "immediatelyAvailableDays": 120},
        label="one-day-short",
    ),
    StackCase(
        "pci-s3-log-archive-retention",
        bucket_stack(policy=LOG_DESTINATION, lifecycle_props=lifecycle(400, (30, "STANDARD_IA"))),
        label="readable-class",
    ),
    StackCase(
        "pci-s3-log-archive-retention",
        bucket_stack(
            policy=LOG_DESTINATION,
            lifecycle_props={"bucket": "b", "rules": [{"id": "r", "status": "Disabled", "expiration": {"days": 1}}]},
        ),
        label="disabled-rule",
    ),
    StackCase(
        "pci-s3-log-archive-retention",
        [
            *bucket_stack(policy=LOG_DESTINATION, skip="lifecycle"),
            res(
                LIFECYCLE,
                "b-lifecycle",
                bucket="b",
                rules=[{"id": "r", "status": "Enabled", "transitions": [{"storageClass": "GLACIER"}]}],
            ),
        ],
        label="no-days",
    ),
    StackCase(
        "pci-s3-log-archive-retention",
        [
            *bucket_stack(logged=False, lifecycle_props=lifecycle(30)),
            res(BUCKET, "app", bucket="app", id="app"),
            res(LOGGING, "app-logging", bucket="app", targetBucket="b", targetPrefix="s3/app/"),
        ],
        "log bucket b expires logs after 30 days (< 365)",
        label="access-log-target",
    ),
    # Every bucket and companion is judged, not only those up to the first compliant one; a violation names
    # the bucket by its S3 name, which differs from its logical name.
    StackCase(
        "pci-s3-9-access-logging",
        [*bucket_stack(), res(BUCKET, "app", bucket="fraud-app-dev", id="fraud-app-dev")],
        "bucket fraud-app-dev has no server access logging",
        label="unlogged-after-logged",
    ),
    StackCase(
        "pci-s3-9-access-logging",
        [*bucket_stack(logged=False, policy=LOG_DESTINATION), res(BUCKET, "app", bucket="fraud-app-dev")],
        "bucket fraud-app-dev has no server access logging",
        label="unlogged-after-log-archive",
    ),
    StackCase(
        "pci-s3-log-archive-retention",
        [
            res(BUCKET, "app", bucket="fraud-app-dev"),
            *bucket_stack(policy=LOG_DESTINATION, lifecycle_props=lifecycle(30)),
        ],
        "log bucket b expires logs after 30 days (< 365)",
        label="log-bucket-after-app-bucket",
    ),
    StackCase(
        "pci-s3-log-archive-retention",
        bucket_stack(
            policy=LOG_DESTINATION,
            lifecycle_props={
                "bucket": "b",
                "rules": [
                    {"id": "old", "status": "Disabled", "expiration": {"days": 1}},
                    {"id": "r", "status": "Enabled", "expiration": {"days": 30}},
                ],
            },
        ),
        "log bucket b expires logs after 30 days (< 365)",
        label="enabled-rule-after-disabled",
    ),
    StackCase(
        "pci-s3-17-sse-kms",
        [*bucket_stack(), res(SSE, "b-sse-s3", **sse("AES256", None))],
        "bucket b must use SSE-KMS with a customer-managed key, not {'AES256'}",
        label="sse-s3-after-kms",
    ),
    StackCase(
        "pci-s3-17-sse-kms",
        [
            *bucket_stack(algorithm="AES256", policy=LOG_DESTINATION),
            res(SSE_V2, "b-sse-v2", bucket="b", rules=[{"applyServerSideEncryptionByDefault": {}}]),
        ],
        "bucket b must use SSE-KMS with a customer-managed key, not {None}",
        label="unset-after-log-exemption",
    ),
    StackCase(
        "pci-s3-17-sse-kms",
        [
            *bucket_stack(skip="sse"),
            res(SSE, "b-sse", bucket="b", rules=[*sse("aws:kms")["rules"], *sse("aws:kms:dsse")["rules"]]),
        ],
        label="kms-and-dsse",
    ),
    StackCase(
        "pci-rds-custom-parameter-group",
        [res(CLUSTER, "my", engine="aurora-mysql", clusterIdentifier="my")],
        label="mysql",
    ),
    StackCase(
        "pci-secretsmanager-1-rotation-enabled",
        [_secret("secret-origin-verify-dev"), _secret("api-dev")],
        "secret api-dev has no automatic rotation",
        {"manuallyRotatedSecrets": ["secret-origin-verify-*"]},
        label="only-listed-are-exempt",
    ),
    StackCase(
        "pci-secretsmanager-1-rotation-enabled",
        [res(SECRET, "unnamed", arn="arn:aws:secretsmanager:eu-west-1:1:secret:x")],
        "secret unnamed has no automatic rotation",
        label="named-by-resource",
    ),
    StackCase(
        "pci-secretsmanager-1-rotation-enabled",
        [
            _secret("api"),
            res(ROTATION, "rot", secretId="arn:aws:secretsmanager:eu-west-1:1:secret:api"),
            _secret("db-dev"),
        ],
        "secret db-dev has no automatic rotation",
        label="unrotated-after-rotated",
    ),
    StackCase(
        "pci-rds-custom-parameter-group",
        [res(CLUSTER, "my", engine="aurora-mysql", clusterIdentifier="my"), _cluster(), res(PARAMS, "pg", **PG)],
        "PostgreSQL cluster must use a parameter group of this stack (TLS-only, connection logs)",
        label="postgres-after-mysql",
    ),
]
