"""The Lambda runtime layer, built for real from functions/requirements.txt (the lock's `lambda` group).

One build per session into a temporary folder (uv installs the arm64 wheels; the package index is
reachable from CI); the program's own build in `.build/` is reused by every program run.
"""

from __future__ import annotations

import re
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from components import lambda_package
from components.lambda_package import layer_build_path, layer_folder
from tests.support.harness import ROOT

# Lambda's limits for a layer uploaded directly (not through S3): 50 MB zipped, and 250 MB unzipped
# for a function with all its layers (Lambda developer guide, gettingstarted-limits.html).
DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024
UNZIPPED_LIMIT = 250 * 1024 * 1024


def _locked_versions() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    return {package["name"]: package["version"] for package in lock["package"] if "version" in package}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503, as uv.lock spells names


def _layer_versions(folder: Path) -> dict[str, str]:
    return {_normalized(d.metadata["Name"]): d.version for d in metadata.distributions(path=[str(folder / "python")])}


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return layer_folder(build_root=tmp_path_factory.mktemp("build"))


def test_layer_ships_the_locked_powertools_and_boto3(built: Path) -> None:
    locked, shipped = _locked_versions(), _layer_versions(built)
    assert shipped["aws-lambda-powertools"] == locked["aws-lambda-powertools"]
    assert shipped["boto3"] == locked["boto3"]
    assert shipped["botocore"] == locked["botocore"]
    # The whole closure the requirements file names, each at its locked version, and nothing else.
    required = {
        _normalized(line.split("==")[0])
        for line in (ROOT / "functions" / "requirements.txt").read_text().splitlines()
        if "==" in line
    }
    assert set(shipped) == required
    assert all(shipped[name] == locked[name] for name in required)


def test_layer_is_built_for_arm64_python_311_with_bytecode(built: Path) -> None:
    python = built / "python"
    # wrapt (X-Ray SDK) is the one compiled extension: it must be the aarch64 build for CPython 3.11.
    extensions = sorted(p.name for p in python.rglob("*.so"))
    assert extensions and all(name.endswith("cpython-311-aarch64-linux-gnu.so") for name in extensions), extensions
    # Byte-compiled: the layer is read-only in Lambda, a missing .pyc is compiled on every cold start.
    assert (python / "aws_lambda_powertools" / "__pycache__" / "__init__.cpython-311.pyc").is_file()
    assert (python / "botocore" / "__pycache__" / "client.cpython-311.pyc").is_file()


def test_layer_fits_the_direct_upload_and_unzipped_limits(built: Path, tmp_path: Path) -> None:
    archive = tmp_path / "layer.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for file in sorted(built.rglob("*")):
            if file.is_file():
                zipped.write(file, file.relative_to(built).as_posix())
    unzipped = sum(f.stat().st_size for f in built.rglob("*") if f.is_file())
    assert archive.stat().st_size < DIRECT_UPLOAD_LIMIT
    assert unzipped < UNZIPPED_LIMIT


def test_layer_build_is_reused_without_running_uv_again(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a completed build / WHEN the same requirements are asked for again (every program run)
    def no_build(command: list[str]) -> None:
        raise AssertionError(f"rebuilt: {command}")

    monkeypatch.setattr(lambda_package, "_run", no_build)
    # THEN the folder is reused as it is
    assert layer_folder(build_root=built.parent) == built


def test_layer_folder_is_named_by_the_requirements_content(built: Path, tmp_path: Path) -> None:
    # A changed lock (re-exported requirements) gets a new folder; the same content, the same folder.
    changed = tmp_path / "requirements.txt"
    changed.write_bytes((ROOT / "functions" / "requirements.txt").read_bytes() + b"\n# changed\n")
    assert layer_build_path(ROOT / "functions" / "requirements.txt", built.parent) == built
    assert layer_build_path(changed, built.parent) != built
    assert layer_build_path(changed, built.parent).name.startswith("layer-")
