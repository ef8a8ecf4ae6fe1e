"""Local mode's life cycle: the CLI's first run and Ctrl-C, a second run on the same state folder,
a state folder in use, and a port in use."""

from __future__ import annotations

import queue
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from fraud_local.__main__ import main
from fraud_local.config import RUN_FILE, SECRETS_FILE, PortInUse, Ports, probe_port
from fraud_local.stack import AlreadyRunning, LocalStack
from tests.e2e.conftest import FREE_PORTS
from tests.e2e.support import gateway, transaction, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _postgres_pid(state_dir: Path) -> int | None:
    pid_file = state_dir / "postgres" / "postmaster.pid"
    return int(pid_file.read_text().splitlines()[0]) if pid_file.exists() else None


class _Output:
    """Collects a process's output lines from a thread, so a test can wait for one of them."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(process,), daemon=True).start()

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def until(self, marker: str, timeout: float) -> str:
        """Everything printed up to and including the line with ``marker``."""
        while True:
            line = self._lines.get(timeout=timeout)
            if line is None:
                raise AssertionError("the process ended first:\n" + "".join(self.seen))
            self.seen.append(line)
            if marker in line:
                return "".join(self.seen)

    def rest(self, timeout: float) -> str:
        """Everything printed until the process closed its output."""
        while (line := self._lines.get(timeout=timeout)) is not None:
            self.seen.append(line)
        return "".join(self.seen)


def _start_cli(state: Path) -> tuple[subprocess.Popen[str], _Output]:
    """`python -m fraud_local` on a new state folder, every port chosen free."""
    command = [sys.executable, "-m", "fraud_local", "--state-dir", str(state)]
    process = subprocess.Popen(
        [*command, "--port", "0", "--api-port", "0", "--aws-port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, _Output(process)


def _banner_handles(banner: str) -> _Handles:
    """The gateway URL and API key the banner prints."""
    url = re.search(r"Gateway \(API\)\s+(http://127\.0\.0\.1:\d+)", banner)
    key = re.search(r"export API_KEY=(\S+)", banner)
    assert url and key, banner
    return _Handles(url.group(1), key.group(1))


def test_cli_first_run_prints_url_key_and_curl_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    # GIVEN `python -m fraud_local` started on a new state folder
    state = tmp_path / "state"
    process, output = _start_cli(state)
    try:
        banner = output.until("Press Ctrl-C to stop.", timeout=120)
        handles = _banner_handles(banner)
        assert "created now" in banner and "curl -s -X POST" in banner and "/api/v1/score" in banner
        # WHEN a transaction is sent as the banner shows, the reporter is run from a second
        # terminal, and then Ctrl-C is pressed
        body = transaction()
        with gateway(handles) as api:
            assert api.post("/transactions", json=body).status_code == 201
        report = subprocess.run(
            [sys.executable, "-m", "fraud_local", "report", "--state-dir", str(state)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        descendants = psutil.Process(process.pid).children(recursive=True)
        postgres = _postgres_pid(state)
        assert len(descendants) == 4 and postgres is not None  # moto, fraud-api, poller, gateway
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        tail = output.rest(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    # THEN the report ran against the running system, and every part is gone
    assert report.returncode == 0, report.stdout + report.stderr
    assert report.stdout.startswith("Report for ") and "s3://s3-reports-local-123456789012/reports/" in report.stdout
    assert process.returncode == 0, tail
    assert "Stopped." in tail
    assert [p.pid for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    # pg_ctl returns once the server has removed its pid file; its last exit steps take a moment.
    wait_for(lambda: not psutil.pid_exists(postgres), timeout=10)
    assert not (state / RUN_FILE).exists()


class _Handles:
    """What ``support.gateway`` reads from the handles of a stack run by another process."""

    def __init__(self, gateway_url: str, api_key: str) -> None:
        self.gateway_url, self.api_key = gateway_url, api_key


def test_stack_second_run_on_the_same_state_folder_reuses_keys_and_postgresql_data(
    tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a first run that scored a transaction on the real-time path
    state = tmp_path / "state"
    first = LocalStack(state, FREE_PORTS, model_path=str(model_path))
    first_handles = first.start()
    try:
        body = transaction()
        with gateway(first_handles) as api:
            assert api.post("/api/v1/score", json=body).status_code == 200
        # WHEN another local mode is started on the same folder while the first runs
        with pytest.raises(AlreadyRunning, match="already running"):
            LocalStack(state, FREE_PORTS).start()
        assert main(["--state-dir", str(state), "--port", "0", "--api-port", "0", "--aws-port", "0"]) == 2
        assert "already running with the state folder" in capsys.readouterr().err
        assert (state / RUN_FILE).exists()  # the refused starts left the running one's file alone
    finally:
        first.stop()
    assert stat.S_IMODE((state / SECRETS_FILE).stat().st_mode) == 0o600
    # WHEN a second run starts after the first stopped
    second = LocalStack(state, FREE_PORTS, model_path=str(model_path))
    handles = second.start()
    try:
        again = transaction(customerId=body["customerId"])
        with gateway(handles) as api:
            assert api.post("/api/v1/score", json=again).status_code == 200
        with psycopg.connect(handles.database_uri) as conn:
            hashes = conn.execute(
                "SELECT transaction_id, card_hash FROM transactions WHERE transaction_id = ANY(%s)",
                ([body["transactionId"], again["transactionId"]],),
            ).fetchall()
    finally:
        second.stop()
    # THEN it found the same API key and the first run's rows, and hashes the same card alike
    assert not handles.first_run and first_handles.first_run
    assert handles.api_key == first_handles.api_key
    assert len(hashes) == 2 and hashes[0][1] == hashes[1][1]


def test_cli_port_in_use_fails_before_starting_anything_and_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a port already taken on 127.0.0.1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        children_before = {p.pid for p in psutil.Process().children(recursive=True)}
        state = tmp_path / "state"
        # WHEN local mode is asked to use it for the gateway
        code = main(["--state-dir", str(state), "--port", str(port), "--api-port", "0", "--aws-port", "0"])
    # THEN it stops at once with a message naming the port and the flag; nothing was started
    assert code == 2
    error = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use" in error and "--port <port>" in error
    assert not (state / "postgres").exists() and not (state / "logs").exists()
    assert {p.pid for p in psutil.Process().children(recursive=True)} == children_before
    assert not (state / RUN_FILE).exists()


def test_ports_resolve_same_port_for_two_parts_is_refused() -> None:
    # A port the OS just handed out, not a fixed one another process may hold (which would fail
    # as "in use" before the duplicate is noticed).
    port = probe_port(0, "--port")
    with pytest.raises(PortInUse, match="given twice; --api-port needs a port of its own"):
        Ports(gateway=port, api=port, aws=0).resolve()


def _scores(api: httpx.Client) -> bool:
    return api.post("/api/v1/score", json=transaction()).status_code == 200


def _child_running(process: subprocess.Popen[str], module_arg: str) -> psutil.Process:
    for child in psutil.Process(process.pid).children():
        if module_arg in child.cmdline():
            return child
    raise AssertionError(f"no child process running {module_arg}")


def test_cli_restarts_a_killed_postgresql_and_a_killed_part_and_says_so(tmp_path: Path) -> None:
    # GIVEN local mode running from the CLI, serving the real-time path
    state = tmp_path / "state"
    process, output = _start_cli(state)
    try:
        banner = output.until("Press Ctrl-C to stop.", timeout=120)
        handles = _banner_handles(banner)
        with gateway(handles) as api:
            assert _scores(api)
            # WHEN its PostgreSQL is killed (SIGKILL: no shutdown, crash recovery on the next start)
            killed = _postgres_pid(state)
            assert killed is not None
            psutil.Process(killed).kill()
            # THEN local mode notices, restarts it and says so, and the API serves again
            said = output.until("PostgreSQL stopped unexpectedly; restarted it", timeout=30)
            assert _postgres_pid(state) not in (None, killed)
            wait_for(lambda: _scores(api), timeout=30)
            # WHEN fraud-api itself is killed THEN it is restarted too, and serves
            api_process = _child_running(process, "api")
            api_process.kill()
            said = output.until("fraud-api stopped unexpectedly (exit code -9); restarted it", timeout=60)
            wait_for(lambda: _scores(api), timeout=30)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        tail = output.rest(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    # AND local mode kept running until Ctrl-C, then stopped normally
    assert process.returncode == 0, tail
    assert "fraud-api reconnects by itself" in said and "Stopped." in tail
