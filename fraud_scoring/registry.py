"""The model registry: versioned artifacts in a store, the promoted version in a pointer.

Layout (shared contract, issue 14): ``models/<version>/model.json`` (the artifact format of
``fraud_scoring.model``), ``models/<version>/card.json`` and ``card.html`` in a store, which is a
versioned KMS-encrypted S3 bucket (``S3Store``) or, locally, a directory (``LocalStore``). The
promoted version is a pointer holding ``{"version": V, "previous": V0 or null, "promotedAt": ISO-8601}``:
an SSM String parameter (``SsmPointer``) or a file (``LocalPointer``). A pointer whose version is
null (the value the stack creates) means "nothing promoted: serve the shipped model". A second
pointer of the same shape names the shadow version: scored beside every live decision and
recorded, never used for it; null (the stack's value) means no shadow.

``ModelWatcher`` is the serving side (``ShadowWatcher`` its shadow twin): fraud-api and the
analyzer ask it for the current scorer; at most every ``refresh_s`` it reads the pointer and,
when the version changed, loads and validates the new artifact and swaps it in. A version that
fails validation is refused (logged at ERROR with the version and the reason, message
``MODEL_REFUSED_MESSAGE``) and the old model keeps serving. Standard library only: boto3 is imported
by the S3/SSM backends, when they are built.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from fraud_scoring.card import render_html
from fraud_scoring.model import ArtifactError, validate_artifact
from fraud_scoring.scorer import Scorer

logger = logging.getLogger(__name__)

MODEL_FILE = "model.json"
CARD_FILE = "card.json"
CARD_HTML_FILE = "card.html"
_CONTENT_TYPES = {
    MODEL_FILE: "application/json",
    CARD_FILE: "application/json",
    CARD_HTML_FILE: "text/html; charset=utf-8",
}
DEFAULT_REFRESH_S = 60.0
MODEL_REFUSED_MESSAGE = "model version refused; keeping the current model"
"""The log line an alarm (metric filter) matches: a promoted artifact failed validation."""
# A version becomes part of an S3 key and a local path: no separators, no leading dot.
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class RegistryError(Exception):
    """A registry operation was refused; the message names what was wrong."""


def check_version(version: object) -> str:
    if not isinstance(version, str) or not _VERSION.match(version):
        raise RegistryError(
            f"model version {version!r} is not valid: 1-128 characters, letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return version


class Store(Protocol):
    """Where artifacts live; ``read`` returns None for a missing object."""

    def read(self, version: str, name: str) -> bytes | None: ...

    def write(self, version: str, name: str, data: bytes) -> None: ...


def _key(version: str, name: str) -> str:
    return f"models/{check_version(version)}/{name}"


class LocalStore:
    """A directory (local mode, tests): ``<root>/models/<version>/<name>``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def read(self, version: str, name: str) -> bytes | None:
        try:
            return (self.root / _key(version, name)).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, version: str, name: str, data: bytes) -> None:
        target = self.root / _key(version, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a file.
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(data)
        partial.replace(target)


class S3Store:
    """The models bucket. Objects are encrypted by the bucket's default SSE-KMS key."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        self.bucket = bucket
        self._client = client if client is not None else _boto3_client("s3")

    def read(self, version: str, name: str) -> bytes | None:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=_key(version, name))
        except Exception as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        data: bytes = response["Body"].read()
        return data

    def write(self, version: str, name: str, data: bytes) -> None:
        self._client.put_object(
            Bucket=self.bucket, Key=_key(version, name), Body=data, ContentType=_CONTENT_TYPES[name]
        )


@dataclass(frozen=True)
class PointerValue:
    version: str | None
    previous: str | None
    promoted_at: str | None

    def to_json(self) -> str:
        return json.dumps({"version": self.version, "previous": self.previous, "promotedAt": self.promoted_at})

    @classmethod
    def parse(cls, text: str, where: str) -> PointerValue:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RegistryError(f"pointer {where} is not JSON: {exc}") from None
        if not isinstance(data, dict) or not {"version", "previous"} <= data.keys():
            raise RegistryError(f'pointer {where} must be {{"version": ..., "previous": ..., "promotedAt": ...}}')
        version, previous = data["version"], data["previous"]
        return cls(
            None if version is None else check_version(version),
            None if previous is None else check_version(previous),
            data.get("promotedAt"),
        )


UNSET = PointerValue(None, None, None)
"""The pointer's value before any promotion (what the stack creates): serve the shipped model."""


class Pointer(Protocol):
    def read(self) -> PointerValue: ...

    def write(self, value: PointerValue) -> None: ...


class LocalPointer:
    """A JSON file; a missing file reads as ``UNSET``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> PointerValue:
        try:
            return PointerValue.parse(self.path.read_text(encoding="utf-8"), str(self.path))
        except FileNotFoundError:
            return UNSET

    def write(self, value: PointerValue) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.partial")
        partial.write_text(value.to_json(), encoding="utf-8")
        partial.replace(self.path)


class SsmPointer:
    """An SSM Parameter Store String parameter (created by the stack, overwritten on promotion)."""

    def __init__(self, name: str, client: Any = None) -> None:
        self.name = name
        self._client = client if client is not None else _boto3_client("ssm")

    def read(self) -> PointerValue:
        response = self._client.get_parameter(Name=self.name)
        return PointerValue.parse(response["Parameter"]["Value"], self.name)

    def write(self, value: PointerValue) -> None:
        self._client.put_parameter(Name=self.name, Value=value.to_json(), Type="String", Overwrite=True)


def local_registry(root: str | Path) -> tuple[LocalStore, LocalPointer]:
    """The store and pointer of a local registry directory (``--local DIR``, local mode)."""
    return LocalStore(root), LocalPointer(Path(root) / "promoted.json")


def local_shadow_pointer(root: str | Path) -> LocalPointer:
    """The shadow pointer of a local registry directory."""
    return LocalPointer(Path(root) / "shadow.json")


def add_location_arguments(parser: argparse.ArgumentParser, *, shadow: bool = False) -> None:
    """The operators' commands' way to name a registry: --bucket + --parameter, or --local DIR.

    ``shadow`` adds --shadow-parameter, the shadow pointer, for the commands that move it.
    """
    parser.add_argument("--bucket", help="the models bucket (stack output models_bucket_name)")
    parser.add_argument("--parameter", help="the SSM pointer parameter (stack output model_pointer_parameter)")
    if shadow:
        parser.add_argument(
            "--shadow-parameter", help="the SSM shadow pointer parameter (stack output model_shadow_parameter)"
        )
    parser.add_argument("--local", metavar="DIR", help="a local registry directory instead of S3 + SSM")


def open_registry(
    parser: argparse.ArgumentParser, args: argparse.Namespace, *, shadow: bool = False
) -> tuple[Store, Pointer]:
    """The store and pointer ``add_location_arguments`` named (the shadow pointer with ``shadow``);
    a usage error (exit 2) otherwise."""
    flag, parameter = ("--shadow-parameter", args.shadow_parameter) if shadow else ("--parameter", args.parameter)
    if args.local is not None:
        if args.bucket or parameter:
            parser.error(f"--local replaces --bucket/{flag}: give one or the other")
        store, pointer = local_registry(args.local)
        return store, local_shadow_pointer(args.local) if shadow else pointer
    missing = [name for name, value in (("--bucket", args.bucket), (flag, parameter)) if not value]
    if missing:
        parser.error(f"missing {' and '.join(missing)} (or --local DIR for a local registry)")
    return S3Store(args.bucket), SsmPointer(parameter)


def _boto3_client(service: str) -> Any:
    import boto3  # only the S3/SSM backends need it: the serving path stays stdlib-only without them

    return boto3.client(service)


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _model_of(artifact: dict[str, Any]) -> bytes:
    """What makes an artifact score as it does: all but when and how it was trained."""
    return _canonical({k: v for k, v in artifact.items() if k not in ("created_at", "training", "metrics")})


def publish(store: Store, artifact: dict[str, Any], card: dict[str, Any]) -> str:
    """Validate ``artifact`` and write it with its card under ``models/<model_version>/``.

    Publishing the same model again is a no-op for the artifact (the card is rewritten), even from
    another training run (its ``created_at``, ``training`` and ``metrics`` differ: a retraining cycle
    on the same window trains the same trees, hence the same version); a different model under an
    existing version is refused, so a version names one model.
    """
    try:
        model = validate_artifact(artifact, "artifact to publish")
    except ArtifactError as exc:
        raise RegistryError(f"refusing to publish an invalid artifact: {exc}") from None
    version = check_version(model.version)
    data = _canonical(artifact)
    existing = store.read(version, MODEL_FILE)
    if existing is not None and _model_of(json.loads(existing)) != _model_of(artifact):
        raise RegistryError(f"version {version} already holds a different artifact; publish under a new version")
    # The card first: a version is visible (model.json present) only once its card is there too.
    store.write(version, CARD_FILE, json.dumps(card, indent=2, sort_keys=True).encode())
    store.write(version, CARD_HTML_FILE, render_html(card).encode())
    if existing is None:
        store.write(version, MODEL_FILE, data)
    return version


def load_scorer(store: Store, version: str) -> Scorer:
    """The validated artifact ``version`` from ``store``; RegistryError when missing, ArtifactError when invalid."""
    data = store.read(version, MODEL_FILE)
    if data is None:
        raise RegistryError(f"version {version} is not in the registry (no {_key(version, MODEL_FILE)})")
    source = _key(version, MODEL_FILE)
    try:
        artifact = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{source} is not valid JSON (corrupt?): {exc}") from None
    model = validate_artifact(artifact, source)
    if model.version != version:
        raise ArtifactError(f"{source} holds model_version {model.version!r}, not {version!r}")
    return Scorer(model)


def promote(store: Store, pointer: Pointer, version: str, now: datetime | None = None) -> PointerValue:
    """Point serving at ``version`` after validating its artifact; the old version becomes ``previous``."""
    return _point_at(store, pointer, version, ("promote", "promoted"), now)


def _point_at(
    store: Store, pointer: Pointer, version: str, verbs: tuple[str, str], now: datetime | None
) -> PointerValue:
    check_version(version)
    try:
        load_scorer(store, version)
    except ArtifactError as exc:
        raise RegistryError(f"refusing to {verbs[0]} {version}: its artifact is invalid: {exc}") from None
    current = pointer.read()
    if current.version == version:
        raise RegistryError(f"version {version} is already {verbs[1]}")
    value = PointerValue(version, current.version, _iso(now))
    pointer.write(value)
    return value


def set_shadow(store: Store, pointer: Pointer, version: str, now: datetime | None = None) -> PointerValue:
    """Score ``version`` in shadow, validated as ``promote`` does; the old shadow version becomes ``previous``."""
    return _point_at(store, pointer, version, ("shadow", "in shadow"), now)


def clear_shadow(pointer: Pointer, now: datetime | None = None) -> PointerValue:
    """Stop shadow scoring; the cleared version becomes ``previous``."""
    current = pointer.read()
    if current.version is None:
        raise RegistryError("no version is in shadow: nothing to clear")
    value = PointerValue(None, current.version, _iso(now))
    pointer.write(value)
    return value


def rollback(pointer: Pointer, now: datetime | None = None) -> PointerValue:
    """Point serving back at the previous version; the current one becomes ``previous``.

    A null ``previous`` is the shipped model (what served before the first promotion), so the
    first promotion can be rolled back too; only an unset pointer has nothing to roll back.
    """
    current = pointer.read()
    if current.version is None and current.previous is None:
        raise RegistryError("nothing to roll back to: no version was ever promoted (the shipped model serves)")
    value = PointerValue(current.previous, current.version, _iso(now))
    pointer.write(value)
    return value


def _iso(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")


class _PointerFollower:
    """The scorer a pointer names, followed at most every ``refresh_s`` seconds; ``unset`` when it names none.

    ``_follow()`` never raises: the pointer is read when a refresh is due, by the caller
    (``refresh_in_background=False``: the analyzer, one batch at a time) or by a background
    thread (fraud-api, whose event loop must not wait on S3). An unreadable pointer or store keeps
    the current model and is retried at the next refresh; a refused version (invalid or missing
    artifact) is not retried, since versions are immutable, until the pointer names another one.
    """

    role = "live"
    """On every log line (``model_role``): which pointer this follows."""

    def __init__(
        self,
        store: Store,
        pointer: Pointer,
        unset: Scorer | None,
        refresh_s: float,
        refresh_in_background: bool,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._pointer = pointer
        self._unset = unset
        self._refresh_s = refresh_s
        self._background = refresh_in_background
        self._clock = clock
        self._lock = threading.Lock()
        self._refused: str | None = None
        self._scorer = unset
        # The first read happens now, so a promoted model serves from the first request.
        self._refresh()

    def _follow(self) -> Scorer | None:
        if self._clock() >= self._next and self._lock.acquire(blocking=False):
            if self._background:
                threading.Thread(target=self._refresh_and_release, name="refresh-model", daemon=True).start()
            else:
                self._refresh_and_release()
        return self._scorer

    def _refresh_and_release(self) -> None:
        try:
            self._refresh()
        finally:
            self._lock.release()

    def _version(self) -> str | None:
        return None if self._scorer is None else self._scorer.model_version

    def _refresh(self) -> None:
        self._next = self._clock() + self._refresh_s
        try:
            version = self._pointer.read().version
        except Exception as exc:
            self._keep("model pointer unreadable", exc)
            return
        if version is None:
            self._switch(self._unset)
            return
        if version in (self._version(), self._refused):
            return
        try:
            scorer = load_scorer(self._store, version)
        except (ArtifactError, RegistryError) as exc:
            self._refused = version
            logger.error(
                MODEL_REFUSED_MESSAGE,
                extra={
                    "refused_version": version,
                    "reason": str(exc),
                    "model_version": self._version(),
                    "model_role": self.role,
                },
            )
            return
        except Exception as exc:
            self._keep("model artifact unreadable", exc)
            return
        self._switch(scorer)

    def _keep(self, what: str, exc: Exception) -> None:
        logger.warning(
            f"{what}; keeping the current model",
            extra={"model_version": self._version(), "model_role": self.role, "error": type(exc).__name__},
        )

    def _switch(self, scorer: Scorer | None) -> None:
        if scorer is self._scorer:
            return
        previous, self._scorer = self._version(), scorer
        logger.info(
            "model switched", extra={"model_version": self._version(), "previous": previous, "model_role": self.role}
        )


class ModelWatcher(_PointerFollower):
    """The scorer serving decisions: the promoted pointer's version, or ``shipped`` (the model packaged
    with the code) while the pointer is unset."""

    def __init__(
        self,
        store: Store,
        pointer: Pointer,
        shipped: Scorer,
        refresh_s: float = DEFAULT_REFRESH_S,
        *,
        refresh_in_background: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(store, pointer, shipped, refresh_s, refresh_in_background, clock)

    def current(self) -> Scorer:
        scorer = self._follow()
        assert scorer is not None  # never unset: the shipped model stands in
        return scorer


class ShadowWatcher(_PointerFollower):
    """The shadow scorer: the shadow pointer's version, or None (no shadow) while it is unset."""

    role = "shadow"

    def __init__(
        self,
        store: Store,
        pointer: Pointer,
        refresh_s: float = DEFAULT_REFRESH_S,
        *,
        refresh_in_background: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(store, pointer, None, refresh_s, refresh_in_background, clock)

    def current(self) -> Scorer | None:
        return self._follow()
