"""Runs the real `__main__.py` under Pulumi mocks, once per stack file, and records every resource.

The mocks answer like AWS would for the outputs the program reads (ARNs, ids, stream ARN, the RDS
managed secret, awsx VPC subnet ids), never by echoing awsx inputs (their input and output shapes
differ). Invokes the program makes are answered plausibly; an unexpected invoke fails the run, so
the harness cannot silently hide a new lookup.
"""

from __future__ import annotations

import asyncio
import runpy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.stack_files import merge_stack_config
from tests.support.aws_outputs import ACCOUNT_ID, COMPUTED, REMOTE_COMPONENT_OUTPUTS, availability_zones

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "fraud-detection"
STACKS = ("dev", "prod")


# How the engine marks a secret value on the wire.
_SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")


def _key(resource: pulumi.Resource) -> str:
    return f"{resource._type}::{resource._name}"


def _unwrap_secrets(value: Any, path: str, secrets: set[str]) -> Any:
    if isinstance(value, dict):
        if value.get(_SECRET_SIG[0]) == _SECRET_SIG[1]:
            secrets.add(path)
            return _unwrap_secrets(value.get("value"), path, secrets)
        return {k: _unwrap_secrets(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    return value


@dataclass(frozen=True)
class Recorded:
    typ: str
    name: str
    inputs: dict[str, Any]
    provider: str
    custom: bool
    secret_inputs: frozenset[str] = frozenset()

    @property
    def service(self) -> str:
        return self.typ.split(":")[1].split("/")[0]


@dataclass(frozen=True)
class Options:
    """The resource options a resource was declared with (the mock monitor does not see them)."""

    protect: bool
    retain_on_delete: bool
    ignore_changes: tuple[str, ...]
    depends_on: tuple[str, ...]
    # "type::name" of the parent, "" for the stack's own children: a new parent is a new URN, which
    # Pulumi deploys as a replacement (delete and create) of the resource.
    parent: str = ""


@dataclass
class ProgramRun:
    stack: str
    config: dict[str, str]
    resources: list[Recorded] = field(default_factory=list)
    options: dict[str, Options] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    # "type::name" of each component -> the names of the outputs it registered (the mock monitor drops them).
    registered_outputs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    error: Exception | None = None

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name_contains: str = "") -> Recorded:
        found = [r for r in self.of_type(typ) if name_contains in r.name]
        assert len(found) == 1, f"expected one {typ} named *{name_contains}*, found {[r.name for r in found]}"
        return found[0]

    def named(self, typ: str, name: str) -> Recorded:
        found = [r for r in self.of_type(typ) if r.name == name]
        assert len(found) == 1, f"expected one {typ} named {name}, found {len(found)}"
        return found[0]

    @property
    def suffix(self) -> str:
        return self.config[f"{PROJECT}:environmentSuffix"]


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str) -> None:
        self.region = region
        self.resources: list[Recorded] = []

    def _arn(self, typ: str, name: str) -> str:
        service = typ.split(":")[1].split("/")[0]
        kind = typ.split(":")[-1].lower()
        return f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{kind}/{name}"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        secrets: set[str] = set()
        inputs = _unwrap_secrets(dict(args.inputs), "", secrets)
        self.resources.append(
            Recorded(args.typ, args.name, inputs, args.provider or "", bool(args.custom), frozenset(secrets))
        )
        resource_id = f"{args.name}-id"
        if args.typ in REMOTE_COMPONENT_OUTPUTS:
            return resource_id, REMOTE_COMPONENT_OUTPUTS[args.typ](self.region, args.name, inputs)
        # ARNs carry the physical name where the resource has one, as AWS's do.
        physical = inputs.get("name") if isinstance(inputs.get("name"), str) else None
        outputs: dict[str, Any] = {**args.inputs, "arn": self._arn(args.typ, physical or args.name)}
        if args.typ in COMPUTED:
            outputs.update(COMPUTED[args.typ](self.region, args.name, inputs))
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return self._answer(args.token), []

    def _answer(self, token: str) -> dict[str, Any]:
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci",
                "userId": "AIDA",
                "id": ACCOUNT_ID,
            }
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws", "id": "aws"}
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {**availability_zones(self.region), "id": self.region}
        if token == "aws:ec2/getRouteTables:getRouteTables":
            return {"ids": [f"rtb-private-{i}" for i in range(3)], "id": "rtb"}
        if token == "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            return {"userName": "AWS", "password": "ecr-token", "authorizationToken": "QVdTOmVjci10b2tlbg==",
                    "proxyEndpoint": f"https://{ACCOUNT_ID}.dkr.ecr.{self.region}.amazonaws.com",
                    "expiresAt": "2026-01-01T12:00:00Z", "id": self.region}  # fmt: skip
        if token == "aws:elb/getServiceAccount:getServiceAccount":
            return {"arn": "arn:aws:iam::127311923021:root", "id": "127311923021"}
        raise AssertionError(f"the program made an invoke the harness does not answer: {token}")


