"""Mutation testing (``make mutate``): break the code one small change at a time, expect a test to fail.

Each target is a module where a silent regression costs most. It runs mutmut in its own scratch copy
of the working tree (``.mutate/<target>/``), so targets never share mutmut's state, run one at a
time or alone (``make mutate TARGETS="card rules"``), and each mutant runs only the tier that holds
the module's contract tests. A surviving mutant is either killed by a new test or listed in
``mutation/equivalent.toml`` with the reason it cannot change behaviour; it is matched by module and
by the mutated line (the line before and after), so a justification survives unrelated edits.

Per target this prints mutants, killed (a test failed or the mutant hung), justified equivalents,
unjustified survivors and the score ``killed / (mutants - equivalent)``; every unjustified survivor
is printed with its diff. Exit status 1 when any target has an unjustified survivor or scores below
``GOAL``. It is not part of ``make test``: the whole run takes tens of minutes (README, Testing).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".mutate"
EQUIVALENT = ROOT / "mutation" / "equivalent.toml"
GOAL = 0.90

# mutmut's exit code per mutant (mutmut/stats.py: status_by_exit_code).
KILLED = {1, 3, 36, 24, -24, 152, 255}  # a failing test, pytest's internal error, or a hang (timeout)
SURVIVED = 0
NO_TESTS = {5, 33}  # no test reaches the mutated function: as bad as a survivor


@dataclass(frozen=True)
class Target:
    """Files to mutate (globs relative to the repo) and the tests that hold their contract."""

    mutate: tuple[str, ...]
    tests: tuple[str, ...]
    # CPU seconds added to a mutant's estimated test time before mutmut calls it a hang (and we a kill).
    # mutmut estimates from each test's call phase only; the infra tests run the Pulumi program in their
    # fixtures' setup, so with mutmut's 1 s every infra mutant "timed out", which counted as killed.
    timeout_constant: float = 1.0


# Each mutant runs the test files that hold its module's contract (mutmut then runs only those of
# them that reach the mutated function): the whole tier would make a run take hours.
_F = "tests/functions/"
# A component's tests build it under mocks in their fixtures (under a second each, tens of seconds for
# a whole file on a loaded machine), which mutmut's estimate omits; mutmut also stops a mutant after
# half its CPU limit in wall time: 60 gives (60 + estimate) x 15 x 2 CPU s, so about 900 s of wall time.
# Component tests, not whole-program ones: rerunning the program per mutant takes hours per target.
_COMPONENT_BUILDS = 60.0
TARGETS: dict[str, Target] = {
    "card": Target(("fraud_common/card.py",), (_F + "test_card.py", _F + "test_transaction.py")),
    "transaction": Target(
        ("fraud_common/transaction.py", "fraud_common/transaction_schema.py"),
        (_F + "test_transaction.py", _F + "test_transaction_schema.py"),
    ),
    "identity": Target(("fraud_common/identity.py",), (_F + "test_identity.py",)),
    "processor": Target(
        ("functions/processor/*.py",), (_F + "test_processor.py", _F + "test_processor_same_transaction.py")
    ),
    "analyzer": Target(("functions/analyzer/*.py",), (_F + "test_analyzer.py", _F + "test_replay.py")),
    "rules": Target(("fraud_scoring/rules.py",), ("tests/scoring/test_scoring_scorer.py",)),
    "features": Target(
        ("fraud_scoring/features.py",),
        (
            "tests/scoring/test_scoring_features.py",
            "tests/scoring/test_scoring_features_reference.py",
            "tests/scoring/test_scoring_leakage.py",
            "tests/scoring/test_scoring_rule_facts.py",
        ),
    ),
    "api-scoring": Target(
        ("fraud_api/app/scoring.py",),
        ("tests/api/routes", "tests/api/core/test_metrics.py"),
    ),
    "direct-route": Target(("fraud_api/app/api/direct.py",), ("tests/api/routes/test_score_direct.py",)),
    "api-logging": Target(("fraud_api/app/core/logging.py",), ("tests/api/core/test_logging.py",)),
    "api-tracing": Target(
        ("fraud_api/app/core/tracing.py",),
        ("tests/api/core/test_trace_sampling.py", "tests/api/core/test_trace_settings.py", "tests/api/test_tracing.py"),
    ),
    "admission": Target(
        ("fraud_api/app/core/overload.py", "fraud_api/app/api/admission.py"),
        ("tests/api/core/test_overload.py", "tests/api/test_admission.py"),
        # The burst test starts PostgreSQL and uvicorn in its fixtures, which mutmut's estimate omits.
        timeout_constant=30.0,
    ),
    "waf": Target(
        ("components/waf.py",),
        ("tests/infra/test_waf_component.py",),
        timeout_constant=_COMPONENT_BUILDS,
    ),
    "pipeline": Target(
        ("components/pipeline.py",),
        ("tests/infra/test_pipeline_component.py",),
        timeout_constant=_COMPONENT_BUILDS,
    ),
}
# The policy pack is one target per rule module: all of them at once (~2,700 mutants) outlast a working session.
_POLICY_TESTS = (
    "tests/policy/test_policy_rules.py",
    "tests/policy/test_policy_pack.py",
    "tests/policy/test_policy_base.py",
    # Runs the pack in a child process from policy/, where mutmut's trampolines cannot find their
    # configuration (pyproject.toml is one level up) and fail the run before any mutant is tried.
    "--deselect",
    "tests/policy/test_policy_pack.py::test_entry_point_imports_its_rules_the_way_the_analyzer_runs_it",
)
TARGETS.update(
    {
        f"policy-{module}": Target((f"policy/pci_rules/{module}.py",), _POLICY_TESTS)
        for module in ("s3", "data", "network", "load_balancer", "compute", "api", "iam", "observability", "base")
    }
)

# The diff line of a mutant: "-    old" / "+    new" (mutmut prints a unified diff).
_CHANGED = re.compile(r"^([-+])(?![-+]{2} )(.*)$")


def _tracked_files() -> list[str]:
    """Committed and new (not ignored) files: an uncommitted edit is what gets mutated."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [name for name in listing.split("\0") if name and (ROOT / name).is_file()]


