"""The AWS provider every resource uses, and the facts about the target account the components need.

Tags are applied in exactly one place: the provider's `default_tags`. Every component receives this
provider through `ResourceOptions(providers=...)` and its children inherit it, so a resource cannot
be created without the four mandatory tags (a whole-program test proves that no resource escapes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import StackConfig, load_stack_config
from components.naming import Namer

# awsx places subnets in the first N zones; the architecture asks for exactly three.
AZ_COUNT = 3

# Zones the stack never uses, by zone ID: zone names are shuffled per account (us-east-1a is a
# different data centre in two accounts), zone IDs are not (AWS RAM user guide, "Availability Zone
# IDs for your AWS resources"). The one place to extend this list.
EXCLUDED_ZONE_IDS = (
    # use1-az3: the oldest us-east-1 zone. It lacks current instance families (Nitro, Graviton:
    # `aws ec2 describe-instance-type-offerings --location-type availability-zone-id`) and several
    # interface endpoint services (`aws ec2 describe-vpc-endpoint-services` lists each service's
    # zones), so an endpoint or a task ENI placed there can fail at deploy time.
    "use1-az3",
    # Fargate runs only in usw1-az1 and usw1-az3 of us-west-1, and only in apne1-az1, -az2 and -az4 of
    # ap-northeast-1 (Amazon ECS developer guide, "Supported Regions for Amazon ECS on AWS Fargate").
    "usw1-az2",
    "apne1-az3",
)


@dataclass(frozen=True)
class AwsContext:
    """Account, partition, region and zones, resolved once at program start (plain values, not Outputs)."""

    account_id: str
    partition: str
    region: str
    availability_zones: tuple[str, ...]

    def arn(self, service: str, resource: str) -> str:
        """A regional ARN in this account."""
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"

    def service_endpoint(self, service: str) -> str:
        """The VPC endpoint service name, e.g. com.amazonaws.<region>.dynamodb."""
        return f"com.amazonaws.{self.region}.{service}"


def create_provider(config: StackConfig) -> aws.Provider:
    return aws.Provider(
        "aws",
        region=config.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=config.tags.as_dict()),
    )


def lookup_context(config: StackConfig, provider: aws.Provider) -> AwsContext:
    opts = pulumi.InvokeOptions(provider=provider)
    identity = aws.get_caller_identity(opts=opts)
    partition = aws.get_partition(opts=opts)
    # Only the region's own zones: Local and Wavelength Zones lack Aurora, NAT gateways and endpoints.
    zones = aws.get_availability_zones(
        state="available",
        filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
        opts=opts,
    )
    return AwsContext(
        account_id=identity.account_id,
        partition=partition.partition,
        region=config.region,
        availability_zones=choose_zones(config.region, zones.names, zones.zone_ids),
    )


def choose_zones(region: str, names: Sequence[str], zone_ids: Sequence[str]) -> tuple[str, ...]:
    """The first AZ_COUNT zone names (in name order) whose zone ID is not excluded.

    getAvailabilityZones returns `names` and `zone_ids` as parallel lists.
    """
    usable = sorted(name for name, zone_id in zip(names, zone_ids, strict=True) if zone_id not in EXCLUDED_ZONE_IDS)
    if len(usable) < AZ_COUNT:
        raise pulumi.RunError(
            f"region {region} has {len(usable)} usable availability zones ({', '.join(usable) or 'none'}; "
            f"zone IDs {', '.join(EXCLUDED_ZONE_IDS)} are excluded); the stack needs {AZ_COUNT}"
        )
    return tuple(usable[:AZ_COUNT])


@dataclass(frozen=True)
class Stack:
    """Everything a component's args are derived from: the validated config, the account, the names."""

    config: StackConfig
    provider: aws.Provider
    ctx: AwsContext
    namer: Namer

    @classmethod
    def load(cls) -> Stack:
        """Validate the configuration first: a bad stack file stops here, before any resource exists."""
        config = load_stack_config()
        provider = create_provider(config)
        ctx = lookup_context(config, provider)
        return cls(config, provider, ctx, Namer(config.environment_suffix, ctx.account_id))
