"""Data stores and their keys: KMS, DynamoDB, Aurora/RDS, Secrets Manager, SQS.

Deletion protection (RDS.7, DynamoDB.6, CKV_AWS_139/293) is deliberately not checked: every stack
must be destroyable (ARCHITECTURE.md), and no deletion-protection control is PCI-tagged
(reference/pci-controls.md §5). Audit evidence that must outlive a stack goes to the archive.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

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
    matches_any,
    number,
    resource_rule,
    stack_rule,
    statements,
)

KMS_KEY = ("aws:kms/key:Key",)
TABLE = ("aws:dynamodb/table:Table",)
CLUSTER = ("aws:rds/cluster:Cluster",)
INSTANCE = ("aws:rds/instance:Instance",)
CLUSTER_INSTANCE = ("aws:rds/clusterInstance:ClusterInstance",)
PARAMETER_GROUPS = ("aws:rds/clusterParameterGroup:ClusterParameterGroup", "aws:rds/parameterGroup:ParameterGroup")
SECRET = ("aws:secretsmanager/secret:Secret",)
SECRET_ROTATION = ("aws:secretsmanager/secretRotation:SecretRotation",)
QUEUE = ("aws:sqs/queue:Queue",)
QUEUE_POLICY = ("aws:sqs/queuePolicy:QueuePolicy",)

# Engine defaults and well-known names a scanner tries first (RDS.24).
DEFAULT_ADMIN_NAMES = ("postgres", "admin", "root", "administrator", "master", "sa", "rdsadmin", "mysql", "user")
RATE = re.compile(r"^rate\((\d+)\s+(hour|hours|day|days)\)$")


def _key_rotation(_: str, props: Props, config: Config) -> Iterator[str]:
    # Only symmetric encryption keys can rotate automatically (KMS rejects rotation for the others).
    spec = props.get("customerMasterKeySpec") or props.get("keySpec") or "SYMMETRIC_DEFAULT"
    if spec != "SYMMETRIC_DEFAULT" or props.get("keyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
        return
    if props.get("enableKeyRotation") is not True:
        yield "automatic key rotation must be enabled (enableKeyRotation=true)"
    period = number(props.get("rotationPeriodInDays"))
    if period is not None and period > config["maxRotationPeriodDays"]:
        yield f"key rotates every {period:g} days (> {config['maxRotationPeriodDays']})"


def _key_policy(_: str, props: Props, __: Config) -> Iterator[str]:
    if not props.get("policy"):
        yield "key has no explicit key policy (the default grants the whole account)"
    for statement in statements(props.get("policy")):
        if is_public_allow(statement):
            yield f"key policy statement {statement.get('Sid', '?')!r} allows any principal without a condition"


def _table_cmk(_: str, props: Props, __: Config) -> Iterator[str]:
    sse = props.get("serverSideEncryption")
    if dig(sse, "enabled") is not True or not dig(sse, "kmsKeyArn"):
        yield "table must be encrypted with a customer-managed KMS key (serverSideEncryption.kmsKeyArn)"


def _storage_encrypted(_: str, props: Props, __: Config) -> Iterator[str]:
    if props.get("storageEncrypted") is not True:
        yield "storage must be encrypted (storageEncrypted=true)"
    if not props.get("kmsKeyId"):
        yield "storage must use a customer-managed KMS key (kmsKeyId)"


def _not_public(_: str, props: Props, __: Config) -> Iterator[str]:
    if props.get("publiclyAccessible") is True:
        yield "database instance must not be publicly accessible"


def _minor_upgrades(_: str, props: Props, __: Config) -> Iterator[str]:
    if props.get("autoMinorVersionUpgrade") is False:
        yield "automatic minor version upgrades must stay on (security patches)"


def _custom_admin(_: str, props: Props, __: Config) -> Iterator[str]:
    username = props.get("masterUsername") or props.get("username")
    if isinstance(username, str) and username.lower() in DEFAULT_ADMIN_NAMES:
        yield f"administrator user name {username!r} is a default; use a custom one"


def _postgres(props: Props) -> bool:
    return "postgres" in str(props.get("engine", "")) or "postgres" in str(props.get("family", ""))


def _log_exports(_: str, props: Props, __: Config) -> Iterator[str]:
    exports = as_list(props.get("enabledCloudwatchLogsExports"))
    engine = str(props.get("engine", ""))
    wanted = "postgresql" if "postgres" in engine else "audit" if "mysql" in engine else None
    if wanted and wanted not in exports:
        yield f"{engine} must export its {wanted!r} log to CloudWatch Logs (enabledCloudwatchLogsExports)"


def _iam_auth(_: str, props: Props, __: Config) -> Iterator[str]:
    if props.get("iamDatabaseAuthenticationEnabled") is not True:
        yield "IAM database authentication must be enabled (no static application passwords)"


def _managed_master_password(_: str, props: Props, __: Config) -> Iterator[str]:
    if props.get("replicationSourceIdentifier") or props.get("snapshotIdentifier"):
        return  # replicas and restores inherit the source's credentials
    # Clusters name it masterPassword, instances password.
    if props.get("manageMasterUserPassword") is not True or props.get("masterPassword") or props.get("password"):
        yield "the master password must be RDS-managed in Secrets Manager (manageMasterUserPassword), not set"
    elif not props.get("masterUserSecretKmsKeyId"):
        yield "the RDS-managed master secret must use a customer-managed key (masterUserSecretKmsKeyId)"


def _parameters(props: Props) -> dict[str, str]:
    return {str(dig(p, "name")): str(dig(p, "value")) for p in as_list(props.get("parameters"))}


def _force_ssl(_: str, props: Props, __: Config) -> Iterator[str]:
    if not _postgres(props):
        return
    params = _parameters(props)
    if params.get("rds.force_ssl") != "1":
        yield "PostgreSQL parameter group must set rds.force_ssl=1"
    version = params.get("ssl_min_protocol_version")
    if version is not None and version not in ("TLSv1.2", "TLSv1.3"):
        yield f"ssl_min_protocol_version {version!r} allows TLS older than 1.2"


def _connection_logging(_: str, props: Props, __: Config) -> Iterator[str]:
    if not _postgres(props):
        return
    params = _parameters(props)
    for name in ("log_connections", "log_disconnections"):
        if params.get(name) != "1":
            yield f"PostgreSQL parameter group must set {name}=1"


def _performance_insights_cmk(_: str, props: Props, __: Config) -> Iterator[str]:
    if props.get("performanceInsightsEnabled") is True and not props.get("performanceInsightsKmsKeyId"):
        yield "Performance Insights data must be encrypted with a customer-managed key"


def _cluster_parameter_group(graph: StackGraph, _: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    groups = graph.of_type(*PARAMETER_GROUPS)
    for cluster in graph.of_type(*CLUSTER):
        if not _postgres(cluster.props):
            continue
        if not any(graph.refers(cluster, "dbClusterParameterGroupName", g) for g in groups):
            yield cluster, "PostgreSQL cluster must use a parameter group of this stack (TLS-only, connection logs)"


def _secret_cmk(_: str, props: Props, __: Config) -> Iterator[str]:
    key = props.get("kmsKeyId")
    if not key or str(key).endswith("alias/aws/secretsmanager"):
        yield "secret must be encrypted with a customer-managed KMS key (kmsKeyId)"


def _rotation_days(_: str, props: Props, config: Config) -> Iterator[str]:
    limit = config["maxRotationDays"]
    rules = props.get("rotationRules")
    days = number(dig(rules, "automaticallyAfterDays"))
    schedule = dig(rules, "scheduleExpression")
    if days is None and isinstance(schedule, str):
        match = RATE.match(schedule.strip())
        if match:
            days = int(match.group(1)) / (24 if match.group(2).startswith("hour") else 1)
        else:
            yield f"schedule {schedule!r} cannot be checked against {limit} days; use automaticallyAfterDays"
            return
    if days is None:
        yield "rotation has no schedule"
    elif days > limit:
        yield f"secret rotates every {days:g} days (> {limit})"


def _secrets_rotated(graph: StackGraph, config: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    manual = as_list(config["manuallyRotatedSecrets"])
    for secret in graph.of_type(*SECRET):
        if graph.referrers(secret, SECRET_ROTATION, "secretId"):
            continue
        name = secret.props.get("name")
        # Exemption, per stack config: secrets whose rotation is a documented manual procedure
        # (the origin-verify header value: README, "Operations"), listed by name pattern.
        if isinstance(name, str) and matches_any(name, manual):
            continue
        yield secret, f"secret {name or secret.name} has no automatic rotation"


def _queue_cmk(_: str, props: Props, __: Config) -> Iterator[str]:
    key = props.get("kmsMasterKeyId")
    if not key or str(key).endswith("alias/aws/sqs"):
        yield "queue must be encrypted with a customer-managed KMS key (kmsMasterKeyId)"


def _queue_policy(_: str, props: Props, __: Config) -> Iterator[str]:
    for statement in statements(props.get("policy")):
        if is_public_allow(statement):
            yield f"queue policy statement {statement.get('Sid', '?')!r} allows any principal without a condition"


POLICIES: list[Rule] = [
    resource_rule(
        "pci-kms-4-key-rotation",
        describe("v4.0.1 req 3.7.4", "KMS.4", "CKV_AWS_7",
                 "customer-managed symmetric keys rotate automatically, at most every maxRotationPeriodDays."),
        KMS_KEY,
        _key_rotation,
        {"maxRotationPeriodDays": {"type": "integer", "minimum": 90, "maximum": 2560, "default": 365}},
    ),
    resource_rule(
        "pci-kms-key-policy-restricted",
        describe("v4.0.1 req 3.6.1, 7.2.1", None, "CKV_AWS_33, CKV2_AWS_64",
                 "every key has an explicit key policy and no statement allows any principal unconditionally."),
        KMS_KEY,
        _key_policy,
    ),
    resource_rule(
        "pci-dynamodb-cmk-encryption",
        describe("v4.0.1 req 3.5.1", None, "CKV_AWS_119",
                 "DynamoDB tables are encrypted with a customer-managed KMS key."),
        TABLE,
        _table_cmk,
    ),
    resource_rule(
        "pci-rds-27-storage-encrypted",
        describe("v4.0.1 req 3.5.1", "RDS.27/RDS.3", "CKV_AWS_96, CKV_AWS_327",
                 "database storage is encrypted with a customer-managed KMS key."),
        (*CLUSTER, *INSTANCE),
        _storage_encrypted,
    ),
    resource_rule(
        "pci-rds-2-no-public-access",
        describe("v4.0.1 req 1.4.4", "RDS.2", "CKV_AWS_17",
                 "database instances are not publicly accessible."),
        (*CLUSTER_INSTANCE, *INSTANCE),
        _not_public,
    ),
    resource_rule(
        "pci-rds-13-auto-minor-upgrade",
        describe("v4.0.1 req 6.3.3", "RDS.13", "CKV_AWS_226",
                 "database instances take minor version (security) upgrades automatically."),
        (*CLUSTER_INSTANCE, *INSTANCE),
        _minor_upgrades,
    ),
    resource_rule(
        "pci-rds-24-custom-admin-username",
        describe("v4.0.1 req 2.2.2", "RDS.24/RDS.25", "CKV_AWS_391 (nearest: the same check for Redshift)",
                 "the administrator user name is not an engine default (postgres, admin, root, ...)."),
        (*CLUSTER, *INSTANCE),
        _custom_admin,
    ),
    resource_rule(
        "pci-rds-37-log-exports",
        describe("v4.0.1 req 10.4.2", "RDS.37", "CKV_AWS_324",
                 "Aurora PostgreSQL clusters publish their postgresql log to CloudWatch Logs."),
        CLUSTER,
        _log_exports,
    ),
    resource_rule(
        "pci-rds-12-iam-authentication",
        describe("v4.0.1 req 8.6.2", "RDS.12", "CKV_AWS_162",
                 "clusters accept IAM authentication, so the application holds no static database password."),
        CLUSTER,
        _iam_auth,
    ),
    resource_rule(
        "pci-rds-managed-master-password",
        describe("v4.0.1 req 8.6.2, 8.3.2", None, "CKV_AWS_149 (nearest: secrets encrypted with a CMK)",
                 "the master password is generated and kept by RDS in Secrets Manager under a customer key, "
                 "never written in the program or its state."),
        (*CLUSTER, *INSTANCE),
        _managed_master_password,
    ),
    resource_rule(
        "pci-rds-force-ssl",
        describe("v4.0.1 req 4.2.1", None, "CKV2_AWS_69",
                 "PostgreSQL parameter groups force TLS (rds.force_ssl=1), version 1.2 or newer."),
        PARAMETER_GROUPS,
        _force_ssl,
    ),
    resource_rule(
        "pci-rds-connection-logging",
        describe("v4.0.1 req 10.2.1", None, "CKV2_AWS_27 (nearest: PostgreSQL query logging)",
                 "PostgreSQL parameter groups log every connection and disconnection (log_connections, "
                 "log_disconnections), so access and failed attempts are recorded."),
        PARAMETER_GROUPS,
        _connection_logging,
    ),
    stack_rule(
        "pci-rds-custom-parameter-group",
        describe("v4.0.1 req 4.2.1, 10.2.1", None, "CKV2_AWS_69",
                 "every PostgreSQL cluster uses a parameter group declared in the stack (the defaults allow "
                 "plain-text connections and log no connections)."),
        _cluster_parameter_group,
    ),
    resource_rule(
        "pci-rds-performance-insights-cmk",
        describe("v4.0.1 req 3.5.1", None, "CKV_AWS_354",
                 "Performance Insights (which stores SQL text) is encrypted with a customer-managed key."),
        (*CLUSTER_INSTANCE, *INSTANCE, *CLUSTER),
        _performance_insights_cmk,
    ),
    resource_rule(
        "pci-secretsmanager-cmk",
        describe("v4.0.1 req 8.3.2", None, "CKV_AWS_149",
                 "secrets are encrypted with a customer-managed KMS key."),
        SECRET,
        _secret_cmk,
    ),
    resource_rule(
        "pci-secretsmanager-4-rotation-days",
        describe("v4.0.1 req 8.6.3, 8.3.9", "SecretsManager.4", "CKV_AWS_304",
                 "automatic rotation happens at least every maxRotationDays."),
        SECRET_ROTATION,
        _rotation_days,
        {"maxRotationDays": {"type": "integer", "minimum": 1, "maximum": 365, "default": 90}},
    ),
    stack_rule(
        "pci-secretsmanager-1-rotation-enabled",
        describe("v4.0.1 req 8.6.3", "SecretsManager.1", "CKV2_AWS_57",
                 "every secret has automatic rotation, except those listed in manuallyRotatedSecrets (name "
                 "patterns of secrets with a documented manual rotation procedure)."),
        _secrets_rotated,
        {"manuallyRotatedSecrets": {"type": "array", "items": {"type": "string"}, "default": []}},
    ),
    resource_rule(
        "pci-sqs-cmk-encryption",
        describe("v4.0.1 req 3.5.1", "SQS.1", "CKV_AWS_27",
                 "queues are encrypted with a customer-managed KMS key."),
        QUEUE,
        _queue_cmk,
    ),
    resource_rule(
        "pci-sqs-no-public-policy",
        describe("v4.0.1 req 7.2.1", None, "CKV_AWS_168",
                 "no queue policy statement allows any principal unconditionally."),
        (*QUEUE, *QUEUE_POLICY),
        _queue_policy,
    ),
]  # fmt: skip