def _prepare(workdir: Path, target: Target) -> None:
    """A fresh copy of the tree in ``workdir`` with mutmut's configuration for ``target``."""
    shutil.rmtree(workdir, ignore_errors=True)
    files = _tracked_files()
    for relative in files:
        destination = workdir / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, destination)
    packages = sorted({Path(name).parts[0] for name in files if len(Path(name).parts) > 1})
    sources = sorted({Path(glob).parts[0] for glob in target.mutate})
    top_files = sorted(name for name in files if len(Path(name).parts) == 1 and name != "pyproject.toml")
    config = {
        "source_paths": sources,
        "only_mutate": list(target.mutate),
        "also_copy": [p for p in packages if p not in sources and p != "tests"] + top_files,
        "pytest_add_cli_args_test_selection": list(target.tests),
        # Random order would make a mutant's verdict depend on its seed; the tiers' own runs check order.
        "pytest_add_cli_args": ["-p", "no:randomly", "-p", "no:cacheprovider", "-x", "-q"],
        "timeout_constant": target.timeout_constant,
    }
    lines = [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    with (workdir / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n[tool.mutmut]\n" + "\n".join(lines) + "\n")


def _results(workdir: Path) -> dict[str, tuple[str, int | None]]:
    """mutant name -> (mutated file, exit code), from mutmut's per-file ``.meta`` records."""
    found: dict[str, tuple[str, int | None]] = {}
    for meta in (workdir / "mutants").rglob("*.py.meta"):
        source = str(meta.relative_to(workdir / "mutants"))[: -len(".meta")]
        for mutant, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            found[mutant] = (source, code)
    return found


# One process for all of a target's diffs: ``mutmut show`` per mutant costs a second or more each.
_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant
names = json.load(sys.stdin)
json.dump({n: get_diff_for_mutant(n, path=find_mutant(n).path) for n in names}, sys.stdout)
"""


def _diffs(workdir: Path, mutants: list[str]) -> dict[str, str]:
    shown = subprocess.run(
        [sys.executable, "-c", _DIFFS], cwd=workdir, input=json.dumps(mutants), capture_output=True, text=True
    )
    if shown.returncode != 0:
        raise SystemExit(f"reading the survivors' diffs failed in {workdir}:\n{shown.stderr[-3000:]}")
    diffs: dict[str, str] = json.loads(shown.stdout)
    return diffs


def _change(diff: str) -> tuple[str, str]:
    """The line a mutant removed and the line it added, whitespace-normalised."""
    removed: list[str] = []
    added: list[str] = []
    for line in diff.splitlines():
        matched = _CHANGED.match(line)
        if matched:
            (removed if matched.group(1) == "-" else added).append(" ".join(matched.group(2).split()))
    return "\n".join(removed), "\n".join(added)


def _normalised(text: str) -> str:
    return "\n".join(" ".join(line.split()) for line in text.strip().splitlines())


def _equivalents() -> set[tuple[str, str, str]]:
    """(module, line before, line after) of every justified mutant, whitespace-normalised once."""
    if not EQUIVALENT.exists():
        return set()
    entries = tomllib.loads(EQUIVALENT.read_text()).get("equivalent", [])
    for entry in entries:
        missing = {"module", "before", "after", "why"} - entry.keys()
        if missing:
            raise SystemExit(f"{EQUIVALENT}: an entry lacks {sorted(missing)}: {entry}")
    return {(e["module"], _normalised(e["before"]), _normalised(e["after"])) for e in entries}


@dataclass
class Score:
    target: str
    mutants: int = 0
    killed: int = 0
    equivalent: int = 0
    seconds: float = 0.0
    survivors: tuple[tuple[str, str, str], ...] = ()  # (mutant, module, diff)

    @property
    def score(self) -> float:
        judged = self.mutants - self.equivalent
        return self.killed / judged if judged else 1.0


def run_target(name: str, jobs: int, equivalents: set[tuple[str, str, str]], *, rerun: bool = True) -> Score:
    started = time.monotonic()
    workdir = SCRATCH / name
    log = workdir / "mutmut.log"
    code = 0
    if rerun:
        _prepare(workdir, TARGETS[name])
        with log.open("w") as out:
            code = subprocess.run(
                [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)],
                cwd=workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            ).returncode
    results = _results(workdir)
    if code != 0 or not results:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"mutmut failed on target {name} (exit {code}); end of {log}:\n{tail}")
    score = Score(name, mutants=len(results), seconds=time.monotonic() - started)
    score.killed = sum(1 for _, exit_code in results.values() if exit_code in KILLED)
    diffs = _diffs(workdir, sorted(m for m, (_, exit_code) in results.items() if exit_code not in KILLED))
    survivors = []
    for mutant, diff in diffs.items():
        module = results[mutant][0]
        if (module, *_change(diff)) in equivalents:
            score.equivalent += 1
        else:
            survivors.append((mutant, module, diff))
    score.survivors = tuple(survivors)
    return score


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="mutants run at once")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="report the last run's results again (after editing mutation/equivalent.toml) without running mutmut",
    )
    args = parser.parse_args(argv)
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; the targets are: {', '.join(TARGETS)}")
    equivalents = _equivalents()
    scores = []
    for name in args.targets or list(TARGETS):
        print(f"== {name}: mutating {', '.join(TARGETS[name].mutate)}", flush=True)
        score = run_target(name, args.jobs, equivalents, rerun=not args.report_only)
        for mutant, _, diff in score.survivors:
            print(f"-- survived: {mutant}\n{diff.strip()}\n")
        scores.append(score)
    print(f"\n{'target':<12} {'mutants':>8} {'killed':>7} {'equiv.':>7} {'survived':>9} {'score':>7} {'time':>7}")
    for s in scores:
        survived = len(s.survivors)
        print(
            f"{s.target:<12} {s.mutants:>8} {s.killed:>7} {s.equivalent:>7} {survived:>9}"
            f" {s.score:>7.1%} {s.seconds / 60:>6.1f}m"
        )
    failing = [s.target for s in scores if s.survivors or s.score < GOAL]
    if failing:
        print(f"unjustified survivors or a score under {GOAL:.0%}: {', '.join(failing)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
