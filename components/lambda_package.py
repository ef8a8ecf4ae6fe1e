"""Lambda code packages: exactly the source files a function imports, nothing else.

The archive mirrors the repository layout (`functions/<name>/handler.py`, `fraud_common/`, ...), so
the handler string and the imports are the same in tests and in Lambda. Tests, caches and training
code stay out: a smaller package is a faster cold start and a smaller attack surface.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pulumi

ROOT = Path(__file__).resolve().parents[1]
INCLUDED_SUFFIXES = (".py", ".json")
EXCLUDED_PARTS = frozenset({"__pycache__", "tests", ".mypy_cache", ".pytest_cache"})


def source_files(paths: Sequence[str], *, exclude: Iterable[str] = ()) -> list[str]:
    """Repository-relative files under `paths` (files or folders), sorted, minus `exclude`."""
    excluded = set(exclude)
    files: set[str] = set()
    for path in paths:
        target = ROOT / path
        if not target.exists():
            raise FileNotFoundError(f"Lambda package source {path!r} does not exist under {ROOT}")
        candidates = [target] if target.is_file() else target.rglob("*")
        for file in candidates:
            relative = file.relative_to(ROOT)
            if (
                file.is_file()
                and file.suffix in INCLUDED_SUFFIXES
                and not EXCLUDED_PARTS.intersection(relative.parts)
                and relative.as_posix() not in excluded
            ):
                files.add(relative.as_posix())
    return sorted(files)


def code_archive(paths: Sequence[str], *, exclude: Iterable[str] = ()) -> pulumi.AssetArchive:
    return pulumi.AssetArchive(
        {name: pulumi.FileAsset(str(ROOT / name)) for name in source_files(paths, exclude=exclude)}
    )
