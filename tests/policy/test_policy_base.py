"""The rule factories and the settings helpers, called here rather than only while the rule modules load.

Every rule is built once, when its module is imported; these tests build rules of their own so that what
a factory produces (name, description, mandatory level, settings schema, which resources it judges,
which defaults it applies, whom a violation names) is checked on fresh objects.
"""

from __future__ import annotations

from collections.abc import Iterator

from policy_support import res, resource_violations, stack_violations
from pulumi_policy import EnforcementLevel, PolicyResource

from policy.pci_rules import observability, s3
from policy.pci_rules.base import Config, Props, Settings, StackGraph, describe, resource_rule, stack_rule

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
