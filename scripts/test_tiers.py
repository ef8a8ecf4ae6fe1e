"""Run every test tier in its own pytest process, then print one summary line per tier.

A tier runs in its own process because Pulumi's mocks keep process-global state. Every tier runs
even when an earlier one failed, so one red tier never hides another; a tier that collects no
test (pytest's exit code 5) counts as failed. Exit status: 0 only when every tier passed.

Each tier runs in a random order (pytest-randomly) from a seed printed before the tier and in the
summary, so an order that failed reproduces with `--seed N` here or `-p randomly --randomly-seed=N`
given to pytest.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import time
from pathlib import Path

# pytest's closing line, e.g. "12 passed, 1 skipped in 3.2s" or "1 failed, 11 passed in 3.4s".
_COUNTS = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)")


def _run(tier: str, python: str, seed: int) -> tuple[int, dict[str, int], float]:
    started = time.monotonic()
    # -q hides pytest-randomly's header line, hence the explicit seed.
    command = [python, "-m", "pytest", "-q", "-p", "randomly", f"--randomly-seed={seed}", f"tests/{tier}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    last = ""
    for line in process.stdout:
        sys.stdout.write(line)
        if _COUNTS.search(line):
            last = line
    code = process.wait()
    counts: dict[str, int] = {}
    for number, kind in _COUNTS.findall(last):
        counts[kind.rstrip("s") if kind.startswith("error") else kind] = int(number)
    return code, counts, time.monotonic() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Run test tiers, each in its own pytest process.")
    parser.add_argument("--seed", type=int, help="test order seed for every tier (default: a new one per tier)")
    parser.add_argument("python")
    parser.add_argument("tiers", nargs="+", metavar="tier")
    args = parser.parse_args(argv)
    results: list[tuple[str, int, int, dict[str, int], float]] = []
    for tier in args.tiers:
        seed = args.seed if args.seed is not None else random.randrange(2**32)
        if not Path("tests", tier).is_dir():
            results.append((tier, seed, 4, {}, 0.0))
            continue
        print(f"== tests/{tier} (random order, --randomly-seed={seed})", flush=True)
        results.append((tier, seed, *_run(tier, args.python, seed)))
    print("\n== summary")
    total: dict[str, int] = {}
    for tier, seed, code, counts, seconds in results:
        for kind, number in counts.items():
            total[kind] = total.get(kind, 0) + number
        status = "ok" if code == 0 else ("NO TESTS" if code == 5 else f"FAILED (exit {code})")
        detail = ", ".join(f"{n} {k}" for k, n in counts.items()) or "nothing ran"
        print(f"  {tier:<10} {status:<16} {detail} in {seconds:.0f}s (seed {seed})")
    failed_tiers = [tier for tier, _, code, _, _ in results if code != 0]
    failed = total.get("failed", 0) + total.get("error", 0)
    print(f"{total.get('passed', 0)} passed, {failed} failed, {total.get('skipped', 0)} skipped")
    if failed_tiers:
        print(f"failed tiers: {' '.join(failed_tiers)}")
        for tier, seed, code, _, _ in results:
            if code != 0:
                print(f"  same order: make test-{tier} SEED={seed}")
    return 1 if failed_tiers else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
