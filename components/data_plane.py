"""FraudDataPlane: keys, the transactions table, Aurora, the buckets and the API configuration secret."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.bucket import LifecycleArgs, SecureBucket, SecureBucketArgs
from components.config import PROJECT, DatabaseConfig
from components.context import AwsContext, Stack
from components.database import PORT, AuroraDatabase, AuroraDatabaseArgs
from components.kms import create_key
from components.naming import Kind, Namer
from components.policies import (
    alb_access_log_statements,
    cloudwatch_logs_key_statement,
    log_delivery_bucket_statements,
    log_delivery_key_statement,
    server_access_log_statement,
    service_key_statement,
    via_service_key_statement,
)
from components.vpc import NetworkOutputs
from fraud_common.api_config import initial_configuration
from fraud_common.tables import TRANSACTIONS
from fraud_scoring.registry import UNSET

# Services that encrypt data with the data key on behalf of this account's roles.
DATA_KEY_SERVICES = ("dynamodb", "rds", "secretsmanager", "s3", "sqs", "sns", "lambda", "ecr")
# PCI DSS 10.5.1: three months of audit history immediately available, then archived.
AUDIT_HOT_DAYS = 90
ALB_LOG_PREFIX = "alb"
S3_ACCESS_LOG_PREFIX = "s3"
# A published model can be promoted, or rolled back to, long after it was trained: versions stay
# for ten years (the lifecycle rule every bucket has), not for a report's retention.
MODEL_RETENTION_DAYS = 3650


def _hot_then_cold(retention_days: int, storage_class: str = "GLACIER_IR") -> LifecycleArgs:
    """Keep objects hot for AUDIT_HOT_DAYS, then in colder storage until they expire."""
    transition = AUDIT_HOT_DAYS if retention_days > AUDIT_HOT_DAYS else None
    return LifecycleArgs(transition_days=transition, expiration_days=retention_days, storage_class=storage_class)


@dataclass(frozen=True)
class DataPlaneOutputs:
    """What the components downstream need from the data plane."""

    data_key_arn: pulumi.Output[str]
    logs_key_arn: pulumi.Output[str]
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]
    table_stream_arn: pulumi.Output[str]
    reports_bucket_name: pulumi.Output[str]
    reports_bucket_arn: pulumi.Output[str]
    archive_bucket_name: pulumi.Output[str]
    archive_bucket_arn: pulumi.Output[str]
    access_log_bucket_name: pulumi.Output[str]
    access_log_bucket_policy: pulumi.Resource
    """Log delivery (the ALB's) fails until this policy admits it: writers depend on it."""
    models_bucket_name: pulumi.Output[str]
    models_bucket_arn: pulumi.Output[str]
    model_pointer_name: pulumi.Output[str]
    """SSM parameter holding the promoted model version (fraud_scoring.registry's pointer)."""
    model_pointer_arn: pulumi.Output[str]
    model_shadow_pointer_name: pulumi.Output[str]
    """SSM parameter holding the shadow model version, scored beside live decisions (unset: no shadow)."""
    model_shadow_pointer_arn: pulumi.Output[str]
    api_config_secret_arn: pulumi.Output[str]
    api_config_secret_initial_version: aws.secretsmanager.SecretVersion
    """The secret's first value: whatever rotates or reads the secret must wait for it (depends_on)."""
    db_endpoint: pulumi.Output[str]
    db_cluster_identifier: str
    db_max_acu: float
    db_log_group_name: pulumi.Output[str]
    db_port: int
    db_name: str
    db_cluster_resource_id: pulumi.Output[str]
    db_master_secret_arn: pulumi.Output[str]
    db_security_group_id: pulumi.Output[str]


@dataclass(frozen=True)
class FraudDataPlaneArgs:
    ctx: AwsContext
    namer: Namer
    database: DatabaseConfig
    report_retention_days: int
    audit_retention_days: int
    log_retention_days: int
    network: NetworkOutputs

    @classmethod
    def of(cls, stack: Stack, network: NetworkOutputs) -> FraudDataPlaneArgs:
        config = stack.config
        return cls(
            ctx=stack.ctx,
            namer=stack.namer,
            database=config.database,
            report_retention_days=config.pipeline.report_retention_days,
            audit_retention_days=config.observability.audit_retention_days,
            log_retention_days=config.observability.log_retention_days,
            network=network,
        )


class FraudDataPlane(pulumi.ComponentResource):
    """Everything that stores data, encrypted with customer-managed keys and destroyable."""

    def __init__(self, name: str, args: FraudDataPlaneArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fraud:data:FraudDataPlane", name, None, opts)
        self._args = args
        self._resource_name = name
        self._child = pulumi.ResourceOptions(parent=self)

        self.data_key = self._create_data_key()
        self.logs_key = self._create_logs_key()
        self.access_log_bucket = self._create_access_log_bucket()
        self.archive_bucket = self._create_archive_bucket()
        self.reports_bucket = self._create_reports_bucket()
        self.models_bucket = self._create_models_bucket()
        self.model_pointer = self._create_model_pointer(
            "model-pointer", "promoted", "Promoted model version (python -m fraud_scoring.promote)"
        )
        self.model_shadow_pointer = self._create_model_pointer(
            "model-shadow-pointer",
            "shadow",
            "Shadow model version, scored beside live decisions (python -m fraud_scoring.promote --shadow)",
        )
        self.table = self._create_transactions_table()
        self.database = self._create_database()
        self.api_config_secret, self.api_config_secret_initial_version = self._create_api_config_secret()

        self.outputs = DataPlaneOutputs(
            data_key_arn=self.data_key.arn,
            logs_key_arn=self.logs_key.arn,
            table_name=self.table.name,
            table_arn=self.table.arn,
            table_stream_arn=self.table.stream_arn,
            reports_bucket_name=self.reports_bucket.bucket_name,
            reports_bucket_arn=self.reports_bucket.bucket_arn,
            archive_bucket_name=self.archive_bucket.bucket_name,
            archive_bucket_arn=self.archive_bucket.bucket_arn,
            access_log_bucket_name=self.access_log_bucket.bucket_name,
            access_log_bucket_policy=self.access_log_bucket.policy,
            models_bucket_name=self.models_bucket.bucket_name,
            models_bucket_arn=self.models_bucket.bucket_arn,
            model_pointer_name=self.model_pointer.name,
            model_pointer_arn=self.model_pointer.arn,
            model_shadow_pointer_name=self.model_shadow_pointer.name,
            model_shadow_pointer_arn=self.model_shadow_pointer.arn,
            api_config_secret_arn=self.api_config_secret.arn,
            api_config_secret_initial_version=self.api_config_secret_initial_version,
            db_endpoint=self.database.endpoint,
            db_cluster_identifier=self.database.cluster_identifier,
            db_max_acu=args.database.max_acu,
            db_log_group_name=self.database.log_group.name,
            db_port=PORT,
            db_name=args.database.database_name,
            db_cluster_resource_id=self.database.cluster_resource_id,
            db_master_secret_arn=self.database.master_secret_arn,
            db_security_group_id=self.database.security_group_id,
        )
        self.register_outputs(
            {
                "table_name": self.outputs.table_name,
                "reports_bucket_name": self.outputs.reports_bucket_name,
                "archive_bucket_name": self.outputs.archive_bucket_name,
                "models_bucket_name": self.outputs.models_bucket_name,
                "model_pointer_name": self.outputs.model_pointer_name,
                "model_shadow_pointer_name": self.outputs.model_shadow_pointer_name,
                "api_config_secret_arn": self.outputs.api_config_secret_arn,
                "db_endpoint": self.outputs.db_endpoint,
            }
        )

    def _create_data_key(self) -> aws.kms.Key:
        ctx = self._args.ctx
        return create_key(
            f"{self._resource_name}-data-key",
            purpose="data",
            description="Transactions, database, reports, secrets and queues",
            ctx=ctx,
            namer=self._args.namer,
            usage_statements=[
                via_service_key_statement(ctx, "UseThroughDataServices", DATA_KEY_SERVICES),
                # CloudWatch alarms publish to the KMS-encrypted alarm topic.
                service_key_statement(
                    ctx, "CloudWatchAlarmsPublish", "cloudwatch", ["kms:Decrypt", "kms:GenerateDataKey*"]
                ),
            ],
            parent=self,
        )

    def _create_logs_key(self) -> aws.kms.Key:
        ctx = self._args.ctx
        return create_key(
            f"{self._resource_name}-logs-key",
            purpose="logs",
            description="CloudWatch log groups and the audit archive",
            ctx=ctx,
            namer=self._args.namer,
            usage_statements=[
                cloudwatch_logs_key_statement(ctx),
                log_delivery_key_statement(ctx),
                via_service_key_statement(ctx, "ReadArchiveThroughS3", ["s3"]),
            ],
            parent=self,
        )

    def _create_access_log_bucket(self) -> SecureBucket:
        # SSE-S3, by necessity: ALB access logs and S3 server access logs cannot be delivered to
        # SSE-KMS buckets. It holds request metadata only, never card data.
        ctx = self._args.ctx
        name = self._args.namer.name(Kind.BUCKET, "access-logs")
        elb_account = aws.elb.get_service_account(opts=pulumi.InvokeOptions(parent=self))
        return SecureBucket(
            f"{self._resource_name}-access-logs",
            SecureBucketArgs(
                bucket_name=name,
                ctx=ctx,
                kms_key_arn=None,
                lifecycle=_hot_then_cold(self._args.audit_retention_days),
                policy_statements=[
                    *alb_access_log_statements(ctx, name, ALB_LOG_PREFIX, elb_account.arn),
                    server_access_log_statement(ctx, name, S3_ACCESS_LOG_PREFIX),
                ],
            ),
            opts=self._child,
        )

    def _create_archive_bucket(self) -> SecureBucket:
        ctx = self._args.ctx
        # WAF delivers only to buckets named aws-waf-logs-*; the bucket also keeps the audit trail.
        name = self._args.namer.name(Kind.WAF_LOG_BUCKET, "audit")
        return SecureBucket(
            f"{self._resource_name}-archive",
            SecureBucketArgs(
                bucket_name=name,
                ctx=ctx,
                kms_key_arn=self.logs_key.arn,
                lifecycle=_hot_then_cold(self._args.audit_retention_days, storage_class="GLACIER"),
                policy_statements=log_delivery_bucket_statements(ctx, name),
                access_log_bucket=self.access_log_bucket.bucket_name,
            ),
            opts=self._child,
        )

    def _create_reports_bucket(self) -> SecureBucket:
        return SecureBucket(
            f"{self._resource_name}-reports",
            SecureBucketArgs(
                bucket_name=self._args.namer.name(Kind.BUCKET, "reports"),
                ctx=self._args.ctx,
                kms_key_arn=self.data_key.arn,
                # Older reports are rarely read: cheaper storage once a quarter has passed.
                lifecycle=_hot_then_cold(self._args.report_retention_days),
                access_log_bucket=self.access_log_bucket.bucket_name,
            ),
            opts=self._child,
        )

    def _create_models_bucket(self) -> SecureBucket:
        """Model artifacts and cards (fraud_scoring.registry: models/<version>/...)."""
        return SecureBucket(
            f"{self._resource_name}-models",
            SecureBucketArgs(
                bucket_name=self._args.namer.name(Kind.BUCKET, "models"),
                ctx=self._args.ctx,
                kms_key_arn=self.data_key.arn,
                lifecycle=LifecycleArgs(expiration_days=MODEL_RETENTION_DAYS),
                access_log_bucket=self.access_log_bucket.bucket_name,
            ),
            opts=self._child,
        )

    def _create_model_pointer(self, resource: str, leaf: str, description: str) -> aws.ssm.Parameter:
        # Created unset (the shipped model serves; no shadow); `python -m fraud_scoring.promote` owns
        # the value from then on, so Pulumi must not put it back.
        return aws.ssm.Parameter(
            f"{self._resource_name}-{resource}",
            name=f"/{PROJECT}/{self._args.namer.environment_suffix}/model/{leaf}",
            description=description,
            type="String",
            value=UNSET.to_json(),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["value"]),
        )

    def _create_transactions_table(self) -> aws.dynamodb.Table:
        layout = TRANSACTIONS
        # Access pattern of each index: fraud_common/tables.py (CUSTOMER_HISTORY, TERMINAL_HISTORY, BY_DAY).
        indexes = [
            aws.dynamodb.TableGlobalSecondaryIndexArgs(
                name=index.name,
                key_schemas=[
                    aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(attribute_name=index.hash_key, key_type="HASH"),
                    aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                        attribute_name=index.range_key, key_type="RANGE"
                    ),
                ],
                projection_type=index.projection,
                non_key_attributes=list(index.non_key_attributes) or None,
            )
            for index in layout.indexes
        ]
        return aws.dynamodb.Table(
            f"{self._resource_name}-transactions",
            name=self._args.namer.name(Kind.TABLE, "transactions"),
            billing_mode="PAY_PER_REQUEST",
            hash_key=layout.hash_key,
            range_key=layout.range_key,
            attributes=[aws.dynamodb.TableAttributeArgs(name=n, type=t) for n, t in layout.attribute_types().items()],
            global_secondary_indexes=indexes,
            stream_enabled=True,
            stream_view_type="NEW_AND_OLD_IMAGES",
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(
                enabled=True, kms_key_arn=self.data_key.arn
            ),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            deletion_protection_enabled=False,
            opts=self._child,
        )

    def _create_database(self) -> AuroraDatabase:
        args = self._args
        return AuroraDatabase(
            f"{self._resource_name}-aurora",
            AuroraDatabaseArgs(
                database=args.database,
                ctx=args.ctx,
                namer=args.namer,
                vpc_id=args.network.vpc_id,
                private_subnet_ids=args.network.private_subnet_ids,
                # The real-time service, and the training export (read-only user, components/jobs.py).
                client_security_group_ids=[args.network.api_security_group_id, args.network.export_security_group_id],
                kms_key_arn=self.data_key.arn,
                logs_kms_key_arn=self.logs_key.arn,
                log_retention_days=args.log_retention_days,
            ),
            opts=self._child,
        )

    def _create_api_config_secret(self) -> tuple[aws.secretsmanager.Secret, aws.secretsmanager.SecretVersion]:
        secret = aws.secretsmanager.Secret(
            f"{self._resource_name}-api-config",
            name=self._args.namer.name(Kind.SECRET, "api-config"),
            description="fraud-api and pipeline configuration: scoring thresholds, signing key, card hash key",
            kms_key_id=self.data_key.arn,
            recovery_window_in_days=0,
            opts=self._child,
        )
        signing_key = random.RandomPassword(
            f"{self._resource_name}-signing-key", length=64, special=False, opts=self._child
        )
        pan_hash_key = random.RandomPassword(
            f"{self._resource_name}-pan-hash-key", length=64, special=False, opts=self._child
        )
        initial = aws.secretsmanager.SecretVersion(
            f"{self._resource_name}-api-config-initial",
            secret_id=secret.id,
            # The same seed as local mode (fraud_common.api_config): card-hash keys are versioned
            # and never rotated with the signing key.
            secret_string=pulumi.Output.all(signing_key.result, pan_hash_key.result).apply(
                lambda keys: initial_configuration(*keys)
            ),
            # Pulumi seeds the secret once; rotation and operators own its value afterwards.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["secretString"]),
        )
        return secret, initial
