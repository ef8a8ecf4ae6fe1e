"""The public front door: API Gateway REST API and the WAFv2 web ACL on the stage and the ALB (PCI DSS 6.4.2)."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import PolicyResource

from .base import Config, Props, Rule, StackGraph, as_list, describe, dig, resource_rule, stack_rule
from .load_balancer import LOAD_BALANCER, is_public_alb

METHOD = ("aws:apigateway/method:Method",)
METHOD_SETTINGS = ("aws:apigateway/methodSettings:MethodSettings",)
STAGE = ("aws:apigateway/stage:Stage",)
INTEGRATION = ("aws:apigateway/integration:Integration",)
WEB_ACL = ("aws:wafv2/webAcl:WebAcl",)
WEB_ACL_LOGGING = ("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",)
WEB_ACL_ASSOCIATION = ("aws:wafv2/webAclAssociation:WebAclAssociation",)

HTTP_INTEGRATIONS = ("HTTP", "HTTP_PROXY")


def _execution_logging(_: str, props: Props, __: Config) -> Iterator[str]:
    level = dig(props, "settings", "loggingLevel")
    if level not in ("INFO", "ERROR"):
        yield f"execution logging level must be INFO or ERROR, not {level!r}"


def _data_trace_off(_: str, props: Props, __: Config) -> Iterator[str]:
    if dig(props, "settings", "dataTraceEnabled") is True:
        yield "data trace logs whole request and response bodies (card numbers, CVV); it must stay off"


def _cache_encrypted(_: str, props: Props, __: Config) -> Iterator[str]:
    settings = props.get("settings")
    if dig(settings, "cachingEnabled") is True and dig(settings, "cacheDataEncrypted") is not True:
        yield "cached responses must be encrypted (cacheDataEncrypted=true)"


def _access_logging(_: str, props: Props, __: Config) -> Iterator[str]:
    logs = props.get("accessLogSettings")
    if not dig(logs, "destinationArn") or not dig(logs, "format"):
        yield "stage must write access logs (accessLogSettings destination and format)"


def _method_authorization(_: str, props: Props, __: Config) -> Iterator[str]:
    if props.get("authorization", "NONE") == "NONE" and props.get("apiKeyRequired") is not True:
        yield f"{props.get('httpMethod')} method is open: require an authorizer or an API key"


def _backend_tls(_: str, props: Props, config: Config) -> Iterator[str]:
    if props.get("type") not in HTTP_INTEGRATIONS or props.get("connectionType") == "VPC_LINK":
        return
    uri = props.get("uri")
    if not isinstance(uri, str) or not uri.startswith("https://"):
        yield f"HTTP integration must call its backend over HTTPS, not {uri!r}"
    # Per stack (config): a stack without its own domain fronts the ALB with a self-signed certificate,
    # whose name and expiry API Gateway still verifies (components/api_gateway.py).
    if dig(props, "tlsConfig", "insecureSkipVerification") is True and not config["allowSelfSignedBackend"]:
        yield "backend certificate issuer is not verified (insecureSkipVerification) in a stack that forbids it"


def _waf_rules(_: str, props: Props, __: Config) -> Iterator[str]:
    if not as_list(props.get("rules")):
        yield "web ACL has no rules"


def _waf_block_mode(_: str, props: Props, __: Config) -> Iterator[str]:
    for rule in as_list(props.get("rules")):
        if dig(rule, "action", "count") is not None or dig(rule, "overrideAction", "count") is not None:
            yield f"rule {dig(rule, 'name')!r} only counts matches; it must block"


def _waf_managed_rules(_: str, props: Props, __: Config) -> Iterator[str]:
    managed = [
        dig(rule, "statement", "managedRuleGroupStatement", "name")
        for rule in as_list(props.get("rules"))
        if dig(rule, "statement", "managedRuleGroupStatement", "vendorName") == "AWS"
    ]
    if "AWSManagedRulesCommonRuleSet" not in managed:
        yield "web ACL must include AWSManagedRulesCommonRuleSet (continuously updated OWASP protections)"
    if "AWSManagedRulesKnownBadInputsRuleSet" not in managed:
        yield "web ACL must include AWSManagedRulesKnownBadInputsRuleSet (Log4j and other known exploits)"


def _waf_log_redaction(_: str, props: Props, config: Config) -> Iterator[str]:
    redacted = {
        str(name).lower()
        for field in as_list(props.get("redactedFields"))
        if (name := dig(field, "singleHeader", "name"))
    }
    for header in as_list(config["redactedHeaders"]):
        if str(header).lower() not in redacted:
            yield f"WAF logs must redact the {header} header (an authentication factor)"


def _waf_logging(graph: StackGraph, _: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    for acl in graph.of_type(*WEB_ACL):
        if not graph.referrers(acl, WEB_ACL_LOGGING, "resourceArn"):
            yield acl, f"web ACL {acl.props.get('name') or acl.name} has no logging configuration"


def _protected(graph: StackGraph, resource: PolicyResource) -> bool:
    return bool(graph.referrers(resource, WEB_ACL_ASSOCIATION, "resourceArn"))


def _api_waf(graph: StackGraph, _: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    for stage in graph.of_type(*STAGE):
        if not _protected(graph, stage):
            yield stage, f"API stage {stage.props.get('stageName') or stage.name} has no WAF web ACL"


def _alb_waf(graph: StackGraph, _: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    for balancer in graph.of_type(*LOAD_BALANCER):
        if is_public_alb(balancer.props) and not _protected(graph, balancer):
            yield balancer, f"internet-facing ALB {balancer.props.get('name') or balancer.name} has no WAF web ACL"


POLICIES: list[Rule] = [
    resource_rule(
        "pci-apigateway-1-execution-logging",
        describe("v4.0.1 req 10.2.1", "APIGateway.1", "CKV2_AWS_4",
                 "REST API method settings log execution at INFO or ERROR."),
        METHOD_SETTINGS,
        _execution_logging,
    ),
    resource_rule(
        "pci-apigateway-data-trace-off",
        describe("v4.0.1 req 3.3.1, 3.5.1", None, "CKV_AWS_276",
                 "data trace stays off: it would write full request bodies (PAN, CVV) to CloudWatch Logs."),
        METHOD_SETTINGS,
        _data_trace_off,
    ),
    resource_rule(
        "pci-apigateway-5-cache-encrypted",
        describe("v4.0.1 req 3.5.1", "APIGateway.5", "CKV_AWS_308",
                 "if responses are cached, the cache is encrypted."),
        METHOD_SETTINGS,
        _cache_encrypted,
    ),
    resource_rule(
        "pci-apigateway-9-access-logging",
        describe("v4.0.1 req 10.4.2", "APIGateway.9 (REST equivalent)", "CKV_AWS_76",
                 "every stage writes access logs with a format."),
        STAGE,
        _access_logging,
    ),
    resource_rule(
        "pci-apigateway-method-authorization",
        describe("v4.0.1 req 7.2.1, 8.2.1", None, "CKV_AWS_59, CKV2_AWS_70",
                 "no method is open: each requires an authorizer or an API key."),
        METHOD,
        _method_authorization,
    ),
    resource_rule(
        "pci-apigateway-backend-tls",
        describe("v4.0.1 req 4.2.1", None, "CKV2_AWS_51 (nearest: backend authentication)",
                 "HTTP integrations reach their backend over HTTPS; skipping the issuer check is allowed only in "
                 "stacks whose config sets allowSelfSignedBackend."),
        INTEGRATION,
        _backend_tls,
        {"allowSelfSignedBackend": {"type": "boolean", "default": False}},
    ),
    stack_rule(
        "pci-apigateway-4-waf",
        describe("v4.0.1 req 6.4.2", "APIGateway.4", "CKV2_AWS_29",
                 "every API stage is protected by a WAF web ACL."),
        _api_waf,
    ),
    stack_rule(
        "pci-elb-16-waf",
        describe("v4.0.1 req 6.4.2", "ELB.16", "CKV2_AWS_28",
                 "every internet-facing application load balancer is protected by a WAF web ACL."),
        _alb_waf,
    ),
    resource_rule(
        "pci-waf-10-has-rules",
        describe("v4.0.1 req 6.4.2", "WAF.10", "CKV_AWS_175",
                 "web ACLs contain rules."),
        WEB_ACL,
        _waf_rules,
    ),
    resource_rule(
        "pci-waf-block-mode",
        describe("v4.0.1 req 6.4.2", None, "CKV_AWS_342 (nearest: rules have actions)",
                 "no rule or rule group runs in count-only mode: attacks are blocked, not just observed."),
        WEB_ACL,
        _waf_block_mode,
    ),
    resource_rule(
        "pci-waf-managed-rules",
        describe("v4.0.1 req 6.4.2", None, "CKV_AWS_192, CKV2_AWS_76",
                 "web ACLs include AWS's common and known-bad-inputs managed rule groups."),
        WEB_ACL,
        _waf_managed_rules,
    ),
    stack_rule(
        "pci-waf-11-logging",
        describe("v4.0.1 req 10.4.2", "WAF.11", "CKV2_AWS_31",
                 "every web ACL has a logging configuration."),
        _waf_logging,
    ),
    resource_rule(
        "pci-waf-log-redaction",
        describe("v4.0.1 req 8.3.2", None, "CKV2_AWS_31 (nearest: WAF logging)",
                 "WAF logs redact the headers in redactedHeaders (API keys, shared secrets, authorization)."),
        WEB_ACL_LOGGING,
        _waf_log_redaction,
        {"redactedHeaders": {"type": "array", "items": {"type": "string"}, "default": ["authorization", "x-api-key"]}},
    ),
]  # fmt: skip
