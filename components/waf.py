"""WebFirewall: one WAFv2 web ACL on the API stage, another on the ALB (a child of FraudApiService).

PCI DSS 6.4.2: an automated solution in front of every public-facing web application, blocking
attacks and logging what it does.

The two ACLs see different callers, so they rate-limit differently:
- The stage sees each client's own address and API key. Its rate rules are keyed to what
  identifies a caller (the `x-api-key` header, then the address) with limits derived from the
  usage plan, so WAF never blocks a partner below the rate the plan sells it.
- The ALB sees API Gateway's few egress addresses as the source of every /api/* request: any
  per-source-IP rule there would throttle all partners together. It has no rate rule; the
  ALB forwards only requests carrying the origin-verify header (others get a fixed 404), and
  those were rate limited at the stage. The forwarded-address header is no substitute: a client
  can put any address in X-Forwarded-For and WAF reads its first entry.
Both keep the geo block and AWS's managed groups (common rule set with XSS, SQLi, known bad inputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import WafConfig
from components.load_balancer import ORIGIN_VERIFY_HEADER
from components.naming import Kind, Namer

MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",  # OWASP top 10, cross-site scripting, oversized bodies
    "AWSManagedRulesSQLiRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
)
# WAF counts each rate-based rule over this window (valid: 60, 120, 300, 600 s).
RATE_WINDOW_SECONDS = 300
# WAF's largest rate-based limit (RateBasedStatement.Limit: 10 to 2,000,000,000).
MAX_RATE_LIMIT = 2_000_000_000
# A key may send twice what its plan admits before WAF steps in: API Gateway answers the excess
# with 429 first (clients retrying those still count), WAF only stops a runaway or stolen key.
RATE_HEADROOM = 2
API_KEY_HEADER = "x-api-key"
# Never written to the WAF logs: they authenticate callers.
REDACTED_HEADERS = (API_KEY_HEADER, ORIGIN_VERIFY_HEADER.lower(), "authorization")


def caller_rate_limit(rate_limit: int, burst_limit: int) -> int:
    """Requests one caller may send per window: the usage plan's most (a full burst bucket plus
    the steady rate over the window), times the headroom, within WAF's maximum."""
    return min(MAX_RATE_LIMIT, RATE_HEADROOM * (rate_limit * RATE_WINDOW_SECONDS + burst_limit))


@dataclass(frozen=True)
class WebFirewallArgs:
    namer: Namer
    waf: WafConfig
    # The usage plan's steady rate (requests/s) and burst, from which the stage's limits derive.
    api_rate_limit: int
    api_burst_limit: int
    stage_arn: pulumi.Input[str]
    load_balancer_arn: pulumi.Input[str]
    log_bucket_arn: pulumi.Input[str]


def _visibility(metric: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
    return aws.wafv2.WebAclRuleVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )


def _block() -> aws.wafv2.WebAclRuleActionArgs:
    return aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs())


def _rate_rule(
    name: str, priority: int, statement: aws.wafv2.WebAclRuleStatementRateBasedStatementArgs
) -> aws.wafv2.WebAclRuleArgs:
    return aws.wafv2.WebAclRuleArgs(
        name=name,
        priority=priority,
        action=_block(),
        statement=aws.wafv2.WebAclRuleStatementArgs(rate_based_statement=statement),
        visibility_config=_visibility(name),
    )


def _without_api_key() -> aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementArgs:
    """Requests with no (or an empty) x-api-key header: AWS's documented "missing header" scope-down,
    NOT(size of the header > 0) (developer guide: waf-rate-based-example-limit-missing-header)."""
    w = aws.wafv2
    scope = w.WebAclRuleStatementRateBasedStatementScopeDownStatementArgs
    size = w.WebAclRuleStatementRateBasedStatementScopeDownStatementSizeConstraintStatementArgs
    field = w.WebAclRuleStatementRateBasedStatementScopeDownStatementSizeConstraintStatementFieldToMatchArgs
    header = (
        w.WebAclRuleStatementRateBasedStatementScopeDownStatementSizeConstraintStatementFieldToMatchSingleHeaderArgs
    )
    transformation = (
        w.WebAclRuleStatementRateBasedStatementScopeDownStatementSizeConstraintStatementTextTransformationArgs
    )
    present = scope(
        size_constraint_statement=size(
            field_to_match=field(single_header=header(name=API_KEY_HEADER)),
            comparison_operator="GT",
            size=0,
            text_transformations=[transformation(priority=0, type="NONE")],
        )
    )
    return scope(not_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementNotStatementArgs(
        statement=present
    ))  # fmt: skip


