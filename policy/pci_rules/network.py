"""Network segmentation: VPC, subnets, security groups, flow logs.

The one deliberate opening is the API's ALB (0.0.0.0/0 and ::/0 on 443, and on 80 only to redirect):
API Gateway reaches it from AWS public addresses no prefix list covers, and its listener rules
forward only requests carrying the origin-verify header (components/load_balancer.py). The rules
allow world-open ingress only on `authorizedPublicPorts` and only on groups attached to nothing but
internet-facing ALBs; the ALB rules (load_balancer.py here) hold the listeners to the redirect and
the header condition.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource

from .base import (
    Config,
    Props,
    Rule,
    StackGraph,
    as_list,
    describe,
    is_world,
    port_range,
    resource_rule,
    stack_rule,
)
from .load_balancer import LOAD_BALANCER, is_public_alb

SECURITY_GROUP = ("aws:ec2/securityGroup:SecurityGroup",)
DEFAULT_SECURITY_GROUP = ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",)
INGRESS_RULE = ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",)
EGRESS_RULE = ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",)
LEGACY_RULE = ("aws:ec2/securityGroupRule:SecurityGroupRule",)
SUBNET = ("aws:ec2/subnet:Subnet",)
FLOW_LOG = ("aws:ec2/flowLog:FlowLog",)
VPC = ("aws:ec2/vpc:Vpc",)
AWSX_VPC = ("awsx:ec2:Vpc",)

# Remote administration and database ports that must never be open to the internet (EC2.13/.14/.53/.54).
ADMIN_PORTS = (20, 21, 22, 23, 1433, 1521, 2375, 2376, 3306, 3389, 5432, 5439, 5985, 5986, 6379, 9200, 27017)
# Properties through which a resource attaches security groups.
SG_ATTACHMENT_PROPS = ("securityGroups", "vpcSecurityGroupIds", "securityGroupIds", "networkConfiguration", "vpcConfig")


def _rules(resource_type: str, props: Props, direction: str) -> list[tuple[Mapping[str, Any], str, list[Any]]]:
    """(rule, protocol key, CIDRs) for every rule of `direction` ("ingress"/"egress") a resource declares."""
    found: list[tuple[Mapping[str, Any], str, list[Any]]] = []
    if resource_type in (*SECURITY_GROUP, *DEFAULT_SECURITY_GROUP):
        for rule in as_list(props.get(direction)):
            found.append((rule, "protocol", [*as_list(rule.get("cidrBlocks")), *as_list(rule.get("ipv6CidrBlocks"))]))
    elif resource_type in (INGRESS_RULE if direction == "ingress" else EGRESS_RULE):
        found.append((props, "ipProtocol", [props.get("cidrIpv4"), props.get("cidrIpv6")]))
    elif resource_type in LEGACY_RULE and props.get("type") == direction:
        found.append((props, "protocol", [*as_list(props.get("cidrBlocks")), *as_list(props.get("ipv6CidrBlocks"))]))
    return found


def _world_rules(resource_type: str, props: Props, direction: str) -> Iterator[tuple[str, float, float]]:
    for rule, protocol_key, cidrs in _rules(resource_type, props, direction):
        if is_world(cidrs):
            yield port_range(rule, protocol_key)


def _default_sg_closed(_: str, props: Props, __: Config) -> Iterator[str]:
    for direction in ("ingress", "egress"):
        if as_list(props.get(direction)):
            yield f"the default security group must have no {direction} rules"


def _no_world_admin_ports(resource_type: str, props: Props, __: Config) -> Iterator[str]:
    for protocol, low, high in _world_rules(resource_type, props, "ingress"):
        if protocol == "-1":
            yield "all traffic is open to the internet"
            continue
        exposed = [p for p in ADMIN_PORTS if low <= p <= high]
        if exposed:
            yield f"administration/database ports {exposed} are open to the internet"


def _authorized_public_ports(resource_type: str, props: Props, config: Config) -> Iterator[str]:
    authorized = {int(p) for p in as_list(config["authorizedPublicPorts"])}
    for protocol, low, high in _world_rules(resource_type, props, "ingress"):
        if protocol != "tcp" or low != high or int(low) not in authorized:
            yield f"internet ingress {protocol} {low:g}-{high:g} is not an authorized port {sorted(authorized)}"


def _restricted_egress(resource_type: str, props: Props, config: Config) -> Iterator[str]:
    authorized = {int(p) for p in as_list(config["authorizedPublicEgressPorts"])}
    for protocol, low, high in _world_rules(resource_type, props, "egress"):
        if protocol != "tcp" or low != high or int(low) not in authorized:
            yield f"internet egress {protocol} {low:g}-{high:g} is not an authorized port {sorted(authorized)}"


GENERIC_DESCRIPTIONS = ("", "Managed by Pulumi", "Managed by Terraform")


def _descriptions(resource_type: str, props: Props, __: Config) -> Iterator[str]:
    if resource_type in SECURITY_GROUP and props.get("description", "") in GENERIC_DESCRIPTIONS:
        yield "security group needs a description saying what it admits"
    for direction in ("ingress", "egress"):
        for rule, _, _ in _rules(resource_type, props, direction):
            if not rule.get("description"):
                yield f"every {direction} rule needs a description (its business justification)"


def _subnet_no_public_ip(_: str, props: Props, __: Config) -> Iterator[str]:
    if props.get("mapPublicIpOnLaunch") is True:
        yield "subnet must not assign public IPs on launch"


def _flow_log_all_traffic(_: str, props: Props, __: Config) -> Iterator[str]:
    if props.get("trafficType") != "ALL":
        yield f"flow log must capture ALL traffic, not {props.get('trafficType')!r}"
    if not props.get("logDestination") and not props.get("logGroupName"):
        yield "flow log has no destination"


def _vpcs(graph: StackGraph) -> list[PolicyResource]:
    """Every VPC of the stack: awsx VPC components, and plain VPCs not created by one.

    awsx's VPC is a remote component: its vpcId output belongs to the component, which is what the
    flow log and the default security group depend on.
    """
    awsx = graph.of_type(*AWSX_VPC)
    plain = [v for v in graph.of_type(*VPC) if not (v.parent and v.parent.resource_type in AWSX_VPC)]
    return [*awsx, *plain]


def _vpc_flow_logs(graph: StackGraph, _: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    for vpc in _vpcs(graph):
        logs = [f for f in graph.referrers(vpc, FLOW_LOG, "vpcId") if f.props.get("trafficType") == "ALL"]
        if not logs:
            yield vpc, f"VPC {vpc.name} has no flow log capturing ALL traffic"


def _default_sg_adopted(graph: StackGraph, _: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    for vpc in _vpcs(graph):
        if not graph.referrers(vpc, DEFAULT_SECURITY_GROUP, "vpcId"):
            yield vpc, f"VPC {vpc.name} leaves its default security group unmanaged (AWS's allow-all rules stay)"


def _public_ingress_on_alb_only(graph: StackGraph, _: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    groups = graph.of_type(*SECURITY_GROUP)
    rules = graph.of_type(*INGRESS_RULE, *LEGACY_RULE)
    for group in groups:
        world = any(True for _ in _world_rules(group.resource_type, group.props, "ingress")) or any(
            any(True for _ in _world_rules(r.resource_type, r.props, "ingress"))
            for r in rules
            if graph.refers(r, "securityGroupId", group)
        )
        if not world:
            continue
        users = [
            r
            for r in graph.resources
            if r is not group and any(graph.refers(r, prop, group) for prop in SG_ATTACHMENT_PROPS)
        ]
        others = [u for u in users if not (u.resource_type in LOAD_BALANCER and is_public_alb(u.props))]
        if others:
            names = ", ".join(sorted(u.name for u in others))
            yield group, f"internet-open security group {group.name} is attached to {names}, not only to a public ALB"


POLICIES: list[Rule] = [
    resource_rule(
        "pci-ec2-2-default-sg-closed",
        describe("v4.0.1 req 1.3.1, 1.3.2", "EC2.2", "CKV2_AWS_12",
                 "a VPC's default security group allows no inbound and no outbound traffic."),
        DEFAULT_SECURITY_GROUP,
        _default_sg_closed,
    ),
    stack_rule(
        "pci-ec2-2-default-sg-adopted",
        describe("v4.0.1 req 1.3.1, 1.3.2", "EC2.2", "CKV2_AWS_12",
                 "every VPC's default security group is adopted by the stack (and so stripped of AWS's rules)."),
        _default_sg_adopted,
    ),
    resource_rule(
        "pci-ec2-13-no-world-admin-ports",
        describe("v4.0.1 req 1.3.1", "EC2.13/EC2.14/EC2.53/EC2.54", "CKV_AWS_24, CKV_AWS_25, CKV_AWS_277",
                 "no security group admits 0.0.0.0/0 or ::/0 to all ports or to an administration or database port."),
        (*SECURITY_GROUP, *INGRESS_RULE, *LEGACY_RULE),
        _no_world_admin_ports,
    ),
    resource_rule(
        "pci-ec2-18-authorized-public-ports",
        describe("v4.0.1 req 1.3.1, 1.4.2", "EC2.18", "CKV_AWS_260 (port 80 is authorized here for the redirect)",
                 "internet-open ingress is limited to single TCP ports in authorizedPublicPorts."),
        (*SECURITY_GROUP, *INGRESS_RULE, *LEGACY_RULE),
        _authorized_public_ports,
        {"authorizedPublicPorts": {"type": "array", "items": {"type": "integer"}, "default": [80, 443]}},
    ),
    stack_rule(
        "pci-ec2-public-ingress-alb-only",
        describe("v4.0.1 req 1.4.2", None, "CKV2_AWS_5 (nearest: security groups attached)",
                 "a security group open to the internet is attached to internet-facing application load balancers "
                 "only (the components that provide the authorized public service)."),
        _public_ingress_on_alb_only,
    ),
    resource_rule(
        "pci-ec2-restricted-egress",
        describe("v4.0.1 req 1.3.2", None, "CKV_AWS_382",
                 "egress to 0.0.0.0/0 or ::/0 is limited to single TCP ports in authorizedPublicEgressPorts."),
        (*SECURITY_GROUP, *EGRESS_RULE, *LEGACY_RULE),
        _restricted_egress,
        {"authorizedPublicEgressPorts": {"type": "array", "items": {"type": "integer"}, "default": [443]}},
    ),
    resource_rule(
        "pci-ec2-sg-descriptions",
        describe("v4.0.1 req 1.2.5", None, "CKV_AWS_23",
                 "every security group and rule says what it admits (ports and services identified and justified)."),
        (*SECURITY_GROUP, *INGRESS_RULE, *EGRESS_RULE, *LEGACY_RULE),
        _descriptions,
    ),
    resource_rule(
        "pci-ec2-15-subnet-no-public-ip",
        describe("v4.0.1 req 1.4.4", "EC2.15", "CKV_AWS_130",
                 "subnets do not auto-assign public IPv4 addresses."),
        SUBNET,
        _subnet_no_public_ip,
    ),
    resource_rule(
        "pci-ec2-flow-log-all-traffic",
        describe("v4.0.1 req 10.2.1", "EC2.6", "CKV2_AWS_11",
                 "flow logs capture ALL traffic (accepted and rejected) to a destination."),
        FLOW_LOG,
        _flow_log_all_traffic,
    ),
    stack_rule(
        "pci-ec2-6-vpc-flow-logs",
        describe("v3.2.1 req 10.3.3-10.3.6", "EC2.6", "CKV2_AWS_11",
                 "every VPC has a flow log capturing ALL traffic."),
        _vpc_flow_logs,
    ),
]  # fmt: skip
