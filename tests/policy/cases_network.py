"""Compliant and non-compliant cases for the network, load balancer and certificate rules."""

from __future__ import annotations

from typing import Any

from policy_support import Case, StackCase, policy_resource, res

SG = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LEGACY = "aws:ec2/securityGroupRule:SecurityGroupRule"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
RULE = "aws:lb/listenerRule:ListenerRule"
TG = "aws:lb/targetGroup:TargetGroup"
SERVICE = "aws:ecs/service:Service"


def rule(port: int, cidr: str = "0.0.0.0/0", protocol: str = "tcp", **extra: Any) -> dict[str, Any]:
    return {"description": "why", "protocol": protocol, "fromPort": port, "toPort": port, "cidrBlocks": [cidr], **extra}


def group(ingress: list[dict[str, Any]] | None = None, egress: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"description": "what it admits", "ingress": ingress or [], "egress": egress or []}


ALB_PROPS = {
    "loadBalancerType": "application",
    "internal": False,
    "dropInvalidHeaderFields": True,
    "desyncMitigationMode": "defensive",
    "accessLogs": {"enabled": True, "bucket": "logs"},
}
REDIRECT = [{"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}]
FORWARD = [{"type": "forward", "targetGroupArn": "arn:tg"}]
NOT_FOUND = [{"type": "fixed-response", "fixedResponse": {"statusCode": "404", "contentType": "text/plain"}}]
ORIGIN = {"httpHeader": {"httpHeaderName": "X-Origin-Verify", "values": ["s3cr3t"]}}
PATH = {"pathPattern": {"values": ["/api/*"]}}

CASES = [
    Case("pci-ec2-2-default-sg-closed", DEFAULT_SG, {"vpcId": "vpc-1", "ingress": [], "egress": []}),
    Case(
        "pci-ec2-2-default-sg-closed",
        DEFAULT_SG,
        {"vpcId": "vpc-1", "egress": [rule(0, protocol="-1")]},
        "the default security group must have no egress rules",
    ),
    Case("pci-ec2-13-no-world-admin-ports", SG, group([rule(443)])),
    Case("pci-ec2-13-no-world-admin-ports", SG, group([rule(22, cidr="10.0.0.0/16")]), label="private-ssh"),
    Case(
        "pci-ec2-13-no-world-admin-ports",
        SG,
        group([rule(22)]),
        "administration/database ports [22] are open to the internet",
    ),
    Case(
        "pci-ec2-13-no-world-admin-ports",
        SG,
        group([rule(0, cidr="::/0", protocol="-1")]),
        "all traffic is open to the internet",
        label="ipv6-all",
    ),
    Case(
        "pci-ec2-13-no-world-admin-ports",
        INGRESS,
        {"ipProtocol": "tcp", "fromPort": 3300, "toPort": 3400, "cidrIpv4": "0.0.0.0/0"},
        "administration/database ports [3306, 3389] are open to the internet",
        label="range",
    ),
    Case("pci-ec2-18-authorized-public-ports", SG, group([rule(443), rule(80)])),
    Case(
        "pci-ec2-18-authorized-public-ports",
        SG,
        group([rule(8080)]),
        "internet ingress tcp 8080-8080 is not an authorized port [80, 443]",
    ),
    Case(
        "pci-ec2-18-authorized-public-ports",
        LEGACY,
        {"type": "ingress", "protocol": "udp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["0.0.0.0/0"]},
        "internet ingress udp 443-443 is not an authorized port [80, 443]",
        label="udp",
    ),
    Case(
        "pci-ec2-18-authorized-public-ports",
        SG,
        group([rule(80)]),
        "internet ingress tcp 80-80 is not an authorized port [443]",
        {"authorizedPublicPorts": [443]},
        label="config",
    ),
    Case(
        "pci-ec2-restricted-egress",
        EGRESS,
        {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0"},
    ),
    Case(
        "pci-ec2-restricted-egress",
        EGRESS,
        {"ipProtocol": "tcp", "fromPort": 5432, "toPort": 5432, "referencedSecurityGroupId": "sg-db"},
        label="to-group",
    ),
    Case(
        "pci-ec2-restricted-egress",
        SG,
        group(egress=[rule(0, protocol="-1")]),
        "internet egress -1 0-65535 is not an authorized port [443]",
    ),
    Case("pci-ec2-sg-descriptions", SG, group([rule(443)])),
    Case(
        "pci-ec2-sg-descriptions",
        SG,
        {"description": "Managed by Pulumi"},
        "security group needs a description saying what it admits",
    ),
    Case(
        "pci-ec2-sg-descriptions",
        EGRESS,
        {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443},
        "every egress rule needs a description (its business justification)",
        label="rule",
    ),
    Case("pci-ec2-15-subnet-no-public-ip", "aws:ec2/subnet:Subnet", {"mapPublicIpOnLaunch": False}),
    Case(
        "pci-ec2-15-subnet-no-public-ip",
        "aws:ec2/subnet:Subnet",
        {"mapPublicIpOnLaunch": True},
        "subnet must not assign public IPs on launch",
    ),
    Case("pci-ec2-flow-log-all-traffic", FLOW_LOG, {"trafficType": "ALL", "logDestination": "arn:aws:s3:::logs"}),
    Case(
        "pci-ec2-flow-log-all-traffic",
        FLOW_LOG,
        {"trafficType": "REJECT", "logDestination": "arn:aws:s3:::l"},
        "flow log must capture ALL traffic, not 'REJECT'",
    ),
    # Load balancers and certificates
    Case("pci-elb-1-http-redirect", LISTENER, {"protocol": "HTTP", "port": 80, "defaultActions": REDIRECT}),
    Case(
        "pci-elb-1-http-redirect",
        LISTENER,
        {"protocol": "HTTP", "port": 80, "defaultActions": FORWARD},
        "an HTTP listener may only redirect to HTTPS",
    ),
    Case(
        "pci-elb-17-tls-policy",
        LISTENER,
        {"protocol": "HTTPS", "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06", "certificateArn": "arn:cert"},
    ),
    Case(
        "pci-elb-17-tls-policy",
        LISTENER,
        {"protocol": "HTTPS", "sslPolicy": "ELBSecurityPolicy-2016-08", "certificateArn": "arn:cert"},
        "TLS policy 'ELBSecurityPolicy-2016-08' allows protocols older than TLS 1.2 or ciphers without forward secrecy",
    ),
    Case("pci-elb-4-drop-invalid-headers", LB, ALB_PROPS),
    Case(
        "pci-elb-4-drop-invalid-headers",
        LB,
        {**ALB_PROPS, "dropInvalidHeaderFields": False},
        "ALB must drop invalid HTTP header fields (dropInvalidHeaderFields=true)",
    ),
    Case("pci-elb-12-desync-mitigation", LB, {**ALB_PROPS, "desyncMitigationMode": "strictest"}),
    Case("pci-elb-12-desync-mitigation", LB, {"loadBalancerType": "application"}, label="default"),
    Case(
        "pci-elb-12-desync-mitigation",
        LB,
        {**ALB_PROPS, "desyncMitigationMode": "monitor"},
        "desync mitigation mode 'monitor' lets ambiguous requests through; use defensive or strictest",
    ),
    Case("pci-elb-5-access-logs", LB, ALB_PROPS),
    Case(
        "pci-elb-5-access-logs",
        LB,
        {**ALB_PROPS, "accessLogs": {"enabled": False, "bucket": "logs"}},
        "load balancer access logs must be enabled to a bucket",
    ),
    Case("pci-elb-target-group-tls", TG, {"protocol": "HTTPS", "targetType": "instance", "vpcId": "vpc-1"}),
    Case(
        "pci-elb-target-group-tls", TG, {"protocol": "HTTP", "targetType": "ip", "vpcId": "vpc-1"}, label="tasks-in-vpc"
    ),
    Case(
        "pci-elb-target-group-tls",
        TG,
        {"protocol": "HTTP", "targetType": "instance", "vpcId": "vpc-1"},
        "plain HTTP to targets outside the VPC's private task network; use HTTPS",
    ),
    Case("pci-acm-2-key-length", "tls:index/privateKey:PrivateKey", {"algorithm": "RSA", "rsaBits": 2048}),
    Case(
        "pci-acm-2-key-length",
        "tls:index/privateKey:PrivateKey",
        {"algorithm": "RSA", "rsaBits": 1024},
        "RSA key of 1024 bits (< 2048)",
    ),
    Case(
        "pci-acm-2-key-length",
        "aws:acm/certificate:Certificate",
        {"keyAlgorithm": "RSA_1024"},
        "certificate key algorithm RSA_1024 is weaker than RSA-2048",
        label="acm",
    ),
    # Network: each branch and boundary of the rules above
    Case(
        "pci-ec2-2-default-sg-closed",
        DEFAULT_SG,
        {"vpcId": "vpc-1", "ingress": [rule(443)]},
        "the default security group must have no ingress rules",
        label="ingress",
    ),
    Case("pci-ec2-13-no-world-admin-ports", SG, group([rule(24, toPort=1432)]), label="between-admin-ports"),
    Case(
        "pci-ec2-13-no-world-admin-ports",
        SG,
        group([rule(23, toPort=1433)]),
        "administration/database ports [23, 1433] are open to the internet",
        label="range-ends",
    ),
    Case(
        "pci-ec2-13-no-world-admin-ports",
        SG,
        group([{"description": "why", "protocol": "ALL", "ipv6CidrBlocks": ["::/0"]}]),
        "all traffic is open to the internet",
        label="protocol-all-ipv6",
    ),
    Case(
        "pci-ec2-13-no-world-admin-ports",
        LEGACY,
        {"type": "ingress", "protocol": "tcp", "cidrBlocks": ["0.0.0.0/0"]},
        "administration/database ports [20, 21, 22, 23, 1433, 1521, 2375, 2376, 3306, 3389, 5432, 5439, 5985, 5986,"
        " 6379, 9200, 27017] are open to the internet",
        label="legacy-no-ports",
    ),
    Case(
        "pci-ec2-13-no-world-admin-ports",
        LEGACY,
        {"type": "egress", "protocol": "-1", "cidrBlocks": ["0.0.0.0/0"]},
        label="legacy-egress",
    ),
    Case(
        "pci-ec2-13-no-world-admin-ports",
        INGRESS,
        {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv6": "::/0"},
        "administration/database ports [22] are open to the internet",
        label="rule-ipv6",
    ),
    Case("pci-ec2-13-no-world-admin-ports", EGRESS, {"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"}, label="egress-rule"),
    Case(
        "pci-ec2-18-authorized-public-ports",
        SG,
        group([rule(80, toPort=443)]),
        "internet ingress tcp 80-443 is not an authorized port [80, 443]",
        label="range",
    ),
    Case(
        "pci-ec2-18-authorized-public-ports",
        SG,
        group([rule(8443)]),
        config={"authorizedPublicPorts": [8443]},
        label="config-allows",
    ),
    Case(
        "pci-ec2-18-authorized-public-ports",
        SG,
        group([rule(443, cidr="10.0.0.0/8")], egress=[rule(0, protocol="-1")]),
        label="private-and-egress",
    ),
    Case(
        "pci-ec2-restricted-egress",
        LEGACY,
        {"type": "egress", "protocol": "tcp", "fromPort": 8443, "toPort": 8443, "ipv6CidrBlocks": ["::/0"]},
        config={"authorizedPublicEgressPorts": [8443]},
        label="config-allows",
    ),
    Case(
        "pci-ec2-restricted-egress",
        EGRESS,
        {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "0.0.0.0/0"},
        "internet egress tcp 443-443 is not an authorized port [8443]",
        {"authorizedPublicEgressPorts": [8443]},
        label="config-forbids",
    ),
    Case(
        "pci-ec2-restricted-egress",
        SG,
        group(egress=[rule(443, protocol="udp"), rule(80, toPort=443)]),
        (
            "internet egress udp 443-443 is not an authorized port [443]",
            "internet egress tcp 80-443 is not an authorized port [443]",
        ),
        label="udp-and-range",
    ),
    Case("pci-ec2-restricted-egress", SG, group([rule(8080)]), label="ingress-is-not-egress"),
    Case(
        "pci-ec2-sg-descriptions",
        SG,
        {"ingress": [{**rule(443), "description": ""}], "egress": [rule(443)]},
        (
            "security group needs a description saying what it admits",
            "every ingress rule needs a description (its business justification)",
        ),
        label="missing",
    ),
    Case(
        "pci-ec2-sg-descriptions",
        SG,
        {"description": "Managed by Terraform"},
        "security group needs a description saying what it admits",
        label="terraform",
    ),
    Case(
        "pci-ec2-sg-descriptions",
        LEGACY,
        {"type": "ingress", "protocol": "tcp", "fromPort": 443, "toPort": 443},
        "every ingress rule needs a description (its business justification)",
        label="legacy",
    ),
    Case("pci-ec2-15-subnet-no-public-ip", "aws:ec2/subnet:Subnet", {}, label="unset"),
    Case("pci-ec2-flow-log-all-traffic", FLOW_LOG, {"trafficType": "ALL", "logGroupName": "/vpc/flow"}, label="group"),
    Case(
        "pci-ec2-flow-log-all-traffic",
        FLOW_LOG,
        {},
        ("flow log must capture ALL traffic, not None", "flow log has no destination"),
        label="empty",
    ),
    Case(
        "pci-ec2-13-no-world-admin-ports",
        SG,
        group([rule(0, protocol="-1"), rule(22)]),
        ("all traffic is open to the internet", "administration/database ports [22] are open to the internet"),
        label="all-traffic-then-ssh",
    ),
    Case(
        "pci-ec2-13-no-world-admin-ports",
        LEGACY,
        {"type": "ingress", "protocol": "tcp", "fromPort": 3389, "toPort": 3389, "ipv6CidrBlocks": ["::/0"]},
        "administration/database ports [3389] are open to the internet",
        label="legacy-ipv6",
    ),
    # Load balancers and certificates: each branch and boundary
    Case("pci-elb-1-http-redirect", LISTENER, {"protocol": "HTTPS", "defaultActions": FORWARD}, label="https"),
    Case(
        "pci-elb-1-http-redirect",
        LISTENER,
        {"protocol": "HTTP", "defaultActions": []},
        "an HTTP listener may only redirect to HTTPS",
        label="no-action",
    ),
    Case(
        "pci-elb-1-http-redirect",
        LISTENER,
        {"protocol": "HTTP", "defaultActions": [*REDIRECT, {"type": "redirect", "redirect": {"protocol": "HTTP"}}]},
        "an HTTP listener may only redirect to HTTPS",
        label="redirect-to-http",
    ),
    *[
        Case(
            "pci-elb-17-tls-policy",
            LISTENER,
            {"protocol": protocol, "sslPolicy": policy, "certificateArn": "arn:c"},
            label=policy,
        )
        for protocol, policy in (
            ("TLS", "ELBSecurityPolicy-TLS-1-2-Ext-2018-06"),
            ("HTTPS", "ELBSecurityPolicy-FS-1-2-Res-2020-10"),
        )
    ],
    Case("pci-elb-17-tls-policy", LISTENER, {"protocol": "HTTP", "defaultActions": REDIRECT}, label="http"),
    Case(
        "pci-elb-17-tls-policy",
        LISTENER,
        {"protocol": "HTTPS"},
        (
            "TLS policy None allows protocols older than TLS 1.2 or ciphers without forward secrecy",
            "HTTPS listener has no certificate",
        ),
        label="unset",
    ),
    Case(
        "pci-elb-17-tls-policy",
        LISTENER,
        {"protocol": "TLS", "sslPolicy": "ELBSecurityPolicy-2016-08", "certificateArn": "arn:cert"},
        "TLS policy 'ELBSecurityPolicy-2016-08' allows protocols older than TLS 1.2 or ciphers without forward secrecy",
        label="tls-listener",
    ),
    Case("pci-elb-4-drop-invalid-headers", LB, {"loadBalancerType": "network"}, label="nlb"),
    Case(
        "pci-elb-4-drop-invalid-headers",
        LB,
        {},
        "ALB must drop invalid HTTP header fields (dropInvalidHeaderFields=true)",
        label="default-type",
    ),
    Case(
        "pci-elb-12-desync-mitigation",
        LB,
        {"loadBalancerType": "network", "desyncMitigationMode": "monitor"},
        label="nlb",
    ),
    Case(
        "pci-elb-5-access-logs",
        LB,
        {**ALB_PROPS, "accessLogs": {"enabled": True}},
        "load balancer access logs must be enabled to a bucket",
        label="no-bucket",
    ),
    Case(
        "pci-elb-target-group-tls",
        TG,
        {"protocol": "HTTP", "targetType": "ip"},
        "plain HTTP to targets outside the VPC's private task network; use HTTPS",
        label="ip-without-vpc",
    ),
    Case("pci-acm-2-key-length", "aws:acm/certificate:Certificate", {"keyAlgorithm": "RSA_2048"}, label="acm-2048"),
    Case(
        "pci-acm-2-key-length",
        "tls:index/privateKey:PrivateKey",
        {"algorithm": "RSA", "rsaBits": 2047},
        "RSA key of 2047 bits (< 2048)",
        label="2047",
    ),
    Case("pci-acm-2-key-length", "tls:index/privateKey:PrivateKey", {"algorithm": "RSA"}, label="rsa-default-bits"),
    Case(
        "pci-acm-2-key-length",
        "tls:index/privateKey:PrivateKey",
        {"algorithm": "ECDSA", "rsaBits": 1024},
        label="ecdsa",
    ),
]


def _vpc_stack(*, flow: str | None = "ALL", default_sg: bool = True, child_of_awsx: bool = False) -> list[Any]:
    if child_of_awsx:
        component = res("awsx:ec2:Vpc", "vpc", vpcId="vpc-1")
        vpc = policy_resource("aws:ec2/vpc:Vpc", "vpc-vpc", {"id": "vpc-1"}, parent=component)
        resources = [component, vpc]
    else:
        resources = [res("aws:ec2/vpc:Vpc", "vpc", id="vpc-1")]
    if flow:
        resources.append(res(FLOW_LOG, "flow", vpcId="vpc-1", trafficType=flow, logDestination="arn:aws:s3:::l"))
    if default_sg:
        resources.append(res(DEFAULT_SG, "default-sg", vpcId="vpc-1", ingress=[], egress=[]))
    return resources


def _alb_stack(
    *,
    attach_to_service: bool = False,
    rule_conditions: list[Any] | None = None,
    default_actions: list[Any] | None = None,
) -> list[Any]:
    resources = [
        res(SG, "alb-sg", id="sg-alb", **group([rule(443)])),
        res(LB, "alb", arn="arn:alb", securityGroups=["sg-alb"], **ALB_PROPS),
        res(
            LISTENER,
            "https",
            arn="arn:https",
            loadBalancerArn="arn:alb",
            protocol="HTTPS",
            defaultActions=default_actions or NOT_FOUND,
        ),
        res(
            RULE,
            "forward",
            listenerArn="arn:https",
            actions=FORWARD,
            conditions=rule_conditions if rule_conditions is not None else [PATH, ORIGIN],
        ),
    ]
    if attach_to_service:
        resources.append(res(SERVICE, "svc", networkConfiguration={"securityGroups": ["sg-alb"]}))
    return resources


def _dependent_flow_log() -> list[Any]:
    """A first preview: the flow log's vpcId is unknown, only the property dependency links it."""
    vpc = res("aws:ec2/vpc:Vpc", "vpc")
    log = policy_resource(FLOW_LOG, "flow", {"trafficType": "ALL"}, property_dependencies={"vpcId": [vpc]})
    return [vpc, log]


STACK_CASES = [
    StackCase("pci-ec2-6-vpc-flow-logs", _vpc_stack()),
    StackCase("pci-ec2-6-vpc-flow-logs", _vpc_stack(child_of_awsx=True), label="awsx"),
    StackCase("pci-ec2-6-vpc-flow-logs", _dependent_flow_log(), label="by-dependency"),
    StackCase("pci-ec2-6-vpc-flow-logs", _vpc_stack(flow=None), "VPC vpc has no flow log capturing ALL traffic"),
    StackCase(
        "pci-ec2-6-vpc-flow-logs",
        _vpc_stack(flow="ACCEPT"),
        "VPC vpc has no flow log capturing ALL traffic",
        label="accept-only",
    ),
    StackCase("pci-ec2-2-default-sg-adopted", _vpc_stack()),
    StackCase(
        "pci-ec2-2-default-sg-adopted",
        _vpc_stack(default_sg=False),
        "VPC vpc leaves its default security group unmanaged (AWS's allow-all rules stay)",
    ),
    StackCase("pci-ec2-public-ingress-alb-only", _alb_stack()),
    StackCase(
        "pci-ec2-public-ingress-alb-only",
        _alb_stack(attach_to_service=True),
        "internet-open security group alb-sg is attached to svc, not only to a public ALB",
    ),
    StackCase(
        "pci-ec2-public-ingress-alb-only",
        [
            res(SG, "tasks", id="sg-t", **group()),
            res(
                INGRESS,
                "open",
                securityGroupId="sg-t",
                ipProtocol="tcp",
                fromPort=443,
                toPort=443,
                cidrIpv4="0.0.0.0/0",
            ),
            res(SERVICE, "svc", networkConfiguration={"securityGroups": ["sg-t"]}),
        ],
        "internet-open security group tasks is attached to svc, not only to a public ALB",
        label="via-rule-resource",
    ),
    StackCase("pci-elb-public-alb-origin-verify", _alb_stack()),
    StackCase(
        "pci-elb-public-alb-origin-verify",
        _alb_stack(rule_conditions=[PATH]),
        "public ALB rule forward forwards without requiring the x-origin-verify header",
    ),
    StackCase(
        "pci-elb-public-alb-origin-verify",
        _alb_stack(default_actions=FORWARD),
        "public ALB listener https forwards by default, without the origin header",
        label="default-forward",
    ),
    StackCase(
        "pci-ec2-2-default-sg-adopted",
        _vpc_stack(default_sg=False, child_of_awsx=True),
        "VPC vpc leaves its default security group unmanaged (AWS's allow-all rules stay)",
        label="awsx",
    ),
    StackCase(
        "pci-ec2-public-ingress-alb-only",
        [
            *_alb_stack(),
            res(LB, "internal", securityGroups=["sg-alb"], **{**ALB_PROPS, "internal": True}),
            res(LB, "nlb", securityGroups=["sg-alb"], loadBalancerType="network"),
        ],
        "internet-open security group alb-sg is attached to internal, nlb, not only to a public ALB",
        label="internal-and-network-lb",
    ),
    StackCase(
        "pci-ec2-public-ingress-alb-only",
        [
            res(SG, "tasks", id="sg-t", **group([rule(443, cidr="10.0.0.0/16")])),
            res(
                INGRESS,
                "other",
                securityGroupId="sg-x",
                ipProtocol="tcp",
                fromPort=443,
                toPort=443,
                cidrIpv4="0.0.0.0/0",
            ),
            res(SERVICE, "svc", networkConfiguration={"securityGroups": ["sg-t"]}),
        ],
        label="private-group",
    ),
    StackCase(
        "pci-elb-public-alb-origin-verify",
        _alb_stack(rule_conditions=[PATH, {"httpHeader": {"httpHeaderName": "x-edge-secret", "values": ["s"]}}]),
        config={"originVerifyHeader": "X-Edge-Secret"},
        label="config-header",
    ),
    StackCase(
        "pci-elb-public-alb-origin-verify",
        _alb_stack(rule_conditions=[PATH, {"httpHeader": {"httpHeaderName": "X-Origin-Verify", "values": []}}]),
        "public ALB rule forward forwards without requiring the x-origin-verify header",
        label="header-without-values",
    ),
    StackCase(
        "pci-elb-public-alb-origin-verify",
        [
            res(LB, "alb", arn="arn:alb", **{**ALB_PROPS, "internal": True}),
            res(
                LISTENER, "https", arn="arn:https", loadBalancerArn="arn:alb", protocol="HTTPS", defaultActions=FORWARD
            ),
        ],
        label="internal",
    ),
    StackCase(
        "pci-elb-public-alb-origin-verify",
        [
            *_alb_stack(rule_conditions=[PATH]),
            res(RULE, "deny", listenerArn="arn:https", actions=NOT_FOUND, conditions=[PATH]),
        ],
        "public ALB rule forward forwards without requiring the x-origin-verify header",
        label="only-forwarding-rules",
    ),
    StackCase(
        "pci-ec2-public-ingress-alb-only",
        [
            res(SG, "tasks", id="sg-t", **group()),
            res(
                LEGACY,
                "open",
                type="ingress",
                securityGroupId="sg-t",
                protocol="tcp",
                fromPort=443,
                toPort=443,
                cidrBlocks=["0.0.0.0/0"],
            ),
            res(SERVICE, "svc", networkConfiguration={"securityGroups": ["sg-t"]}),
        ],
        "internet-open security group tasks is attached to svc, not only to a public ALB",
        label="via-legacy-rule",
    ),
    StackCase(
        "pci-ec2-public-ingress-alb-only",
        [res(SG, "private", id="sg-p", **group([rule(443, cidr="10.0.0.0/16")])), *_alb_stack(attach_to_service=True)],
        "internet-open security group alb-sg is attached to svc, not only to a public ALB",
        label="open-group-after-private-one",
    ),
    StackCase(
        "pci-elb-public-alb-origin-verify",
        [
            res(LB, "internal", arn="arn:internal", **{**ALB_PROPS, "internal": True}),
            *_alb_stack(default_actions=FORWARD),
        ],
        "public ALB listener https forwards by default, without the origin header",
        label="public-after-internal",
    ),
    StackCase(
        "pci-elb-public-alb-origin-verify",
        [
            *_alb_stack(rule_conditions=[PATH])[:3],
            res(RULE, "deny", listenerArn="arn:https", actions=NOT_FOUND, conditions=[PATH]),
            *_alb_stack(rule_conditions=[PATH])[3:],
        ],
        "public ALB rule forward forwards without requiring the x-origin-verify header",
        label="forwarding-rule-after-fixed-response",
    ),
]
