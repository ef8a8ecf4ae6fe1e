"""Drift handler: one day's scored transactions against a reference, as EMF metrics (moto DynamoDB)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from handler_support import TABLE

from fraud_common import env
from fraud_common.tables import day_shard
from fraud_scoring import drift
from functions.common import items
from functions.drift.handler import lambda_handler

DAY = datetime.now(tz=UTC).date() - timedelta(days=1)
# Half the reference's scores and amounts at or below the edge; every reference transaction by day.
REFERENCE = {
    "version": "model-7",
    "reference": {
        "score": {"bins": [0.5], "fractions": [0.5, 0.5], "missing": 0.0},
        "features": {
            "amount": {"bins": [100.0], "fractions": [0.5, 0.5], "missing": 0.0},
            "is_night": {"bins": [0.0], "fractions": [1.0, 0.0], "missing": 0.0},
        },
    },
}


def _item(day: date, n: int, **scored: Any) -> dict[str, Any]:
    """Transaction n of ``day``: at 03:00 (night) for odd n, else at 12:00; amount 50 for n < 5, else 150."""
    hour = 3 if n % 2 else 12
    ts = int(datetime(day.year, day.month, day.day, hour, n, tzinfo=UTC).timestamp() * 1000)
    transaction_id = f"tx-{day:%m%d}-{n:02d}"
    item: dict[str, Any] = {
        "transactionId": transaction_id,
        "timestamp": ts,
        "customerId": f"cust-{n}",
        "terminalId": f"term-{n}",
        "dayShard": day_shard(ts, transaction_id),
        "amount": Decimal(50 if n < 5 else 150),
        "currency": "EUR",
        "channel": "ecom",
        "cardHash": "ab" * 32,
        "cardKeyVersion": "1",
        "cardBin": "411111",
        "cardLast4": "1111",
        "cardLength": 16,
        "status": "RECEIVED",
        "receivedAt": items.iso_ms(ts),
    }
    if scored:
        item.update(status="SCORED", analyzedAt=items.iso_ms(ts + 1000), reasons=[], **scored)
    return item


def _load(aws: dict[str, Any]) -> None:
    """Yesterday: 10 scored transactions (6 approved, 3 reviewed, 1 declined; model-7 scored 8 of them,
    6 at 0.1 and 2 at 0.9; model-6 the other 2), one still pending and a marker; the day before: 5
    declines that must not count."""
    decisions = ["approve"] * 6 + ["review"] * 3 + ["decline"]
    scores = [Decimal("0.1")] * 6 + [Decimal("0.9")] * 2 + [Decimal("0.2")] * 2
    versions = ["model-7"] * 8 + ["model-6"] * 2
    rows = [
        _item(DAY, n, decision=d, score=s, modelVersion=v)
        for n, (d, s, v) in enumerate(zip(decisions, scores, versions, strict=True))
    ]
    rows.append(_item(DAY, 10))
    rows.append({"transactionId": "tx-marker", "timestamp": 0, "itemType": "MARKER"})
    rows += [_item(DAY - timedelta(days=1), n, decision="decline", score=Decimal("0.99"), modelVersion="model-7")
             for n in range(5)]  # fmt: skip
    for row in rows:
        aws["dynamodb"].put_item(TableName=TABLE, Item=items.serialize(row))


@pytest.fixture
def reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "reference.json"
    path.write_text(json.dumps(REFERENCE), encoding="utf-8")
    monkeypatch.setattr(drift, "SHIPPED_REFERENCE", path)


def _emf(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


@pytest.mark.usefixtures("reference")
def test_drift_reports_the_day_psis_and_rates(aws, lambda_context, capsys):
    # GIVEN yesterday's transactions and the day before's
    _load(aws)
    capsys.readouterr()
    # WHEN the scheduled job measures yesterday
    report = lambda_handler({"date": DAY.isoformat()}, lambda_context)
    # THEN rates cover the 10 scored transactions, the score PSI model-7's 8, features all 10
    assert report["transactions"] == 10 and report["scores"] == 8 and report["sampled"] == 10
    assert report["otherModelVersions"] == 2 and report["modelVersion"] == "model-7"
    # (the pending transaction and the marker are not scored yet, not malformed)
    assert report["malformed"] == 0
    assert report["review_rate"] == 0.3 and report["decline_rate"] == 0.1
    # 0.75 / 0.25 against 0.5 / 0.5: 0.25 ln(1.5) + 0.25 ln(2) = 0.101366 + 0.173287
    assert report["score_psi"] == pytest.approx(0.274653, abs=1e-6)
    # amount: 5 of 10 at or below 100, as in the reference. is_night: half the day at 03:00 against
    # none in the reference: 0.5 ln(2) + (0.5 - 1e-4) ln(0.5 / 1e-4) = 0.346574 + 4.257745
    assert report["feature_psi"] == {"amount": pytest.approx(0.0, abs=1e-12), "is_night": pytest.approx(4.604318)}
    # AND they are CloudWatch metrics in the FraudDetection namespace the test sets
    blobs = _emf(capsys.readouterr().out)
    [main] = [b for b in blobs if "ScorePSI" in b]
    assert main["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "FraudDetectionTest"
    assert {m["Name"]: m["Unit"] for m in main["_aws"]["CloudWatchMetrics"][0]["Metrics"]} == {
        "ScorePSI": "None",
        "ReviewRate": "Percent",
        "DeclineRate": "Percent",
    }
    assert main["ScorePSI"] == [pytest.approx(0.274653, abs=1e-6)]
    assert main["ReviewRate"] == [pytest.approx(30.0)] and main["DeclineRate"] == [pytest.approx(10.0)]
    # AND one document per feature, published per Feature and under the service alone
    per_feature = {b["Feature"]: b for b in blobs if "FeaturePSI" in b}
    assert set(per_feature) == {"amount", "is_night"}
    for blob in per_feature.values():
        assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Feature", "service"], ["service"]]
        assert blob["service"] == "fraud-test"
    assert per_feature["is_night"]["FeaturePSI"] == [pytest.approx(4.604318)]


@pytest.mark.usefixtures("reference")
def test_drift_sample_is_bounded_by_its_setting(aws, lambda_context, monkeypatch, capsys):
    # GIVEN a sample size of 3
    _load(aws)
    monkeypatch.setenv(env.DRIFT_SAMPLE_SIZE, "3")
    capsys.readouterr()
    # WHEN the day is measured
    report = lambda_handler({"date": DAY.isoformat()}, lambda_context)
    # THEN features come from 3 transactions; rates and score PSI still from the whole day
    assert report["sampled"] == 3 and report["transactions"] == 10 and report["scores"] == 8
    assert len([b for b in _emf(capsys.readouterr().out) if "FeaturePSI" in b]) == 2


@pytest.mark.usefixtures("reference")
def test_drift_stops_sampling_when_time_runs_short(aws, lambda_context, monkeypatch, capsys):
    # GIVEN an invocation with 10 s left (less than the 20 s the job keeps in reserve)
    _load(aws)
    monkeypatch.setattr(lambda_context, "get_remaining_time_in_millis", lambda: 10_000)
    capsys.readouterr()
    # WHEN the day is measured
    report = lambda_handler({"date": DAY.isoformat()}, lambda_context)
    # THEN no feature is recomputed, and the day's score and rates are still reported
    assert report["sampled"] == 0 and report["feature_psi"] == {}
    blobs = _emf(capsys.readouterr().out)
    assert not [b for b in blobs if "FeaturePSI" in b]
    assert [b["ScorePSI"] for b in blobs if "ScorePSI" in b] == [[pytest.approx(0.274653, abs=1e-6)]]


@pytest.mark.usefixtures("reference")
def test_drift_day_without_traffic_emits_nothing(aws, lambda_context, capsys):
    # GIVEN an empty table
    capsys.readouterr()
    # WHEN yesterday is measured
    report = lambda_handler({"date": DAY.isoformat()}, lambda_context)
    # THEN there is nothing to compare: no figure, no metric
    assert report["transactions"] == 0 and report["score_psi"] is None and report["decline_rate"] is None
    assert not [b for b in _emf(capsys.readouterr().out) if {"ScorePSI", "FeaturePSI", "DeclineRate"} & set(b)]


def test_drift_reads_the_shipped_reference_by_default(aws, lambda_context):
    # GIVEN no transaction scored by the shipped model yesterday
    # WHEN the job runs with the reference shipped in fraud_scoring
    report = lambda_handler({}, lambda_context)
    # THEN it names the shipped model (fraud_scoring/model.json's version) and yesterday
    assert report["modelVersion"] == "gbdt-837866bc7c68"
    assert report["date"] == DAY.isoformat()


def test_drift_compares_with_the_promoted_models_card_and_falls_back_to_the_shipped_reference(
    tmp_path, monkeypatch, caplog
):
    from fraud_scoring.registry import PointerValue, local_registry
    from functions.drift.job import serving_reference

    # GIVEN a registry whose promoted version's card carries a reference, as retraining writes it
    store, pointer = local_registry(tmp_path)
    reference = {"score": {"bins": [0.5], "fractions": [0.9, 0.1], "missing": 0.0}, "features": {}}
    store.write("gbdt-promoted", "card.json", json.dumps({"version": "gbdt-promoted", "reference": reference}).encode())
    store.write("gbdt-old", "card.json", json.dumps({"version": "gbdt-old"}).encode())
    monkeypatch.setenv(env.MODEL_REGISTRY_DIR, str(tmp_path))
    shipped_version, _ = drift.load_reference()
    # WHEN nothing is promoted, THEN the day is compared with the shipped model's reference
    assert serving_reference()[0] == shipped_version
    # WHEN a version is promoted, THEN with its card's reference
    pointer.write(PointerValue("gbdt-promoted", None, "2026-12-07T00:00:00Z"))
    assert serving_reference() == ("gbdt-promoted", reference)
    # WHEN the promoted card has no reference, THEN the shipped one, and the operator is told
    pointer.write(PointerValue("gbdt-old", "gbdt-promoted", "2026-12-07T01:00:00Z"))
    assert serving_reference()[0] == shipped_version
    assert any("promoted model has no drift reference in its card" in r.getMessage() for r in caplog.records)
