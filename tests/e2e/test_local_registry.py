"""Local mode serves the model promoted in its registry folder, on both paths, without a restart."""

from __future__ import annotations

from fraud_local.config import REGISTRY_DIR
from fraud_local.stack import LocalStack, StackHandles
from fraud_scoring.promote import main as promote_main
from fraud_scoring.registry import local_registry, publish
from tests.e2e.support import gateway, transaction, wait_for, wait_scored
from tests.support.api_app import MODEL_VERSION, amount_model_artifact


def test_promotion_in_the_state_folder_reaches_fraud_api_and_the_analyzer(
    local_stack: LocalStack, handles: StackHandles
) -> None:
    # GIVEN local mode serving the test model, and a model that declines everything published
    # in its registry folder
    root = str(local_stack.state_dir / REGISTRY_DIR)
    store, _ = local_registry(root)
    publish(store, amount_model_artifact("local-v2", leaves=(3.0, 3.0, 3.0)), {"version": "local-v2"})
    with gateway(handles) as api:
        first = api.post("/api/v1/score", json=transaction(amount="42.50")).json()
        assert (first["modelVersion"], first["decision"]) == (MODEL_VERSION, "approve")
        # WHEN an operator promotes it with the CLI
        assert promote_main(["--local", root, "--version", "local-v2"]) == 0

        # THEN, without a restart, the real-time path decides with it ...
        def realtime() -> dict[str, str] | None:
            decided: dict[str, str] = api.post("/api/v1/score", json=transaction(amount="42.50")).json()
            return decided if decided["modelVersion"] == "local-v2" else None

        assert wait_for(realtime)["decision"] == "decline"

        # ... and so does the ingestion path's analyzer
        def ingested() -> dict[str, str] | None:
            body = transaction(amount="42.50")
            assert api.post("/transactions", json=body).status_code == 201
            view: dict[str, str] = wait_scored(api, body["transactionId"])
            return view if view["modelVersion"] == "local-v2" else None

        assert wait_for(ingested)["decision"] == "decline"
        # WHEN the operator rolls back THEN the test model shipped with local mode serves again
        assert promote_main(["--local", root, "--rollback"]) == 0

        def shipped_again() -> dict[str, str] | None:
            decided: dict[str, str] = api.post("/api/v1/score", json=transaction(amount="42.50")).json()
            return decided if decided["modelVersion"] == MODEL_VERSION else None

        assert wait_for(shipped_again)["decision"] == "approve"
