"""The checks CI runs are one `pre-commit install` away (README, Contributing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".pre-commit-config.yaml"


def test_pre_commit_config_is_valid_for_pre_commit_itself() -> None:
    checked = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", str(CONFIG)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_hooks_run_ci_checks_with_the_locked_tools() -> None:
    hooks = {hook["id"]: hook for repo in yaml.safe_load(CONFIG.read_text())["repos"] for hook in repo["hooks"]}
    assert {hook_id: hook["entry"] for hook_id, hook in hooks.items()} == {
        "ruff": ".venv/bin/python -m ruff check --force-exclude",
        "ruff-format": ".venv/bin/python -m ruff format --check --force-exclude",
        "lock": ".venv/bin/python -m pytest -q -p no:randomly -p no:cacheprovider tests/lock",
        "mypy": ".venv/bin/python -m mypy .",
    }
    # language: system runs the .venv that `make install` built from uv.lock: no second install
    # with its own versions, and nothing to download when a contributor installs the hooks.
    assert {hook["language"] for hook in hooks.values()} == {"system"}
    assert hooks["mypy"]["pass_filenames"] is False  # whole-program check, as in CI
    assert hooks["lock"]["pass_filenames"] is False
