"""The stack files as the Pulumi CLI sees them, before the program runs.

The CLI merges `Pulumi.<stack>.yaml` with the declarations in `Pulumi.yaml`, and refuses the stack
when a declared key without a default is unset or a value has the wrong type. The mocks never see
that step, so a stack that could not even start `pulumi preview` used to pass every infra test.
Expected messages below are the CLI's own (pulumi/pulumi sdk/go/common/workspace/config.go).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import read_stack_config
from components.stack_files import declaration_problems, load_stack, merge_stack_config, namespace
from fraud_local.poller import MappingSettings
from tests.support.harness import ROOT


def _project(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "Pulumi.yaml"
    path.write_text(yaml.safe_dump({"name": "fraud-detection", "runtime": "python", "config": config}))
    return path


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_file_passes_the_cli_checks_and_the_program_validation(stack: str) -> None:
    config, problems = load_stack(stack)
    assert problems == []
    project = namespace(config, "fraud-detection")
    aws = namespace(config, "aws")
    read_stack_config(project.get, aws.get)  # raises ConfigError on any problem


def test_every_default_matches_its_declared_type() -> None:
    assert declaration_problems() == []


def test_every_declared_key_has_a_default_or_is_set_in_both_stacks() -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    without_default = {k for k, d in declared.items() if "default" not in d}
    assert without_default == {"environmentSuffix"}  # each stack names its own, on purpose
    for stack in ("dev", "prod"):
        stack_keys = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert "fraud-detection:environmentSuffix" in stack_keys


def test_missing_values_are_reported_the_way_the_cli_words_them(tmp_path: Path) -> None:
    project = _project(tmp_path, {"one": {"type": "string"}, "two": {"type": "integer"}, "three": {"type": "boolean"}})
    _, problems = merge_stack_config("dev", {}, project)
    assert problems == ["Stack 'dev' is missing configuration values 'one', 'three' and 'two'"]
    _, problems = merge_stack_config("dev", {"fraud-detection:one": "x", "fraud-detection:two": 2}, project)
    assert problems == ["Stack 'dev' is missing configuration value 'three'"]


def test_defaults_are_applied_as_the_program_reads_them(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        {
            "flag": {"type": "boolean", "default": False},
            "count": {"type": "integer", "default": 7},
            "name": {"type": "string", "default": "0.5"},
            "codes": {"type": "array", "items": {"type": "string"}, "default": ["KP"]},
        },
    )
    config, problems = merge_stack_config("prod", {"fraud-detection:count": 9}, project)
    assert problems == []
    assert config == {
        "fraud-detection:flag": "false",
        "fraud-detection:count": "9",
        "fraud-detection:name": "0.5",
        "fraud-detection:codes": '["KP"]',
    }


@pytest.mark.parametrize(
    ("declaration", "value", "accepted"),
    [
        ({"type": "integer"}, 3, True),
        ({"type": "integer"}, "3", True),
        ({"type": "integer"}, "-3", True),
        ({"type": "integer"}, "3.5", False),
        ({"type": "integer"}, "three", False),
        ({"type": "integer"}, True, False),  # YAML true becomes the text "true", which Atoi refuses
        ({"type": "boolean"}, True, True),
        ({"type": "boolean"}, "false", True),
        ({"type": "boolean"}, "yes", False),
        ({"type": "boolean"}, 1, False),
        ({"type": "string"}, 0.5, True),  # a YAML number is stored as text
        ({"type": "string"}, ["a"], False),
        ({"type": "array", "items": {"type": "string"}}, ["KP", "IR"], True),
        ({"type": "array", "items": {"type": "string"}}, "KP", False),
        ({"type": "array", "items": {"type": "string"}}, [["KP"]], False),
    ],
)
def test_declared_types_are_enforced_like_the_cli(
    tmp_path: Path, declaration: dict[str, Any], value: Any, accepted: bool
) -> None:
    project = _project(tmp_path, {"key": declaration})
    _, problems = merge_stack_config("dev", {"fraud-detection:key": value}, project)
    type_name = "array<string>" if declaration["type"] == "array" else declaration["type"]
    expected = [] if accepted else [f"Stack 'dev' with configuration key 'key' must be of type '{type_name}'"]
    assert problems == expected


def test_undeclared_project_keys_are_reported_and_other_namespaces_pass(tmp_path: Path) -> None:
    project = _project(tmp_path, {"apiCpu": {"type": "integer", "default": 1024}})
    stack = {"fraud-detection:apiCPU": 2048, "aws:region": "eu-west-1", "aws:profile": "x"}
    _, problems = merge_stack_config("dev", stack, project)
    assert len(problems) == 1
    assert "'fraud-detection:apiCPU'" in problems[0] and "does not declare" in problems[0]


def test_a_default_of_the_wrong_type_is_reported(tmp_path: Path) -> None:
    project = _project(
        tmp_path, {"dbMaxAcu": {"type": "string", "default": 4}, "ok": {"type": "integer", "default": 1}}
    )
    assert declaration_problems(project) == [
        "The default value specified for configuration key 'dbMaxAcu' is not of the expected type 'string'"
    ]


def test_the_real_stacks_would_have_failed_before_defaults_were_declared(tmp_path: Path) -> None:
    # Today's Pulumi.yaml without its defaults: the CLI would refuse both stacks (the bug this guards).
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    stripped = {k: {f: v for f, v in d.items() if f != "default"} for k, d in project["config"].items()}
    path = _project(tmp_path, stripped)
    for stack in ("dev", "prod"):
        values = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        _, problems = merge_stack_config(stack, values, path)
        assert problems and problems[0].startswith(f"Stack '{stack}' is missing configuration values ")


def _readme_defaults() -> dict[str, str]:
    """key -> the default column of the README's configuration table (rows may pair keys with /)."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Configuration") :]
    section = section[: section.index("\n## ", 5)]
    defaults: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        keys = re.findall(r"`([\w:]+)`", cells[0]) if len(cells) >= 2 else []
        if not keys:
            continue
        values = cells[1].split(" / ") if len(keys) > 1 else [cells[1]]
        assert len(values) == len(keys), line
        defaults.update(zip(keys, values, strict=True))
    return defaults


def _as_documented(declaration: dict[str, Any]) -> str:
    if "default" not in declaration:
        return "(required)"
    value = declaration["default"]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return "unset" if value == "" else str(value)


def test_pulumi_yaml_config_py_and_readme_agree() -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    # The README documents every declared key with Pulumi.yaml's default, and nothing else.
    documented = _readme_defaults()
    documented.pop("aws:region")
    assert set(documented) == set(declared)
    for key, declaration in declared.items():
        assert documented[key] == _as_documented(declaration), key
    # config.py asks for exactly the declared keys (recorded while it reads a merged stack).
    config, _ = load_stack("dev")
    asked: set[str] = set()

    def get(key: str) -> str | None:
        asked.add(key)
        return config.get(f"fraud-detection:{key}")

    read_stack_config(get, {"region": "us-east-2"}.get)
    assert asked == set(declared)


def test_local_mode_streams_with_the_deployed_defaults() -> None:
    # fraud_local's poller mirrors the analyzer's event-source mapping; its defaults follow Pulumi.yaml.
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    settings = MappingSettings()
    assert settings.batch_size == declared["streamBatchSize"]["default"]
    assert settings.batching_window_s == declared["streamBatchingWindowSeconds"]["default"]
    assert settings.max_retries == declared["streamMaxRetries"]["default"]
