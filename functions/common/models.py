"""The model registry a function follows, as its environment names it (``fraud_scoring.registry``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from fraud_common import env
from fraud_scoring.registry import Pointer, S3Store, SsmPointer, Store, local_registry, local_shadow_pointer
from functions.common.aws import client


@dataclass(frozen=True)
class Registry:
    store: Store
    pointer: Pointer
    """The promoted version."""
    shadow: Pointer | None
    """The version scored in shadow; None when the environment names no shadow pointer."""


def registry_from_environment() -> Registry | None:
    """MODEL_REGISTRY_DIR (local mode), else MODEL_BUCKET + MODEL_POINTER_PARAMETER (both required
    once either is set; MODEL_SHADOW_PARAMETER optional), else None: the shipped model serves."""
    local = os.environ.get(env.MODEL_REGISTRY_DIR, "").strip()
    if local:
        store, pointer = local_registry(local)
        return Registry(store, pointer, local_shadow_pointer(local))
    if os.environ.get(env.MODEL_BUCKET, "").strip() or os.environ.get(env.MODEL_POINTER_PARAMETER, "").strip():
        shadow_parameter = os.environ.get(env.MODEL_SHADOW_PARAMETER, "").strip()
        return Registry(
            S3Store(env.require(env.MODEL_BUCKET), client("s3")),
            SsmPointer(env.require(env.MODEL_POINTER_PARAMETER), client("ssm")),
            SsmPointer(shadow_parameter, client("ssm")) if shadow_parameter else None,
        )
    return None
