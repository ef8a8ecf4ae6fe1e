"""FraudDataPlane: keys, Aurora, the transactions table, buckets and the API configuration secret."""

from __future__ import annotations

import json

from fraud_common.tables import INDEXES, TRANSACTIONS
from tests.support.harness import ACCOUNT_ID, ProgramRun

KEY_ADMIN_SID = "AccountAdministersKey"


def _key_policy(run: ProgramRun, purpose: str) -> list[dict]:
    return json.loads(run.named("aws:kms/key:Key", f"fraud-{purpose}-key").inputs["policy"])["Statement"]


def test_data_keys_admit_exactly_the_services_that_use_them(run: ProgramRun) -> None:
    region = run.config["aws:region"]
    data = {s["Sid"]: s for s in _key_policy(run, "data")}
    assert set(data) == {KEY_ADMIN_SID, "UseThroughDataServices", "CloudWatchAlarmsPublish"}
    via = data["UseThroughDataServices"]["Condition"]["StringEquals"]
    services = ("dynamodb", "rds", "secretsmanager", "s3", "sqs", "sns", "lambda", "ecr")
    assert via["kms:ViaService"] == [f"{s}.{region}.amazonaws.com" for s in services]
    assert via["kms:CallerAccount"] == ACCOUNT_ID
    logs = {s["Sid"]: s for s in _key_policy(run, "logs")}
    assert logs["CloudWatchLogsEncryptLogGroups"]["Principal"] == {"Service": f"logs.{region}.amazonaws.com"}
    assert logs["CloudWatchLogsEncryptLogGroups"]["Condition"]["ArnLike"] == {
        "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:*"
    }


