"""The fraud-api image definition (no Docker daemon here: checked statically, never built)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shlex
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "fraud_api" / "Dockerfile"
REQUIREMENTS = ROOT / "fraud_api" / "requirements.txt"
IGNORE = ROOT / "fraud_api" / "Dockerfile.dockerignore"
IMAGE_ENVIRONMENT = {
    "python_version": "3.11",
    "python_full_version": "3.11.9",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "platform_machine": "x86_64",
    "extra": "",
}
FIRST_PARTY = {"fraud_api", "fraud_common", "fraud_scoring"}


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    return instructions[last_from:]


def _pins() -> dict[str, str]:
    """name -> version of what the image installs: the hash-pinned export of uv.lock, whose
    environment markers (the lock is universal) evaluated for CPython 3.11 on Linux."""
    pins: dict[str, str] = {}
    for line in REQUIREMENTS.read_text(encoding="utf-8").replace("\\\n", " ").splitlines():
        spec = line.split("#", 1)[0].split(" --hash=", 1)[0].strip()
        if spec:
            requirement = Requirement(spec)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"unpinned requirement: {spec}"
            if requirement.marker is not None and not requirement.marker.evaluate(IMAGE_ENVIRONMENT):
                continue
            pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    instructions = _instructions()
    froms = [args for key, args in instructions if key == "FROM"]
    assert len(froms) == 2 and froms[0].endswith("AS builder")
    args = dict(a.split("=", 1) for k, a in instructions if k == "ARG" and "=" in a)
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms)
    assert any(k == "COPY" and a.startswith("--from=builder /opt/venv") for k, a in _final_stage())


def test_dockerfile_runs_as_non_root_numeric_user() -> None:
    final = _final_stage()
    users = [(i, a) for i, (k, a) in enumerate(final) if k == "USER"]
    assert users, "final stage has no USER"
    index, user = users[-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000
    # nothing after USER switches back or installs as root
    assert not any(k in ("USER", "RUN", "COPY", "ADD") for k, _ in final[index + 1 :])


def test_dockerfile_read_only_root_filesystem_ready() -> None:
    env = " ".join(a for k, a in _final_stage() if k == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "HOME=/tmp" in env and "TMPDIR=/tmp" in env
    assert any(k == "RUN" and "compileall" in a for k, a in _instructions())


def test_dockerfile_healthcheck_probes_liveness_endpoint() -> None:
    checks = [a for k, a in _final_stage() if k == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "http://127.0.0.1:8000/api/health" in checks[0] and "--timeout=" in checks[0]


def test_dockerfile_cmd_serves_app_with_workers_from_environment() -> None:
    final = _final_stage()
    cmd = [a for k, a in final if k == "CMD"][-1]
    assert cmd.startswith("[")  # exec form: uvicorn is PID 1 and receives SIGTERM
    argv = ast.literal_eval(cmd)
    assert argv[:2] == ["uvicorn", "fraud_api.app.main:app"]
    assert "--workers" not in argv  # uvicorn reads WEB_CONCURRENCY
    assert argv[argv.index("--port") + 1] == "8000"
    assert any(k == "EXPOSE" and a == "8000" for k, a in final)
    assert "WEB_CONCURRENCY=2" in " ".join(a for k, a in final if k == "ENV")


def test_dockerfile_holds_no_secrets() -> None:
    # Credentials come from Secrets Manager at run time (PCI DSS 8.6.2), never from the image.
    for key, args in _instructions():
        if key in ("ENV", "ARG", "LABEL"):
            for token in shlex.split(args):
                name = token.split("=", 1)[0].upper()
                assert not re.search(r"PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE|CREDENTIAL|DATABASE_URL", name), token


def test_dockerfile_copies_the_three_packages_and_ignores_the_rest() -> None:
    copies = " ".join(a for k, a in _instructions() if k == "COPY")
    for package in sorted(FIRST_PARTY):
        assert f"{package}/ {package}/" in copies
    ignore = IGNORE.read_text(encoding="utf-8").splitlines()
    assert ignore[ignore.index("*")] == "*"  # deny by default: no .venv, .git, tests in the context
    assert {"!fraud_api/", "!fraud_common/", "!fraud_scoring/"} <= set(ignore)


def _loaded_first_party_files() -> list[Path]:
    """Source files of the first-party modules the app loads (as uvicorn does in the image)."""
    code = (
        "import sys, fraud_api.app.main, fraud_api.app.runtime;"
        "print(' '.join(m.__file__ for n, m in sys.modules.items()"
        " if n.split('.')[0] in ('fraud_api', 'fraud_common', 'fraud_scoring') and getattr(m, '__file__', None)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [Path(p) for p in out.split()]


def test_requirements_cover_every_third_party_import_of_the_app() -> None:
    # GIVEN every first-party module the app loads
    files = _loaded_first_party_files()
    assert any(f.name == "scorer.py" for f in files) and any(f.name == "transaction.py" for f in files)
    pins = _pins()
    distributions = importlib.metadata.packages_distributions()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for top in {name.split(".")[0] for name in names}:
                if top in sys.stdlib_module_names or top in FIRST_PARTY or top == "__future__":
                    continue
                # THEN each third-party import comes from a distribution the image installs
                owners = {d.lower() for d in distributions.get(top, [top])}
                assert owners & set(pins), f"{path.name} imports {top}, which fraud_api/requirements.txt lacks"


def test_requirements_are_closed_under_their_dependencies() -> None:
    # Every dependency of every pinned distribution (markers evaluated for CPython 3.11 on Linux,
    # like the image) is pinned too: the image installs exactly the versions the tests ran with.
    pins = _pins()
    checked = 0
    for name in pins:
        for line in importlib.metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate(IMAGE_ENVIRONMENT):
                continue
            checked += 1
            assert canonicalize_name(requirement.name) in pins, f"{name} needs {requirement.name}, not pinned"
    assert checked >= 20
