"""Secrets Manager rotation of the API configuration secret (the four-step contract).

* ``createSecret``: unless the version ``token`` already exists as AWSPENDING (a retry), store a
  copy of AWSCURRENT with a new ``signingKey`` as AWSPENDING under ``token``. Thresholds,
  ``panHashKeys``, ``panHashKeyVersion`` and any other key are kept: a new card-hash key would
  split every card's history (see ``fraud_common.api_config``).
* ``setSecret``: nothing to do. The signing key lives only in this secret; no external system
  holds a copy that would need updating.
* ``testSecret``: the pending value must parse (``parse_api_configuration``) and keep every
  card-hash key of the current value.
* ``finishSecret``: move AWSCURRENT to ``token`` (Secrets Manager moves AWSPREVIOUS along);
  a no-op if it is already there.

Every step is idempotent, because Secrets Manager retries failed steps.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from fraud_common.api_config import parse_api_configuration
from functions.common.aws import client, error_code
from functions.common.observability import logger

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"
SIGNING_KEY_BYTES = 48
"""48 random bytes -> 64 URL-safe characters, the length the data plane seeds."""


class RotationError(RuntimeError):
    """The rotation request is invalid or a step's check failed (Secrets Manager retries it)."""


def rotated_configuration(current: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``current`` with a fresh signing key; everything else unchanged."""
    return {**current, "signingKey": secrets.token_urlsafe(SIGNING_KEY_BYTES)}


def _value(secret_id: str, **version: str) -> str:
    response = client("secretsmanager").get_secret_value(SecretId=secret_id, **version)
    value = response.get("SecretString")
    if not isinstance(value, str):
        raise RotationError("the secret has no SecretString")
    return value


def check_request(secret_id: str, token: str) -> bool:
    """Validate the rotation request; False when ``token`` is already AWSCURRENT (nothing to do)."""
    metadata = client("secretsmanager").describe_secret(SecretId=secret_id)
    if not metadata.get("RotationEnabled"):
        raise RotationError("rotation is not enabled on the secret")
    stages = metadata.get("VersionIdsToStages", {})
    if token not in stages:
        raise RotationError("the rotation token is not a version of the secret")
    if CURRENT in stages[token]:
        return False
    if PENDING not in stages[token]:
        raise RotationError("the rotation token's version is not AWSPENDING")
    return True


def create_secret(secret_id: str, token: str) -> None:
    current = _value(secret_id, VersionStage=CURRENT)
    try:
        _value(secret_id, VersionId=token, VersionStage=PENDING)
        logger.info("createSecret: pending version already exists")
        return
    except Exception as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    try:
        data = json.loads(current)
    except ValueError:
        raise RotationError("the current secret value is not JSON") from None
    if not isinstance(data, dict):
        raise RotationError("the current secret value is not a JSON object")
    pending = json.dumps(rotated_configuration(data))
    parse_api_configuration(pending)  # refuse to stage a value the services could not load
    client("secretsmanager").put_secret_value(
        SecretId=secret_id, ClientRequestToken=token, SecretString=pending, VersionStages=[PENDING]
    )
    logger.info("createSecret: pending version stored")


def set_secret(secret_id: str, token: str) -> None:  # noqa: ARG001 (same signature as the other steps)
    logger.info("setSecret: no external system to update")


def test_secret(secret_id: str, token: str) -> None:
    pending = parse_api_configuration(_value(secret_id, VersionId=token, VersionStage=PENDING))
    current = parse_api_configuration(_value(secret_id, VersionStage=CURRENT))
    lost = sorted(v for v in current.pan_hash_keys if pending.pan_hash_keys.get(v) != current.pan_hash_keys[v])
    if lost:
        raise RotationError(f"pending value drops or changes card-hash key version(s) {lost}")
    logger.info("testSecret: pending version is valid")


def finish_secret(secret_id: str, token: str) -> None:
    metadata = client("secretsmanager").describe_secret(SecretId=secret_id)
    current_version = next(
        (version for version, stages in metadata.get("VersionIdsToStages", {}).items() if CURRENT in stages), None
    )
    if current_version == token:
        logger.info("finishSecret: already current")
        return
    client("secretsmanager").update_secret_version_stage(
        SecretId=secret_id, VersionStage=CURRENT, MoveToVersionId=token, RemoveFromVersionId=current_version
    )
    logger.info("finishSecret: pending version is now current")


_STEP_FUNCTIONS = {
    "createSecret": create_secret,
    "setSecret": set_secret,
    "testSecret": test_secret,
    "finishSecret": finish_secret,
}


def rotate(event: Mapping[str, Any]) -> None:
    """Run the step named in a Secrets Manager rotation event."""
    secret_id, token, step = event.get("SecretId"), event.get("ClientRequestToken"), event.get("Step")
    if not isinstance(secret_id, str) or not isinstance(token, str) or step not in _STEP_FUNCTIONS:
        raise RotationError(f"not a rotation event: Step must be one of {', '.join(STEPS)}")
    logger.append_keys(rotation_step=step)
    if not check_request(secret_id, token):
        logger.info("version is already AWSCURRENT; nothing to do")
        return
    _STEP_FUNCTIONS[step](secret_id, token)