def test_data_key_administration_grants_no_cryptographic_use(run: ProgramRun) -> None:
    for purpose in ("data", "logs", "flow-logs"):
        admin = next(s for s in _key_policy(run, purpose) if s["Sid"] == KEY_ADMIN_SID)
        assert not any(a in admin["Action"] for a in ("kms:*", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*"))


def test_data_aurora_is_serverless_v2_postgresql_16(run: ProgramRun) -> None:
    cluster = run.one("aws:rds/cluster:Cluster").inputs
    assert cluster["engine"] == "aurora-postgresql"
    assert cluster["engineMode"] == "provisioned"
    # prod is sized for the 1,000 rps plan (README "Sizing"), dev keeps the default.
    max_acu = {"dev": 4.0, "prod": 8.0}[run.stack]
    assert cluster["serverlessv2ScalingConfiguration"] == {"minCapacity": 0.5, "maxCapacity": max_acu}
    for instance in run.of_type("aws:rds/clusterInstance:ClusterInstance"):
        assert instance.inputs["instanceClass"] == "db.serverless"


def test_data_aurora_pins_the_major_version_so_minor_upgrades_never_drift(run: ProgramRun) -> None:
    # RDS upgrades the minor in the maintenance window; a pinned minor ("16.6") would make the next
    # `pulumi up --refresh` try a downgrade, which RDS refuses. The provider accepts a major-only
    # version (terraform-provider-aws TestAccRDSCluster_onlyMajorVersion, aurora-postgresql "11").
    cluster = run.one("aws:rds/cluster:Cluster").inputs
    assert cluster["engineVersion"] == "16"
    assert cluster["autoMinorVersionUpgrade"] is True
    assert run.one("aws:rds/clusterParameterGroup:ClusterParameterGroup").inputs["family"] == "aurora-postgresql16"
    for instance in run.of_type("aws:rds/clusterInstance:ClusterInstance"):
        # An Aurora instance runs its cluster's version: nothing to pin, nothing to drift.
        assert instance.inputs.get("engineVersion") is None
        assert instance.inputs["autoMinorVersionUpgrade"] is True


def test_data_aurora_instance_count_and_zones_follow_the_stack(dev: ProgramRun, prod: ProgramRun) -> None:
    assert len(dev.of_type("aws:rds/clusterInstance:ClusterInstance")) == 1
    zones = [r.inputs["availabilityZone"] for r in prod.of_type("aws:rds/clusterInstance:ClusterInstance")]
    assert len(zones) == 2 and len(set(zones)) == 2


def test_data_aurora_is_encrypted_private_and_iam_authenticated(run: ProgramRun) -> None:
    cluster = run.one("aws:rds/cluster:Cluster").inputs
    data_key = f"arn:aws:kms:{run.config['aws:region']}:{ACCOUNT_ID}:key/fraud-data-key"
    assert cluster["storageEncrypted"] is True and cluster["kmsKeyId"] == data_key
    assert cluster["iamDatabaseAuthenticationEnabled"] is True
    subnets = run.one("aws:rds/subnetGroup:SubnetGroup").inputs["subnetIds"]
    assert subnets == ["subnet-private-0", "subnet-private-1", "subnet-private-2"]
    [rule] = run.one("aws:ec2/securityGroup:SecurityGroup", "aurora").inputs["ingress"]
    assert (rule["fromPort"], rule["toPort"]) == (5432, 5432)
    # fraud-api and the training export (read-only user); no other workload reaches the database.
    assert rule["securityGroups"] == ["fraud-api-tasks-sg-id", "fraud-export-tasks-sg-id"]
    assert not rule.get("cidrBlocks")


def test_data_aurora_backups_logs_and_tls(run: ProgramRun) -> None:
    cluster = run.one("aws:rds/cluster:Cluster").inputs
    expected_retention = int(run.config["fraud-detection:dbBackupRetentionDays"])
    assert cluster["backupRetentionPeriod"] == expected_retention
    assert cluster["preferredBackupWindow"] == "03:00-04:00"
    assert cluster["enabledCloudwatchLogsExports"] == ["postgresql"]
    assert cluster["copyTagsToSnapshot"] is True
    params = {
        p["name"]: p["value"]
        for p in run.one("aws:rds/clusterParameterGroup:ClusterParameterGroup").inputs["parameters"]
    }
    assert params["rds.force_ssl"] == "1"
    log_group = run.one("aws:cloudwatch/logGroup:LogGroup", "postgresql").inputs
    assert log_group["name"] == f"/aws/rds/cluster/aurora-fraud-{run.suffix}/postgresql"
    assert log_group["retentionInDays"] == 7


def test_data_aurora_master_password_is_rds_managed_and_rotated_every_30_days(run: ProgramRun) -> None:
    cluster = run.one("aws:rds/cluster:Cluster").inputs
    assert cluster["manageMasterUserPassword"] is True
    assert "masterPassword" not in cluster
    assert cluster["masterUsername"] not in ("postgres", "admin")
    rotation = run.one("aws:secretsmanager/secretRotation:SecretRotation", "master-secret")
    assert rotation.inputs["rotationRules"] == {"automaticallyAfterDays": 30}
    assert rotation.inputs["secretId"].endswith("secret:rds!cluster-abc")
    # Without this dependency RDS re-enables its own 7-day rotation when an instance finishes.
    instances = {r.name for r in run.of_type("aws:rds/clusterInstance:ClusterInstance")}
    assert set(run.options[rotation.name].depends_on) == instances


def test_data_transactions_table_keys_stream_and_recovery(run: ProgramRun) -> None:
    table = run.one("aws:dynamodb/table:Table").inputs
    assert table["name"] == f"transactions-{run.suffix}"
    assert (table["hashKey"], table["rangeKey"]) == ("transactionId", "timestamp")
    assert {a["name"]: a["type"] for a in table["attributes"]}["timestamp"] == "N"
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert table["streamEnabled"] is True and table["streamViewType"] == "NEW_AND_OLD_IMAGES"
    assert table["pointInTimeRecovery"] == {"enabled": True}


def test_data_transactions_table_indexes_match_the_shared_layout(run: ProgramRun) -> None:
    table = run.one("aws:dynamodb/table:Table").inputs
    declared = {i["name"]: i for i in table["globalSecondaryIndexes"]}
    assert set(declared) == {i.name for i in INDEXES}
    for index in INDEXES:
        got = declared[index.name]
        assert [(k["attributeName"], k["keyType"]) for k in got["keySchemas"]] == [
            (index.hash_key, "HASH"),
            (index.range_key, "RANGE"),
        ]
        assert got["projectionType"] == index.projection
        assert tuple(got.get("nonKeyAttributes") or ()) == index.non_key_attributes
    assert {a["name"] for a in table["attributes"]} == set(TRANSACTIONS.attribute_types())


def test_data_reports_bucket_is_kms_versioned_and_expires(run: ProgramRun) -> None:
    bucket = run.one("aws:s3/bucket:Bucket", "reports").inputs
    assert bucket["bucket"] == f"s3-reports-{run.suffix}-{ACCOUNT_ID}"
    assert run.one("aws:s3/bucketVersioning:BucketVersioning", "reports").inputs["versioningConfiguration"] == {
        "status": "Enabled"
    }
    [rule] = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "reports").inputs["rules"]
    assert rule["expiration"]["days"] == int(run.config["fraud-detection:reportRetentionDays"])
    logging = run.one("aws:s3/bucketLogging:BucketLogging", "reports").inputs
    assert logging["targetBucket"] == f"s3-access-logs-{run.suffix}-{ACCOUNT_ID}"


def test_data_archive_bucket_receives_waf_logs_and_keeps_audit_evidence(run: ProgramRun) -> None:
    bucket = run.one("aws:s3/bucket:Bucket", "archive").inputs
    # WAF delivers only to buckets whose name starts with aws-waf-logs-.
    assert bucket["bucket"].startswith("aws-waf-logs-")
    statements = json.loads(run.one("aws:s3/bucketPolicy:BucketPolicy", "archive").inputs["policy"])["Statement"]
    write = next(s for s in statements if s["Sid"] == "LogDeliveryWrite")
    assert write["Resource"] == f"arn:aws:s3:::{bucket['bucket']}/AWSLogs/{ACCOUNT_ID}/*"
    [rule] = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "archive").inputs["rules"]
    assert rule["expiration"]["days"] == int(run.config["fraud-detection:auditRetentionDays"])


