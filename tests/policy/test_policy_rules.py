"""Every rule, at least once compliant and once violated, through pulumi-policy's own validate path.

A violation is compared whole: its message is what the operator reads when `pulumi preview` stops.
"""

from __future__ import annotations

import cases_api
import cases_compute
import cases_network
import cases_storage
import pytest
from policy_support import RULES, Case, StackCase, resource_violations, stack_violations
from pulumi_policy import StackValidationPolicy

MODULES = (cases_storage, cases_network, cases_compute, cases_api)
CASES: list[Case] = [c for m in MODULES for c in m.CASES]
STACK_CASES: list[StackCase] = [c for m in MODULES for c in m.STACK_CASES]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_resource_rule(case: Case) -> None:
    found = resource_violations(case.rule, case.typ, case.props, case.config)
    assert found == case.messages


@pytest.mark.parametrize("case", STACK_CASES, ids=[c.id for c in STACK_CASES])
def test_stack_rule(case: StackCase) -> None:
    found = stack_violations(case.rule, case.resources, case.config)
    assert [message for _, message in found] == case.messages
    assert all(urn is not None for urn, _ in found), "a stack violation names the offending resource"


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in [*CASES, *STACK_CASES]]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_every_rule_has_a_compliant_and_a_violating_case() -> None:
    seen: dict[str, set[bool]] = {}
    for case in [*CASES, *STACK_CASES]:
        seen.setdefault(case.rule, set()).add(case.expect is None)
    incomplete = sorted(name for name in RULES if seen.get(name) != {True, False})
    assert incomplete == []
    assert set(seen) <= set(RULES), set(seen) - set(RULES)


def test_stack_cases_use_stack_rules() -> None:
    for case in STACK_CASES:
        assert isinstance(RULES[case.rule], StackValidationPolicy), case.rule


def test_a_rule_ignores_other_resource_types() -> None:
    assert resource_violations("pci-s3-14-versioning", "aws:sqs/queue:Queue", {}) == []


def test_settings_come_from_the_stack_config_over_the_defaults() -> None:
    log_group = {"name": "/fraud/audit-trail", "retentionInDays": 180}
    assert resource_violations("pci-cloudwatch-16-log-retention", "aws:cloudwatch/logGroup:LogGroup", log_group)
    relaxed = {"auditMinRetentionDays": 90}
    assert (
        resource_violations("pci-cloudwatch-16-log-retention", "aws:cloudwatch/logGroup:LogGroup", log_group, relaxed)
        == []
    )
