"""The demo's feedback loop: labels back through the gateway on the simulated clock, then
``python -m fraud_local retrain`` exporting local mode's data and promoting into its registry."""

from __future__ import annotations

import io
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from fraud_local.__main__ import main, parser
from fraud_local.aws import client
from fraud_local.demo import flagged_ids, run_demo
from fraud_local.replay import replay
from fraud_local.retrain import last_demo
from fraud_local.stack import StackHandles
from fraud_local.traffic import CHARGEBACK, REVIEW, LabelCheck, Traffic, build_traffic, label_for, plan_label_checks
from fraud_scoring.scorer import Scorer
from fraud_scoring.types import Thresholds

HOUR, DAY = 3600.0, 86_400.0


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _body(transaction_id: str, timestamp: str) -> dict[str, Any]:
    return {"transactionId": transaction_id, "timestamp": timestamp}


def test_plan_label_checks_reviews_within_hours_chargebacks_of_frauds_within_days_none_after_the_end() -> None:
    # GIVEN a fraud at midnight, a legitimate payment at noon and a last one 19 days later
    traffic = Traffic(
        [
            _body("tx-fraud", "2026-01-01T00:00:00Z"),
            _body("tx-legit", "2026-01-01T12:00:00Z"),
            _body("tx-last", "2026-01-20T00:00:00Z"),
        ],
        {"tx-fraud": 2},
        [date(2026, 1, 1), date(2026, 1, 20)],
    )
    # WHEN the label checks are planned
    checks = plan_label_checks(traffic, seed=3)
    # THEN both early payments get a review check 1-8 hours on, the fraud a chargeback check 2-10
    # days on, in time order; the last payment's review falls after the clock stops
    assert [(c.transaction_id, c.source) for c in checks] == [
        ("tx-fraud", REVIEW),
        ("tx-legit", REVIEW),
        ("tx-fraud", CHARGEBACK),
    ]
    fraud_review, legit_review, chargeback = checks
    assert 1 * HOUR <= fraud_review.due - _epoch("2026-01-01T00:00:00Z") <= 8 * HOUR
    assert 1 * HOUR <= legit_review.due - _epoch("2026-01-01T12:00:00Z") <= 8 * HOUR
    assert 2 * DAY <= chargeback.due - _epoch("2026-01-01T00:00:00Z") <= 10 * DAY


@pytest.mark.parametrize(
    ("source", "decision", "transaction_id", "expected"),
    [
        (REVIEW, "decline", "tx-fraud", {"fraud": True, "source": "analyst_review"}),
        (REVIEW, "review", "tx-legit", {"fraud": False, "source": "analyst_review"}),
        (REVIEW, "approve", "tx-fraud", None),
        (CHARGEBACK, "approve", "tx-fraud", {"fraud": True, "source": "chargeback"}),
        (CHARGEBACK, "review", "tx-fraud", None),
    ],
)
def test_label_for_reviews_flagged_with_ground_truth_and_charges_back_missed_frauds(
    source: str, decision: str, transaction_id: str, expected: dict[str, Any] | None
) -> None:
    # GIVEN a check due at 03:00 on 1 January 2026
    check = LabelCheck(_epoch("2026-01-01T03:00:00Z"), transaction_id, source)
    # WHEN the analyzer's decision is known
    body = label_for(check, decision, {"tx-fraud": 1})
    # THEN only flagged transactions are reviewed (with the truth) and only missed frauds charged back
    assert body == (None if expected is None else {**expected, "labelTime": "2026-01-01T03:00:00Z"})


@pytest.fixture(scope="module")
def four_weeks(handles: StackHandles) -> dict[str, Any]:
    """Four simulated weeks through local mode, labels included (enough for a 7 + 7 day cycle). At 10/s
    the sender runs no faster than the analyzer scores, so a label sent early would be seen as early."""
    return run_demo(handles, count=500, rate=10.0, seed=5, days=28, out=io.StringIO())