def stage_rate_rules(waf: WafConfig, rate_limit: int, burst_limit: int) -> list[aws.wafv2.WebAclRuleArgs]:
    """The stage's rate rules, keyed to the caller; priorities 0-2."""
    per_caller = caller_rate_limit(rate_limit, burst_limit)
    statement = aws.wafv2.WebAclRuleStatementRateBasedStatementArgs
    key = aws.wafv2.WebAclRuleStatementRateBasedStatementCustomKeyArgs
    header = aws.wafv2.WebAclRuleStatementRateBasedStatementCustomKeyHeaderArgs
    transformation = aws.wafv2.WebAclRuleStatementRateBasedStatementCustomKeyHeaderTextTransformationArgs
    return [
        # One counter per API key: a key sending far beyond its plan (stolen, runaway) is blocked.
        # Requests without the header are not counted here (WAF skips requests missing a custom key).
        _rate_rule("rate-limit-per-api-key", 0, statement(
            aggregate_key_type="CUSTOM_KEYS",
            custom_keys=[key(header=header(name=API_KEY_HEADER,
                                           text_transformations=[transformation(priority=0, type="NONE")]))],
            limit=per_caller,
            evaluation_window_sec=RATE_WINDOW_SECONDS,
        )),
        # One counter per client address, whatever keys it presents: an address cycling made-up keys
        # still cannot send more than one plan's worth. A partner on one address with one key never
        # reaches it.
        _rate_rule("rate-limit-per-ip", 1, statement(
            aggregate_key_type="IP", limit=per_caller, evaluation_window_sec=RATE_WINDOW_SECONDS,
        )),
        # Requests without a key can only be refused (403): a tight per-address limit stops scanners.
        _rate_rule("rate-limit-keyless-per-ip", 2, statement(
            aggregate_key_type="IP",
            limit=waf.keyless_rate_limit_per_ip,
            evaluation_window_sec=RATE_WINDOW_SECONDS,
            scope_down_statement=_without_api_key(),
        )),
    ]  # fmt: skip


def common_rules(waf: WafConfig) -> list[aws.wafv2.WebAclRuleArgs]:
    """Rules both ACLs carry: the geo block (priority 5), then AWS's managed groups (10+)."""
    rules: list[aws.wafv2.WebAclRuleArgs] = []
    if waf.blocked_countries:
        rules.append(
            aws.wafv2.WebAclRuleArgs(
                name="blocked-countries",
                priority=5,
                action=_block(),
                statement=aws.wafv2.WebAclRuleStatementArgs(
                    geo_match_statement=aws.wafv2.WebAclRuleStatementGeoMatchStatementArgs(
                        country_codes=list(waf.blocked_countries)
                    )
                ),
                visibility_config=_visibility("blocked-countries"),
            )
        )
    for offset, group in enumerate(MANAGED_RULE_GROUPS):
        rules.append(
            aws.wafv2.WebAclRuleArgs(
                name=group,
                priority=10 + offset,
                # "none" keeps the group's own actions, which block.
                override_action=aws.wafv2.WebAclRuleOverrideActionArgs(
                    none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()
                ),
                statement=aws.wafv2.WebAclRuleStatementArgs(
                    managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                        vendor_name="AWS", name=group
                    )
                ),
                visibility_config=_visibility(group),
            )
        )
    return rules


class WebFirewall(pulumi.ComponentResource):
    """Two REGIONAL web ACLs in block mode (stage, ALB), each logging to the audit archive."""

    def __init__(self, name: str, args: WebFirewallArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fraud:api:WebFirewall", name, None, opts)
        self._args = args
        self._resource_name = name
        common = common_rules(args.waf)
        stage_rules = stage_rate_rules(args.waf, args.api_rate_limit, args.api_burst_limit) + common
        self.stage_acl = self._web_acl(
            "stage", "fraud-api", "API stage: rate limits per API key and address, geo block, AWS managed rules",
            stage_rules, args.stage_arn,
        )  # fmt: skip
        self.alb_acl = self._web_acl(
            "alb", "fraud-alb", "ALB behind API Gateway: geo block, AWS managed rules (no per-source rate rule)",
            common, args.load_balancer_arn,
        )  # fmt: skip
        # The dashboard's WAF widget shows the front door's ACL: the one clients meet.
        self.web_acl_name: str = args.namer.name(Kind.WEB_ACL, "fraud-api")
        self.web_acl_arn: pulumi.Output[str] = self.stage_acl.arn
        self.alb_web_acl_arn: pulumi.Output[str] = self.alb_acl.arn
        self.register_outputs({"web_acl_arn": self.web_acl_arn, "alb_web_acl_arn": self.alb_web_acl_arn})

    def _web_acl(
        self,
        key: str,
        purpose: str,
        description: str,
        rules: list[aws.wafv2.WebAclRuleArgs],
        protected_arn: pulumi.Input[str],
    ) -> aws.wafv2.WebAcl:
        child = pulumi.ResourceOptions(parent=self)
        acl_name = self._args.namer.name(Kind.WEB_ACL, purpose)
        acl = aws.wafv2.WebAcl(
            f"{self._resource_name}-{key}-acl",
            name=acl_name,
            description=description,
            scope="REGIONAL",
            default_action=aws.wafv2.WebAclDefaultActionArgs(allow=aws.wafv2.WebAclDefaultActionAllowArgs()),
            rules=rules,
            visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True, metric_name=acl_name, sampled_requests_enabled=True
            ),
            opts=child,
        )
        aws.wafv2.WebAclLoggingConfiguration(
            f"{self._resource_name}-{key}-logging",
            resource_arn=acl.arn,
            log_destination_configs=[self._args.log_bucket_arn],
            redacted_fields=[
                aws.wafv2.WebAclLoggingConfigurationRedactedFieldArgs(
                    single_header=aws.wafv2.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs(name=header)
                )
                for header in REDACTED_HEADERS
            ],
            opts=child,
        )
        aws.wafv2.WebAclAssociation(
            f"{self._resource_name}-{key}-association", resource_arn=protected_arn, web_acl_arn=acl.arn, opts=child
        )
        return acl
