"""Operators' command: promote a published model version, roll back, or show the pointer.

    python -m fraud_scoring.promote --bucket B --parameter /fraud/prod/model/promoted --version V
    python -m fraud_scoring.promote --bucket B --parameter /fraud/prod/model/promoted --rollback
    python -m fraud_scoring.promote --local .local/registry --show

fraud-api and the analyzer pick the new pointer up within MODEL_REFRESH_S (default 60 s). Exit
codes: 0 done, 1 refused (the message says why), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys

from fraud_scoring.registry import (
    Pointer,
    RegistryError,
    S3Store,
    SsmPointer,
    Store,
    local_registry,
    promote,
    rollback,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fraud_scoring.promote", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--version", help="promote this published version")
    action.add_argument("--rollback", action="store_true", help="point back at the previous version")
    action.add_argument("--show", action="store_true", help="print the pointer")
    parser.add_argument("--bucket", help="the models bucket (stack output models_bucket_name)")
    parser.add_argument("--parameter", help="the SSM pointer parameter (stack output model_pointer_parameter)")
    parser.add_argument("--local", metavar="DIR", help="a local registry directory instead of S3 + SSM")
    return parser


def _registry(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[Store, Pointer]:
    if args.local is not None:
        if args.bucket or args.parameter:
            parser.error("--local replaces --bucket/--parameter: give one or the other")
        return local_registry(args.local)
    missing = [flag for flag, value in (("--bucket", args.bucket), ("--parameter", args.parameter)) if not value]
    if missing:
        parser.error(f"missing {' and '.join(missing)} (or --local DIR for a local registry)")
    return S3Store(args.bucket), SsmPointer(args.parameter)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    store, pointer = _registry(parser, args)
    try:
        if args.show:
            value = pointer.read()
        elif args.rollback:
            value = rollback(pointer)
        else:
            value = promote(store, pointer, args.version)
    except RegistryError as exc:
        sys.stderr.write(f"refused: {exc}\n")
        return 1
    except Exception as exc:
        # botocore's messages name the operation, the resource and the AWS error code.
        if not type(exc).__module__.startswith("botocore"):
            raise
        sys.stderr.write(f"AWS error: {exc}\n")
        return 1
    sys.stdout.write(value.to_json() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