def _stored_labels(handles: StackHandles) -> dict[str, dict[str, Any]]:
    dynamodb = client("dynamodb", handles.aws_endpoint)
    found = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=handles.resources.table_name):
        for item in page["Items"]:
            if "fraudLabel" in item:
                found[item["transactionId"]["S"]] = item
    return found


def test_demo_sends_labels_through_the_label_route_on_the_simulated_clock(
    handles: StackHandles, four_weeks: dict[str, Any]
) -> None:
    # GIVEN the demo's run (the test model flags amounts above 500)
    traffic: Traffic = four_weeks["traffic"]
    moments = {b["transactionId"]: _epoch(b["timestamp"]) for b in traffic.bodies}
    sent = four_weeks["sent_labels"]
    # THEN analyst reviews and chargebacks both went back, every one accepted by the route
    assert {label.body["source"] for label in sent} == {"analyst_review", "chargeback"}
    assert four_weeks["label_statuses"] == {200: len(sent)}
    stored = _stored_labels(handles)
    for label in sent:
        delay = _epoch(label.body["labelTime"]) - moments[label.transaction_id]
        # each delay is in its range, posted once the clock had reached its label time
        if label.body["source"] == "analyst_review":
            assert 1 * HOUR <= delay <= 8 * HOUR
        else:
            assert 2 * DAY <= delay <= 10 * DAY and label.transaction_id in traffic.frauds
        assert label.clock >= _epoch(label.body["labelTime"])
        # the simulator's ground truth, stored on the item by the label route
        assert label.body["fraud"] is (label.transaction_id in traffic.frauds)
        item = stored[label.transaction_id]
        assert item["fraudLabel"] == {"BOOL": label.body["fraud"]}
        assert item["labelSource"] == {"S": label.body["source"]}
    assert set(stored) == {label.transaction_id for label in sent}


def test_replay_decides_and_labels_the_demo_traffic_as_local_mode_did(
    four_weeks: dict[str, Any], model_path: Path
) -> None:
    # GIVEN the demo's run through local mode: its traffic, its labels, the decisions in its reports
    traffic: Traffic = four_weeks["traffic"]
    live_flagged = set().union(*(flagged_ids(report) for report in four_weeks["reports"]))
    live_labels = {
        (label.transaction_id, json.dumps(label.body, sort_keys=True)) for label in four_weeks["sent_labels"]
    }
    # WHEN the same traffic is replayed in-process with local mode's model and seeded thresholds
    scorer = Scorer.load(model_path, Thresholds(review=0.5, decline=0.85))
    replayed = replay(traffic, scorer, plan_label_checks(traffic, seed=5))
    # THEN it flags the same transactions and the fraud team sends back the same labels
    assert {tid for tid, decision in replayed.decisions.items() if decision != "approve"} == live_flagged
    assert {(tid, json.dumps(body, sort_keys=True)) for tid, body in replayed.labels} == live_labels
    assert len(replayed.decisions) == four_weeks["sent"]


