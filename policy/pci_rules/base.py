"""Building blocks of the PCI DSS rules: rule factories, per-stack settings, property and graph helpers.

The engine hands a rule camelCase properties wrapped in read-only proxies (Mapping / Sequence, not
dict / list) that raise `UnknownValueError` when a value is not known yet during a preview. The
helpers below therefore test for the abstract types and never swallow that error: an unknown value
makes the engine report "can't run during preview" instead of a false pass or a false violation.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

Props = Mapping[str, Any]
Config = Mapping[str, Any]
# A resource check: (resource type, properties, settings) -> one message per violation.
ResourceCheck = Callable[[str, Props, Config], Iterable[str]]
# A stack check: (the stack's resources, settings) -> (offending resource or None, message) per violation.
StackCheck = Callable[["StackGraph", Config], Iterable[tuple[PolicyResource | None, str]]]
# JSON schema of each setting, with its default.
Settings = Mapping[str, Mapping[str, Any]]
Rule = ResourceValidationPolicy | StackValidationPolicy

WORLD_IPV4 = "0.0.0.0/0"
WORLD_IPV6 = "::/0"


def _schema(settings: Settings | None) -> PolicyConfigSchema | None:
    if not settings:
        return None
    return PolicyConfigSchema(properties={name: dict(schema) for name, schema in settings.items()})


def _with_defaults(settings: Settings | None, config: Config) -> Config:
    # The CLI fills schema defaults from the pack config; unit tests and `policy.validate` callers
    # may pass none, so the defaults are applied here too.
    defaults = {name: schema["default"] for name, schema in (settings or {}).items() if "default" in schema}
    return {**defaults, **dict(config)}


class TypedResourcePolicy(ResourceValidationPolicy):
    """A resource rule that also says which resource types it looks at (the coverage test reads it)."""

    resource_types: frozenset[str]


def resource_rule(
    name: str, description: str, types: Iterable[str], check: ResourceCheck, settings: Settings | None = None
) -> TypedResourcePolicy:
    """A mandatory rule that runs `check` on every resource of one of `types`."""
    wanted = frozenset(types)

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in wanted:
            return
        for message in check(args.resource_type, args.props, _with_defaults(settings, args.get_config())):
            report_violation(message, None)

    policy = TypedResourcePolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=_schema(settings),
    )
    policy.resource_types = wanted
    return policy


def stack_rule(
    name: str, description: str, check: StackCheck, settings: Settings | None = None
) -> StackValidationPolicy:
    """A mandatory rule over the whole stack (relations between resources)."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        graph = StackGraph(args.resources)
        for resource, message in check(graph, _with_defaults(settings, args.get_config())):
            report_violation(message, resource.urn if resource is not None else None)

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=_schema(settings),
    )


# --- property helpers ---------------------------------------------------------------------------


def dig(value: Any, *path: str | int) -> Any:
    """value[path[0]][path[1]]..., or None where a key or index is missing."""
    for key in path:
        if isinstance(key, int):
            if not is_list(value) or not -len(value) <= key < len(value):
                return None
            value = value[key]
        else:
            if not isinstance(value, Mapping) or key not in value:
                return None
            value = value[key]
    return value


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def as_list(value: Any) -> list[Any]:
    """A list for list-or-scalar properties (IAM's Action, Resource, Principal; API Gateway's types)."""
    if value is None:
        return []
    return list(value) if is_list(value) else [value]


def number(value: Any) -> float | None:
    """Numbers arrive as floats from the engine and as strings in some nested blocks."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_json(value: Any) -> Any:
    """A policy or container-definition document: JSON text, or already an object."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


