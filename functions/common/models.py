"""The model registry a function follows, as its environment names it (``fraud_scoring.registry``)."""

from __future__ import annotations

import os

from fraud_common import env
from fraud_scoring.registry import Pointer, S3Store, SsmPointer, Store, local_registry
from functions.common.aws import client


def registry_from_environment() -> tuple[Store, Pointer] | None:
    """MODEL_REGISTRY_DIR (local mode), else MODEL_BUCKET + MODEL_POINTER_PARAMETER (both required
    once either is set), else None: the function serves the model shipped in its package."""
    local = os.environ.get(env.MODEL_REGISTRY_DIR, "").strip()
    if local:
        return local_registry(local)
    if os.environ.get(env.MODEL_BUCKET, "").strip() or os.environ.get(env.MODEL_POINTER_PARAMETER, "").strip():
        return S3Store(env.require(env.MODEL_BUCKET), client("s3")), SsmPointer(
            env.require(env.MODEL_POINTER_PARAMETER), client("ssm")
        )
    return None
