"""The stack's configuration as the Pulumi CLI hands it to the program, computed without the CLI.

Before the program runs, the CLI merges `Pulumi.<stack>.yaml` with the `config:` declarations of
`Pulumi.yaml`: a declared key the stack does not set takes the declared default, a declared key
with no default that the stack does not set stops the run ("Stack 'dev' is missing configuration
value 'x'"), and a stack value must match its declared type. This module does the same, so tests
and `make check-config` see what `pulumi preview` would see. Source: pulumi/pulumi
sdk/go/common/workspace/config.go (`mergeConfig`, `validateStackConfigValue`) and project.go
(`ValidateConfigValue`, `Project.Validate` for defaults).

One addition of ours: a stack key in the project's namespace that `Pulumi.yaml` does not declare
is reported too (the CLI passes it through silently; for us it is always a typo or a stale key).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILE = ROOT / "Pulumi.yaml"


def _matches(type_name: str, items: Mapping[str, Any] | None, value: Any) -> bool:
    """ValidateConfigValue: strings are any primitive the stack file holds (stored as text),
    integers also as text that parses, booleans also as the text "true"/"false"."""
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return True
        if isinstance(value, str):
            try:
                int(value, 10)  # Go's strconv.Atoi: an optional sign and decimal digits
            except ValueError:
                return False
            return value.strip() == value and "_" not in value
        return False
    if type_name == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_name == "array" and items is not None and isinstance(value, list):
        return all(_matches(items["type"], items.get("items"), item) for item in value)
    return False


def _type_name(declaration: Mapping[str, Any]) -> str:
    items = declaration.get("items")
    return f"array<{_type_name(items)}>" if items else str(declaration["type"])


def _as_stored(value: Any) -> Any:
    """A stack file's value the way the CLI stores it: primitives become text, lists and maps stay
    structured (the CLI keeps them as JSON objects)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return value
    return str(value)


def _for_program(value: Any) -> str:
    """What the program's `pulumi.Config.get` returns: text, JSON for lists and maps."""
    return value if isinstance(value, str) else json.dumps(value)


def namespace(config: Mapping[str, str], name: str) -> dict[str, str]:
    """The keys of one namespace (`fraud-detection`, `aws`) without their prefix, as
    `pulumi.Config(name).get` sees them."""
    prefix = f"{name}:"
    return {key.removeprefix(prefix): value for key, value in config.items() if key.startswith(prefix)}


def project_declarations(project_file: Path = PROJECT_FILE) -> tuple[str, dict[str, dict[str, Any]]]:
    """(project name, declared config keys) of Pulumi.yaml."""
    project = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    return project["name"], dict(project.get("config") or {})


def declaration_problems(project_file: Path = PROJECT_FILE) -> list[str]:
    """Project.Validate: each default must itself match the declared type."""
    _, declared = project_declarations(project_file)
    return [
        f"The default value specified for configuration key '{key}' is not of the expected type '{_type_name(d)}'"
        for key, d in sorted(declared.items())
        if "default" in d and not _matches(d["type"], d.get("items"), d["default"])
    ]


def merge_stack_config(
    stack: str, stack_values: Mapping[str, Any], project_file: Path = PROJECT_FILE
) -> tuple[dict[str, str], list[str]]:
    """(config as the program sees it, problems) for one stack's `config:` mapping."""
    name, declared = project_declarations(project_file)
    stored = {key: _as_stored(value) for key, value in stack_values.items()}
    problems: list[str] = []
    missing = []
    for key in sorted(declared):
        full = key if ":" in key else f"{name}:{key}"
        if full in stored:
            continue
        if "default" in declared[key] or "value" in declared[key]:
            stored[full] = _as_stored(declared[key].get("default", declared[key].get("value")))
        elif full.startswith(f"{name}:"):
            missing.append(key)
    if missing:
        quoted = [f"'{k}'" for k in missing]
        listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" and {quoted[-1]}"
        problems.append(f"Stack '{stack}' is missing configuration value{'s' if len(missing) > 1 else ''} {listed}")
    for key in sorted(declared):
        full = key if ":" in key else f"{name}:{key}"
        d = declared[key]
        if "type" in d and full in stored and not _matches(d["type"], d.get("items"), stored[full]):
            problems.append(f"Stack '{stack}' with configuration key '{key}' must be of type '{_type_name(d)}'")
    for full in sorted(stored):
        namespace, _, key = full.partition(":")
        if namespace == name and key not in declared:
            problems.append(
                f"Stack '{stack}' sets '{full}', which Pulumi.yaml does not declare (a typo or a stale key?)"
            )
    return {key: _for_program(value) for key, value in stored.items()}, problems


def load_stack(stack: str, root: Path = ROOT) -> tuple[dict[str, str], list[str]]:
    """Merge `Pulumi.<stack>.yaml` with Pulumi.yaml under `root`."""
    stack_file = root / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        return {}, [f"no stack file {stack_file.name}"]
    values = (yaml.safe_load(stack_file.read_text(encoding="utf-8")) or {}).get("config") or {}
    return merge_stack_config(stack, values, root / "Pulumi.yaml")


def main(stacks: list[str]) -> int:
    """`python -m components.stack_files dev prod`: the CLI's config checks plus the program's own."""
    from components.config import PROJECT, ConfigError, read_stack_config

    failed = False
    for problem in declaration_problems():
        sys.stderr.write(f"Pulumi.yaml: {problem}\n")
        failed = True
    for stack in stacks:
        config, problems = load_stack(stack)
        if not problems:
            try:
                read_stack_config(namespace(config, PROJECT).get, namespace(config, "aws").get)
            except ConfigError as error:
                problems = list(error.problems)
        for problem in problems:
            sys.stderr.write(f"{stack}: {problem}\n")
        failed = failed or bool(problems)
        sys.stdout.write(f"{stack}: {'FAILED' if problems else 'ok'}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["dev", "prod"]))
