"""AuroraDatabase: Aurora Serverless v2 PostgreSQL for the real-time path (a child of FraudDataPlane)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import DatabaseConfig
from components.context import AwsContext
from components.naming import Kind, Namer

ENGINE = "aurora-postgresql"
PORT = 5432
# RDS rotates its managed master secret every 7 days by default; the stack asks for 30.
MASTER_SECRET_ROTATION_DAYS = 30

# PCI DSS 4.2.1 (TLS only, 1.2 or newer) and 10.2.1 (log who connects).
CLUSTER_PARAMETERS = {
    "rds.force_ssl": "1",
    "ssl_min_protocol_version": "TLSv1.2",
    "log_connections": "1",
    "log_disconnections": "1",
}


@dataclass(frozen=True)
class AuroraDatabaseArgs:
    database: DatabaseConfig
    ctx: AwsContext
    namer: Namer
    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[Sequence[str]]
    client_security_group_ids: Sequence[pulumi.Input[str]]
    """The only security groups admitted on 5432."""
    kms_key_arn: pulumi.Input[str]
    logs_kms_key_arn: pulumi.Input[str]
    log_retention_days: int


def _master_secret_arn(cluster: aws.rds.Cluster) -> pulumi.Output[str]:
    """ARN of the RDS-managed master secret (present because manage_master_user_password is on)."""

    def first(secrets: Sequence[aws.rds.outputs.ClusterMasterUserSecret]) -> str:
        if not secrets or not secrets[0].secret_arn:
            raise ValueError(f"cluster has no RDS-managed master secret: {secrets!r}")
        return secrets[0].secret_arn

    return cluster.master_user_secrets.apply(first)


class AuroraDatabase(pulumi.ComponentResource):
    """Encrypted, private, IAM-authenticated Aurora PostgreSQL with a rotated RDS-managed master secret."""

    def __init__(self, name: str, args: AuroraDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fraud:data:AuroraDatabase", name, None, opts)
        self._args = args
        self._resource_name = name
        self._child = pulumi.ResourceOptions(parent=self)
        self.cluster_identifier = args.namer.name(Kind.DB_CLUSTER, "fraud")

        self.security_group = self._create_security_group()
        self.subnet_group = self._create_subnet_group()
        self.parameter_group = self._create_parameter_group()
        self.log_group = self._create_log_group()
        self.cluster = self._create_cluster()
        self.instances = self._create_instances()
        self.master_secret_rotation = self._rotate_master_secret()

        self.endpoint: pulumi.Output[str] = self.cluster.endpoint
        self.reader_endpoint: pulumi.Output[str] = self.cluster.reader_endpoint
        self.cluster_resource_id: pulumi.Output[str] = self.cluster.cluster_resource_id
        self.master_secret_arn = _master_secret_arn(self.cluster)
        self.security_group_id: pulumi.Output[str] = self.security_group.id
        self.register_outputs(
            {
                "endpoint": self.endpoint,
                "reader_endpoint": self.reader_endpoint,
                "cluster_resource_id": self.cluster_resource_id,
                "master_secret_arn": self.master_secret_arn,
                "security_group_id": self.security_group_id,
            }
        )

    def _create_security_group(self) -> aws.ec2.SecurityGroup:
        return aws.ec2.SecurityGroup(
            f"{self._resource_name}-sg",
            name=self._args.namer.name(Kind.SECURITY_GROUP, "aurora"),
            description="Aurora PostgreSQL: 5432 from the fraud-api tasks only",
            vpc_id=self._args.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="PostgreSQL from an admitted client security group",
                    protocol="tcp",
                    from_port=PORT,
                    to_port=PORT,
                    security_groups=list(self._args.client_security_group_ids),
                )
            ],
            # The database never opens connections itself.
            egress=[],
            opts=self._child,
        )

    def _create_subnet_group(self) -> aws.rds.SubnetGroup:
        return aws.rds.SubnetGroup(
            f"{self._resource_name}-subnets",
            name=self._args.namer.name(Kind.DB_SUBNET_GROUP, "aurora"),
            description="Private subnets only",
            subnet_ids=self._args.private_subnet_ids,
            opts=self._child,
        )

    def _create_parameter_group(self) -> aws.rds.ClusterParameterGroup:
        major = self._args.database.engine_version.split(".")[0]
        return aws.rds.ClusterParameterGroup(
            f"{self._resource_name}-params",
            name=self._args.namer.name(Kind.DB_PARAMETER_GROUP, "aurora"),
            family=f"aurora-postgresql{major}",
            description="TLS-only connections and connection logging",
            parameters=[
                # pending-reboot is accepted for static and dynamic parameters alike; a new cluster
                # starts with them applied.
                aws.rds.ClusterParameterGroupParameterArgs(name=k, value=v, apply_method="pending-reboot")
                for k, v in CLUSTER_PARAMETERS.items()
            ],
            opts=self._child,
        )

    def _create_log_group(self) -> aws.cloudwatch.LogGroup:
        # Created before the cluster: RDS would otherwise create it itself, unencrypted and kept forever.
        return aws.cloudwatch.LogGroup(
            f"{self._resource_name}-postgresql-logs",
            name=f"/aws/rds/cluster/{self.cluster_identifier}/postgresql",
            retention_in_days=self._args.log_retention_days,
            kms_key_id=self._args.logs_kms_key_arn,
            opts=self._child,
        )

    def _create_cluster(self) -> aws.rds.Cluster:
        db = self._args.database
        return aws.rds.Cluster(
            f"{self._resource_name}-cluster",
            cluster_identifier=self.cluster_identifier,
            engine=ENGINE,
            engine_mode="provisioned",
            # The major version only ("16"): RDS picks the current minor at creation and upgrades it in
            # the maintenance window. A pinned minor ("16.6") would make the first `pulumi up --refresh`
            # after such an upgrade try a downgrade, which RDS refuses ("Cannot upgrade
            # aurora-postgresql from 16.8 to 16.6"). The provider accepts a partial version and keeps
            # the running one in engine_version_actual (pulumi_aws rds.Cluster engine_version docs;
            # terraform-provider-aws TestAccRDSCluster_onlyMajorVersion creates aurora-postgresql "11").
            engine_version=db.engine_version,
            auto_minor_version_upgrade=True,
            database_name=db.database_name,
            master_username=db.master_username,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=self._args.kms_key_arn,
            iam_database_authentication_enabled=True,
            storage_encrypted=True,
            kms_key_id=self._args.kms_key_arn,
            port=PORT,
            db_subnet_group_name=self.subnet_group.name,
            vpc_security_group_ids=[self.security_group.id],
            db_cluster_parameter_group_name=self.parameter_group.name,
            serverlessv2_scaling_configuration=aws.rds.ClusterServerlessv2ScalingConfigurationArgs(
                min_capacity=db.min_acu, max_capacity=db.max_acu
            ),
            backup_retention_period=db.backup_retention_days,
            preferred_backup_window=db.backup_window,
            preferred_maintenance_window=db.maintenance_window,
            enabled_cloudwatch_logs_exports=["postgresql"],
            copy_tags_to_snapshot=True,
            deletion_protection=False,
            skip_final_snapshot=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group]),
        )

    def _create_instances(self) -> list[aws.rds.ClusterInstance]:
        db, zones = self._args.database, self._args.ctx.availability_zones
        return [
            aws.rds.ClusterInstance(
                f"{self._resource_name}-instance-{i + 1}",
                identifier=self._args.namer.name(Kind.DB_CLUSTER, f"fraud-{i + 1}"),
                cluster_identifier=self.cluster.id,
                instance_class="db.serverless",
                engine=aws.rds.EngineType.AURORA_POSTGRESQL,
                # No engine_version: an Aurora instance runs its cluster's version (the provider docs:
                # upgrades happen on the cluster), so a minor upgrade leaves nothing to diff here.
                # Spread over the zones so a second instance is a real failover target.
                availability_zone=zones[i % len(zones)],
                db_subnet_group_name=self.subnet_group.name,
                publicly_accessible=False,
                auto_minor_version_upgrade=True,
                performance_insights_enabled=True,
                performance_insights_kms_key_id=self._args.kms_key_arn,
                copy_tags_to_snapshot=True,
                opts=self._child,
            )
            for i in range(db.instance_count)
        ]

    def _rotate_master_secret(self) -> aws.secretsmanager.SecretRotation:
        # depends_on the instances: RDS re-enables its own 7-day rotation when an instance finishes
        # creating, which would silently override a rotation set earlier.
        return aws.secretsmanager.SecretRotation(
            f"{self._resource_name}-master-secret-rotation",
            secret_id=_master_secret_arn(self.cluster),
            rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(
                automatically_after_days=MASTER_SECRET_ROTATION_DAYS
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.instances)),
        )
