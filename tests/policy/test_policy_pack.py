"""The pack as a whole: its rules' names and descriptions, the per-stack config, the entry point, the manifest."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys

import pytest
import yaml
from policy_support import ROOT, RULES, stack_config
from pulumi_policy import EnforcementLevel

from policy.pci_rules import POLICIES
from policy.pci_rules.base import Rule

POLICY_DIR = ROOT / "policy"
STACKS = ("dev", "prod")
# "PCI DSS v4.0.1 req 3.5.1; Security Hub S3.17; checkov CKV_AWS_145: ..." (see base.describe)
DESCRIPTION = re.compile(
    r"^PCI DSS v(3\.2\.1|4\.0\.1) req \d+(\.\d+)*[^;]*; "
    r"(Security Hub [A-Za-z0-9]+\.\d+[^;]*|no Security Hub control); "
    r"checkov CKV2?_AWS_\d+[^:]*: \S"
)


def test_the_pack_has_at_least_forty_uniquely_named_rules() -> None:
    names = [p.name for p in POLICIES]
    assert len(names) >= 40
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"pci-[a-z0-9]+(-[a-z0-9]+)+", n) for n in names), names


@pytest.mark.parametrize("policy", POLICIES, ids=[p.name for p in POLICIES])
def test_each_rule_cites_pci_dss_security_hub_and_checkov_and_is_mandatory(policy: Rule) -> None:
    assert policy is RULES[policy.name]
    assert DESCRIPTION.match(policy.description), policy.description
    assert policy.enforcement_level is EnforcementLevel.MANDATORY


def test_rules_named_after_a_security_hub_control_cite_it() -> None:
    for policy in POLICIES:
        match = re.match(r"pci-[a-z0-9]+-(\d+)-", policy.name)
        if match:
            number = match.group(1)
            assert re.search(rf"Security Hub [^;]*\b{number}\b", policy.description, re.I), policy.name


def test_deletion_protection_stays_out_of_the_pack_with_the_reason_written_down() -> None:
    assert not [p.name for p in POLICIES if "deletion" in p.name or "object-lock" in p.name]
    registry = (POLICY_DIR / "pci_rules" / "__init__.py").read_text()
    for control in ("RDS.7", "ELB.6", "DynamoDB.6", "S3.15", "destroyable"):
        assert control in registry


@pytest.mark.parametrize("policy", [p for p in POLICIES if p.config_schema], ids=lambda p: p.name)
def test_every_setting_has_a_default(policy: Rule) -> None:
    assert policy.config_schema is not None
    assert all("default" in prop for prop in policy.config_schema.properties.values()), policy.name


@pytest.mark.parametrize("stack", STACKS)
def test_stack_config_sets_every_threshold_of_every_configurable_rule(stack: str) -> None:
    raw = json.loads((POLICY_DIR / "config" / f"{stack}.json").read_text())
    assert raw.pop("all") == "mandatory"
    configurable = {p.name: set(p.config_schema.properties) for p in POLICIES if p.config_schema is not None}
    assert set(raw) == set(configurable), "each configurable rule is configured explicitly, and only those"
    for name, settings in raw.items():
        assert set(settings) == configurable[name], name


@pytest.mark.parametrize("stack", STACKS)
def test_stack_config_values_match_their_schema_types(stack: str) -> None:
    python_types = {"integer": int, "boolean": bool, "string": str, "array": list}
    for name, settings in stack_config(stack).items():
        schema = RULES[name].config_schema
        assert schema is not None
        for key, value in settings.items():
            expected = python_types[schema.properties[key]["type"]]
            assert isinstance(value, expected) and not (expected is int and isinstance(value, bool)), (name, key)


def test_prod_keeps_audit_evidence_a_year_and_dev_at_least_three_months() -> None:
    prod, dev = stack_config("prod"), stack_config("dev")
    assert prod["pci-s3-log-archive-retention"]["minRetentionDays"] >= 365
    assert prod["pci-cloudwatch-16-log-retention"]["auditMinRetentionDays"] >= 365
    assert dev["pci-s3-log-archive-retention"]["minRetentionDays"] >= 90
    for stack in (prod, dev):
        assert stack["pci-secretsmanager-4-rotation-days"]["maxRotationDays"] <= 90
        assert stack["pci-cloudwatch-16-log-retention"]["debugMinRetentionDays"] == 7


def test_entry_point_only_builds_the_pack_from_the_rules_module() -> None:
    # Read, never run: constructing PolicyPack starts a gRPC server that never returns.
    tree = ast.parse((POLICY_DIR / "__main__.py").read_text())
    imports = {(n.module, a.name) for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert ("pci_rules", "POLICIES") in imports
    code = [n for n in tree.body[1:] if not isinstance(n, ast.Import | ast.ImportFrom)]  # after the docstring
    assert len(code) == 1, "one statement besides imports: PolicyPack(...)"
    statement = code[0]
    assert isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
    call = statement.value
    assert ast.unparse(call.func) == "PolicyPack"
    keywords = {k.arg: ast.unparse(k.value) for k in call.keywords}
    assert keywords["policies"] == "POLICIES"
    assert keywords["enforcement_level"] == "EnforcementLevel.MANDATORY"


def test_manifest_runs_the_pack_with_python_in_the_project_virtualenv() -> None:
    manifest = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    venv = POLICY_DIR / manifest["runtime"]["options"]["virtualenv"]
    assert venv.resolve() == (ROOT / ".venv").resolve()


def test_entry_point_imports_its_rules_the_way_the_analyzer_runs_it() -> None:
    # The analyzer runs `runpy.run_path("<pack dir>")`. Here PolicyPack is a stub that records its
    # arguments (the real one would start a server), in a child process with a deadline.
    script = (
        "import runpy, sys, pulumi_policy\n"
        "pulumi_policy.PolicyPack = lambda **kw: print(kw['name'], len(kw['policies']), kw['enforcement_level'].name)\n"
        f"runpy.run_path({str(POLICY_DIR)!r}, run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=POLICY_DIR, capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["fraud-detection-pci-dss", str(len(POLICIES)), "MANDATORY"]


def test_readme_lists_every_rule_and_the_count() -> None:
    readme = (POLICY_DIR / "README.md").read_text()
    listed = set(re.findall(r"`(pci-[a-z0-9-]+)`", readme))
    assert listed == set(RULES), (set(RULES) - listed, listed - set(RULES))
    assert f"## Rules ({len(RULES)})" in readme
