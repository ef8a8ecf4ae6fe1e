"""Local mode's traces: fraud-api writes its spans to the state folder, ``traces`` prints them as trees."""

from __future__ import annotations

import io
import json
from pathlib import Path

from fraud_local.__main__ import main
from fraud_local.stack import StackHandles
from fraud_local.traces import read_traces, render, traces_path
from tests.e2e.support import gateway, transaction, wait_for


def _line(name: str, span_id: str, parent: str | None, start: str, end: str, **attributes: object) -> str:
    """A span as the OpenTelemetry SDK's ``to_json`` writes it (the fields the reader uses)."""
    return json.dumps(
        {
            "name": name,
            "context": {"trace_id": "0xabc", "span_id": span_id},
            "parent_id": parent,
            "start_time": f"2026-12-07T10:00:{start}Z",
            "end_time": f"2026-12-07T10:00:{end}Z",
            "attributes": attributes,
        }
    )


def test_traces_render_a_request_as_a_tree_with_durations_and_offsets() -> None:
    # GIVEN a request's spans, children written before their parent (they end first), and a torn line
    lines = [
        _line("pool checkout", "0x2", "0x1", "00.001000", "00.001500"),
        _line("score: features + model", "0x4", "0x1", "00.004000", "00.004250", **{"fraud.decision": "approve"}),
        _line("SELECT transactions (history)", "0x3", "0x1", "00.001500", "00.004000"),
        '{"name": "INSERT transac',
        _line("POST /api/v1/score", "0x1", None, "00.000000", "00.010000", **{"http.response.status_code": 200}),
    ]
    # WHEN it is read and rendered
    ((trace_id, root),) = read_traces(lines)
    # THEN the tree is in start order, each span with its duration and its offset from the request's start
    assert render(trace_id, root).splitlines() == [
        "trace 0xabc  2026-12-07T10:00:00.000+00:00",
        "   10.000 ms  +  0.000 ms  POST /api/v1/score 200",
        "    0.500 ms  +  1.000 ms  ├─ pool checkout",
        "    2.500 ms  +  1.500 ms  ├─ SELECT transactions (history)",
        "    0.250 ms  +  4.000 ms  └─ score: features + model fraud.decision=approve",
    ]


def test_traces_of_a_decision_scored_in_local_mode_are_printed(handles: StackHandles) -> None:
    # GIVEN local mode WHEN a transaction is scored through the gateway
    body = transaction()
    with gateway(handles) as api:
        response = api.post("/api/v1/score", json=body, headers={"X-Request-Id": "req-local-trace"})
    assert response.status_code == 200
    path = traces_path(handles.state_dir)
    # THEN its spans reach the state folder (the exporter writes in batches, every few seconds)
    wait_for(lambda: path.is_file() and "req-local-trace" in path.read_text(encoding="utf-8"), timeout=30.0)
    wait_for(lambda: path.read_text(encoding="utf-8").count("INSERT transactions") >= 1, timeout=30.0)
    # AND `traces` prints that request as one tree: the server span, then the database and scoring
    out = io.StringIO()
    assert main(["--state-dir", str(handles.state_dir), "traces", "--last", "1"], out=out) == 0
    tree = [line.split(" ms  ", 2)[2] for line in out.getvalue().splitlines()[1:]]
    assert tree == [
        "POST /api/v1/score 200 fraud.request_id=req-local-trace",
        "├─ pool checkout",
        "├─ SELECT transactions (history)",
        "├─ score: features + model fraud.decision=approve",
        "└─ INSERT transactions (decision)",
    ]


def test_traces_without_a_file_says_where_it_looked(tmp_path: Path) -> None:
    out = io.StringIO()
    assert main(["--state-dir", str(tmp_path), "traces"], out=out) == 1
    assert "No traces in" in out.getvalue() and "traces.jsonl" in out.getvalue()
