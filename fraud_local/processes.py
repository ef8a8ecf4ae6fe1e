"""Child processes of local mode: start with a log file, wait until ready, stop without orphans.

Each part that runs Lambda or service code is its own process, as in AWS, where every function
has its own runtime and its own environment variables: the gateway (processor), the poller
(analyzer), the reporter, fraud-api and moto. Children run in their own session, so a Ctrl-C in
the terminal reaches only the parent, which then stops them in order. A child whose parent dies
without stopping it (SIGKILL) notices and exits by itself (``exit_with_parent``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

PARENT_PID_VARIABLE = "FRAUD_LOCAL_PARENT_PID"
READY_FILE_VARIABLE = "FRAUD_LOCAL_READY_FILE"
STOP_TIMEOUT_S = 10.0
_ROOT = Path(__file__).resolve().parents[1]


def base_environment() -> dict[str, str]:
    """What any child needs to start, and nothing else: in particular none of the caller's AWS
    settings, which must never point a local process at a real account."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "XDG_RUNTIME_DIR", "VIRTUAL_ENV")
    return {name: os.environ[name] for name in keep if name in os.environ}


class ChildFailed(RuntimeError):
    """A child exited or did not become ready; the message ends with the tail of its log."""


class Child:
    """One child process whose stdout and stderr go to ``log_path`` (appended).

    ``probe`` tells when it is ready (default: it touched its ready file); ``restart()`` starts
    the same command again with the same environment (the supervisor, after it died).
    """

    def __init__(
        self,
        name: str,
        args: list[str],
        env: Mapping[str, str],
        log_path: Path,
        probe: Callable[[], bool] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.ready_file = log_path.with_suffix(".ready")
        self.probe = probe
        self._args = args
        self._env = {
            **base_environment(),
            **env,
            PARENT_PID_VARIABLE: str(os.getpid()),
            READY_FILE_VARIABLE: str(self.ready_file),
            "PYTHONPATH": str(_ROOT),
            "PYTHONUNBUFFERED": "1",
        }
        self.process = self._popen()

    def _popen(self) -> subprocess.Popen[bytes]:
        self.ready_file.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, *self._args],
                cwd=_ROOT,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def restart(self, timeout: float = 60.0) -> None:
        """Start the command again (after it exited) and wait until it is ready."""
        self.stop()
        self.process = self._popen()
        self.wait_ready(timeout=timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the child's probe is true (without one: it touched its ready file); raises
        ``ChildFailed`` if the child exits first or the time runs out."""
        check = self.probe or self.ready_file.exists
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ChildFailed(f"{self.name} exited with code {self.process.returncode}{self.log_tail()}")
            if check():
                return
            time.sleep(0.05)
        raise ChildFailed(f"{self.name} was not ready after {timeout:.0f} s{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            tail = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"\n--- last lines of {self.log_path} ---\n" + "\n".join(tail)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; always reaps the process."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.ready_file.unlink(missing_ok=True)


def http_probe(url: str) -> Callable[[], bool]:
    """A readiness probe: true once ``url`` answers 2xx."""

    def probe() -> bool:
        try:
            return httpx.get(url, timeout=1.0).is_success
        except httpx.HTTPError:
            return False

    return probe


def tcp_probe(url: str) -> Callable[[], bool]:
    """A readiness probe: true once ``url`` answers HTTP at all (any status)."""

    def probe() -> bool:
        try:
            httpx.get(url, timeout=1.0)
        except httpx.HTTPError:
            return False
        return True

    return probe


# --- child side ------------------------------------------------------------------------------------


def exit_with_parent(on_exit: Callable[[], None] | None = None, interval: float = 0.5) -> None:
    """Start a daemon thread that ends this child when its parent is gone (no orphans).

    ``on_exit`` asks for a graceful stop first; a hard exit follows if it does not end the process.
    """
    parent = int(os.environ.get(PARENT_PID_VARIABLE, "0") or 0)
    if not parent:
        return

    def watch() -> None:
        while _alive(parent) and os.getppid() == parent:
            time.sleep(interval)
        if on_exit is not None:
            on_exit()
            time.sleep(STOP_TIMEOUT_S / 2)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_ready() -> None:
    """Tell the parent this child is ready (children without an HTTP endpoint)."""
    path = os.environ.get(READY_FILE_VARIABLE)
    if path:
        Path(path).touch()


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGTERM and SIGINT (the parent's stop, or a Ctrl-C when run by hand)."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop())