def test_data_prod_keeps_audit_evidence_for_a_year(prod: ProgramRun) -> None:
    [rule] = prod.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "archive").inputs["rules"]
    assert rule["expiration"]["days"] >= 365
    # PCI DSS 10.5.1: the most recent three months stay immediately available.
    assert rule["transitions"][0]["days"] >= 90


def test_data_access_log_bucket_admits_alb_and_s3_log_delivery(run: ProgramRun) -> None:
    statements = json.loads(run.one("aws:s3/bucketPolicy:BucketPolicy", "access-logs").inputs["policy"])["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["AlbAccessLogsRegionalElbAccount"]["Principal"] == {"AWS": "arn:aws:iam::127311923021:root"}
    assert by_sid["AlbAccessLogsDeliveryService"]["Resource"].endswith(f"/alb/AWSLogs/{ACCOUNT_ID}/*")
    assert by_sid["S3ServerAccessLogs"]["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT_ID


def test_data_api_config_secret_is_seeded_once_with_thresholds_and_keys(run: ProgramRun) -> None:
    secret = run.one("aws:secretsmanager/secret:Secret", "api-config").inputs
    assert secret["name"] == f"secret-api-config-{run.suffix}"
    version = run.one("aws:secretsmanager/secretVersion:SecretVersion", "api-config")
    assert "secretString" in version.secret_inputs, "the keys must be stored encrypted in the Pulumi state"
    value = json.loads(version.inputs["secretString"])
    assert set(value) == {"thresholds", "signingKey", "panHashKeys", "panHashKeyVersion"}
    assert 0 < value["thresholds"]["review"] < value["thresholds"]["decline"] <= 1
    assert len(value["signingKey"]) == 64 and len(value["panHashKeys"][value["panHashKeyVersion"]]) == 64
    assert run.options[version.name].ignore_changes == ("secretString",)


def test_data_exports_downstream_identifiers(run: ProgramRun) -> None:
    assert run.outputs["db_endpoint"].startswith(f"aurora-fraud-{run.suffix}.cluster-")
    assert run.outputs["db_master_secret_arn"].endswith("rds!cluster-abc")
    assert run.outputs["api_config_secret_arn"].startswith("arn:aws:secretsmanager:")


def test_data_api_config_rotation_waits_for_the_secrets_first_version(run: ProgramRun) -> None:
    # Rotation runs the rotator at once; it needs the seeded JSON (thresholds, card-hash keys) as AWSCURRENT.
    initial = run.one("aws:secretsmanager/secretVersion:SecretVersion", "api-config-initial")
    rotation = run.one("aws:secretsmanager/secretRotation:SecretRotation", "api-config-rotation")
    assert initial.name == "fraud-api-config-initial"
    assert "fraud-api-config-initial" in run.options[rotation.name].depends_on


def test_data_models_bucket_is_kms_versioned_private_tls_only_and_destroyable(run: ProgramRun) -> None:
    bucket = run.one("aws:s3/bucket:Bucket", "models").inputs
    assert bucket["bucket"] == f"s3-models-{run.suffix}-{ACCOUNT_ID}"
    assert bucket["forceDestroy"] is True
    [rule] = run.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "models"
    ).inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": f"arn:aws:kms:{run.config['aws:region']}:{ACCOUNT_ID}:key/fraud-data-key",
    }
    assert run.one("aws:s3/bucketVersioning:BucketVersioning", "models").inputs["versioningConfiguration"] == {
        "status": "Enabled"
    }
    block = run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "models").inputs
    assert [
        block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    ] == [True] * 4
    statements = json.loads(run.one("aws:s3/bucketPolicy:BucketPolicy", "models").inputs["policy"])["Statement"]
    assert {s["Sid"] for s in statements} == {"DenyInsecureTransport", "DenyOutdatedTls"}
    [lifecycle] = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "models").inputs["rules"]
    assert lifecycle["expiration"] == {"days": 3650}
    assert run.outputs["models_bucket_name"] == f"s3-models-{run.suffix}-{ACCOUNT_ID}"


