"""Requirements that hold for every resource the program declares, in both stacks."""

from __future__ import annotations

import json

from tests.support.harness import ProgramRun

# Input that carries the physical name, for every resource type that has one.
NAME_INPUT = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:rds/cluster:Cluster": "clusterIdentifier",
    "aws:rds/clusterInstance:ClusterInstance": "identifier",
    "aws:rds/subnetGroup:SubnetGroup": "name",
    "aws:rds/clusterParameterGroup:ClusterParameterGroup": "name",
    "aws:ec2/securityGroup:SecurityGroup": "name",
    "aws:dynamodb/table:Table": "name",
    "aws:secretsmanager/secret:Secret": "name",
    "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:kms/alias:Alias": "name",
}
# Names AWS dictates: the execution log group of a REST API is named after the API's id.
AWS_DICTATED_NAME_PREFIXES = ("API-Gateway-Execution-Logs_",)
MANDATORY_TAGS = {"Environment", "CostCenter", "Project", "ManagedBy"}


def _aws_resources(run: ProgramRun):
    return [r for r in run.resources if r.custom and r.typ.startswith("aws:")]


def test_program_every_named_resource_carries_the_suffix(run: ProgramRun) -> None:
    named = [r for r in run.resources if r.typ in NAME_INPUT]
    assert len(named) >= 15
    for r in named:
        name = r.inputs.get(NAME_INPUT[r.typ])
        assert name, f"{r.typ} {r.name} has no physical name (auto-naming would drop the suffix)"
        if name.startswith(AWS_DICTATED_NAME_PREFIXES):
            continue
        assert f"-{run.suffix}" in name, f"{r.typ} {r.name}: {name!r} lacks -{run.suffix}"


def test_program_every_resource_is_tagged_through_the_provider(run: ProgramRun) -> None:
    providers = run.of_type("pulumi:providers:aws")
    assert len(providers) == 1, "one explicit AWS provider applies the tags"
    tags = json.loads(providers[0].inputs["defaultTags"])["tags"]
    assert set(tags) == MANDATORY_TAGS
    assert tags["Environment"] == run.suffix
    provider_ref = f"::{providers[0].name}::"
    for r in _aws_resources(run):
        assert provider_ref in r.provider, f"{r.typ} {r.name} does not use the tagged provider"


def test_program_nothing_is_protected_or_retained(run: ProgramRun) -> None:
    assert len(run.options) >= len(_aws_resources(run))
    for name, opts in run.options.items():
        assert not opts.protect, f"{name} is protected"
        assert not opts.retain_on_delete, f"{name} is retained on delete"


def test_program_stateful_resources_are_destroyable(run: ProgramRun) -> None:
    for r in run.of_type("aws:s3/bucket:Bucket"):
        assert r.inputs["forceDestroy"] is True, r.name
    for r in run.of_type("aws:rds/cluster:Cluster"):
        assert r.inputs["deletionProtection"] is False
        assert r.inputs["skipFinalSnapshot"] is True
    for r in run.of_type("aws:dynamodb/table:Table"):
        assert r.inputs["deletionProtectionEnabled"] is False
    for r in run.of_type("aws:secretsmanager/secret:Secret"):
        assert r.inputs["recoveryWindowInDays"] == 0, r.name
    keys = run.of_type("aws:kms/key:Key")
    assert keys
    for r in keys:
        assert r.inputs["deletionWindowInDays"] == 7, r.name


def test_program_data_at_rest_is_encrypted_with_customer_keys(run: ProgramRun) -> None:
    for r in run.of_type("aws:dynamodb/table:Table"):
        assert r.inputs["serverSideEncryption"]["enabled"] is True
        assert r.inputs["serverSideEncryption"]["kmsKeyArn"].startswith("arn:aws:kms:")
    for r in run.of_type("aws:rds/cluster:Cluster"):
        assert r.inputs["storageEncrypted"] is True and r.inputs["kmsKeyId"].startswith("arn:aws:kms:")
    for r in run.of_type("aws:secretsmanager/secret:Secret") + run.of_type("aws:cloudwatch/logGroup:LogGroup"):
        assert r.inputs["kmsKeyId"].startswith("arn:aws:kms:"), r.name
    for r in run.of_type("aws:kms/key:Key"):
        assert r.inputs["enableKeyRotation"] is True, r.name


def test_program_every_bucket_is_encrypted_private_and_tls_only(run: ProgramRun) -> None:
    buckets = {f"{r.name}-id": r for r in run.of_type("aws:s3/bucket:Bucket")}
    assert len(buckets) >= 4

    def by_bucket(typ: str) -> dict[str, dict]:
        return {r.inputs["bucket"]: r.inputs for r in run.of_type(typ)}

    encryption = by_bucket("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    blocks = by_bucket("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    policies = by_bucket("aws:s3/bucketPolicy:BucketPolicy")
    ownership = by_bucket("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    for bucket_id, bucket in buckets.items():
        sse = encryption[bucket_id]["rules"][0]["applyServerSideEncryptionByDefault"]
        # Only the access-log bucket is SSE-S3: ALB and S3 server access logs cannot use SSE-KMS.
        expected = "AES256" if "access-logs" in bucket.inputs["bucket"] else "aws:kms"
        assert sse["sseAlgorithm"] == expected, bucket.name
        assert all(
            blocks[bucket_id][flag]
            for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
        assert ownership[bucket_id]["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        statements = json.loads(policies[bucket_id]["policy"])["Statement"]
        deny_http = [s for s in statements if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")]
        assert deny_http and deny_http[0]["Effect"] == "Deny", bucket.name


def test_program_no_policy_allows_anyone(run: ProgramRun) -> None:
    documents = [json.loads(r.inputs["policy"]) for r in run.of_type("aws:s3/bucketPolicy:BucketPolicy")]
    documents += [json.loads(r.inputs["policy"]) for r in run.of_type("aws:kms/key:Key")]
    assert documents
    for doc in documents:
        for statement in doc["Statement"]:
            if statement["Effect"] == "Allow":
                assert statement["Principal"] != "*" and statement["Principal"] != {"AWS": "*"}, statement


def test_program_only_the_alb_admits_the_internet_and_only_on_web_ports(run: ProgramRun) -> None:
    groups = run.of_type("aws:ec2/securityGroup:SecurityGroup")
    assert len(groups) >= 5
    open_to_internet = []
    for r in groups:
        for rule in r.inputs.get("ingress", []):
            if "0.0.0.0/0" in rule.get("cidrBlocks", []) or "::/0" in rule.get("ipv6CidrBlocks", []):
                open_to_internet.append((r.inputs["name"], rule["fromPort"], rule["toPort"]))
    for rule in run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        assert rule.inputs.get("cidrIpv4") != "0.0.0.0/0" and rule.inputs.get("cidrIpv6") != "::/0", rule.name
    assert sorted(open_to_internet) == [(f"sg-alb-{run.suffix}", 80, 80), (f"sg-alb-{run.suffix}", 443, 443)] * 1


def test_program_database_instances_are_private(run: ProgramRun) -> None:
    instances = run.of_type("aws:rds/clusterInstance:ClusterInstance")
    assert instances
    assert all(r.inputs["publiclyAccessible"] is False for r in instances)


def test_program_exports_what_an_operator_needs(run: ProgramRun) -> None:
    for key in ("vpc_id", "db_endpoint", "transactions_table_name", "reports_bucket_name", "archive_bucket_name"):
        assert run.outputs.get(key), f"export {key} missing"
    assert run.outputs["transactions_table_name"] == f"transactions-{run.suffix}"
