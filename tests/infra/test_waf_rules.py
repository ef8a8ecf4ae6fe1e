"""The web ACLs rule by rule, as WAF evaluates them: every field stated literally, under a non-default
usage plan, keyless limit and country list, so a rule that stops following its config fails."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.harness import ACCOUNT_ID, ProgramRun, run_program

ACL = "aws:wafv2/webAcl:WebAcl"
REGION = "us-east-2"


@pytest.fixture(scope="module")
def custom() -> ProgramRun:
    """dev with a usage plan of 40 requests/s (burst 70), 450 keyless requests per address, two countries."""
    return run_program(
        "dev",
        {
            "fraud-detection:apiRateLimit": "40",
            "fraud-detection:apiBurstLimit": "70",
            "fraud-detection:wafRateLimitPerIp": "450",
            "fraud-detection:wafBlockedCountries": '["CU", "IR"]',
        },
    )


def _visible(metric: str) -> dict[str, Any]:
    return {"cloudwatchMetricsEnabled": True, "metricName": metric, "sampledRequestsEnabled": True}


def _managed(group: str, priority: int) -> dict[str, Any]:
    return {
        "name": group,
        "priority": priority,
        "overrideAction": {"none": {}},
        "statement": {"managedRuleGroupStatement": {"vendorName": "AWS", "name": group}},
        "visibilityConfig": _visible(group),
    }


# Both ACLs end with these, in this order: the geo block, then AWS's groups (common, SQLi, bad inputs).
COMMON_RULES = [
    {
        "name": "blocked-countries",
        "priority": 5,
        "action": {"block": {}},
        "statement": {"geoMatchStatement": {"countryCodes": ["CU", "IR"]}},
        "visibilityConfig": _visible("blocked-countries"),
    },
    _managed("AWSManagedRulesCommonRuleSet", 10),
    _managed("AWSManagedRulesSQLiRuleSet", 11),
    _managed("AWSManagedRulesKnownBadInputsRuleSet", 12),
]
NO_TRANSFORMATION = [{"priority": 0, "type": "NONE"}]


def _acl(run: ProgramRun, key: str) -> dict[str, Any]:
    return run.named(ACL, f"fraud-waf-{key}-acl").inputs


def test_waf_stage_acl_rate_limits_key_then_address_then_keyless_before_the_common_rules(custom: ProgramRun) -> None:
    # 2 x (40 requests/s x 300 s + a burst of 70) = 24,140 per 5 minutes, per key and per address
    assert _acl(custom, "stage")["rules"] == [
        {
            "name": "rate-limit-per-api-key",
            "priority": 0,
            "action": {"block": {}},
            "statement": {
                "rateBasedStatement": {
                    "aggregateKeyType": "CUSTOM_KEYS",
                    "customKeys": [{"header": {"name": "x-api-key", "textTransformations": NO_TRANSFORMATION}}],
                    "limit": 24140,
                    "evaluationWindowSec": 300,
                }
            },
            "visibilityConfig": _visible("rate-limit-per-api-key"),
        },
        {
            "name": "rate-limit-per-ip",
            "priority": 1,
            "action": {"block": {}},
            "statement": {"rateBasedStatement": {"aggregateKeyType": "IP", "limit": 24140, "evaluationWindowSec": 300}},
            "visibilityConfig": _visible("rate-limit-per-ip"),
        },
        {
            "name": "rate-limit-keyless-per-ip",
            "priority": 2,
            "action": {"block": {}},
            "statement": {
                "rateBasedStatement": {
                    "aggregateKeyType": "IP",
                    "limit": 450,
                    "evaluationWindowSec": 300,
                    # AWS's "missing header" pattern: NOT (size of x-api-key > 0)
                    "scopeDownStatement": {
                        "notStatement": {
                            "statement": {
                                "sizeConstraintStatement": {
                                    "fieldToMatch": {"singleHeader": {"name": "x-api-key"}},
                                    "comparisonOperator": "GT",
                                    "size": 0,
                                    "textTransformations": NO_TRANSFORMATION,
                                }
                            }
                        }
                    },
                }
            },
            "visibilityConfig": _visible("rate-limit-keyless-per-ip"),
        },
        *COMMON_RULES,
    ]


def test_waf_alb_acl_carries_only_the_geo_block_and_managed_groups(custom: ProgramRun) -> None:
    assert _acl(custom, "alb")["rules"] == COMMON_RULES


@pytest.mark.parametrize(
    ("key", "name", "description"),
    [
        ("stage", "waf-fraud-api-dev", "API stage: rate limits per API key and address, geo block, AWS managed rules"),
        ("alb", "waf-fraud-alb-dev", "ALB behind API Gateway: geo block, AWS managed rules (no per-source rate rule)"),
    ],
)
def test_waf_acl_is_regional_allows_by_default_and_reports_metrics(
    custom: ProgramRun, key: str, name: str, description: str
) -> None:
    acl = _acl(custom, key)
    assert {k: v for k, v in acl.items() if k != "rules"} == {
        "name": name,
        "description": description,
        "scope": "REGIONAL",
        "defaultAction": {"allow": {}},
        "visibilityConfig": _visible(name),
    }


@pytest.mark.parametrize(
    ("key", "acl_name", "protected"),
    [
        ("stage", "waf-fraud-api-dev", f"arn:aws:apigateway:{REGION}::/restapis/a1b2c3d4e5/stages/v1"),
        ("alb", "waf-fraud-alb-dev", f"arn:aws:lb:{REGION}:{ACCOUNT_ID}:loadbalancer/alb-fraud-api-dev"),
    ],
)
def test_waf_acl_protects_its_resource_and_logs_to_the_audit_archive_without_credentials(
    custom: ProgramRun, key: str, acl_name: str, protected: str
) -> None:
    acl_arn = f"arn:aws:wafv2:{REGION}:{ACCOUNT_ID}:webacl/{acl_name}"
    association = custom.named("aws:wafv2/webAclAssociation:WebAclAssociation", f"fraud-waf-{key}-association")
    assert association.inputs == {"resourceArn": protected, "webAclArn": acl_arn}
    logging = custom.named(
        "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration", f"fraud-waf-{key}-logging"
    )
    assert logging.inputs == {
        "resourceArn": acl_arn,
        "logDestinationConfigs": [f"arn:aws:s3:::aws-waf-logs-audit-dev-{ACCOUNT_ID}"],
        "redactedFields": [
            {"singleHeader": {"name": "x-api-key"}},
            {"singleHeader": {"name": "x-origin-verify"}},
            {"singleHeader": {"name": "authorization"}},
        ],
    }


def test_waf_resources_belong_to_the_firewall_component(custom: ProgramRun) -> None:
    # A resource that changes parent changes URN: Pulumi would replace a live web ACL.
    custom.named("fraud:api:WebFirewall", "fraud-waf")
    assert custom.options["fraud-waf"].parent == "fraud:api:FraudApiService::fraud"
    for key in ("stage", "alb"):
        for role in ("acl", "logging", "association"):
            assert custom.options[f"fraud-waf-{key}-{role}"].parent == "fraud:api:WebFirewall::fraud-waf"
    assert custom.registered_outputs["fraud:api:WebFirewall::fraud-waf"] == ("alb_web_acl_arn", "web_acl_arn")


def test_waf_dashboard_charts_the_stage_acl_clients_meet(custom: ProgramRun) -> None:
    body = custom.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"]
    assert '["AWS/WAFV2", "BlockedRequests", "WebACL", "waf-fraud-api-dev", "Region", "us-east-2"' in body