def test_data_model_pointer_starts_unset_and_belongs_to_the_promote_command(run: ProgramRun) -> None:
    pointer = run.one("aws:ssm/parameter:Parameter", "model-pointer")
    assert pointer.inputs["name"] == f"/fraud-detection/{run.suffix}/model/promoted"
    assert pointer.inputs["type"] == "String"
    assert json.loads(pointer.inputs["value"]) == {"version": None, "previous": None, "promotedAt": None}
    # `python -m fraud_scoring.promote` writes the value; `pulumi up` must not put the unset one back.
    assert run.options[pointer.name].ignore_changes == ("value",)
    assert run.outputs["model_pointer_parameter"] == f"/fraud-detection/{run.suffix}/model/promoted"


def test_data_model_shadow_pointer_starts_unset_and_belongs_to_the_promote_command(run: ProgramRun) -> None:
    shadow = run.one("aws:ssm/parameter:Parameter", "model-shadow-pointer")
    assert shadow.inputs["name"] == f"/fraud-detection/{run.suffix}/model/shadow"
    assert shadow.inputs["type"] == "String"
    assert json.loads(shadow.inputs["value"]) == {"version": None, "previous": None, "promotedAt": None}
    assert run.options[shadow.name].ignore_changes == ("value",)
    assert run.outputs["model_shadow_parameter"] == f"/fraud-detection/{run.suffix}/model/shadow"
