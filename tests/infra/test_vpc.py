"""FraudVpc: one test per requirement, over the recorded program of both stacks."""

from __future__ import annotations

import json

import pulumi
import pytest

from components import context
from components.vpc import no_public_ip_on_launch, subnet_masks
from tests.support.aws_outputs import AVAILABILITY_ZONE_IDS
from tests.support.harness import ACCOUNT_ID, ProgramRun


def test_vpc_spans_exactly_three_zones_with_public_and_private_subnets(run: ProgramRun) -> None:
    vpc = run.one("awsx:ec2:Vpc")
    assert len(vpc.inputs["availabilityZoneNames"]) == 3
    assert vpc.inputs["cidrBlock"] == run.config["fraud-detection:vpcCidr"]
    assert sorted(s["type"] for s in vpc.inputs["subnetSpecs"]) == ["Private", "Public"]
    assert vpc.inputs["subnetStrategy"] == "Auto"


# The zone IDs no stack may use (components/context.py says why for each).
EXCLUDED_ZONE_IDS = {"use1-az3", "usw1-az2", "apne1-az3"}


def test_vpc_zones_are_chosen_by_zone_id_skipping_use1_az3(dev: ProgramRun, prod: ProgramRun) -> None:
    # GIVEN the harness's us-east-1 account, where us-east-1b is use1-az3 (names differ per account)
    assert AVAILABILITY_ZONE_IDS["us-east-1"]["us-east-1b"] == "use1-az3"
    # THEN prod (us-east-1) takes the first three zones by name whose ID is not excluded
    assert prod.one("awsx:ec2:Vpc").inputs["availabilityZoneNames"] == ["us-east-1a", "us-east-1c", "us-east-1d"]
    instances = prod.of_type("aws:rds/clusterInstance:ClusterInstance")
    assert [i.inputs["availabilityZone"] for i in instances] == ["us-east-1a", "us-east-1c"]
    # AND dev (us-east-2, nothing excluded there) takes its three zones
    assert dev.one("awsx:ec2:Vpc").inputs["availabilityZoneNames"] == ["us-east-2a", "us-east-2b", "us-east-2c"]


def test_vpc_zone_choice_never_lands_in_an_excluded_zone_id() -> None:
    names = ["us-west-1a", "us-west-1b", "us-west-1c", "us-west-1d"]
    ids = ["usw1-az3", "use1-az3", "apne1-az3", "usw1-az1"]
    assert context.choose_zones("us-west-1", [*names, "us-west-1e"], [*ids, "usw1-az9"]) == (
        "us-west-1a", "us-west-1d", "us-west-1e"
    )  # fmt: skip
    assert set(context.EXCLUDED_ZONE_IDS) == EXCLUDED_ZONE_IDS


def test_vpc_region_without_three_usable_zones_is_refused() -> None:
    # us-west-1 has Fargate in usw1-az1 and usw1-az3 only: two zones are not enough.
    with pytest.raises(pulumi.RunError, match=r"us-west-1 has 2 usable availability zones .*usw1-az2"):
        context.choose_zones(
            "us-west-1", ["us-west-1a", "us-west-1b", "us-west-1c"], ["usw1-az1", "usw1-az2", "usw1-az3"]
        )


def test_vpc_nat_strategy_follows_the_stack(dev: ProgramRun, prod: ProgramRun) -> None:
    assert dev.one("awsx:ec2:Vpc").inputs["natGateways"] == {"strategy": "Single"}
    assert prod.one("awsx:ec2:Vpc").inputs["natGateways"] == {"strategy": "OnePerAz"}


@pytest.mark.parametrize(("cidr", "masks"), [("10.0.0.0/16", (19, 21)), ("10.0.0.0/20", (23, 25))])
def test_vpc_subnet_masks_fit_one_zone_share(cidr: str, masks: tuple[int, int]) -> None:
    private, public = subnet_masks(cidr)
    assert (private, public) == masks
    # awsx gives each of 3 zones a quarter of the VPC (prefix + 2): both subnets must fit in it.
    prefix = int(cidr.split("/")[1])
    assert 2 ** (32 - private) + 2 ** (32 - public) <= 2 ** (32 - prefix - 2)


def test_vpc_subnets_never_auto_assign_public_ips() -> None:
    # GIVEN the transform the awsx VPC is declared with
    opts = pulumi.ResourceOptions()
    subnet = pulumi.ResourceTransformArgs(
        custom=True, type_="aws:ec2/subnet:Subnet", name="public-1", props={"mapPublicIpOnLaunch": True}, opts=opts
    )
    other = pulumi.ResourceTransformArgs(
        custom=True, type_="aws:ec2/routeTable:RouteTable", name="rt", props={"vpcId": "v"}, opts=opts
    )
    # WHEN it sees a subnet and another resource
    result = no_public_ip_on_launch(subnet)
    # THEN only the subnet changes, and it never assigns public IPs
    assert result is not None and result.props["mapPublicIpOnLaunch"] is False
    assert no_public_ip_on_launch(other) is None


