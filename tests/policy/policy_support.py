"""Drive the rules the way the analyzer does, without ever constructing a PolicyPack (it would serve forever).

Properties go through pulumi-policy's own unknown-checking proxy, so the rules see the same
Mapping/Sequence wrappers (not dicts and lists) as under `pulumi preview`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policy.pci_rules import POLICIES

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "fraud-detection"
RULES: dict[str, ResourceValidationPolicy | StackValidationPolicy] = {p.name: p for p in POLICIES}


def urn(typ: str, name: str, stack: str = "test") -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{typ}::{name}"


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )


def stack_config(stack: str) -> dict[str, dict[str, Any]]:
    """policy/config/<stack>.json as the engine hands it to each rule: its properties, no enforcement level."""
    raw = json.loads((ROOT / "policy" / "config" / f"{stack}.json").read_text())
    return {
        name: {k: v for k, v in value.items() if k != "enforcementLevel"}
        for name, value in raw.items()
        if isinstance(value, dict)
    }


def resource_violations(
    rule: str | ResourceValidationPolicy,
    typ: str,
    props: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    name: str = "subject",
) -> list[str]:
    policy = RULES[rule] if isinstance(rule, str) else rule
    assert isinstance(policy, ResourceValidationPolicy), f"{policy.name} is not a resource rule"
    found: list[str] = []
    args = ResourceValidationArgs(
        typ,
        unknown_checking_proxy(copy.deepcopy(dict(props))),
        urn(typ, name),
        name,
        _options(),
        None,
        dict(config) if config is not None else None,
    )

    def report(message: str, _urn: str | None = None) -> None:
        found.append(message)

    assert policy.validate(args, report) is None, "rules are synchronous"
    return found


def policy_resource(
    typ: str,
    name: str,
    props: Mapping[str, Any],
    *,
    parent: PolicyResource | None = None,
    property_dependencies: Mapping[str, Sequence[PolicyResource]] | None = None,
    stack: str = "test",
) -> PolicyResource:
    return PolicyResource(
        typ,
        unknown_checking_proxy(copy.deepcopy(dict(props))),
        urn(typ, name, stack),
        name,
        _options(),
        None,
        parent,
        [],
        {k: list(v) for k, v in (property_dependencies or {}).items()},
    )


def stack_violations(
    rule: str | StackValidationPolicy,
    resources: Sequence[PolicyResource],
    config: Mapping[str, Any] | None = None,
) -> list[tuple[str | None, str]]:
    policy = RULES[rule] if isinstance(rule, str) else rule
    assert isinstance(policy, StackValidationPolicy), f"{policy.name} is not a stack rule"
    found: list[tuple[str | None, str]] = []
    args = StackValidationArgs(list(resources), dict(config) if config is not None else None)

    def report(message: str, offender: str | None = None) -> None:
        found.append((offender, message))

    assert policy.validate(args, report) is None, "rules are synchronous"
    return found


# --- case tables ---------------------------------------------------------------------------------


Expected = str | tuple[str, ...] | None


def _messages(expect: Expected) -> list[str]:
    if expect is None:
        return []
    return [expect] if isinstance(expect, str) else list(expect)


class Case:
    """One resource rule applied to one resource: `expect` is the whole violation message (a tuple if several,
    in order), None if compliant."""

    def __init__(
        self,
        rule: str,
        typ: str,
        props: Mapping[str, Any],
        expect: Expected = None,
        config: Mapping[str, Any] | None = None,
        label: str = "",
    ) -> None:
        self.rule, self.typ, self.props, self.expect, self.config = rule, typ, dict(props), expect, config
        self.messages = _messages(expect)
        self.id = f"{rule}-{'bad' if expect else 'ok'}{'-' + label if label else ''}"


class StackCase:
    """One stack rule applied to a small stack: `expect` as for `Case`."""

    def __init__(
        self,
        rule: str,
        resources: Sequence[PolicyResource],
        expect: Expected = None,
        config: Mapping[str, Any] | None = None,
        label: str = "",
    ) -> None:
        self.rule, self.resources, self.expect, self.config = rule, list(resources), expect, config
        self.messages = _messages(expect)
        self.id = f"{rule}-{'bad' if expect else 'ok'}{'-' + label if label else ''}"


def res(typ: str, logical_name: str, /, **props: Any) -> PolicyResource:
    """A stack resource whose properties are its outputs (as in a stack validation)."""
    return policy_resource(typ, logical_name, props)


def doc(*statements: Mapping[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
