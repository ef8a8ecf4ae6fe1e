"""SecureBucket: one S3 bucket with every control the stack requires, so no bucket can forget one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.context import AwsContext
from components.policies import Statement, deny_insecure_transport, document


@dataclass(frozen=True)
class LifecycleArgs:
    """Objects move to `storage_class` after `transition_days` (if set) and expire after `expiration_days`."""

    expiration_days: int
    transition_days: int | None = None
    storage_class: str = "GLACIER_IR"


@dataclass(frozen=True)
class SecureBucketArgs:
    bucket_name: str
    """Physical name (from the naming helper)."""
    ctx: AwsContext
    lifecycle: LifecycleArgs
    kms_key_arn: pulumi.Input[str] | None
    """Customer-managed key for SSE-KMS. None means SSE-S3, only for the bucket that receives logs from
    services that cannot write to SSE-KMS buckets (ALB access logs, S3 server access logs)."""
    policy_statements: Sequence[Statement] = field(default_factory=tuple)
    """Statements added after the deny-insecure-transport ones (service log delivery and the like)."""
    access_log_bucket: pulumi.Input[str] | None = None
    """Where S3 server access logs go (S3.9); None for the log buckets themselves."""
    versioning: bool = True


class SecureBucket(pulumi.ComponentResource):
    """Private, encrypted, TLS-only, versioned bucket with lifecycle; destroyable (`force_destroy`)."""

    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fraud:storage:SecureBucket", name, None, opts)
        self._args = args
        self._resource_name = name
        self._child = pulumi.ResourceOptions(parent=self)

        self.bucket = aws.s3.Bucket(name, bucket=args.bucket_name, force_destroy=True, opts=self._child)
        ownership = self._disable_acls()
        public_access_block = self._block_public_access()
        self._encrypt()
        self._enable_versioning()
        self._expire()
        self._log_access()
        # S3 rejects a bucket policy while the public access block or ownership change is still in flight.
        self.policy = self._restrict(depends_on=[public_access_block, ownership])

        self.bucket_name: pulumi.Output[str] = self.bucket.bucket
        self.bucket_arn: pulumi.Output[str] = self.bucket.arn
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})

    def _disable_acls(self) -> aws.s3.BucketOwnershipControls:
        return aws.s3.BucketOwnershipControls(
            f"{self._resource_name}-ownership",
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=self._child,
        )

    def _block_public_access(self) -> aws.s3.BucketPublicAccessBlock:
        return aws.s3.BucketPublicAccessBlock(
            f"{self._resource_name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=self._child,
        )

    def _encrypt(self) -> None:
        key = self._args.kms_key_arn
        default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="aws:kms" if key is not None else "AES256",
            kms_master_key_id=key,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{self._resource_name}-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default,
                    # One data key per bucket instead of one KMS call per object.
                    bucket_key_enabled=key is not None,
                )
            ],
            opts=self._child,
        )

    def _enable_versioning(self) -> None:
        status = "Enabled" if self._args.versioning else "Suspended"
        aws.s3.BucketVersioning(
            f"{self._resource_name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status=status),
            opts=self._child,
        )

    def _expire(self) -> None:
        lifecycle = self._args.lifecycle
        transitions = (
            [
                aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                    days=lifecycle.transition_days, storage_class=lifecycle.storage_class
                )
            ]
            if lifecycle.transition_days is not None
            else None
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{self._resource_name}-lifecycle",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="retention",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    transitions=transitions,
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=lifecycle.expiration_days),
                    # Versioning keeps overwritten objects; they leave on the same schedule.
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=lifecycle.expiration_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=7
                    ),
                )
            ],
            opts=self._child,
        )

    def _log_access(self) -> None:
        if self._args.access_log_bucket is None:
            return
        aws.s3.BucketLogging(
            f"{self._resource_name}-access-logging",
            bucket=self.bucket.id,
            target_bucket=self._args.access_log_bucket,
            target_prefix=f"s3/{self._args.bucket_name}/",
            opts=self._child,
        )

    def _restrict(self, depends_on: Sequence[pulumi.Resource]) -> aws.s3.BucketPolicy:
        statements = [*deny_insecure_transport(self._args.ctx, self._args.bucket_name), *self._args.policy_statements]
        return aws.s3.BucketPolicy(
            f"{self._resource_name}-policy",
            bucket=self.bucket.id,
            policy=document(statements),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