def test_vpc_default_security_group_has_no_rules(run: ProgramRun) -> None:
    default = run.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default.inputs["ingress"] == [] and default.inputs["egress"] == []


def test_vpc_gateway_endpoints_serve_the_private_route_tables(run: ProgramRun) -> None:
    region = run.config["aws:region"]
    gateways = {
        r.inputs["serviceName"]: r
        for r in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if r.inputs["vpcEndpointType"] == "Gateway"
    }
    assert set(gateways) == {f"com.amazonaws.{region}.s3", f"com.amazonaws.{region}.dynamodb"}
    for endpoint in gateways.values():
        assert endpoint.inputs["routeTableIds"] == ["rtb-private-0", "rtb-private-1", "rtb-private-2"]


def test_vpc_interface_endpoints_only_where_configured(dev: ProgramRun, prod: ProgramRun) -> None:
    def interface(run: ProgramRun) -> list:
        return [r for r in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if r.inputs["vpcEndpointType"] == "Interface"]

    assert interface(dev) == []
    endpoints = interface(prod)
    assert {r.inputs["serviceName"] for r in endpoints} == {
        f"com.amazonaws.us-east-1.{s}"
        for s in ("secretsmanager", "kms", "logs", "monitoring", "xray", "ecr.api", "ecr.dkr", "sts", "ssm")
    }
    for r in endpoints:
        assert r.inputs["privateDnsEnabled"] is True
        assert r.inputs["subnetIds"] == ["subnet-private-0", "subnet-private-1", "subnet-private-2"]
        assert r.inputs["securityGroupIds"] == ["fraud-endpoints-sg-id"]


def test_vpc_endpoint_security_group_admits_https_from_the_vpc_only(run: ProgramRun) -> None:
    group = run.one("aws:ec2/securityGroup:SecurityGroup", "endpoints")
    [rule] = group.inputs["ingress"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)
    assert rule["cidrBlocks"] == [run.config["fraud-detection:vpcCidr"]]
    assert group.inputs["egress"] == []


def test_vpc_flow_logs_capture_all_traffic_to_the_flow_log_bucket(run: ProgramRun) -> None:
    flow_log = run.one("aws:ec2/flowLog:FlowLog")
    bucket = f"s3-flow-logs-{run.suffix}-{ACCOUNT_ID}"
    assert flow_log.inputs["trafficType"] == "ALL"
    assert flow_log.inputs["logDestinationType"] == "s3"
    assert flow_log.inputs["logDestination"] == f"arn:aws:s3:::{bucket}/vpc-flow-logs"
    assert flow_log.inputs["vpcId"] == "vpc-0fraud"


def test_vpc_flow_log_bucket_is_kms_encrypted_tls_only_and_expires(run: ProgramRun) -> None:
    bucket = run.one("aws:s3/bucket:Bucket", "flow-logs")
    assert bucket.inputs["forceDestroy"] is True
    sse = run.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "flow-logs")
    rule = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert rule == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": "arn:aws:kms:" + run.config["aws:region"] + ":123456789012:key/fraud-flow-logs-key",
    }
    lifecycle = run.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "flow-logs")
    [retention] = lifecycle.inputs["rules"]
    assert retention["transitions"][0]["days"] == 30
    assert retention["expiration"]["days"] == 365


def test_vpc_flow_log_bucket_admits_log_delivery_for_this_account_only(run: ProgramRun) -> None:
    policy = json.loads(run.one("aws:s3/bucketPolicy:BucketPolicy", "flow-logs").inputs["policy"])
    write = next(s for s in policy["Statement"] if s["Sid"] == "LogDeliveryWrite")
    assert write["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert write["Resource"].endswith(f"/vpc-flow-logs/AWSLogs/{ACCOUNT_ID}/*")
    assert write["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT_ID
    denies = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert {s["Sid"] for s in denies} == {"DenyInsecureTransport", "DenyOutdatedTls"}


def test_vpc_workload_security_groups_start_without_rules(run: ProgramRun) -> None:
    for purpose in ("lambda", "api-tasks"):
        group = run.one("aws:ec2/securityGroup:SecurityGroup", f"-{purpose}-sg")
        assert group.inputs["name"] == f"sg-{purpose}-{run.suffix}"
        assert not group.inputs.get("ingress") and not group.inputs.get("egress")


def test_vpc_exports_network_identifiers(run: ProgramRun) -> None:
    assert run.outputs["vpc_id"] == "vpc-0fraud"
    assert run.outputs["private_subnet_ids"] == ["subnet-private-0", "subnet-private-1", "subnet-private-2"]
