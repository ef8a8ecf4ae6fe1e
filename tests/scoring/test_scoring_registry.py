"""The model registry: publish, promote, roll back, the promote CLI, and the watcher that serves the pointer."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fraud_scoring import Scorer
from fraud_scoring.promote import main as promote_main
from fraud_scoring.registry import (
    MODEL_REFUSED_MESSAGE,
    LocalPointer,
    LocalStore,
    ModelWatcher,
    PointerValue,
    RegistryError,
    ShadowWatcher,
    clear_shadow,
    local_registry,
    local_shadow_pointer,
    promote,
    publish,
    rollback,
    set_shadow,
)
from tests.support.api_app import amount_model_artifact

CARD = {"version": "v1", "gate": {"passed": True, "margin": {}, "reasons": ["<b>ok</b>"]}}
NOW = datetime(2026, 12, 7, 5, 0, 0, tzinfo=UTC)


def _registry(tmp_path: Path) -> tuple[LocalStore, LocalPointer]:
    return local_registry(tmp_path / "registry")


def test_publish_writes_artifact_card_and_escaped_page(tmp_path: Path) -> None:
    # GIVEN an empty local registry
    store, _ = _registry(tmp_path)
    # WHEN a valid artifact is published with its card
    version = publish(store, amount_model_artifact("v1"), CARD)
    # THEN the three files sit under models/v1/, the page escapes the card's text
    base = tmp_path / "registry" / "models" / "v1"
    assert version == "v1"
    assert json.loads((base / "model.json").read_text())["model_version"] == "v1"
    assert json.loads((base / "card.json").read_text()) == CARD
    page = (base / "card.html").read_text()
    assert "&lt;b&gt;ok&lt;/b&gt;" in page
    assert "<b>ok</b>" not in page


def test_publish_invalid_artifact_refused_and_nothing_written(tmp_path: Path) -> None:
    # GIVEN an artifact whose tree references a feature index out of range
    store, _ = _registry(tmp_path)
    broken = amount_model_artifact("v1")
    broken["trees"][0]["feature"] = [999, 999]
    # WHEN it is published THEN it is refused, naming the problem, and no file exists
    with pytest.raises(RegistryError, match=r"invalid artifact.*feature index 999 out of range"):
        publish(store, broken, CARD)
    assert not (tmp_path / "registry").exists()


def test_publish_same_version_different_artifact_refused(tmp_path: Path) -> None:
    # GIVEN v1 published
    store, _ = _registry(tmp_path)
    publish(store, amount_model_artifact("v1"), CARD)
    # WHEN the same artifact is published again THEN it is accepted (idempotent)
    assert publish(store, amount_model_artifact("v1"), CARD) == "v1"
    # WHEN a different artifact claims v1 THEN it is refused and the original stays
    with pytest.raises(RegistryError, match="v1 already holds a different artifact"):
        publish(store, amount_model_artifact("v1", leaves=(3.0, 3.0, 3.0)), CARD)
    stored = json.loads((tmp_path / "registry" / "models" / "v1" / "model.json").read_text())
    assert stored["trees"][0]["value"] == [-2.0, 0.0, 3.0]


def test_publish_same_model_from_another_training_run_keeps_the_first_artifact(tmp_path: Path) -> None:
    # GIVEN v1 published by one training run
    store, _ = _registry(tmp_path)
    publish(store, amount_model_artifact("v1"), CARD)
    first = (tmp_path / "registry" / "models" / "v1" / "model.json").read_bytes()
    # WHEN a second run trained the same trees (same version) at another time, on the same window
    again = {**amount_model_artifact("v1"), "created_at": "2026-02-02T00:00:00Z", "training": {"run": 2}}
    assert publish(store, again, {**CARD, "run": 2}) == "v1"
    # THEN the artifact stays as first written, and the card is the second run's
    assert (tmp_path / "registry" / "models" / "v1" / "model.json").read_bytes() == first
    assert json.loads((tmp_path / "registry" / "models" / "v1" / "card.json").read_text())["run"] == 2


def test_publish_version_with_path_separator_refused(tmp_path: Path) -> None:
    store, _ = _registry(tmp_path)
    with pytest.raises(RegistryError, match=r"'\.\./evil' is not valid"):
        publish(store, amount_model_artifact("../evil"), CARD)


def test_promote_then_rollback_moves_pointer_and_records_previous(tmp_path: Path) -> None:
    # GIVEN v1 and v2 published, nothing promoted
    store, pointer = _registry(tmp_path)
    publish(store, amount_model_artifact("v1"), CARD)
    publish(store, amount_model_artifact("v2", leaves=(3.0, 3.0, 3.0)), CARD)
    assert pointer.read() == PointerValue(None, None, None)
    # WHEN v1 then v2 are promoted
    promote(store, pointer, "v1", now=NOW)
    promote(store, pointer, "v2", now=NOW)
    # THEN the pointer file holds the contract's JSON, v1 as previous
    assert json.loads((tmp_path / "registry" / "promoted.json").read_text()) == {
        "version": "v2",
        "previous": "v1",
        "promotedAt": "2026-12-07T05:00:00Z",
    }
    # WHEN rolled back THEN v1 serves and v2 is the previous
    assert rollback(pointer, now=NOW) == PointerValue("v1", "v2", "2026-12-07T05:00:00Z")


def test_promote_unknown_or_invalid_version_refused_pointer_unchanged(tmp_path: Path) -> None:
    # GIVEN v1 promoted, and a corrupt file stored as v3 (written behind publish's back)
    store, pointer = _registry(tmp_path)
    publish(store, amount_model_artifact("v1"), CARD)
    promote(store, pointer, "v1", now=NOW)
    corrupt = tmp_path / "registry" / "models" / "v3" / "model.json"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text('{"format": "fraud-scoring-model"', encoding="utf-8")
    # WHEN an unknown version, then the corrupt one, is promoted THEN both are refused by name
    with pytest.raises(RegistryError, match="version v9 is not in the registry"):
        promote(store, pointer, "v9")
    with pytest.raises(RegistryError, match=r"refusing to promote v3: its artifact is invalid.*not valid JSON"):
        promote(store, pointer, "v3")
    assert pointer.read() == PointerValue("v1", None, "2026-12-07T05:00:00Z")


def test_rollback_of_the_first_promotion_returns_to_the_shipped_model(tmp_path: Path) -> None:
    # GIVEN v1 promoted over the shipped model (the pointer's previous is null)
    store, pointer = _registry(tmp_path)
    publish(store, amount_model_artifact("v1"), CARD)
    promote(store, pointer, "v1", now=NOW)
    # WHEN rolled back THEN the pointer is unset again (the shipped model serves), v1 its previous
    assert rollback(pointer, now=NOW) == PointerValue(None, "v1", "2026-12-07T05:00:00Z")


def test_rollback_of_an_unset_pointer_refused(tmp_path: Path) -> None:
    _, pointer = _registry(tmp_path)
    with pytest.raises(RegistryError, match="nothing to roll back to: no version was ever promoted"):
        rollback(pointer)


def test_promote_cli_promotes_rolls_back_and_shows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN v1 and v2 published in a local registry
    root = tmp_path / "registry"
    store, _ = local_registry(root)
    publish(store, amount_model_artifact("v1"), CARD)
    publish(store, amount_model_artifact("v2", leaves=(3.0, 3.0, 3.0)), CARD)
    # WHEN an operator promotes v1, then v2, rolls back and shows the pointer
    codes = [
        promote_main(["--local", str(root), "--version", "v1"]),
        promote_main(["--local", str(root), "--version", "v2"]),
        promote_main(["--local", str(root), "--rollback"]),
    ]
    capsys.readouterr()
    codes.append(promote_main(["--local", str(root), "--show"]))
    # THEN every command succeeds and the pointer is back on v1 with v2 as previous
    assert codes == [0, 0, 0, 0]
    shown = json.loads(capsys.readouterr().out)
    assert (shown["version"], shown["previous"]) == ("v1", "v2")


def test_promote_cli_unknown_version_exit_1_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = promote_main(["--local", str(tmp_path), "--version", "v7"])
    assert code == 1
    assert "refused: version v7 is not in the registry" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--version", "v1"], "missing --bucket and --parameter (or --local DIR"),
        (["--version", "v1", "--bucket", "b"], "missing --parameter"),
        (["--rollback", "--local", "d", "--bucket", "b"], "--local replaces --bucket/--parameter"),
        (["--local", "d"], "one of the arguments --version --rollback --show --shadow --clear-shadow"),
        (["--shadow", "v1", "--bucket", "b", "--parameter", "p"], "missing --shadow-parameter"),
        (["--clear-shadow", "--local", "d", "--shadow-parameter", "s"], "--local replaces --bucket/--shadow-parameter"),
    ],
)
def test_promote_cli_bad_arguments_exit_2_naming_them(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        promote_main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_shadow_set_then_clear_records_previous_and_leaves_promoted_alone(tmp_path: Path) -> None:
    # GIVEN v1 promoted and v2 published, no shadow
    store, pointer = _registry(tmp_path)
    shadow = local_shadow_pointer(tmp_path / "registry")
    publish(store, amount_model_artifact("v1"), CARD)
    publish(store, amount_model_artifact("v2", leaves=(3.0, 3.0, 3.0)), CARD)
    promote(store, pointer, "v1", now=NOW)
    assert shadow.read() == PointerValue(None, None, None)
    # WHEN v2 is put in shadow THEN the shadow file holds the pointer's JSON shape
    set_shadow(store, shadow, "v2", now=NOW)
    assert json.loads((tmp_path / "registry" / "shadow.json").read_text()) == {
        "version": "v2",
        "previous": None,
        "promotedAt": "2026-12-07T05:00:00Z",
    }
    # WHEN it is cleared THEN no version is in shadow, v2 is the previous, the promoted pointer never moved
    assert clear_shadow(shadow, now=NOW) == PointerValue(None, "v2", "2026-12-07T05:00:00Z")
    assert pointer.read() == PointerValue("v1", None, "2026-12-07T05:00:00Z")


def test_shadow_unknown_invalid_or_repeated_version_refused_and_clear_of_none_refused(tmp_path: Path) -> None:
    # GIVEN v1 in shadow and a corrupt v3 stored behind publish's back
    store, _ = _registry(tmp_path)
    shadow = local_shadow_pointer(tmp_path / "registry")
    publish(store, amount_model_artifact("v1"), CARD)
    set_shadow(store, shadow, "v1", now=NOW)
    corrupt = tmp_path / "registry" / "models" / "v3" / "model.json"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text('{"format": "fraud-scoring-model"', encoding="utf-8")
    # WHEN unknown, corrupt or already-shadowed versions are set THEN each is refused by name
    with pytest.raises(RegistryError, match="version v9 is not in the registry"):
        set_shadow(store, shadow, "v9")
    with pytest.raises(RegistryError, match=r"refusing to shadow v3: its artifact is invalid.*not valid JSON"):
        set_shadow(store, shadow, "v3")
    with pytest.raises(RegistryError, match="version v1 is already in shadow"):
        set_shadow(store, shadow, "v1")
    assert shadow.read() == PointerValue("v1", None, "2026-12-07T05:00:00Z")
    # WHEN cleared twice THEN the second is refused
    clear_shadow(shadow)
    with pytest.raises(RegistryError, match="no version is in shadow: nothing to clear"):
        clear_shadow(shadow)


def test_promote_cli_shadow_sets_shows_and_clears(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN v1 published in a local registry
    root = tmp_path / "registry"
    store, _ = local_registry(root)
    publish(store, amount_model_artifact("v1"), CARD)
    # WHEN an operator shadows v1 and shows the shadow pointer
    assert promote_main(["--local", str(root), "--shadow", "v1"]) == 0
    capsys.readouterr()
    assert promote_main(["--local", str(root), "--show-shadow"]) == 0
    # THEN v1 is in shadow, and the promoted pointer is untouched (still unset)
    assert json.loads(capsys.readouterr().out)["version"] == "v1"
    assert not (root / "promoted.json").exists()
    # WHEN cleared THEN nothing is in shadow; an unknown version is refused with exit 1
    assert promote_main(["--local", str(root), "--clear-shadow"]) == 0
    assert json.loads((root / "shadow.json").read_text())["version"] is None
    assert promote_main(["--local", str(root), "--shadow", "v7"]) == 1
    assert "refused: version v7 is not in the registry" in capsys.readouterr().err


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_watcher_follows_pointer_no_sooner_than_refresh_and_refuses_corrupt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a watcher over an unset pointer (serving the shipped model), refresh every 60 s
    store, pointer = _registry(tmp_path)
    shipped = Scorer.load()
    clock = _Clock()
    watcher = ModelWatcher(store, pointer, shipped, 60.0, clock=clock)
    assert watcher.current() is shipped
    # WHEN v1 is promoted THEN it serves only once 60 s have passed
    publish(store, amount_model_artifact("v1"), CARD)
    promote(store, pointer, "v1")
    clock.now += 59.0
    assert watcher.current().model_version == shipped.model_version
    clock.now += 1.0
    assert watcher.current().model_version == "v1"
    # WHEN the pointer names a corrupt artifact THEN v1 keeps serving and the refusal is logged at ERROR
    corrupt = tmp_path / "registry" / "models" / "v2" / "model.json"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text(json.dumps(amount_model_artifact("v2"))[:-30], encoding="utf-8")
    pointer.write(PointerValue("v2", "v1", None))
    clock.now += 60.0
    with caplog.at_level(logging.ERROR, logger="fraud_scoring.registry"):
        assert watcher.current().model_version == "v1"
    refused = [r for r in caplog.records if r.getMessage() == MODEL_REFUSED_MESSAGE]
    assert [(r.refused_version, r.model_version) for r in refused] == [("v2", "v1")]  # type: ignore[attr-defined]
    assert "not valid JSON" in refused[0].reason  # type: ignore[attr-defined]
    # WHEN the pointer is unset again THEN the shipped model serves
    pointer.write(PointerValue(None, "v1", None))
    clock.now += 60.0
    assert watcher.current() is shipped


def test_watcher_unreadable_pointer_keeps_current_model(tmp_path: Path) -> None:
    # GIVEN v1 serving
    store, pointer = _registry(tmp_path)
    publish(store, amount_model_artifact("v1"), CARD)
    promote(store, pointer, "v1")
    clock = _Clock()
    watcher = ModelWatcher(store, pointer, Scorer.load(), 60.0, clock=clock)
    assert watcher.current().model_version == "v1"
    # WHEN the pointer becomes garbage THEN v1 keeps serving
    pointer.path.write_text("not json", encoding="utf-8")
    clock.now += 60.0
    assert watcher.current().model_version == "v1"


def test_watcher_starts_on_shipped_model_when_promoted_artifact_corrupt(tmp_path: Path) -> None:
    # GIVEN the pointer names a version whose artifact is missing
    store, pointer = _registry(tmp_path)
    pointer.write(PointerValue("v5", None, None))
    shipped = Scorer.load()
    # WHEN a watcher starts THEN it serves the shipped model
    assert ModelWatcher(store, pointer, shipped, 60.0).current() is shipped


def test_shadow_watcher_none_until_set_follows_refuses_corrupt_and_clears(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a shadow watcher over an unset shadow pointer, refresh every 60 s
    store, _ = _registry(tmp_path)
    shadow = local_shadow_pointer(tmp_path / "registry")
    clock = _Clock()
    watcher = ShadowWatcher(store, shadow, 60.0, clock=clock)
    assert watcher.current() is None
    # WHEN v1 is put in shadow THEN it is scored only once 60 s have passed
    publish(store, amount_model_artifact("v1"), CARD)
    set_shadow(store, shadow, "v1")
    clock.now += 59.0
    assert watcher.current() is None
    clock.now += 1.0
    shadow_scorer = watcher.current()
    assert shadow_scorer is not None and shadow_scorer.model_version == "v1"
    # WHEN the shadow pointer names a corrupt artifact THEN v1 stays and the refusal is an ERROR naming the role
    corrupt = tmp_path / "registry" / "models" / "v2" / "model.json"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text(json.dumps(amount_model_artifact("v2"))[:-30], encoding="utf-8")
    shadow.write(PointerValue("v2", "v1", None))
    clock.now += 60.0
    with caplog.at_level(logging.ERROR, logger="fraud_scoring.registry"):
        assert watcher.current() is shadow_scorer
    refused = [r for r in caplog.records if r.getMessage() == MODEL_REFUSED_MESSAGE]
    assert [(r.refused_version, r.model_version, r.model_role) for r in refused] == [  # type: ignore[attr-defined]
        ("v2", "v1", "shadow")
    ]
    # WHEN cleared THEN there is no shadow scorer any more
    shadow.write(PointerValue(None, "v1", None))
    clock.now += 60.0
    assert watcher.current() is None
