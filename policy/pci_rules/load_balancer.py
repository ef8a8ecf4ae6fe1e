"""Application load balancers and their certificates.

Deletion protection (ELB.6, CKV_AWS_150, awsguard elb-deletion-protection-enabled) is deliberately
not checked: every stack must be destroyable and the control is not PCI-tagged.
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import PolicyResource

from .base import Config, Props, Rule, StackGraph, as_list, describe, dig, number, resource_rule, stack_rule

LOAD_BALANCER = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LISTENER = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
LISTENER_RULE = ("aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule")
TARGET_GROUP = ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")
CERTIFICATE = ("aws:acm/certificate:Certificate",)
TLS_PRIVATE_KEY = ("tls:index/privateKey:PrivateKey",)

# TLS 1.2 or newer with forward secrecy only (the policies CKV_AWS_103 accepts).
TLS_POLICY_PREFIXES = ("ELBSecurityPolicy-TLS13-1-2-", "ELBSecurityPolicy-TLS-1-2-", "ELBSecurityPolicy-FS-1-2-")
WEAK_KEY_ALGORITHMS = ("RSA_1024",)


def is_application(props: Props) -> bool:
    return props.get("loadBalancerType", "application") == "application"


def is_public_alb(props: Props) -> bool:
    return is_application(props) and props.get("internal") is not True


def _http_redirects(_: str, props: Props, __: Config) -> Iterator[str]:
    if props.get("protocol") != "HTTP":
        return
    actions = as_list(props.get("defaultActions"))
    if not actions or any(dig(a, "type") != "redirect" or dig(a, "redirect", "protocol") != "HTTPS" for a in actions):
        yield "an HTTP listener may only redirect to HTTPS"


def _tls_policy(_: str, props: Props, __: Config) -> Iterator[str]:
    if props.get("protocol") not in ("HTTPS", "TLS"):
        return
    policy = props.get("sslPolicy")
    if not isinstance(policy, str) or not policy.startswith(TLS_POLICY_PREFIXES):
        yield f"TLS policy {policy!r} allows protocols older than TLS 1.2 or ciphers without forward secrecy"
    if not props.get("certificateArn"):
        yield "HTTPS listener has no certificate"


def _drop_invalid_headers(_: str, props: Props, __: Config) -> Iterator[str]:
    if is_application(props) and props.get("dropInvalidHeaderFields") is not True:
        yield "ALB must drop invalid HTTP header fields (dropInvalidHeaderFields=true)"


def _desync_mitigation(_: str, props: Props, __: Config) -> Iterator[str]:
    # Absent means AWS's default, "defensive".
    mode = props.get("desyncMitigationMode", "defensive")
    if is_application(props) and mode not in ("defensive", "strictest"):
        yield f"desync mitigation mode {mode!r} lets ambiguous requests through; use defensive or strictest"


def _access_logs(_: str, props: Props, __: Config) -> Iterator[str]:
    logs = props.get("accessLogs")
    if dig(logs, "enabled") is not True or not dig(logs, "bucket"):
        yield "load balancer access logs must be enabled to a bucket"


def _target_group_tls(_: str, props: Props, __: Config) -> Iterator[str]:
    if props.get("protocol") != "HTTP":
        return
    # Exemption (components/load_balancer.py): TLS ends at the ALB and the ALB reaches Fargate tasks
    # (target type "ip") over plain HTTP inside the private VPC. PCI DSS 4.2.1 asks for strong
    # cryptography over open, public networks; any other plain-HTTP target is reported.
    if props.get("targetType") == "ip" and props.get("vpcId"):
        return
    yield "plain HTTP to targets outside the VPC's private task network; use HTTPS"


def _key_length(resource_type: str, props: Props, __: Config) -> Iterator[str]:
    if resource_type in CERTIFICATE:
        if props.get("keyAlgorithm") in WEAK_KEY_ALGORITHMS:
            yield f"certificate key algorithm {props.get('keyAlgorithm')} is weaker than RSA-2048"
        return
    if props.get("algorithm") == "RSA":
        bits = number(props.get("rsaBits"))
        if bits is not None and bits < 2048:
            yield f"RSA key of {bits:g} bits (< 2048)"


def _origin_verify(graph: StackGraph, config: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    header = str(config["originVerifyHeader"]).lower()
    for balancer in graph.of_type(*LOAD_BALANCER):
        if not is_public_alb(balancer.props):
            continue
        for listener in graph.referrers(balancer, LISTENER, "loadBalancerArn"):
            if any(dig(a, "type") == "forward" for a in as_list(listener.props.get("defaultActions"))):
                yield listener, f"public ALB listener {listener.name} forwards by default, without the origin header"
            for rule in graph.referrers(listener, LISTENER_RULE, "listenerArn"):
                if not any(dig(a, "type") == "forward" for a in as_list(rule.props.get("actions"))):
                    continue
                headers = [
                    str(dig(c, "httpHeader", "httpHeaderName")).lower()
                    for c in as_list(rule.props.get("conditions"))
                    if dig(c, "httpHeader", "values")
                ]
                if header not in headers:
                    yield rule, f"public ALB rule {rule.name} forwards without requiring the {header} header"


POLICIES: list[Rule] = [
    resource_rule(
        "pci-elb-1-http-redirect",
        describe("v4.0.1 req 4.2.1", "ELB.1", "CKV2_AWS_20, CKV_AWS_2",
                 "an HTTP listener does nothing but redirect to HTTPS."),
        LISTENER,
        _http_redirects,
    ),
    resource_rule(
        "pci-elb-17-tls-policy",
        describe("v4.0.1 req 4.2.1", "ELB.17", "CKV_AWS_103, CKV2_AWS_74",
                 "HTTPS/TLS listeners use a TLS 1.2+ forward-secrecy policy and a certificate."),
        LISTENER,
        _tls_policy,
    ),
    resource_rule(
        "pci-elb-4-drop-invalid-headers",
        describe("v4.0.1 req 6.2.4", "ELB.4", "CKV_AWS_131",
                 "application load balancers drop invalid HTTP header fields."),
        LOAD_BALANCER,
        _drop_invalid_headers,
    ),
    resource_rule(
        "pci-elb-12-desync-mitigation",
        describe("v4.0.1 req 6.2.4", "ELB.12", "CKV_AWS_328",
                 "application load balancers use defensive or strictest desync mitigation."),
        LOAD_BALANCER,
        _desync_mitigation,
    ),
    resource_rule(
        "pci-elb-5-access-logs",
        describe("v4.0.1 req 10.2.1", "ELB.5", "CKV_AWS_91",
                 "load balancers write access logs to S3."),
        LOAD_BALANCER,
        _access_logs,
    ),
    resource_rule(
        "pci-elb-target-group-tls",
        describe("v4.0.1 req 4.2.1", None, "CKV_AWS_378",
                 "target groups use HTTPS, except plain HTTP to Fargate task IPs inside the VPC (TLS ends at "
                 "the ALB; the hop never crosses a public network)."),
        TARGET_GROUP,
        _target_group_tls,
    ),
    stack_rule(
        "pci-elb-public-alb-origin-verify",
        describe("v4.0.1 req 1.4.2, 6.4.2", None, "CKV2_AWS_28 (nearest: public ALB behind WAF)",
                 "an internet-facing ALB forwards only requests carrying the origin-verify header API Gateway "
                 "adds, so it is no second front door around the API's keys, throttling and WAF."),
        _origin_verify,
        {"originVerifyHeader": {"type": "string", "default": "X-Origin-Verify"}},
    ),
    resource_rule(
        "pci-acm-2-key-length",
        describe("v4.0.1 req 4.2.1", "ACM.2", "CKV_AWS_103 (nearest: strong TLS on the listener)",
                 "certificates and TLS private keys are RSA-2048 or stronger (or ECDSA)."),
        (*CERTIFICATE, *TLS_PRIVATE_KEY),
        _key_length,
    ),
]  # fmt: skip
