"""The rule factories and the settings helpers, called here rather than only while the rule modules load.

Every rule is built once, when its module is imported; these tests build rules of their own so that what
a factory produces (name, description, mandatory level, settings schema, which resources it judges,
which defaults it applies, whom a violation names) is checked on fresh objects.
"""

from __future__ import annotations

from collections.abc import Iterator

from policy_support import policy_resource, res, resource_violations, stack_violations
from pulumi_policy import EnforcementLevel, PolicyResource
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy.pci_rules import observability, s3
from policy.pci_rules.base import (
    Config,
    Props,
    Settings,
    StackGraph,
    describe,
    dig,
    known_strings,
    number,
    port_range,
    principals,
    resource_rule,
    stack_rule,
)

SETTINGS: Settings = {"limit": {"type": "integer", "default": 5}, "mode": {"type": "string"}}


def _oversized(resource_type: str, props: Props, config: Config) -> Iterator[str]:
    if props.get("size", 0) > config["limit"]:
        yield f"{resource_type} size {props.get('size')} > {config['limit']}"
        yield f"mode {config.get('mode')}"


def _every_bucket(graph: StackGraph, config: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    for bucket in graph.of_type("aws:s3/bucket:Bucket"):
        yield bucket, f"bucket {bucket.name} over {config['limit']}"
    yield None, "the stack as a whole"


def test_describe_cites_pci_dss_security_hub_and_checkov() -> None:
    assert (
        describe("v4.0.1 req 1.2.3", "S3.9", "CKV_AWS_18", "what it checks.")
        == "PCI DSS v4.0.1 req 1.2.3; Security Hub S3.9; checkov CKV_AWS_18: what it checks."
    )
    assert (
        describe("v3.2.1 req 10.3", None, "CKV2_AWS_6", "no hub control.")
        == "PCI DSS v3.2.1 req 10.3; no Security Hub control; checkov CKV2_AWS_6: no hub control."
    )


def test_resource_rule_is_mandatory_and_publishes_its_settings_schema() -> None:
    rule = resource_rule("pci-test-1-size", "sizes are bounded", ["aws:t/a:A", "aws:t/b:B"], _oversized, SETTINGS)
    assert (rule.name, rule.description) == ("pci-test-1-size", "sizes are bounded")
    assert rule.enforcement_level is EnforcementLevel.MANDATORY
    assert rule.resource_types == frozenset({"aws:t/a:A", "aws:t/b:B"})
    assert rule.config_schema is not None
    assert rule.config_schema.properties == {"limit": {"type": "integer", "default": 5}, "mode": {"type": "string"}}
    assert resource_rule("pci-test-2-plain", "d", ["aws:t/a:A"], _oversized).config_schema is None


def test_resource_rule_judges_only_its_types_with_defaults_under_the_stack_config() -> None:
    rule = resource_rule("pci-test-1-size", "sizes are bounded", ["aws:t/a:A", "aws:t/b:B"], _oversized, SETTINGS)
    assert resource_violations(rule, "aws:t/b:B", {"size": 6}) == ["aws:t/b:B size 6 > 5", "mode None"]
    assert resource_violations(rule, "aws:t/a:A", {"size": 5}) == []
    assert resource_violations(rule, "aws:t/a:A", {"size": 9}, {"limit": 8, "mode": "strict"}) == [
        "aws:t/a:A size 9 > 8",
        "mode strict",
    ]
    assert resource_violations(rule, "aws:t/a:A", {"size": 8}, {"limit": 8}) == []
    assert resource_violations(rule, "aws:t/c:C", {"size": 99}) == []


def test_stack_rule_names_the_offender_and_applies_defaults() -> None:
    rule = stack_rule("pci-test-stack", "buckets are bounded", _every_bucket, SETTINGS)
    assert (rule.name, rule.description) == ("pci-test-stack", "buckets are bounded")
    assert rule.enforcement_level is EnforcementLevel.MANDATORY
    assert rule.config_schema is not None
    assert set(rule.config_schema.properties) == {"limit", "mode"}
    bucket = res("aws:s3/bucket:Bucket", "logs")
    assert stack_violations(rule, [bucket, res("aws:sqs/queue:Queue", "q")]) == [
        (bucket.urn, "bucket logs over 5"),
        (None, "the stack as a whole"),
    ]
    assert stack_violations(rule, [bucket], {"limit": 7})[0] == (bucket.urn, "bucket logs over 7")
    assert stack_rule("pci-test-plain", "d", _every_bucket).config_schema is None


def test_s3_rules_also_judge_the_deprecated_v2_resource_names() -> None:
    assert s3._v2("aws:s3/bucketAcl:BucketAcl") == ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
    assert s3._v2("aws:s3/bucketLogging:BucketLogging")[1] == "aws:s3/bucketLoggingV2:BucketLoggingV2"


def test_day_settings_are_positive_integers_with_their_default() -> None:
    assert s3._day_settings(minRetentionDays=400, immediatelyAvailableDays=120) == {
        "minRetentionDays": {"type": "integer", "minimum": 1, "default": 400},
        "immediatelyAvailableDays": {"type": "integer", "minimum": 1, "default": 120},
    }
    assert observability._day_setting(30) == {"type": "integer", "minimum": 1, "maximum": 3653, "default": 30}


def test_dig_follows_list_indexes_from_either_end_and_answers_none_past_them() -> None:
    props = unknown_checking_proxy({"rules": [{"port": 22}, {"port": 443}], "name": "ab", "tags": {"0": "x"}})
    assert dig(props, "rules", 0, "port") == 22
    assert dig(props, "rules", 1, "port") == 443
    assert dig(props, "rules", -1, "port") == 443
    assert dig(props, "rules", -2, "port") == 22
    assert dig(props, "rules", 2) is None
    assert dig(props, "rules", -3) is None
    # A string is not a list of characters, nor is an object a list of its keys.
    assert dig(props, "name", 0) is None
    assert dig(props, "tags", 0) is None
    assert dig(props, "missing", 0) is None


def test_number_reads_floats_and_numeric_strings_but_not_booleans() -> None:
    assert number(8.0) == 8.0
    assert number("443") == 443.0
    assert number(True) is None
    assert number(False) is None
    assert number(None) is None
    assert number("forever") is None
    assert number([1]) is None


def test_port_range_of_a_rule_without_protocol_or_ports_covers_every_port() -> None:
    # An SG rule that names no protocol is AWS's "-1": every protocol, every port, whatever the ports say.
    assert port_range(unknown_checking_proxy({"fromPort": 22, "toPort": 22}), "protocol") == ("-1", 0, 65535)
    assert port_range(unknown_checking_proxy({"protocol": "ALL", "fromPort": 22}), "protocol") == ("-1", 0, 65535)
    assert port_range(unknown_checking_proxy({"ipProtocol": "TCP", "toPort": 3389}), "ipProtocol") == ("tcp", 0, 3389)
    assert port_range(unknown_checking_proxy({"protocol": "udp", "fromPort": 1024}), "protocol") == ("udp", 1024, 65535)


def test_principals_flattens_a_principal_list() -> None:
    statement = unknown_checking_proxy({"Principal": ["arn:aws:iam::123456789012:root", "*"]})
    assert principals(statement) == ["arn:aws:iam::123456789012:root", "*"]


def test_known_strings_skips_values_unknown_during_a_preview() -> None:
    props = unknown_checking_proxy(
        {"arns": ["arn:a", UNKNOWN_STRING_VALUE, {"inner": "arn:b"}], "name": UNKNOWN_STRING_VALUE}
    )
    assert known_strings(props, "arns") == {"arn:a", "arn:b"}
    assert known_strings(props, "name") == set()


def test_a_first_preview_matches_referrers_by_dependency_while_names_and_arns_are_unknown() -> None:
    # GIVEN a first preview: a new group's ARN and a new policy's logGroupName are not known yet
    log_group, data_protection = (
        "aws:cloudwatch/logGroup:LogGroup",
        ("aws:cloudwatch/logDataProtectionPolicy:LogDataProtectionPolicy"),
    )
    new_group = policy_resource(log_group, "new", {"name": "/fraud/api", "arn": UNKNOWN_STRING_VALUE})
    old_group = res(log_group, "old", name="/fraud/old")
    by_dependency = policy_resource(
        data_protection,
        "dp-new",
        {"logGroupName": UNKNOWN_STRING_VALUE},
        property_dependencies={"logGroupName": [new_group]},
    )
    by_name = res(data_protection, "dp-old", logGroupName="/fraud/old")
    resources = [new_group, old_group, by_dependency, by_name]
    # WHEN the stack is judged THEN each group is matched to its own policy, and the rule gives a verdict
    graph = StackGraph(resources)
    assert graph.referrers(new_group, [data_protection], "logGroupName") == [by_dependency]
    assert graph.referrers(old_group, [data_protection], "logGroupName") == [by_name]
    assert stack_violations("pci-cloudwatch-log-groups-protected", resources) == []
    assert stack_violations("pci-cloudwatch-log-groups-protected", [new_group, old_group, by_name]) == [
        (new_group.urn, "log group /fraud/api has no card-data protection policy")
    ]
