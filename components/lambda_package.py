"""Lambda code packages: exactly the source files a function imports, nothing else.

The archive mirrors the repository layout (`functions/<name>/handler.py`, `fraud_common/`, ...), so
the handler string and the imports are the same in tests and in Lambda. Tests, caches and training
code stay out: a smaller package is a faster cold start and a smaller attack surface.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
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


# --- the runtime layer ------------------------------------------------------------------------
# The Lambda runtime libraries (aws-lambda-powertools[tracer], boto3 and their closure) ship as one
# project-built layer installed from functions/requirements.txt, the hash-pinned export of the lock's
# `lambda` group: the functions run exactly the versions the tests ran. boto3/botocore are in it too,
# so the runtime's own (updated by AWS without notice) never stands in for the locked release.
LAYER_REQUIREMENTS = ROOT / "functions" / "requirements.txt"
BUILD_ROOT = ROOT / ".build"
# The functions' runtime and architecture: CPython 3.11 on Graviton (arm64). Lambda adds a layer's
# python/ folder to sys.path (Lambda developer guide, python-layers.html: "Your .zip file must
# include a python directory at the root level").
LAYER_PYTHON_VERSION = "3.11"
LAYER_PLATFORM = "aarch64-manylinux2014"
_LAYER_INSTALL_OPTIONS = (
    "--python-platform",
    LAYER_PLATFORM,
    "--python-version",
    LAYER_PYTHON_VERSION,
    "--only-binary",
    ":all:",  # wheels only: nothing is compiled on the deployer's machine for the wrong platform
    "--require-hashes",  # every file is the one the lock recorded
    "--no-deps",  # the requirements file is the whole closure already
    "--no-config",
)
# Bump when the recipe changes in a way the options above do not show; the folder name changes with it.
_LAYER_RECIPE = "2"


class LayerBuildError(RuntimeError):
    """The layer could not be built (uv missing, the package index unreachable, a hash mismatch)."""


def _uv() -> str:
    """The uv that installed the program's virtualenv (the `uv` package of the lock), else uv on PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise LayerBuildError("uv is needed to build the Lambda layer: run `make install`") from None
        return found


def layer_folder(requirements: Path = LAYER_REQUIREMENTS, build_root: Path = BUILD_ROOT) -> Path:
    """The layer's content (`python/...`), built once per requirements file and recipe.

    The folder is named by the hash of what it is built from, so every later run (each `pulumi
    preview`, each program run of the test tiers) reuses it without touching the package index;
    it is built under a temporary name and renamed when complete, so a half-built folder is never
    reused. The modules are byte-compiled for CPython 3.11 with unchecked-hash .pyc files: the layer
    is read-only in Lambda, so without them every cold start would compile every imported module.
    """
    target = layer_build_path(requirements, build_root)
    if target.is_dir():
        return target
    build_root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=build_root))
    partial.chmod(0o755)  # mkdtemp makes it private; the folder keeps this mode once renamed
    try:
        _run(
            [
                _uv(),
                "pip",
                "install",
                "--quiet",
                "--target",
                str(partial / "python"),
                *_LAYER_INSTALL_OPTIONS,
                "-r",
                str(requirements),
            ],
        )
        if sys.implementation.cache_tag == "cpython-311":
            _run(
                [
                    sys.executable,
                    "-m",
                    "compileall",
                    "-q",
                    "-j",
                    "0",
                    "--invalidation-mode",
                    "unchecked-hash",
                    str(partial / "python"),
                ],
            )
        try:
            partial.rename(target)
        except OSError:
            if not target.is_dir():  # another process finished the same build first: use its folder
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def layer_build_path(requirements: Path, build_root: Path) -> Path:
    """`<build_root>/layer-<hash>`: the hash of the requirements file and of the build recipe."""
    recipe = "\0".join((_LAYER_RECIPE, *_LAYER_INSTALL_OPTIONS, sys.implementation.cache_tag))
    digest = hashlib.sha256(requirements.read_bytes() + recipe.encode()).hexdigest()[:16]
    return build_root / f"layer-{digest}"


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LayerBuildError(f"building the Lambda layer failed: {' '.join(command)}\n{result.stderr[-4000:]}")


def layer_archive(requirements: Path = LAYER_REQUIREMENTS) -> pulumi.FileArchive:
    return pulumi.FileArchive(str(layer_folder(requirements)))
