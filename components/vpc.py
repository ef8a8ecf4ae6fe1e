"""FraudVpc: the network every other component runs in."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_awsx as awsx

from components.bucket import LifecycleArgs, SecureBucket, SecureBucketArgs
from components.config import NetworkConfig
from components.context import AwsContext, Stack
from components.kms import create_key
from components.naming import Kind, Namer
from components.policies import log_delivery_bucket_statements, log_delivery_key_statement, via_service_key_statement

# Interface endpoints keep AWS API traffic of Lambdas and tasks off the NAT path (on in prod).
INTERFACE_ENDPOINT_SERVICES = (
    "secretsmanager",
    "kms",
    "logs",
    "monitoring",
    "xray",
    "ecr.api",
    "ecr.dkr",
    "sts",
    "ssm",  # the promoted model's pointer (fraud_scoring.registry)
)
GATEWAY_ENDPOINT_SERVICES = ("s3", "dynamodb")
FLOW_LOG_PREFIX = "vpc-flow-logs"

_NAT_STRATEGIES = {"single": awsx.ec2.NatGatewayStrategy.SINGLE, "one-per-az": awsx.ec2.NatGatewayStrategy.ONE_PER_AZ}


@dataclass(frozen=True)
class NetworkOutputs:
    """What the components downstream need from the network."""

    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    public_subnet_ids: pulumi.Output[Sequence[str]]
    private_subnet_ids: pulumi.Output[Sequence[str]]
    interface_endpoints: bool
    endpoint_security_group_id: pulumi.Output[str]
    gateway_prefix_list_ids: Sequence[pulumi.Output[str]]
    lambda_security_group_id: pulumi.Output[str]
    api_security_group_id: pulumi.Output[str]
    export_security_group_id: pulumi.Output[str]


def allow_https_to_aws_apis(
    resource_name: str, *, security_group_id: pulumi.Input[str], network: NetworkOutputs, parent: pulumi.Resource
) -> list[aws.vpc.SecurityGroupEgressRule]:
    """Egress for a workload's security group: HTTPS to AWS APIs and nothing else.

    With interface endpoints (prod) the APIs are inside the VPC; without (dev) they are public
    endpoints reached through the NAT gateway, the only route out of the private subnets. S3 and
    DynamoDB go through the gateway endpoints' prefix lists either way. Nothing can connect in.
    """
    cidr = network.vpc_cidr if network.interface_endpoints else "0.0.0.0/0"
    destinations: list[tuple[str | None, pulumi.Input[str] | None]] = [(cidr, None)]
    destinations += [(None, prefix_list) for prefix_list in network.gateway_prefix_list_ids]
    return [
        aws.vpc.SecurityGroupEgressRule(
            f"{resource_name}-{index}",
            security_group_id=security_group_id,
            description="HTTPS to AWS APIs",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=cidr_ipv4,
            prefix_list_id=prefix_list_id,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for index, (cidr_ipv4, prefix_list_id) in enumerate(destinations)
    ]


@dataclass(frozen=True)
class FraudVpcArgs:
    network: NetworkConfig
    ctx: AwsContext
    namer: Namer

    @classmethod
    def of(cls, stack: Stack) -> FraudVpcArgs:
        return cls(network=stack.config.network, ctx=stack.ctx, namer=stack.namer)


def subnet_masks(vpc_cidr: str) -> tuple[int, int]:
    """(private, public) prefix lengths that fit one AZ's share of the VPC.

    awsx's Auto strategy gives each of the 3 zones a quarter of the VPC (prefix + 2); in it the
    private subnet takes half (prefix + 3, for task and Lambda ENIs) and the public one an eighth
    (prefix + 5: only the ALB and NAT gateways live there).
    """
    prefix = ipaddress.ip_network(vpc_cidr).prefixlen
    return prefix + 3, prefix + 5


def no_public_ip_on_launch(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """awsx turns on auto-assigned public IPs in public subnets; nothing of ours needs them (EC2.15).

    The ALB and the NAT gateways get their addresses explicitly, so the flag only widens exposure.
    """
    if args.type_ != "aws:ec2/subnet:Subnet":
        return None
    return pulumi.ResourceTransformResult(props={**args.props, "mapPublicIpOnLaunch": False}, opts=args.opts)


class FraudVpc(pulumi.ComponentResource):
    """VPC over three AZs: public and private subnets, NAT, endpoints, a stripped default SG, flow logs."""

    def __init__(self, name: str, args: FraudVpcArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fraud:network:FraudVpc", name, None, opts)
        self._args = args
        self._resource_name = name
        self._child = pulumi.ResourceOptions(parent=self)

        self.vpc = self._create_vpc()
        self.default_security_group = self._strip_default_security_group()
        self.private_route_table_ids = self._private_route_table_ids()
        self.endpoint_security_group = self._create_endpoint_security_group()
        self.gateway_endpoints = self._create_gateway_endpoints()
        self.interface_endpoints = self._create_interface_endpoints()
        self.lambda_security_group = self._create_workload_security_group("lambda", "Pipeline Lambda functions")
        self.api_security_group = self._create_workload_security_group("api-tasks", "fraud-api Fargate tasks")
        self.export_security_group = self._create_workload_security_group(
            "export-tasks", "Training export Fargate tasks"
        )
        self.flow_log_bucket = self._create_flow_log_bucket()
        self.flow_log = self._create_flow_log()

        self.outputs = NetworkOutputs(
            vpc_id=self.vpc.vpc_id,
            vpc_cidr=args.network.cidr,
            public_subnet_ids=self.vpc.public_subnet_ids,
            private_subnet_ids=self.vpc.private_subnet_ids,
            interface_endpoints=args.network.interface_endpoints,
            endpoint_security_group_id=self.endpoint_security_group.id,
            # Security groups reach the gateway endpoints (S3, DynamoDB) through these prefix lists.
            gateway_prefix_list_ids=[e.prefix_list_id for e in self.gateway_endpoints],
            lambda_security_group_id=self.lambda_security_group.id,
            api_security_group_id=self.api_security_group.id,
            export_security_group_id=self.export_security_group.id,
        )
        self.register_outputs(
            {
                "vpc_id": self.outputs.vpc_id,
                "private_subnet_ids": self.outputs.private_subnet_ids,
                "private_route_table_ids": self.private_route_table_ids,
                "endpoint_security_group_id": self.outputs.endpoint_security_group_id,
                "flow_log_bucket_name": self.flow_log_bucket.bucket_name,
            }
        )

    def _create_vpc(self) -> awsx.ec2.Vpc:
        network = self._args.network
        private_mask, public_mask = subnet_masks(network.cidr)
        return awsx.ec2.Vpc(
            f"{self._resource_name}-vpc",
            cidr_block=network.cidr,
            availability_zone_names=list(self._args.ctx.availability_zones),
            subnet_strategy=awsx.ec2.SubnetAllocationStrategy.AUTO,
            subnet_specs=[
                awsx.ec2.SubnetSpecArgs(type=awsx.ec2.SubnetType.PRIVATE, cidr_mask=private_mask, name="private"),
                awsx.ec2.SubnetSpecArgs(type=awsx.ec2.SubnetType.PUBLIC, cidr_mask=public_mask, name="public"),
            ],
            nat_gateways=awsx.ec2.NatGatewayConfigurationArgs(strategy=_NAT_STRATEGIES[network.nat_strategy]),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": self._args.namer.name(Kind.VPC, "fraud")},
            opts=pulumi.ResourceOptions(parent=self, transforms=[no_public_ip_on_launch]),
        )

    def _strip_default_security_group(self) -> aws.ec2.DefaultSecurityGroup:
        # Adopting the default SG with empty rule lists removes AWS's allow-all rules (EC2.2).
        return aws.ec2.DefaultSecurityGroup(
            f"{self._resource_name}-default-sg", vpc_id=self.vpc.vpc_id, ingress=[], egress=[], opts=self._child
        )

    def _private_route_table_ids(self) -> pulumi.Output[list[str]]:
        # awsx exposes route tables only as resource references; the lookup waits for the whole VPC
        # (depends_on) so it never runs before the route tables exist.
        tables = aws.ec2.get_route_tables_output(
            vpc_id=self.vpc.vpc_id,
            filters=[aws.ec2.GetRouteTablesFilterArgs(name="tag:SubnetType", values=["Private"])],
            opts=pulumi.InvokeOutputOptions(parent=self, depends_on=[self.vpc]),
        )
        return tables.ids

    def _create_endpoint_security_group(self) -> aws.ec2.SecurityGroup:
        return aws.ec2.SecurityGroup(
            f"{self._resource_name}-endpoints-sg",
            name=self._args.namer.name(Kind.SECURITY_GROUP, "endpoints"),
            description="Interface VPC endpoints: HTTPS from inside the VPC only",
            vpc_id=self.vpc.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="HTTPS from the VPC",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=[self._args.network.cidr],
                )
            ],
            egress=[],
            opts=self._child,
        )

    def _create_gateway_endpoints(self) -> list[aws.ec2.VpcEndpoint]:
        return [
            aws.ec2.VpcEndpoint(
                f"{self._resource_name}-{service}-endpoint",
                vpc_id=self.vpc.vpc_id,
                service_name=self._args.ctx.service_endpoint(service),
                vpc_endpoint_type="Gateway",
                route_table_ids=self.private_route_table_ids,
                opts=self._child,
            )
            for service in GATEWAY_ENDPOINT_SERVICES
        ]

    def _create_interface_endpoints(self) -> list[aws.ec2.VpcEndpoint]:
        if not self._args.network.interface_endpoints:
            return []
        return [
            aws.ec2.VpcEndpoint(
                f"{self._resource_name}-{service.replace('.', '-')}-endpoint",
                vpc_id=self.vpc.vpc_id,
                service_name=self._args.ctx.service_endpoint(service),
                vpc_endpoint_type="Interface",
                subnet_ids=self.vpc.private_subnet_ids,
                security_group_ids=[self.endpoint_security_group.id],
                private_dns_enabled=True,
                opts=self._child,
            )
            for service in INTERFACE_ENDPOINT_SERVICES
        ]

    def _create_workload_security_group(self, purpose: str, description: str) -> aws.ec2.SecurityGroup:
        # Identity only, no rules: the component that runs the workload adds exactly the rules it
        # needs. Created here so the data plane can admit these groups without a dependency cycle.
        return aws.ec2.SecurityGroup(
            f"{self._resource_name}-{purpose}-sg",
            name=self._args.namer.name(Kind.SECURITY_GROUP, purpose),
            description=description,
            vpc_id=self.vpc.vpc_id,
            opts=self._child,
        )

    def _create_flow_log_bucket(self) -> SecureBucket:
        ctx, namer, network = self._args.ctx, self._args.namer, self._args.network
        # The flow-log key stays with the flow-log archive: whoever deletes one deletes both.
        key = create_key(
            f"{self._resource_name}-flow-logs-key",
            purpose="flow-logs",
            description="VPC flow log archive",
            ctx=ctx,
            namer=namer,
            usage_statements=[log_delivery_key_statement(ctx), via_service_key_statement(ctx, "ReadThroughS3", ["s3"])],
            parent=self,
        )
        bucket_name = namer.name(Kind.BUCKET, "flow-logs")
        return SecureBucket(
            f"{self._resource_name}-flow-logs",
            SecureBucketArgs(
                bucket_name=bucket_name,
                ctx=ctx,
                kms_key_arn=key.arn,
                lifecycle=LifecycleArgs(
                    transition_days=network.flow_log_transition_days,
                    expiration_days=network.flow_log_expiration_days,
                ),
                policy_statements=log_delivery_bucket_statements(ctx, bucket_name, FLOW_LOG_PREFIX),
            ),
            opts=self._child,
        )

    def _create_flow_log(self) -> aws.ec2.FlowLog:
        return aws.ec2.FlowLog(
            f"{self._resource_name}-flow-log",
            vpc_id=self.vpc.vpc_id,
            traffic_type="ALL",
            log_destination_type="s3",
            log_destination=self.flow_log_bucket.bucket_arn.apply(lambda arn: f"{arn}/{FLOW_LOG_PREFIX}"),
            max_aggregation_interval=60,
            destination_options=aws.ec2.FlowLogDestinationOptionsArgs(
                file_format="parquet", hive_compatible_partitions=True, per_hour_partition=True
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.flow_log_bucket]),
        )
