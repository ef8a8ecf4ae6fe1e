"""Nested resource inputs are typed: mypy refuses a misspelled key at any depth.

Pulumi passes a bare dict through to the provider, which drops an unknown key silently (a
misspelled `metric_name` inside a WAF rule used to pass every test and deploy a rule without
metrics). The components build nested inputs with the SDK's `...Args` classes instead. This test
proves that the type checker actually guards them: in a copy of the program it misspells one
keyword of a nested `...Args(...)` call in every component that has one, and expects mypy to
reject each file. A component that goes back to dicts (or to `Any`) makes its mutant pass mypy.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.harness import ROOT

# Components whose resources take nested inputs; each must hold at least one typed nested input.
COMPONENTS_WITH_NESTED_INPUTS = {
    "api_gateway.py", "api_service.py", "bucket.py", "data_plane.py", "database.py", "image.py",
    "load_balancer.py", "pipeline.py", "vpc.py", "waf.py",
}  # fmt: skip


def _nested_args_keyword(source: str) -> tuple[int, int, str] | None:
    """(line, column, keyword) of the first keyword of an `...Args(...)` call that is itself an
    argument of another call: the depth at which a bare dict used to go unchecked."""
    tree = ast.parse(source)
    for outer in ast.walk(tree):
        if not isinstance(outer, ast.Call):
            continue
        for argument in [*outer.args, *(k.value for k in outer.keywords)]:
            for inner in ast.walk(argument):
                if (
                    isinstance(inner, ast.Call)
                    and ast.unparse(inner.func).split(".")[-1].endswith("Args")
                    and inner.keywords
                    and inner.keywords[0].arg
                ):
                    keyword = inner.keywords[0]
                    return keyword.lineno, keyword.col_offset, str(keyword.arg)
    return None


def test_mypy_rejects_a_misspelled_nested_key_in_every_component(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", ".local", "*cache*", "__pycache__"))
    mutated: dict[str, str] = {}
    for name in sorted(COMPONENTS_WITH_NESTED_INPUTS):
        path = copy / "components" / name
        source = path.read_text(encoding="utf-8")
        found = _nested_args_keyword(source)
        assert found, f"components/{name} builds no nested input with an ...Args class"
        line, column, keyword = found
        lines = source.splitlines(keepends=True)
        assert lines[line - 1][column:].startswith(f"{keyword}=")
        lines[line - 1] = lines[line - 1][:column] + f"{keyword}_typo" + lines[line - 1][column + len(keyword) :]
        path.write_text("".join(lines), encoding="utf-8")
        mutated[name] = f"{keyword}_typo"
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "components", "--cache-dir", str(tmp_path / "mypy-cache")],
        cwd=copy, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    for name, keyword in mutated.items():
        rejected = [line for line in done.stdout.splitlines() if line.startswith(f"components/{name}:")]
        assert any(f'"{keyword}"' in line for line in rejected), f"mypy let {keyword} through in {name}"
