"""The front door: the two web ACLs, the REST API's TLS policy, the internal headers it overrides,
and the per-region API Gateway account setting, over both stacks and non-default config."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import read_stack_config
from components.stack_files import merge_stack_config, namespace
from components.waf import caller_rate_limit
from tests.support.harness import ROOT, ProgramRun, Recorded, run_program

ACL = "aws:wafv2/webAcl:WebAcl"
INTEGRATION = "aws:apigateway/integration:Integration"
ACCOUNT = "aws:apigateway/account:Account"
MANAGED_GROUPS = ["AWSManagedRulesCommonRuleSet", "AWSManagedRulesSQLiRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"]


def _acl(run: ProgramRun, key: str) -> dict[str, Any]:
    return run.named(ACL, f"fraud-waf-{key}-acl").inputs


def _rules(run: ProgramRun, key: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in _acl(run, key)["rules"]}


def _rate(rule: dict[str, Any]) -> dict[str, Any]:
    return rule["statement"]["rateBasedStatement"]


@pytest.fixture(scope="module")
def small_plan() -> ProgramRun:
    """A usage plan of 50 requests/s, burst 100, and 300 keyless requests per address."""
    return run_program(
        "dev",
        {
            "fraud-detection:apiRateLimit": "50",
            "fraud-detection:apiBurstLimit": "100",
            "fraud-detection:wafRateLimitPerIp": "300",
        },
    )


# --- WAF --------------------------------------------------------------------------------------


def test_front_door_stage_and_alb_each_have_their_own_logged_web_acl(run: ProgramRun) -> None:
    stage, alb = _acl(run, "stage"), _acl(run, "alb")
    assert (stage["name"], alb["name"]) == (f"waf-fraud-api-{run.suffix}", f"waf-fraud-alb-{run.suffix}")
    associations = {
        a.inputs["webAclArn"]: a.inputs["resourceArn"]
        for a in run.of_type("aws:wafv2/webAclAssociation:WebAclAssociation")
    }
    assert len(associations) == 2
    stage_arn = next(v for k, v in associations.items() if k.endswith(f"waf-fraud-api-{run.suffix}"))
    alb_arn = next(v for k, v in associations.items() if k.endswith(f"waf-fraud-alb-{run.suffix}"))
    assert stage_arn.startswith("arn:aws:apigateway:") and stage_arn.endswith("/stages/v1")
    assert ":loadbalancer/" in alb_arn
    logged = sorted(
        log.inputs["resourceArn"].rsplit("/", 1)[1]
        for log in run.of_type("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
    )
    assert logged == [f"waf-fraud-alb-{run.suffix}", f"waf-fraud-api-{run.suffix}"]


def test_front_door_stage_rate_limits_each_api_key_from_the_usage_plan(run: ProgramRun) -> None:
    # Usage plan 1,000 rps, burst 2,000: 2 x (1,000 x 300 s + 2,000) per 5 minutes, not 2,000 per IP.
    rule = _rules(run, "stage")["rate-limit-per-api-key"]
    assert rule["action"] == {"block": {}}
    assert _rate(rule) == {
        "aggregateKeyType": "CUSTOM_KEYS",
        "customKeys": [{"header": {"name": "x-api-key", "textTransformations": [{"priority": 0, "type": "NONE"}]}}],
        "limit": 604000,
        "evaluationWindowSec": 300,
    }


def test_front_door_stage_rate_limits_each_address_to_one_plan(run: ProgramRun) -> None:
    per_ip = _rate(_rules(run, "stage")["rate-limit-per-ip"])
    assert per_ip == {"aggregateKeyType": "IP", "limit": 604000, "evaluationWindowSec": 300}


def test_front_door_stage_limits_keyless_requests_per_address(run: ProgramRun) -> None:
    keyless = _rate(_rules(run, "stage")["rate-limit-keyless-per-ip"])
    assert keyless["aggregateKeyType"] == "IP" and keyless["limit"] == 2000
    # AWS's "missing header" pattern: NOT (size of x-api-key > 0).
    present = keyless["scopeDownStatement"]["notStatement"]["statement"]["sizeConstraintStatement"]
    assert present["fieldToMatch"] == {"singleHeader": {"name": "x-api-key"}}
    assert (present["comparisonOperator"], present["size"]) == ("GT", 0)


def test_front_door_stage_limits_follow_a_non_default_usage_plan(small_plan: ProgramRun) -> None:
    rules = _rules(small_plan, "stage")
    # 2 x (50 x 300 + 100) = 30,200
    assert _rate(rules["rate-limit-per-api-key"])["limit"] == 30200
    assert _rate(rules["rate-limit-per-ip"])["limit"] == 30200
    assert _rate(rules["rate-limit-keyless-per-ip"])["limit"] == 300


def test_front_door_caller_limit_stays_within_the_waf_maximum() -> None:
    assert caller_rate_limit(1, 1) == 602
    assert caller_rate_limit(10_000_000, 5000) == 2_000_000_000


def test_front_door_alb_acl_has_no_rule_keyed_to_the_source_address(run: ProgramRun) -> None:
    # Every /api/* request reaches the ALB from API Gateway's few egress addresses.
    rules = _acl(run, "alb")["rules"]
    assert rules, "the ALB's ACL still blocks attacks"
    assert not [r["name"] for r in rules if "rateBasedStatement" in r["statement"]]


@pytest.mark.parametrize("key", ["stage", "alb"])
def test_front_door_both_acls_block_countries_and_known_attacks(run: ProgramRun, key: str) -> None:
    acl = _acl(run, key)
    assert acl["scope"] == "REGIONAL" and acl["defaultAction"] == {"allow": {}}
    rules = _rules(run, key)
    countries = json.loads(run.config["fraud-detection:wafBlockedCountries"])
    assert rules["blocked-countries"]["statement"]["geoMatchStatement"]["countryCodes"] == countries
    assert rules["blocked-countries"]["action"] == {"block": {}}
    for group in MANAGED_GROUPS:
        assert rules[group]["overrideAction"] == {"none": {}}
        assert rules[group]["statement"]["managedRuleGroupStatement"] == {"vendorName": "AWS", "name": group}
    for rule in rules.values():
        assert rule["visibilityConfig"]["metricName"] == rule["name"]
    assert len({r["priority"] for r in rules.values()}) == len(rules)


@pytest.mark.parametrize("key", ["stage", "alb"])
def test_front_door_waf_logs_redact_credentials(run: ProgramRun, key: str) -> None:
    logging = run.named(
        "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration", f"fraud-waf-{key}-logging"
    ).inputs
    assert [f["singleHeader"]["name"] for f in logging["redactedFields"]] == [
        "x-api-key",
        "x-origin-verify",
        "authorization",
    ]


# --- API Gateway --------------------------------------------------------------------------------


def _alb_integrations(run: ProgramRun) -> list[Recorded]:
    found = [r for r in run.of_type(INTEGRATION) if r.inputs["type"] in ("HTTP", "HTTP_PROXY")]
    assert found, "the /api/* proxy reaches the ALB through an HTTP integration"
    return found


def test_front_door_overrides_the_test_traffic_header_a_caller_sends(run: ProgramRun) -> None:
    # The ALB's test listener rule sends X-Fraud-Test-Traffic: true to the green tasks.
    for integration in _alb_integrations(run):
        parameters = integration.inputs["requestParameters"]
        assert parameters["integration.request.header.X-Fraud-Test-Traffic"] == "'false'", integration.name


def test_front_door_overrides_the_origin_verify_header_a_caller_sends(run: ProgramRun) -> None:
    secret = run.one("aws:secretsmanager/secretVersion:SecretVersion", "origin-verify").inputs["secretString"]
    for integration in _alb_integrations(run):
        parameters = integration.inputs["requestParameters"]
        assert parameters["integration.request.header.X-Origin-Verify"] == f"'{secret}'", integration.name


def test_front_door_execute_api_refuses_tls_below_1_2(run: ProgramRun) -> None:
    api = run.one("aws:apigateway/restApi:RestApi").inputs
    assert api["securityPolicy"] == "SecurityPolicy_TLS13_1_2_2021_06"
    assert api["endpointAccessMode"] == "STRICT"


# --- the API Gateway account setting -------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_managing() -> ProgramRun:
    return run_program("dev", {"fraud-detection:manageApiGatewayAccount": "true"})


@pytest.fixture(scope="module")
def prod_not_managing() -> ProgramRun:
    return run_program("prod", {"fraud-detection:manageApiGatewayAccount": "false"})


def _assert_manages_account(run: ProgramRun) -> None:
    [account] = run.of_type(ACCOUNT)
    assert account.inputs["cloudwatchRoleArn"].endswith(f"role/role-apigw-logs-{run.suffix}")
    [attachment] = [
        r for r in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if "cloudwatch-role" in r.name
    ]
    assert attachment.inputs["policyArn"] == (
        "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    )
    # API Gateway checks the role's permissions when the setting is made: wait for the attachment.
    assert attachment.name in run.options[account.name].depends_on
    stage = run.one("aws:apigateway/stage:Stage")
    assert account.name in run.options[stage.name].depends_on


def _assert_leaves_account_alone(run: ProgramRun) -> None:
    assert not run.of_type(ACCOUNT)
    assert not [r for r in run.of_type("aws:iam/role:Role") if "apigw-logs" in r.inputs["name"]]
    stage = run.one("aws:apigateway/stage:Stage")
    assert run.options[stage.name].depends_on == ()
    assert stage.inputs["accessLogSettings"]["destinationArn"]


def test_front_door_prod_owns_its_regions_api_gateway_account_setting(prod: ProgramRun) -> None:
    _assert_manages_account(prod)


def test_front_door_dev_leaves_the_api_gateway_account_setting_alone(dev: ProgramRun) -> None:
    _assert_leaves_account_alone(dev)


def test_front_door_account_setting_follows_the_config_either_way(
    dev_managing: ProgramRun, prod_not_managing: ProgramRun
) -> None:
    _assert_manages_account(dev_managing)
    _assert_leaves_account_alone(prod_not_managing)


def test_front_door_manage_account_defaults_to_false_and_rejects_non_booleans() -> None:
    def merged(**values: str) -> tuple[dict[str, str], list[str]]:
        stack = {f"fraud-detection:{k}": v for k, v in values.items()}
        return merge_stack_config("qa", {**stack, "aws:region": "eu-west-1"}, ROOT / "Pulumi.yaml")

    config, problems = merged(environmentSuffix="qa")
    assert problems == []
    project = namespace(config, "fraud-detection")
    assert read_stack_config(project.get, {"region": "eu-west-1"}.get).api.manage_api_gateway_account is False
    # The CLI itself refuses anything but true/false for a boolean key, before the program runs.
    _, problems = merged(environmentSuffix="qa", manageApiGatewayAccount="yes")
    assert problems == ["Stack 'qa' with configuration key 'manageApiGatewayAccount' must be of type 'boolean'"]
