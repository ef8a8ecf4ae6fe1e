"""Every test tier stands alone: it imports its own modules and tests/support, never another tier's.

A tier that reaches into another's folder breaks when that tier moves a helper, and runs code the
other tier's conftest set up only by accident of collection order.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
SUPPORT = "support"
# Written out, not read from the Makefile: a tier dropped from TIERS, or a folder that is not one, fails.
TIERS = {"lock", "infra", "scoring", "functions", "api", "policy", "security", "e2e"}


def _top_level_names(folder: Path) -> set[str]:
    """What a bare import could resolve to inside `folder`: its modules and packages."""
    names = {path.stem for path in folder.glob("*.py")}
    names |= {path.parent.name for path in folder.glob("*/__init__.py")}
    return names


def _other_tiers_names(own: str) -> set[str]:
    """Bare names that would resolve into another tier: pytest puts a tier's folder (or, for a
    package tier, tests/) on sys.path, so `harness` or `api.utils` can import across tiers.
    Names the repository root also provides (`functions`, `policy`) resolve there instead."""
    names: set[str] = set()
    for tier in TIERS - {own}:
        folder = TESTS / tier
        names |= _top_level_names(folder)
        if (folder / "__init__.py").exists():
            names.add(tier)
    return names - _top_level_names(ROOT) - {path.name for path in ROOT.iterdir() if path.is_dir()}


def cross_tier_imports(relative: str, source: str) -> list[str]:
    """The imports in tests/`relative` (e.g. "e2e/conftest.py") that leave its own tier and tests/support."""
    own = relative.split("/")[0]
    foreign = _other_tiers_names(own) - _top_level_names(TESTS / own)
    allowed = {own, SUPPORT}
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys":
            found.append(f"line {node.lineno}: sys.path edited (import by package path instead)")
            continue
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from tests import api` names the tier in the imported names, not in the module.
            modules = [f"tests.{alias.name}" for alias in node.names] if node.module == "tests" else [node.module]
        elif isinstance(node, ast.ImportFrom):
            # A relative import may climb out of its tier only through tests/, which is no package.
            depth = len(relative.split("/")) - 1
            if node.level > depth:
                found.append(f"line {node.lineno}: relative import above tests/{own}")
            continue
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] == "tests" and len(parts) > 1 and parts[1] not in allowed:
                found.append(f"line {node.lineno}: {module}")
            elif parts[0] in foreign:
                found.append(f"line {node.lineno}: {module} (a module of another tier)")
    return found


def _test_files() -> list[Path]:
    return sorted(path for path in TESTS.rglob("*.py") if "__pycache__" not in path.parts)


def test_makefile_runs_every_tier_and_support_is_not_one() -> None:
    # GIVEN the Makefile's TIERS and the folders under tests/
    tiers = re.search(r"^TIERS := (.+)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
    folders = {path.name for path in TESTS.iterdir() if path.is_dir() and path.name != "__pycache__"}
    # THEN make test runs every tier, and tests/support is a folder but no tier
    assert tiers is not None
    assert set(tiers.group(1).split()) == TIERS
    assert folders == TIERS | {SUPPORT}
    assert (TESTS / SUPPORT / "__init__.py").exists()
    assert not list((TESTS / SUPPORT).glob("test_*.py")), "tests/support holds helpers, not tests"


@pytest.mark.parametrize("path", _test_files(), ids=lambda path: str(path.relative_to(TESTS)))
def test_no_tier_imports_another_tiers_modules(path: Path) -> None:
    relative = path.relative_to(TESTS).as_posix()
    assert "/" in relative, f"tests/{relative} belongs to no tier: move it into one, or into tests/support"
    assert cross_tier_imports(relative, path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("relative", "source"),
    [
        ("e2e/conftest.py", "from tests.api.utils import write_test_model"),
        ("security/conftest.py", "from tests.e2e import raw_http"),
        ("e2e/x/test_y.py", "from tests import api"),
        ("policy/conftest.py", "from handler_support import TABLE"),
        ("scoring/test_x.py", "import e2e.support"),
        ("support/raw_http.py", "from tests.e2e.support import gateway"),
        ("policy/conftest.py", "import sys\nsys.path.insert(0, 'tests/infra')"),
        ("api/core/test_x.py", "from ...e2e import support"),
    ],
)
def test_cross_tier_import_is_found(relative: str, source: str) -> None:
    assert len(cross_tier_imports(relative, source)) == 1


@pytest.mark.parametrize(
    ("relative", "source"),
    [
        ("e2e/conftest.py", "from tests.support.api_app import write_test_model"),
        ("api/routes/test_x.py", "from tests.api.utils import transaction\nfrom . import test_score"),
        ("functions/test_x.py", "from handler_support import TABLE\nfrom functions.processor import handler"),
        ("policy/test_x.py", "from policy.pci_rules import POLICIES\nfrom tests.support.harness import ROOT"),
    ],
)
def test_own_tier_and_support_imports_pass(relative: str, source: str) -> None:
    assert cross_tier_imports(relative, source) == []


def test_tier_runner_orders_each_tier_by_a_seed_it_reports(tmp_path: Path) -> None:
    # GIVEN a stand-in for python that echoes the pytest command it was given and fails
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\necho "ran: $*"\necho "1 failed in 0.01s"\nexit 1\n', encoding="utf-8")
    fake.chmod(0o755)
    # WHEN the tier runner runs a tier with a given seed
    result = subprocess.run(
        [sys.executable, "scripts/test_tiers.py", "--seed", "4242", str(fake), "lock"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    # THEN pytest got that seed, and the summary names it with the command that repeats the order
    assert result.returncode == 1
    assert "-p randomly --randomly-seed=4242 tests/lock" in result.stdout
    assert "lock       FAILED (exit 1)  1 failed in" in result.stdout
    assert "(seed 4242)" in result.stdout
    assert "make test-lock SEED=4242" in result.stdout
