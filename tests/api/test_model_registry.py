"""fraud-api follows the model registry's pointer without a restart, and refuses a corrupt artifact."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient
from moto import mock_aws

from fraud_api.app.core.config import Settings
from fraud_api.app.runtime import Runtime
from fraud_scoring import Scorer, ScoreResult
from fraud_scoring.registry import (
    MODEL_REFUSED_MESSAGE,
    PointerValue,
    S3Store,
    SsmPointer,
    clear_shadow,
    local_registry,
    local_shadow_pointer,
    promote,
    publish,
    set_shadow,
)
from tests.api.utils import query, running_app, transaction
from tests.support.api_app import amount_model_artifact, make_settings

CARD = {"version": "test"}
WAIT_S = 30.0
"""How long a test waits for the background refresh (MODEL_REFRESH_S is 1 s): generous for a loaded machine."""


def _eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.1)


def _score(client: TestClient) -> dict[str, str]:
    # 42.50: approved by the default test model (leaf -3), declined by the all-decline one (leaf 3).
    response = client.post("/api/v1/score", json=transaction(amount="42.50"))
    assert response.status_code == 200
    result: dict[str, str] = response.json()
    return result


def test_score_follows_promotion_refuses_corrupt_and_rolls_back(
    settings: Settings, model_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a local registry with v1 (approves 42.50) promoted and v2 (declines everything) published
    root = tmp_path / "registry"
    store, pointer = local_registry(root)
    publish(store, amount_model_artifact("reg-v1"), CARD)
    publish(store, amount_model_artifact("reg-v2", leaves=(3.0, 3.0, 3.0)), CARD)
    promote(store, pointer, "reg-v1")
    assert settings.DATABASE_URL is not None
    registry_settings = make_settings(
        settings.DATABASE_URL.get_secret_value(), model_path, MODEL_REGISTRY_DIR=root, MODEL_REFRESH_S=1.0
    )
    with running_app(registry_settings) as client:
        # WHEN the service starts THEN the promoted version serves from the first request
        first = _score(client)
        assert (first["modelVersion"], first["decision"]) == ("reg-v1", "approve")

        # WHEN v2 is promoted THEN, without a restart, decisions come from v2 and record it
        promote(store, pointer, "reg-v2")
        _eventually(lambda: _score(client)["modelVersion"] == "reg-v2")
        switched = _score(client)
        assert switched["decision"] == "decline"
        stored = query(
            settings.DATABASE_URL.get_secret_value(),
            "SELECT model_version FROM transactions WHERE transaction_id = %s",
            (switched["transactionId"],),
        )
        assert stored == [("reg-v2",)]

        # WHEN the pointer names a corrupt artifact THEN it is refused (logged) and v2 keeps serving
        corrupt = root / "models" / "reg-v3" / "model.json"
        corrupt.parent.mkdir(parents=True)
        corrupt.write_text(json.dumps(amount_model_artifact("reg-v3"))[:-25], encoding="utf-8")
        pointer.write(PointerValue("reg-v3", "reg-v2", None))

        def refused() -> bool:
            _score(client)  # a request is what starts a due refresh
            return any(r.message == MODEL_REFUSED_MESSAGE for r in caplog.records)

        with caplog.at_level(logging.ERROR, logger="fraud_scoring.registry"):
            _eventually(refused)
        assert _score(client)["modelVersion"] == "reg-v2"
        refusals = [r for r in caplog.records if r.message == MODEL_REFUSED_MESSAGE]
        assert refusals[0].refused_version == "reg-v3"  # type: ignore[attr-defined]

        # WHEN an operator rolls back to v1 THEN v1 serves again
        pointer.write(PointerValue("reg-v1", "reg-v2", None))
        _eventually(lambda: _score(client)["modelVersion"] == "reg-v1")
        assert _score(client)["decision"] == "approve"


def test_runtime_serves_the_version_promoted_in_s3_and_ssm(
    settings: Settings, model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN, in moto, a models bucket holding reg-v1 and the stack's pointer naming it
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    assert settings.DATABASE_URL is not None
    with mock_aws():
        s3, ssm = boto3.client("s3", region_name="us-east-2"), boto3.client("ssm", region_name="us-east-2")
        s3.create_bucket(Bucket="models", CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
        unset = PointerValue(None, None, None).to_json()
        ssm.put_parameter(Name="/fraud-detection/test/model/promoted", Type="String", Value=unset)
        store, pointer = S3Store("models", s3), SsmPointer("/fraud-detection/test/model/promoted", ssm)
        publish(store, amount_model_artifact("reg-v1"), CARD)
        promote(store, pointer, "reg-v1")
        # WHEN fraud-api's runtime is built with the bucket and the parameter (as the task definition sets them)
        runtime = Runtime.build(
            make_settings(
                settings.DATABASE_URL.get_secret_value(),
                model_path,
                MODEL_BUCKET="models",
                MODEL_POINTER_PARAMETER="/fraud-detection/test/model/promoted",
                AWS_REGION="us-east-2",
            )
        )
        # THEN it scores with the promoted version, not the one at MODEL_PATH
        assert runtime.scorer().model_version == "reg-v1"


def _stored_shadow(database_url: str, transaction_id: str) -> list[tuple[object, ...]]:
    return query(
        database_url,
        "SELECT decision, model_version, round(shadow_score::numeric, 4), shadow_model_version"
        " FROM transactions WHERE transaction_id = %s",
        (transaction_id,),
    )


def test_shadow_scores_beside_the_decision_never_changing_it_and_stops_when_cleared(
    settings: Settings, model_path: Path, tmp_path: Path
) -> None:
    # GIVEN reg-v1 (approves 42.50) promoted and reg-v2 (declines everything, score 0.9526) in shadow
    root = tmp_path / "registry"
    store, pointer = local_registry(root)
    shadow = local_shadow_pointer(root)
    publish(store, amount_model_artifact("reg-v1"), CARD)
    publish(store, amount_model_artifact("reg-v2", leaves=(3.0, 3.0, 3.0)), CARD)
    promote(store, pointer, "reg-v1")
    set_shadow(store, shadow, "reg-v2")
    assert settings.DATABASE_URL is not None
    url = settings.DATABASE_URL.get_secret_value()
    registry_settings = make_settings(url, model_path, MODEL_REGISTRY_DIR=root, MODEL_REFRESH_S=1.0)
    with running_app(registry_settings) as client:
        # WHEN a transaction is scored
        response = client.post("/api/v1/score", json=transaction(amount="42.50"))
        # THEN the answer is reg-v1's approval alone, and the row holds the shadow's score and version beside it
        assert response.status_code == 200
        body = response.json()
        assert (body["decision"], body["modelVersion"]) == ("approve", "reg-v1")
        assert not [key for key in body if "shadow" in key.lower()]
        assert _stored_shadow(url, body["transactionId"]) == [("approve", "reg-v1", Decimal("0.9526"), "reg-v2")]

        # WHEN the shadow is cleared THEN, without a restart, new rows carry no shadow score
        clear_shadow(shadow)
        _eventually(lambda: _stored_shadow(url, _score(client)["transactionId"])[0][2:] == (None, None))


class _FailingScorer(Scorer):
    def score_features(self, *_: object, **__: object) -> ScoreResult:
        raise RuntimeError("shadow model broke")


def test_failing_shadow_never_fails_the_request_and_is_logged_and_counted(
    settings: Settings, model_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a running service whose shadow scorer raises
    assert settings.DATABASE_URL is not None
    url = settings.DATABASE_URL.get_secret_value()
    with running_app(make_settings(url, model_path)) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        failing = _FailingScorer.load(model_path)
        runtime.service.shadow_scorer = lambda: failing
        # WHEN a transaction is scored
        with caplog.at_level(logging.ERROR, logger="fraud_api.app.scoring"):
            response = client.post("/api/v1/score", json=transaction(amount="42.50"))
        # THEN the live decision is answered and stored, without a shadow score
        assert response.status_code == 200
        assert response.json()["decision"] == "approve"
        assert _stored_shadow(url, response.json()["transactionId"])[0][2:] == (None, None)
        # AND the failure is logged with the shadow version and counted as a ShadowFailures metric
        failures = [r for r in caplog.records if r.message == "shadow scoring failed"]
        assert [r.shadow_model_version for r in failures] == [failing.model_version]  # type: ignore[attr-defined]
        lines = [json.loads(line) for line in runtime.metrics.lines(0)]
        shadow_lines = [line for line in lines if "ShadowFailures" in line]
        assert [(line["ShadowModelVersion"], line["ShadowFailures"]) for line in shadow_lines] == [
            (failing.model_version, 1)
        ]