def stack_config(stack: str, stack_file: Path | None = None) -> dict[str, str]:
    """The stack's config as the Pulumi CLI hands it to the program: the stack file (by default
    `Pulumi.<stack>.yaml` in the repository root) merged with Pulumi.yaml's declarations (defaults
    applied, types checked), text and JSON values."""
    raw = yaml.safe_load((stack_file or ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    # ciphertext cannot be decrypted offline
    plain = {k: "secret-placeholder" if isinstance(v, dict) and "secure" in v else v for k, v in raw.items()}
    config, problems = merge_stack_config(stack, plain, ROOT / "Pulumi.yaml")
    assert not problems, problems
    return config


def run_program(
    stack: str,
    overrides: Mapping[str, str | None] | None = None,
    *,
    expect_failure: bool = False,
    stack_file: Path | None = None,
) -> ProgramRun:
    """Run `__main__.py` for `stack` with optional config overrides (None removes a key).

    With expect_failure the program's exception is kept in `run.error` instead of raised; a
    stack_file outside the repository root (a test fixture) replaces `Pulumi.<stack>.yaml`.
    """
    config = stack_config(stack, stack_file)
    for key, value in (overrides or {}).items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return run_under_mocks(
        stack,
        config,
        lambda: runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__"),
        expect_failure=expect_failure,
    )


def run_under_mocks(
    stack: str, config: dict[str, str], body: Callable[[], object], *, expect_failure: bool = False
) -> ProgramRun:
    """Run `body` (the whole program, or one component built from plain args) under the recording mocks.

    A component alone takes a fraction of a second where the whole program takes seconds: what
    lets mutation testing rerun a component's tests for each of its mutants.
    """
    # Each run gets its own event loop and root stack. Pulumi makes every mock call in the loop's thread
    # pool, which a fork does not copy: a process forked after a run (mutmut forks one per mutant) would
    # wait forever on a reused loop. A new root stack carries none of an earlier run's exports.
    asyncio.get_event_loop_policy().get_event_loop().close()
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.settings.set_root_resource(None)  # type: ignore[arg-type]
    mocks = RecordingMocks(config.get("aws:region", "eu-west-1"))
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config(config)
    run = ProgramRun(stack=stack, config=config)

    recording = True

    def record_options(args: pulumi.ResourceTransformationArgs) -> None:
        # The root stack resource outlives a run (until the next replaces it), and with it this
        # transformation: record only our own.
        if not recording:
            return
        opts = args.opts
        depends_on = opts.depends_on if isinstance(opts.depends_on, list) else [opts.depends_on]
        run.options[args.name] = Options(
            protect=bool(opts.protect),
            retain_on_delete=bool(opts.retain_on_delete),
            ignore_changes=tuple(opts.ignore_changes or ()),
            depends_on=tuple(d._name for d in depends_on if isinstance(d, pulumi.Resource)),
            parent=_key(opts.parent) if opts.parent is not None else "",
        )

    # The mock monitor drops what a component registers as its outputs: record the names on the way.
    register_resource_outputs = pulumi.resource.register_resource_outputs

    def record_outputs(resource: pulumi.Resource, outputs: Any) -> None:
        run.registered_outputs[_key(resource)] = tuple(sorted(outputs or {}))
        register_resource_outputs(resource, outputs)

    @pulumi.runtime.test
    def program() -> None:
        # A legacy stack transformation runs in-process, so it sees every resource's options.
        pulumi.runtime.register_stack_transformation(record_options)
        body()

    try:
        pulumi.resource.register_resource_outputs = record_outputs  # type: ignore[assignment]
        program()
    except Exception as error:
        if not expect_failure:
            raise
        run.error = error
    finally:
        recording = False
        pulumi.resource.register_resource_outputs = register_resource_outputs
        run.resources = list(mocks.resources)
    if run.error is None:
        run.outputs = _stack_outputs()
    return run


def _stack_outputs() -> dict[str, Any]:
    root = pulumi.runtime.get_root_resource()
    outputs = getattr(root, "outputs", None) or {}
    resolved: dict[str, Any] = {}

    @pulumi.runtime.test
    def resolve() -> pulumi.Output[Any]:
        return pulumi.Output.all(**outputs).apply(resolved.update)

    if outputs:
        resolve()
    return resolved
