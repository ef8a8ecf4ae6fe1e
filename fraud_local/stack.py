"""``LocalStack``: starts and stops every part of local mode, as one object (CLI, tests, benchmark).

Start order (each part needs the ones before it): ports and the state folder's lock are checked
before anything starts; then moto and PostgreSQL; the AWS resources; fraud-api, the poller and
the gateway. ``stop()`` goes the other way. moto keeps AWS state in memory, so the table, the
stream, the buckets, the secret and the queue are new on every start (seeded with the same keys);
PostgreSQL data, the keys, the logs and the report copies stay in the state folder.

``supervise()`` (the CLI calls it every second) restarts a part that died: PostgreSQL (fraud-api
reconnects by itself), fraud-api, the poller or the gateway, and says so. moto is the exception:
its AWS data lives in its memory, so a new moto would serve an empty account; its death, or a
part that keeps dying (``MAX_RESTARTS`` within ``RESTART_WINDOW_S``), stops local mode instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from fraud_local.aws import Resources, aws_environment, failure_messages, function_environment, provision
from fraud_local.config import (
    DEFAULT_STATE_DIR,
    HOST,
    LOCK_FILE,
    MODEL_REFRESH_S,
    REGISTRY_DIR,
    RUN_FILE,
    LocalNames,
    Ports,
    load_or_create_secrets,
    write_private_json,
)
from fraud_local.postgres import LocalPostgres
from fraud_local.processes import Child, ChildFailed, http_probe, tcp_probe
from fraud_local.reporter import ReportResult, run_report
from fraud_local.traces import SAMPLE_RATE, traces_path

MAX_RESTARTS = 3
RESTART_WINDOW_S = 60.0
POSTGRES = "PostgreSQL"
UNRESTARTABLE = frozenset({"moto"})


class AlreadyRunning(RuntimeError):
    """Another local mode holds this state folder."""


class PartFailed(RuntimeError):
    """A part died and cannot be brought back (the message says which and why)."""


@dataclass(frozen=True)
class StackHandles:
    """Where everything is, once started (also what ``run.json`` records, minus the API key)."""

    state_dir: Path
    gateway_url: str
    api_url: str
    aws_endpoint: str
    database_uri: str
    resources: Resources
    api_key: str = field(repr=False)
    first_run: bool = False
    model_path: str | None = None

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"


class LocalStack:
    """Local mode's parts, started and stopped together."""

    def __init__(
        self,
        state_dir: Path = DEFAULT_STATE_DIR,
        ports: Ports | None = None,
        *,
        api_key: str | None = None,
        model_path: str | None = None,
        batching_window_s: float = 1.0,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.ports = ports or Ports()
        self._api_key = api_key
        self._model_path = model_path
        self._batching_window_s = batching_window_s
        self._lock: IO[str] | None = None
        self._children: list[Child] = []
        self._postgres: LocalPostgres | None = None
        self._restarts: dict[str, list[float]] = {}
        self.handles: StackHandles | None = None

    # --- start / stop ------------------------------------------------------------------------

    def start(self) -> StackHandles:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            ports = self.ports.resolve()
            secrets, created = load_or_create_secrets(self.state_dir, self._api_key)
            logs = self.state_dir / "logs"
            logs.mkdir(exist_ok=True)
            endpoint = f"http://{HOST}:{ports.aws}"
            moto = self._spawn(
                "moto",
                ["-m", "fraud_local.servers", "moto", "--port", str(ports.aws)],
                {},
                tcp_probe(f"{endpoint}/moto-api/"),
            )
            self._postgres = LocalPostgres(self.state_dir / "postgres")
            database_uri = self._postgres.start()
            moto.wait_ready()
            resources = provision(endpoint, LocalNames.derive(), secrets)
            handles = StackHandles(
                state_dir=self.state_dir,
                gateway_url=f"http://{HOST}:{ports.gateway}",
                api_url=f"http://{HOST}:{ports.api}",
                aws_endpoint=endpoint,
                database_uri=database_uri,
                resources=resources,
                api_key=secrets.api_key,
                first_run=created,
                model_path=self._model_path,
            )
            # The three remaining parts only need what exists by now: they start side by side.
            api = self._spawn(
                "fraud-api",
                ["-m", "fraud_local.servers", "api", "--port", str(ports.api)],
                self._api_env(handles),
                http_probe(f"{handles.api_url}/api/ready"),
            )
            poller = self._spawn("poller", ["-m", "fraud_local.poller"], self._poller_env(handles))
            gateway = self._spawn(
                "gateway",
                ["-m", "fraud_local.gateway"],
                self._gateway_env(handles, ports),
                tcp_probe(handles.gateway_url),
            )
            for child in (api, poller, gateway):
                child.wait_ready()
            self._write_run_file(handles)
        except BaseException:
            self.stop()
            raise
        self.handles = handles
        return handles

    def stop(self) -> None:
        """Stop every part in the reverse order of the start; safe to call more than once."""
        errors: list[BaseException] = []
        for child in reversed(self._children):
            try:
                child.stop()
            except Exception as exc:  # keep stopping the others; report at the end
                errors.append(exc)
        self._children.clear()
        if self._postgres is not None:
            try:
                self._postgres.stop()
            except Exception as exc:
                errors.append(exc)
            self._postgres = None
        if self._lock is not None:  # only the holder of the lock owns the run file
            (self.state_dir / RUN_FILE).unlink(missing_ok=True)
        self._release_lock()
        self.handles = None
        if errors:
            raise RuntimeError(f"stopping local mode: {errors[0]}") from errors[0]

    def __enter__(self) -> StackHandles:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def supervise(self) -> list[str]:
        """Restart every part found dead; return one line per restart, for the console.

        Raises ``PartFailed`` when a part cannot be restarted (moto, or one that keeps dying).
        """
        self._require()
        done = []
        if self._postgres is not None and not self._postgres.running():
            self._count_restart(POSTGRES)
            started = time.monotonic()
            self._postgres.restart()
            done.append(
                f"{POSTGRES} stopped unexpectedly; restarted it in {time.monotonic() - started:.1f} s "
                f"(its log: {self._postgres.data_dir}/log); fraud-api reconnects by itself."
            )
        for child in self._children:
            if child.alive():
                continue
            code = child.process.returncode
            if child.name in UNRESTARTABLE:
                raise PartFailed(
                    f"{child.name} stopped unexpectedly (exit code {code}); its AWS data was in its memory, "
                    f"so local mode stops. See {child.log_path}."
                )
            self._count_restart(child.name)
            started = time.monotonic()
            try:
                child.restart()
            except ChildFailed as exc:
                raise PartFailed(f"{child.name} stopped unexpectedly and could not be restarted: {exc}") from exc
            done.append(
                f"{child.name} stopped unexpectedly (exit code {code}); restarted it in "
                f"{time.monotonic() - started:.1f} s (its log: {child.log_path})."
            )
        return done

    def _count_restart(self, name: str) -> None:
        """Refuse a restart loop: a part that dies again and again needs a person, not a supervisor."""
        now = time.monotonic()
        recent = [t for t in self._restarts.get(name, []) if now - t < RESTART_WINDOW_S]
        if len(recent) >= MAX_RESTARTS:
            raise PartFailed(
                f"{name} stopped unexpectedly {len(recent) + 1} times within {RESTART_WINDOW_S:.0f} s; "
                f"local mode stops. See {self.state_dir / 'logs'}/."
            )
        self._restarts[name] = [*recent, now]

    # --- operations on a running stack -------------------------------------------------------

    def run_report(self, day: date | None = None) -> ReportResult:
        return run_report_for(self._require(), day)

    def failure_messages(self) -> list[dict[str, Any]]:
        handles = self._require()
        return failure_messages(handles.aws_endpoint, handles.resources.failure_queue_url)

    # --- internals ---------------------------------------------------------------------------

    def _require(self) -> StackHandles:
        if self.handles is None:
            raise RuntimeError("local mode is not started")
        return self.handles

    def _spawn(self, name: str, args: list[str], env: dict[str, str], probe: Callable[[], bool] | None = None) -> Child:
        child = Child(name, args, env, self.state_dir / "logs" / f"{name}.log", probe)
        self._children.append(child)
        return child

    def _api_env(self, h: StackHandles) -> dict[str, str]:
        env = {
            **aws_environment(h.aws_endpoint),
            "FRAUD_API_ENVIRONMENT": "local",
            "FRAUD_API_DATABASE_URL": h.database_uri,
            "FRAUD_API_DB_SSLMODE": "disable",  # a Unix socket: nothing travels over a network
            # One secret for both paths: the processor and fraud-api hash cards with the same key.
            "FRAUD_API_API_CONFIG_SECRET_ARN": h.resources.api_config_secret_arn,
            "FRAUD_API_AWS_ENDPOINT_URL": h.aws_endpoint,
            "FRAUD_API_AWS_REGION": aws_environment(h.aws_endpoint)["AWS_REGION"],
            # Spans to a file an operator reads with `python -m fraud_local traces` (no collector).
            "FRAUD_API_TRACE_EXPORTER": "file",
            "FRAUD_API_TRACE_FILE": str(traces_path(self.state_dir)),
            "FRAUD_API_TRACE_SAMPLE_RATE": SAMPLE_RATE,
            "FRAUD_API_MODEL_REGISTRY_DIR": str(self.state_dir / REGISTRY_DIR),
            "FRAUD_API_MODEL_REFRESH_S": MODEL_REFRESH_S,
        }
        if h.model_path:
            env["FRAUD_API_MODEL_PATH"] = h.model_path
        return env

    def _poller_env(self, h: StackHandles) -> dict[str, str]:
        return {
            **aws_environment(h.aws_endpoint),
            **function_environment(
                "analyzer", h.resources, model_path=h.model_path, registry_dir=str(self.state_dir / REGISTRY_DIR)
            ),
            "FRAUD_LOCAL_STREAM_ARN": h.resources.stream_arn,
            "FRAUD_LOCAL_FAILURE_QUEUE_URL": h.resources.failure_queue_url,
            "FRAUD_LOCAL_FUNCTION_ARN": h.resources.analyzer_function_arn,
            "FRAUD_LOCAL_BATCHING_WINDOW_S": str(self._batching_window_s),
        }

    def _gateway_env(self, h: StackHandles, ports: Ports) -> dict[str, str]:
        return {
            **aws_environment(h.aws_endpoint),
            **function_environment("processor", h.resources),
            "FRAUD_LOCAL_PROCESSOR_NAME": LocalNames.function("processor"),
            "FRAUD_LOCAL_API_KEY": h.api_key,
            "FRAUD_LOCAL_API_URL": h.api_url,
            "FRAUD_LOCAL_GATEWAY_PORT": str(ports.gateway),
        }

    def _acquire_lock(self) -> None:
        handle = (self.state_dir / LOCK_FILE).open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise already_running(self.state_dir) from None
        self._lock = handle

    def _release_lock(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def _write_run_file(self, h: StackHandles) -> None:
        write_private_json(
            self.state_dir / RUN_FILE,
            {
                "pid": os.getpid(),
                "startedAt": datetime.now(tz=UTC).isoformat(timespec="seconds"),
                "gatewayUrl": h.gateway_url,
                "apiUrl": h.api_url,
                "awsEndpoint": h.aws_endpoint,
                "databaseUri": h.database_uri,
                "modelPath": h.model_path,
                "resources": h.resources.as_dict(),
            },
        )


def already_running(state_dir: Path) -> AlreadyRunning:
    running = read_run_file(state_dir)
    who = f" (pid {running['pid']}, {running['gatewayUrl']})" if running else ""
    return AlreadyRunning(
        f"local mode is already running with the state folder {state_dir.resolve()}{who}; "
        "stop it first (Ctrl-C in its terminal), or use another --state-dir"
    )


def read_run_file(state_dir: Path) -> dict[str, Any] | None:
    path = state_dir / RUN_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def attach(state_dir: Path) -> StackHandles | None:
    """The handles of a local mode already running on ``state_dir`` (another process), or None."""
    state_dir = state_dir.resolve()
    running = read_run_file(state_dir)
    if running is None:
        return None
    # A run file whose lock nobody holds was left by a run that died: nothing is running.
    with (state_dir / LOCK_FILE).open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None
    secrets, _ = load_or_create_secrets(state_dir)
    return StackHandles(
        state_dir=state_dir,
        gateway_url=running["gatewayUrl"],
        api_url=running["apiUrl"],
        aws_endpoint=running["awsEndpoint"],
        database_uri=running["databaseUri"],
        resources=Resources.from_dict(running["resources"]),
        api_key=secrets.api_key,
        model_path=running.get("modelPath"),
    )


def run_report_for(handles: StackHandles, day: date | None = None) -> ReportResult:
    return run_report(handles.aws_endpoint, handles.resources, handles.state_dir, day)