def test_retrain_command_exports_trains_gates_and_publishes_into_the_local_registry(
    handles: StackHandles, four_weeks: dict[str, Any]
) -> None:
    # GIVEN four labelled weeks in local mode's table
    out = io.StringIO()
    # WHEN an operator runs one cycle with 7-day windows
    code = main(["--state-dir", str(handles.state_dir), "retrain", "--train-days", "7", "--eval-days", "7"], out)
    # THEN every day the cycle reads was exported (37 days of history, 7 + 7 + 7 + 7), the
    # challenger was published with its card, and the verdict matches the exit code
    text = out.getvalue()
    partitions = sorted((handles.state_dir / "exports").glob("day=*/part-0.parquet"))
    assert len(partitions) == 65
    assert f"Exported {four_weeks['sent']:,} rows (65 days)" in text
    assert "Challenger " in text, text
    version = text.split("Challenger ", 1)[1].split(":", 1)[0]
    card = json.loads((handles.state_dir / "registry" / "models" / version / "card.json").read_text())
    assert card["rows"]["train"] > 0 and card["data_window"]["label_delay_days"] == 7
    assert "average_precision" in text and "gate: " in text
    promoted = json.loads((handles.state_dir / "registry" / "promoted.json").read_text()) if code == 0 else None
    assert (code, promoted and promoted["version"]) in {(0, version), (3, None)}
    assert ("fraud-api and the analyzer load it within 5 s, without a restart" in text) is (code == 0)
    # AND detection before and after, per fraud kind, on the demo's traffic replayed with each model: the
    # serving model's column is what the live demo measured
    assert "Detection on the last demo's traffic (seed 5, 500 transactions, 28 days)" in text
    header, *rows = text.split("own label loop:\n", 1)[1].splitlines()
    assert header.split() == ["serving", "test-amount-tree-1", "challenger", version]
    table = {row[:24].strip(): row[24:].split() for row in rows}
    assert table["flagged"][0] == f"{four_weeks['flagged']:,}"
    assert {kind: table[kind][0] for kind in four_weeks["caught_by_kind"]} == {
        kind: f"{caught}/{total}" for kind, (caught, total) in four_weeks["caught_by_kind"].items()
    }
    assert len(rows) == 6 and all(len(values) == 2 for values in table.values())


@pytest.mark.parametrize(
    "content",
    ["{not json", '{"count": 500, "seed": 5, "days": 0, "labels": true}', '{"count": 500}', "[1, 2]"],
)
def test_retrain_says_why_it_skips_an_unreadable_last_demo_record(tmp_path: Path, content: str) -> None:
    # GIVEN a state folder whose record of the last demo is damaged
    (tmp_path / "last-demo.json").write_text(content, encoding="utf-8")
    out = io.StringIO()
    # WHEN retrain looks for it THEN it names the file and goes on without the comparison
    assert last_demo(tmp_path, out) is None
    assert f"{tmp_path / 'last-demo.json'} is unreadable" in out.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay", "--weeks", "0"], "argument --weeks: expected a whole number from 1 to 26, got '0'"),
        (["replay", "--weeks", "27"], "argument --weeks: expected a whole number from 1 to 26, got '27'"),
        (["demo", "--transactions", "100001"], "from 1 to 100,000, got '100001'"),
        (["demo", "--transactions", "1e3"], "from 1 to 100,000, got '1e3'"),
        (["demo", "--rate", "0"], "argument --rate: expected a positive number of transactions per second, got '0'"),
        (["demo", "--rate", "nan"], "transactions per second, got 'nan'"),
        (["demo", "--rate", "inf"], "transactions per second, got 'inf'"),
    ],
)
def test_traffic_options_out_of_range_are_refused_naming_what_is_allowed(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN an option is out of its range THEN argparse's usage error (exit 2) says what is allowed
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_traffic_options_at_their_bounds_are_accepted() -> None:
    args = parser().parse_args(["replay", "--weeks", "26", "--transactions", "100000"])
    assert (args.weeks, args.transactions) == (26, 100_000)
    assert parser().parse_args(["demo", "--rate", "0.5"]).rate == 0.5


def test_replay_skips_what_the_processor_refuses_as_the_live_demo_does() -> None:
    # GIVEN the demo's traffic with one amount the simulator rounded to 0.00, which the processor refuses
    traffic = build_traffic(300, seed=5, today=date(2026, 12, 1), days=7)
    refused = traffic.bodies[10]["transactionId"]
    traffic.bodies[10]["amount"] = "0.00"
    traffic.frauds[refused] = 1  # a fraud: the fraud team would file a chargeback for it if it had a decision
    # WHEN it is replayed with the fraud team's labels
    result = replay(traffic, Scorer.load(), plan_label_checks(traffic, seed=5))
    # THEN it has no decision and no label; every other transaction was decided
    assert refused not in result.decisions and len(result.decisions) == 299
    assert refused not in {transaction_id for transaction_id, _ in result.labels}
