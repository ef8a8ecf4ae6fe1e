"""Operators' command: promote a published model version, roll back, or show the pointer; the same for the shadow.

    python -m fraud_scoring.promote --bucket B --parameter /fraud/prod/model/promoted --version V
    python -m fraud_scoring.promote --bucket B --parameter /fraud/prod/model/promoted --rollback
    python -m fraud_scoring.promote --bucket B --shadow-parameter /fraud/prod/model/shadow --shadow V
    python -m fraud_scoring.promote --bucket B --shadow-parameter /fraud/prod/model/shadow --clear-shadow
    python -m fraud_scoring.promote --local .local/registry --show

fraud-api and the analyzer pick the new pointer up within MODEL_REFRESH_S (default 60 s). Exit
codes: 0 done, 1 refused (the message says why), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys

from fraud_scoring.registry import (
    RegistryError,
    add_location_arguments,
    clear_shadow,
    open_registry,
    promote,
    rollback,
    set_shadow,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fraud_scoring.promote", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--version", help="promote this published version")
    action.add_argument("--rollback", action="store_true", help="point back at the previous version")
    action.add_argument("--show", action="store_true", help="print the pointer")
    action.add_argument("--shadow", metavar="VERSION", help="score this published version in shadow")
    action.add_argument("--clear-shadow", action="store_true", help="stop shadow scoring")
    action.add_argument("--show-shadow", action="store_true", help="print the shadow pointer")
    add_location_arguments(parser, shadow=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    shadow = args.shadow is not None or args.clear_shadow or args.show_shadow
    store, pointer = open_registry(parser, args, shadow=shadow)
    try:
        if args.show or args.show_shadow:
            value = pointer.read()
        elif args.rollback:
            value = rollback(pointer)
        elif args.clear_shadow:
            value = clear_shadow(pointer)
        elif args.shadow is not None:
            value = set_shadow(store, pointer, args.shadow)
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