def matches_any(value: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


# --- IAM-style documents (IAM, bucket, key and topic policies) -------------------------------------


def statements(document: Any) -> list[Mapping[str, Any]]:
    parsed = parse_json(document)
    if not isinstance(parsed, Mapping):
        return []
    return [s for s in as_list(parsed.get("Statement")) if isinstance(s, Mapping)]


def principals(statement: Mapping[str, Any]) -> list[str]:
    """Every principal a statement names, flattened ("*" for anyone)."""
    principal = statement.get("Principal")
    if principal is None:
        return []
    if isinstance(principal, str):
        return [principal]
    if isinstance(principal, Mapping):
        return [str(p) for values in principal.values() for p in as_list(values)]
    return [str(p) for p in as_list(principal)]


def is_public_allow(statement: Mapping[str, Any]) -> bool:
    """An Allow to anyone ("*") without a condition that narrows it."""
    return statement.get("Effect") == "Allow" and "*" in principals(statement) and not statement.get("Condition")


# --- security group rules ----------------------------------------------------------------------


def is_world(cidrs: Iterable[Any]) -> bool:
    return any(c in (WORLD_IPV4, WORLD_IPV6) for c in cidrs)


def port_range(rule: Mapping[str, Any], protocol_key: str) -> tuple[str, float, float]:
    """(protocol, from, to) of an SG rule; protocol "-1" (all) covers every port."""
    protocol = str(rule.get(protocol_key, "-1")).lower()
    if protocol in ("-1", "all"):
        return "-1", 0, 65535
    low = number(rule.get("fromPort"))
    high = number(rule.get("toPort"))
    return protocol, low if low is not None else 0, high if high is not None else 65535


# --- the stack as a graph -----------------------------------------------------------------------


class StackGraph:
    """The stack's resources with the lookups the cross-resource rules need.

    A property refers to another resource either through the engine's property dependencies (the
    only link during a first preview, when ids and ARNs are still unknown) or, once known, through
    its value being one of the target's identifiers (id, ARN, name).
    """

    IDENTIFIER_KEYS = ("id", "arn", "name", "bucket", "vpcId")

    def __init__(self, resources: Sequence[PolicyResource]) -> None:
        self.resources = list(resources)

    def of_type(self, *types: str) -> list[PolicyResource]:
        return [r for r in self.resources if r.resource_type in types]

    @staticmethod
    def identifiers(resource: PolicyResource) -> set[str]:
        return {v for key in StackGraph.IDENTIFIER_KEYS for v in known_strings(resource.props, key) if v}

    @staticmethod
    def refers(resource: PolicyResource, prop: str, target: PolicyResource) -> bool:
        """Does `resource.props[prop]` (a value, or values nested in lists and objects) name `target`?"""
        if any(dep.urn == target.urn for dep in resource.property_dependencies.get(prop, [])):
            return True
        return not StackGraph.identifiers(target).isdisjoint(known_strings(resource.props, prop))

    def referrers(self, target: PolicyResource, types: Iterable[str], prop: str) -> list[PolicyResource]:
        return [r for r in self.of_type(*types) if self.refers(r, prop, target)]


def known_strings(props: Mapping[str, Any], key: str) -> set[str]:
    """The known strings in a property, nested lists and objects included.

    Only for matching resources to each other: a value not known yet cannot name anything, and the
    engine's property dependencies cover that case. Checks never use this (they let unknowns raise).
    """
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, Mapping):
            for item_key in value:
                walk_item(value, item_key)
        elif is_list(value):
            for index in range(len(value)):
                walk_item(value, index)

    def walk_item(container: Any, index: Any) -> None:
        with contextlib.suppress(UnknownValueError):
            walk(container[index])

    # `key in props` reads the value through the proxy, which raises when it is unknown; the key list does not.
    if key in list(props):
        walk_item(props, key)
    return found


# --- descriptions -------------------------------------------------------------------------------


def describe(pci: str, security_hub: str | None, checkov: str, what: str) -> str:
    """ "PCI DSS <req>; Security Hub <id>; checkov <id>: <what>" — the format the tests hold every rule to."""
    hub = f"Security Hub {security_hub}" if security_hub else "no Security Hub control"
    return f"PCI DSS {pci}; {hub}; checkov {checkov}: {what}"
