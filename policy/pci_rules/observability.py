"""Logs, alarms and their topic: encrypted, retained as each stack requires, masked, and actually alerting.

Retention is split by purpose (reference/pci-controls.md §5): debug log groups (Lambda, fraud-api,
API access, database) keep `debugMinRetentionDays` and must hold no audit events and no card data;
log groups whose names match `auditLogGroupPatterns` keep `auditMinRetentionDays`. The 12-month
audit evidence of PCI DSS 10.5.1 lives in the S3 archive (s3.py, pci-s3-log-archive-retention).

No rule covers X-Ray sampling rules and groups or dashboards: no PCI DSS control applies to them, and
what a trace could leak is the application's concern (tests/functions and tests/api assert it).
"""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import PolicyResource

from .base import (
    Config,
    Props,
    Rule,
    StackGraph,
    as_list,
    describe,
    dig,
    is_public_allow,
    matches_any,
    number,
    parse_json,
    resource_rule,
    stack_rule,
    statements,
)

LOG_GROUP = ("aws:cloudwatch/logGroup:LogGroup",)
DATA_PROTECTION = ("aws:cloudwatch/logDataProtectionPolicy:LogDataProtectionPolicy",)
ALARMS = ("aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/compositeAlarm:CompositeAlarm")
TOPIC = ("aws:sns/topic:Topic",)
TOPIC_POLICY = ("aws:sns/topicPolicy:TopicPolicy",)

IDENTIFIER_PREFIX = "arn:aws:dataprotection::aws:data-identifier/"
CARD_IDENTIFIERS = ["CreditCardNumber", "CreditCardSecurityCode", "CreditCardExpiration"]


def _log_group_cmk(_: str, props: Props, __: Config) -> Iterator[str]:
    if not props.get("kmsKeyId"):
        yield "log group must be encrypted with a customer-managed KMS key (kmsKeyId)"


def _log_retention(_: str, props: Props, config: Config) -> Iterator[str]:
    days = number(props.get("retentionInDays"))
    if not days:
        # Never-expiring groups outlive `pulumi destroy` budgets and ignore the retention decision.
        yield "log group must set a retention period (retentionInDays)"
        return
    if days < config["debugMinRetentionDays"]:
        yield f"log group keeps {days:g} days (< debugMinRetentionDays {config['debugMinRetentionDays']})"
    elif days < config["auditMinRetentionDays"]:
        name = props.get("name")
        if isinstance(name, str) and matches_any(name, as_list(config["auditLogGroupPatterns"])):
            minimum = config["auditMinRetentionDays"]
            yield f"audit log group {name} keeps {days:g} days (< auditMinRetentionDays {minimum})"


def _alarm_actions(_: str, props: Props, __: Config) -> Iterator[str]:
    if props.get("actionsEnabled") is False:
        yield "alarm actions are disabled"
    if not as_list(props.get("alarmActions")):
        yield "alarm notifies no one (alarmActions is empty)"


def _topic_cmk(_: str, props: Props, __: Config) -> Iterator[str]:
    key = props.get("kmsMasterKeyId")
    if not key or str(key).endswith("alias/aws/sns"):
        yield "topic must be encrypted with a customer-managed KMS key (kmsMasterKeyId)"


def _topic_policy(_: str, props: Props, __: Config) -> Iterator[str]:
    for statement in statements(props.get("policy")):
        if is_public_allow(statement):
            yield f"topic policy statement {statement.get('Sid', '?')!r} allows any principal without a condition"


def _data_protection_document(_: str, props: Props, config: Config) -> Iterator[str]:
    required = {f"{IDENTIFIER_PREFIX}{name}" for name in as_list(config["requiredIdentifiers"])}
    operations: dict[str, set[str]] = {"Audit": set(), "Deidentify": set()}
    document = parse_json(props.get("policyDocument"))
    for statement in as_list(dig(document, "Statement")):
        for operation, covered in operations.items():
            if dig(statement, "Operation", operation) is not None:
                covered.update(str(i) for i in as_list(dig(statement, "DataIdentifier")))
    for operation, covered in operations.items():
        missing = sorted(i.removeprefix(IDENTIFIER_PREFIX) for i in required - covered)
        if missing:
            yield f"data protection policy does not {operation.lower()} {missing}"


def _log_groups_protected(graph: StackGraph, _: Config) -> Iterator[tuple[PolicyResource | None, str]]:
    for group in graph.of_type(*LOG_GROUP):
        if not graph.referrers(group, DATA_PROTECTION, "logGroupName"):
            yield group, f"log group {group.props.get('name') or group.name} has no card-data protection policy"


def _day_setting(default: int) -> dict[str, object]:
    return {"type": "integer", "minimum": 1, "maximum": 3653, "default": default}


POLICIES: list[Rule] = [
    resource_rule(
        "pci-cloudwatch-log-group-cmk",
        describe("v4.0.1 req 10.3.2", None, "CKV_AWS_158",
                 "log groups are encrypted with a customer-managed KMS key."),
        LOG_GROUP,
        _log_group_cmk,
    ),
    resource_rule(
        "pci-cloudwatch-16-log-retention",
        describe("v4.0.1 req 10.5.1", "CloudWatch.16", "CKV_AWS_66, CKV_AWS_338",
                 "every log group sets a retention of at least debugMinRetentionDays, and audit log groups "
                 "(auditLogGroupPatterns) at least auditMinRetentionDays."),
        LOG_GROUP,
        _log_retention,
        {
            "debugMinRetentionDays": _day_setting(7),
            "auditMinRetentionDays": _day_setting(365),
            "auditLogGroupPatterns": {"type": "array", "items": {"type": "string"}, "default": ["*audit*"]},
        },
    ),
    resource_rule(
        "pci-cloudwatch-17-alarm-actions",
        describe("v4.0.1 req 10.7.2", "CloudWatch.17", "CKV_AWS_319",
                 "alarms have actions enabled and notify someone."),
        ALARMS,
        _alarm_actions,
    ),
    resource_rule(
        "pci-sns-1-topic-cmk",
        describe("v4.0.1 req 3.5.1", "SNS.1", "CKV_AWS_26",
                 "SNS topics are encrypted with a customer-managed KMS key."),
        TOPIC,
        _topic_cmk,
    ),
    resource_rule(
        "pci-sns-no-public-policy",
        describe("v4.0.1 req 7.2.1", None, "CKV_AWS_169",
                 "no topic policy statement allows any principal without a condition."),
        (*TOPIC, *TOPIC_POLICY),
        _topic_policy,
    ),
    resource_rule(
        "pci-cloudwatch-card-data-protection",
        describe("v4.0.1 req 3.3.1, 3.4.1", None, "CKV_AWS_276 (nearest: bodies kept out of logs)",
                 "log data protection policies audit and mask the card identifiers in requiredIdentifiers."),
        DATA_PROTECTION,
        _data_protection_document,
        {"requiredIdentifiers": {"type": "array", "items": {"type": "string"}, "default": CARD_IDENTIFIERS}},
    ),
    stack_rule(
        "pci-cloudwatch-log-groups-protected",
        describe("v4.0.1 req 3.3.1, 3.5.1", None, "CKV_AWS_158 (nearest: log groups protected)",
                 "every log group has a data protection policy: the backstop that masks a card number that "
                 "reaches a log despite the application's redaction."),
        _log_groups_protected,
    ),
]  # fmt: skip
