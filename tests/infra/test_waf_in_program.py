"""Where the program puts the firewall: its parents (a parent is part of every URN) and the ACL the
dashboard charts. The ACLs' rules and settings are tested on the component alone
(test_waf_component.py), where mutation testing runs them."""

from __future__ import annotations

import pytest

from tests.support.harness import ProgramRun, run_program


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
