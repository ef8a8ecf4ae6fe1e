"""Cold start of each Lambda handler with the project-built runtime layer, and the layer's size.

Run from the repository root: ``.venv/bin/python benchmarks/lambda_layer.py`` (``make bench``).

Each figure is the median wall time of a fresh interpreter that imports one handler module the way
Lambda's Init does: ``python -S`` (no virtualenv site-packages), the function's own files copied
from its package (``/var/task``) and the layer's ``python/`` folder (``/opt/python``) on the path,
``PYTHONDONTWRITEBYTECODE`` (both are read-only in Lambda), the tracer on as in Lambda. Variants:

* layer: the layer as the stack ships it (byte-compiled, unchecked-hash .pyc);
* layer, no .pyc: the same packages without bytecode, as a layer built without compiling (the
  AWS-managed Powertools layer plus the runtime's boto3 is the same code; whether its files carry
  .pyc decides which of the two lines it is closer to);
* virtualenv: the development setup (site-packages with warm .pyc), for reference.

The floor is ``python -S -c pass`` in the same rounds; ratios are against it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import LAMBDA_ENV as PIPELINE_LAMBDA_ENV  # noqa: E402
from components.lambda_package import layer_folder, source_files  # noqa: E402
from components.pipeline import PACKAGES, SCORING_TRAINING_MODULES  # noqa: E402

RUNS = 7
# The pipeline benchmark's Lambda environment, plus what the reporter needs at import and the
# read-only code folders of Lambda (no .pyc written).
LAMBDA_ENV = {
    **PIPELINE_LAMBDA_ENV,
    "REPORTS_BUCKET": "s3-reports-bench",
    "REPORTS_KMS_KEY_ARN": "arn:aws:kms:us-east-2:123456789012:key/bench",
    # The drift job checks at import that it can find the promoted model (fraud_common/env.py).
    "MODEL_BUCKET": "s3-models-bench",
    "MODEL_POINTER_PARAMETER": "/fraud-detection/bench/model/promoted",
    "LOG_LEVEL": "INFO",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def _seconds(command: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode:
        # A cold start that fails (a variable the function now requires, a missing module) says why.
        raise SystemExit(f"{' '.join(command[1:])} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def _task_root(fn: str, into: Path) -> Path:
    """The function's package as its zip holds it (sources only, no bytecode)."""
    target = into / f"task-{fn}"
    for name in source_files(PACKAGES[fn], exclude=SCORING_TRAINING_MODULES):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)
    return target


def _size(folder: Path, scratch: Path) -> tuple[float, float]:
    archive = scratch / "layer.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                zipped.write(file, file.relative_to(folder).as_posix())
    unzipped = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return archive.stat().st_size / 2**20, unzipped / 2**20


def main() -> None:
    layer = layer_folder()
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        bare = scratch / "layer-no-pyc"
        shutil.copytree(layer, bare, ignore=shutil.ignore_patterns("__pycache__"))
        zipped, unzipped = _size(layer, scratch)
        print(f"layer {layer.name}: {zipped:.1f} MiB zipped, {unzipped:.1f} MiB unzipped (limits 50 / 250 MB)")
        base_env = {"PATH": os.environ.get("PATH", ""), **LAMBDA_ENV}
        variants: dict[str, tuple[list[str], dict[str, str], Path]] = {
            "floor: python -S -c pass": ([python, "-S", "-c", "pass"], base_env, scratch)
        }
        for fn in PACKAGES:
            task = _task_root(fn, scratch)
            statement = ["-c", f"import functions.{fn}.handler"]
            for label, folder in (("layer", layer), ("layer, no .pyc", bare)):
                env = {**base_env, "PYTHONPATH": f"{task}{os.pathsep}{folder / 'python'}"}
                variants[f"{fn}: {label}"] = ([python, "-S", *statement], env, task)
            venv_env = {**base_env, "PYTHONPATH": str(ROOT)}
            venv_env.pop("PYTHONDONTWRITEBYTECODE")
            variants[f"{fn}: virtualenv"] = ([python, *statement], venv_env, ROOT)
        for command, env, cwd in variants.values():  # warm the OS file cache once
            _seconds(command, env, cwd)
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(RUNS):  # interleaved rounds: background load affects every variant alike
            for name, (command, env, cwd) in variants.items():
                samples[name].append(_seconds(command, env, cwd))
    median = {name: statistics.median(values) for name, values in samples.items()}
    floor = median["floor: python -S -c pass"]
    print(f"fresh-interpreter import of each handler, median of {RUNS} (tracer on, as Lambda's Init):")
    for name, seconds in median.items():
        print(f"  {name:<30} {seconds * 1000:7.1f} ms   x{seconds / floor:5.1f} of the floor")


if __name__ == "__main__":
    main()
