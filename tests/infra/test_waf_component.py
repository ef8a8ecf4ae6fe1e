"""WebFirewall alone, built from its args under the recording mocks: both web ACLs rule by rule, their
logging and associations, under a usage plan, keyless limit, country list and stack name that are
no stack's defaults. Every expected value is stated here. A run takes a fraction of a second (the
whole program takes seconds), so mutation testing reruns these for each mutant of components/waf.py."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.config import WafConfig
from components.naming import Namer
from components.waf import WebFirewall, WebFirewallArgs, caller_rate_limit
from tests.support.harness import ProgramRun, run_under_mocks

ACL = "aws:wafv2/webAcl:WebAcl"
REGION = "eu-central-1"
ACCOUNT = "123456789012"
STAGE_ARN = f"arn:aws:apigateway:{REGION}::/restapis/q1w2e3r4t5/stages/v2"
ALB_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/alb-fraud-api-qa/0f1e2d3c4b5a6978"
LOG_BUCKET_ARN = f"arn:aws:s3:::aws-waf-logs-audit-qa-{ACCOUNT}"


def _firewall(countries: tuple[str, ...]) -> ProgramRun:
    """A firewall (a child of the API service, as in the program) for stack suffix `qa` in front of a
    usage plan of 40 requests/s (burst 70), with 450 keyless requests per address per window."""

    def build() -> None:
        service = pulumi.ComponentResource("fraud:api:FraudApiService", "front")
        firewall = WebFirewall(
            "edge-waf",
            WebFirewallArgs(
                namer=Namer(environment_suffix="qa", account_id=ACCOUNT),
                waf=WafConfig(keyless_rate_limit_per_ip=450, blocked_countries=countries),
                api_rate_limit=40,
                api_burst_limit=70,
                stage_arn=STAGE_ARN,
                load_balancer_arn=ALB_ARN,
                log_bucket_arn=LOG_BUCKET_ARN,
            ),
            pulumi.ResourceOptions(parent=service),
        )
        pulumi.export("web_acl_name", firewall.web_acl_name)
        pulumi.export("web_acl_arn", firewall.web_acl_arn)
        pulumi.export("alb_web_acl_arn", firewall.alb_web_acl_arn)

    return run_under_mocks("qa", {"aws:region": REGION}, build)


# Built again for each test (a fraction of a second): mutmut credits the code a fixture runs to the test
# that triggered it, so one shared build would send every mutant to the first test alone.
@pytest.fixture
def firewall() -> ProgramRun:
    return _firewall(("CU", "IR"))


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


MANAGED = [
    _managed("AWSManagedRulesCommonRuleSet", 10),
    _managed("AWSManagedRulesSQLiRuleSet", 11),
    _managed("AWSManagedRulesKnownBadInputsRuleSet", 12),
]
# Both ACLs end with these, in this order: the geo block, then AWS's groups (common, SQLi, bad inputs).
COMMON_RULES = [
    {
        "name": "blocked-countries",
        "priority": 5,
        "action": {"block": {}},
        "statement": {"geoMatchStatement": {"countryCodes": ["CU", "IR"]}},
        "visibilityConfig": _visible("blocked-countries"),
    },
    *MANAGED,
]
NO_TRANSFORMATION = [{"priority": 0, "type": "NONE"}]
# 2 x (40 requests/s x 300 s + a burst of 70) = 24,140 per 5 minutes, per key and per address
STAGE_RATE_RULES = [
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
]


def _acl(run: ProgramRun, key: str) -> dict[str, Any]:
    return run.named(ACL, f"edge-waf-{key}-acl").inputs


def test_waf_component_stage_acl_rate_limits_key_then_address_then_keyless_before_the_common_rules(
    firewall: ProgramRun,
) -> None:
    assert _acl(firewall, "stage")["rules"] == [*STAGE_RATE_RULES, *COMMON_RULES]


def test_waf_component_alb_acl_carries_only_the_geo_block_and_managed_groups(firewall: ProgramRun) -> None:
    assert _acl(firewall, "alb")["rules"] == COMMON_RULES


def test_waf_component_without_blocked_countries_has_no_geo_rule() -> None:
    # WAF refuses a geo match with no country: an empty list must drop the rule, not send it empty.
    run = _firewall(())
    assert _acl(run, "stage")["rules"] == [*STAGE_RATE_RULES, *MANAGED]
    assert _acl(run, "alb")["rules"] == MANAGED


@pytest.mark.parametrize(
    ("key", "name", "description"),
    [
        ("stage", "waf-fraud-api-qa", "API stage: rate limits per API key and address, geo block, AWS managed rules"),
        ("alb", "waf-fraud-alb-qa", "ALB behind API Gateway: geo block, AWS managed rules (no per-source rate rule)"),
    ],
)
def test_waf_component_acl_is_regional_allows_by_default_and_reports_metrics(
    firewall: ProgramRun, key: str, name: str, description: str
) -> None:
    acl = _acl(firewall, key)
    assert {k: v for k, v in acl.items() if k != "rules"} == {
        "name": name,
        "description": description,
        "scope": "REGIONAL",
        "defaultAction": {"allow": {}},
        "visibilityConfig": _visible(name),
    }


@pytest.mark.parametrize(
    ("key", "acl_name", "protected"),
    [("stage", "waf-fraud-api-qa", STAGE_ARN), ("alb", "waf-fraud-alb-qa", ALB_ARN)],
)
def test_waf_component_acl_protects_its_resource_and_logs_to_the_audit_archive_without_credentials(
    firewall: ProgramRun, key: str, acl_name: str, protected: str
) -> None:
    acl_arn = f"arn:aws:wafv2:{REGION}:{ACCOUNT}:webacl/{acl_name}"
    association = firewall.named("aws:wafv2/webAclAssociation:WebAclAssociation", f"edge-waf-{key}-association")
    assert association.inputs == {"resourceArn": protected, "webAclArn": acl_arn}
    logging = firewall.named(
        "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration", f"edge-waf-{key}-logging"
    )
    assert logging.inputs == {
        "resourceArn": acl_arn,
        "logDestinationConfigs": [LOG_BUCKET_ARN],
        "redactedFields": [
            {"singleHeader": {"name": "x-api-key"}},
            {"singleHeader": {"name": "x-origin-verify"}},
            {"singleHeader": {"name": "authorization"}},
        ],
    }


def test_waf_component_declares_exactly_two_acls_with_their_logging_and_associations_under_the_service(
    firewall: ProgramRun,
) -> None:
    # A resource that changes parent changes URN: Pulumi would replace a live web ACL.
    assert sorted((r.typ, r.name) for r in firewall.resources) == sorted(
        [
            ("fraud:api:FraudApiService", "front"),
            ("fraud:api:WebFirewall", "edge-waf"),
            *[
                (typ, f"edge-waf-{key}-{role}")
                for key in ("stage", "alb")
                for typ, role in (
                    (ACL, "acl"),
                    ("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration", "logging"),
                    ("aws:wafv2/webAclAssociation:WebAclAssociation", "association"),
                )
            ],
        ]
    )
    assert firewall.options["edge-waf"].parent == "fraud:api:FraudApiService::front"
    children = [r.name for r in firewall.resources if r.name not in ("front", "edge-waf")]
    assert {name: firewall.options[name].parent for name in children} == dict.fromkeys(
        children, "fraud:api:WebFirewall::edge-waf"
    )


def test_waf_component_outputs_name_the_stage_acl_clients_meet_and_both_arns(firewall: ProgramRun) -> None:
    # The dashboard's WAF widget charts web_acl_name: the stage's ACL, not the ALB's.
    assert firewall.outputs == {
        "web_acl_name": "waf-fraud-api-qa",
        "web_acl_arn": f"arn:aws:wafv2:{REGION}:{ACCOUNT}:webacl/waf-fraud-api-qa",
        "alb_web_acl_arn": f"arn:aws:wafv2:{REGION}:{ACCOUNT}:webacl/waf-fraud-alb-qa",
    }
    assert firewall.registered_outputs["fraud:api:WebFirewall::edge-waf"] == ("alb_web_acl_arn", "web_acl_arn")


def test_waf_component_caller_limit_is_capped_at_the_waf_maximum_from_exactly_the_maximum() -> None:
    # 2 x (3,330,000 x 300 + 1,000,000) = 2,000,000,000 exactly: WAF's largest limit, kept as is
    assert caller_rate_limit(3_330_000, 1_000_000) == 2_000_000_000
    # one more burst request would exceed it: capped
    assert caller_rate_limit(3_330_000, 1_000_001) == 2_000_000_000
    # one fewer: 2 x (999,000,000 + 999,999)
    assert caller_rate_limit(3_330_000, 999_999) == 1_999_999_998
