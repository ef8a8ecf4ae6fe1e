"""WebFirewall: the WAFv2 web ACL on the API stage and the ALB (a child of FraudApiService).

PCI DSS 6.4.2: an automated solution in front of every public-facing web application, blocking
attacks and logging what it does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
RATE_WINDOW_SECONDS = 300
# Never written to the WAF logs: they authenticate callers.
REDACTED_HEADERS = ("x-api-key", ORIGIN_VERIFY_HEADER.lower(), "authorization")


@dataclass(frozen=True)
class WebFirewallArgs:
    namer: Namer
    waf: WafConfig
    protected_resource_arns: Sequence[pulumi.Input[str]]
    log_bucket_arn: pulumi.Input[str]


def _visibility(metric: str) -> Any:
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric, "sampled_requests_enabled": True}


def web_acl_rules(waf: WafConfig) -> list[Any]:
    """The ACL's rules in priority order: our own blocks first, then AWS's managed groups."""
    rules: list[dict[str, Any]] = [
        {
            "name": "rate-limit-per-ip",
            "priority": 0,
            "action": {"block": {}},
            "statement": {
                "rate_based_statement": {
                    "limit": waf.rate_limit_per_ip,
                    "aggregate_key_type": "IP",
                    "evaluation_window_sec": RATE_WINDOW_SECONDS,
                }
            },
            "visibility_config": _visibility("rate-limit-per-ip"),
        }
    ]
    if waf.blocked_countries:
        rules.append(
            {
                "name": "blocked-countries",
                "priority": 1,
                "action": {"block": {}},
                "statement": {"geo_match_statement": {"country_codes": list(waf.blocked_countries)}},
                "visibility_config": _visibility("blocked-countries"),
            }
        )
    for offset, group in enumerate(MANAGED_RULE_GROUPS):
        rules.append(
            {
                "name": group,
                "priority": 10 + offset,
                # "none" keeps the group's own actions, which block.
                "override_action": {"none": {}},
                "statement": {"managed_rule_group_statement": {"vendor_name": "AWS", "name": group}},
                "visibility_config": _visibility(group),
            }
        )
    return rules


class WebFirewall(pulumi.ComponentResource):
    """REGIONAL web ACL in block mode, logging to the audit archive, associated with each resource."""

    def __init__(self, name: str, args: WebFirewallArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("fraud:api:WebFirewall", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        acl_name = args.namer.name(Kind.WEB_ACL, "fraud")
        self.web_acl = aws.wafv2.WebAcl(
            f"{name}-acl",
            name=acl_name,
            description="fraud-detection front door: rate limit, geo block, AWS managed rules",
            scope="REGIONAL",
            default_action=aws.wafv2.WebAclDefaultActionArgs(allow=aws.wafv2.WebAclDefaultActionAllowArgs()),
            rules=web_acl_rules(args.waf),
            visibility_config=_visibility(acl_name),
            opts=child,
        )
        aws.wafv2.WebAclLoggingConfiguration(
            f"{name}-logging",
            resource_arn=self.web_acl.arn,
            log_destination_configs=[args.log_bucket_arn],
            redacted_fields=[{"single_header": {"name": header}} for header in REDACTED_HEADERS],
            opts=child,
        )
        for index, resource_arn in enumerate(args.protected_resource_arns):
            aws.wafv2.WebAclAssociation(
                f"{name}-association-{index}", resource_arn=resource_arn, web_acl_arn=self.web_acl.arn, opts=child
            )
        self.web_acl_name: str = acl_name
        self.web_acl_arn: pulumi.Output[str] = self.web_acl.arn
        self.register_outputs({"web_acl_arn": self.web_acl_arn})
