"""Local mode settings: physical names, ports, and the state folder with its persistent secrets.

Names come from the same ``Namer`` the Pulumi components use, with the environment suffix
``local`` and moto's account id, so a local table or bucket is named exactly as a deployed one of
a stack called "local" would be.

The state folder (default ``.local/``) keeps what must survive a restart: the PostgreSQL data
directory, the logs, copies of the reports, and ``local.json`` (mode 0600) with the local API key
and the two keys seeded into the API configuration secret. Keeping the card-hash key means the
card hashes already stored in PostgreSQL still match the cards of a later run.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.naming import Kind, Namer

HOST = "127.0.0.1"
"""Every local server listens here only (PostgreSQL listens on a Unix socket, not even TCP)."""
LOCAL_SUFFIX = "local"
MOTO_ACCOUNT_ID = "123456789012"
"""The account id moto answers with; names that must be globally unique end with it."""
REGION = "us-east-2"
"""Any region works with moto; nothing in the code depends on this one."""
DEFAULT_STATE_DIR = Path(".local")
DEFAULT_GATEWAY_PORT = 8080
DEFAULT_API_PORT = 8081
DEFAULT_AWS_PORT = 8082
SECRETS_FILE = "local.json"
RUN_FILE = "run.json"
LOCK_FILE = "lock"
REGISTRY_DIR = "registry"
"""The local model registry under the state folder (fraud_scoring.registry: models/, promoted.json);
a directory, not moto's S3 and SSM, so promotions outlive a restart. Promote with
``python -m fraud_scoring.promote --local .local/registry --version V``."""
LAST_DEMO_FILE = "last-demo.json"
"""The last demo's traffic options (seed, transactions, days, labels): ``retrain`` replays that traffic."""
MODEL_REFRESH_S = "5"
"""Locally a promotion shows within seconds (each read is one small file), not AWS's 60 s."""
API_KEY_ID = "local-api-key"
# API Gateway accepts API key values of 20 to 128 characters.
_API_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
_KEY_CHARS = 64
_API_KEY_CHARS = 40  # the length of the keys API Gateway generates
_NAMER = Namer(LOCAL_SUFFIX, MOTO_ACCOUNT_ID)


@dataclass(frozen=True)
class LocalNames:
    """Physical names of the AWS resources local mode creates in moto."""

    table: str
    reports_bucket: str
    api_config_secret: str
    failure_queue: str
    data_key_alias: str

    @staticmethod
    def function(function: str) -> str:
        """The Lambda function name of ``function`` ("processor", "analyzer", "reporter")."""
        return _NAMER.name(Kind.FUNCTION, function)

    @classmethod
    def derive(cls) -> LocalNames:
        namer = _NAMER
        return cls(
            table=namer.name(Kind.TABLE, "transactions"),
            reports_bucket=namer.name(Kind.BUCKET, "reports"),
            api_config_secret=namer.name(Kind.SECRET, "api-config"),
            failure_queue=namer.name(Kind.QUEUE, "analyzer-failures"),
            data_key_alias=namer.name(Kind.KMS_ALIAS, "data"),
        )


class PortInUse(RuntimeError):
    """A port local mode needs is taken; the message names the port and the flag that moves it."""


@dataclass(frozen=True)
class Ports:
    """TCP ports on 127.0.0.1; 0 means "any free port" (tests)."""

    gateway: int = DEFAULT_GATEWAY_PORT
    api: int = DEFAULT_API_PORT
    aws: int = DEFAULT_AWS_PORT

    def resolve(self) -> Ports:
        """Check every fixed port is free and pick free ones for 0; raises ``PortInUse``.

        Called before anything starts, so a taken port costs nothing to fix. A port picked for 0
        could in principle be taken again before its server binds it; the server's start-up
        check then reports it.
        """
        chosen: dict[str, int] = {}
        for part, port in (("gateway", self.gateway), ("api", self.api), ("aws", self.aws)):
            if port and port in chosen.values():
                raise PortInUse(f"port {port} is given twice; {_FLAGS[part]} needs a port of its own")
            chosen[part] = probe_port(port, _FLAGS[part])
        return Ports(**chosen)


_FLAGS = {"gateway": "--port", "api": "--api-port", "aws": "--aws-port"}


def probe_port(port: int, flag: str) -> int:
    """Bind ``port`` on 127.0.0.1 once to prove it is free (0: let the OS pick one); returns it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers themselves do: a port left in TIME_WAIT by a previous run is reusable.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUse(
                    f"port {port} on {HOST} is already in use (or not allowed); stop what uses it, "
                    f"or choose another port with {flag} <port>"
                ) from None
            raise
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LocalSecrets:
    """The local API key and the keys seeded into the API configuration secret."""

    api_key: str
    signing_key: str
    pan_hash_key: str

    def __repr__(self) -> str:
        return "LocalSecrets(***)"


def validate_api_key(value: str) -> str:
    if not _API_KEY_RE.match(value):
        raise ValueError("--api-key must be 20-128 characters of A-Z, a-z, 0-9, '-' or '_' (as API Gateway requires)")
    return value


def _new_key(length: int = _KEY_CHARS) -> str:
    # Letters and digits only, like the seeded RandomPassword(special=False) of the data plane.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def write_private_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` to ``path`` readable by the owner only (0600), replacing it atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
    tmp.chmod(0o600)  # O_CREAT's mode does not apply to a leftover tmp file
    tmp.replace(path)


def load_or_create_secrets(state_dir: Path, api_key: str | None = None) -> tuple[LocalSecrets, bool]:
    """The state folder's secrets, created on first use; ``api_key`` replaces the stored key.

    Returns the secrets and whether they were created now.
    """
    path = state_dir / SECRETS_FILE
    created = not path.exists()
    stored: dict[str, Any] = {} if created else json.loads(path.read_text(encoding="utf-8"))
    values = {
        "apiKey": api_key or stored.get("apiKey") or _new_key(_API_KEY_CHARS),
        "signingKey": stored.get("signingKey") or _new_key(),
        "panHashKey": stored.get("panHashKey") or _new_key(),
    }
    validate_api_key(values["apiKey"])
    if values != {k: stored.get(k) for k in values} or (path.stat().st_mode & 0o077):
        write_private_json(path, {"version": 1, **values})
    return LocalSecrets(values["apiKey"], values["signingKey"], values["panHashKey"]), created
