"""The demo: simulator traffic through the gateway, the reporter, and a summary a person can read.

The traffic and the fraud team are ``traffic.py``'s simulated world. Transactions are sent in time
order at the requested rate, which makes the transactions' own timestamps the demo's accelerated
clock: simulated time is the timestamp of the latest transaction sent.

On that clock, labels flow back through ``POST /transactions/{id}/label`` as a fraud team's would;
a label falls due when the clock reaches its label time, and the card's and the terminal's next
transactions wait until it is stored; labels due after the last transaction are never sent (the
clock stops there).

Once the analyzer has scored everything, the reporter runs for each day, and the summary compares
the reports' flagged transactions with the simulator's ground truth: frauds caught per kind and
precision, per simulated week, so detection before labels flowed can be read beside after.
"""

from __future__ import annotations

import asyncio
import bisect
import csv
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx

from fraud_local.config import LAST_DEMO_FILE
from fraud_local.reporter import ReportResult
from fraud_local.stack import StackHandles, run_report_for
from fraud_local.traffic import (
    DEMO_DAYS,
    LabelCheck,
    Traffic,
    build_traffic,
    detection,
    detection_lines,
    epoch,
    label_for,
    plan_label_checks,
)

CONCURRENCY = 8
SCORING_TIMEOUT_S = 900.0


class Progress:
    """A one-line progress bar on a terminal; a line per 10 % elsewhere (logs, CI)."""

    def __init__(self, label: str, total: int, out: IO[str]) -> None:
        self.label, self.total, self.out = label, max(total, 1), out
        self.started = time.monotonic()
        self._tty = out.isatty()
        self._last_decile = -1
        self._first: int | None = None

    def update(self, done: int) -> None:
        # The rate counts what happened since the bar appeared (scoring may have begun earlier).
        if self._first is None:
            self._first = done
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = (done - self._first) / elapsed
        share = min(done / self.total, 1.0)
        if self._tty:
            bar = "#" * int(share * 30)
            eta = (self.total - done) / rate if rate > 0 else 0.0
            self.out.write(f"\r  {self.label:<9} [{bar:<30}] {done:>6}/{self.total} {rate:6.1f}/s  eta {eta:4.0f} s ")
            self.out.flush()
        elif int(share * 10) > self._last_decile:
            self._last_decile = int(share * 10)
            self.out.write(f"  {self.label}: {done}/{self.total} ({rate:.1f}/s)\n")

    def close(self) -> None:
        if self._tty:
            self.out.write("\n")


@dataclass
class SendOutcome:
    statuses: Counter[int] = field(default_factory=Counter)
    completed: list[str] = field(default_factory=list)
    """Ids in the order their 201 came back (the order they entered the stream, give or take
    the few requests in flight)."""
    sent_at: dict[str, float] = field(default_factory=dict)
    """Wall-clock time (epoch seconds) each POST was sent, by transaction id."""
    post_seconds: list[float] = field(default_factory=list)
    seconds: float = 0.0
    labels: list[SentLabel] = field(default_factory=list)
    label_statuses: Counter[int] = field(default_factory=Counter)


@dataclass(frozen=True)
class SentLabel:
    transaction_id: str
    body: dict[str, Any]
    clock: float
    """The simulated clock when it was posted: the timestamp of the latest transaction sent."""


async def send(
    handles: StackHandles,
    traffic: Traffic,
    rate: float,
    progress: Progress,
    checks: list[LabelCheck] | None = None,
) -> SendOutcome:
    """POST every transaction to the gateway, at most ``rate`` per second, ``CONCURRENCY`` in flight;
    each label check runs when the simulated clock reaches it (``label_for`` decides what is sent), and a
    later transaction of the same card or terminal (whose history holds the labelled one) waits until the
    label is stored: in real time an analyst's label is in place before the payments that follow it, and a
    rule may read a label hours old."""
    bodies = traffic.bodies
    outcome = SendOutcome()
    started = time.monotonic()
    slots = asyncio.Semaphore(CONCURRENCY)
    label_slots = asyncio.Semaphore(CONCURRENCY)
    headers = {"x-api-key": handles.api_key}
    moments = [epoch(body["timestamp"]) for body in bodies]
    by_id = {body["transactionId"]: body for body in bodies}
    clock = [moments[0] if moments else 0.0]
    answered: dict[str, int] = {}
    """HTTP status of each transaction's POST, once it came back."""
    async with httpx.AsyncClient(base_url=handles.gateway_url, headers=headers, timeout=60.0) as client:

        async def one(index: int, body: dict[str, Any]) -> None:
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            clock[0] = max(clock[0], moments[index])
            for entity in (body["customerId"], body["terminalId"]):
                indexes, tasks = labels_of.get(entity, ([], []))
                await asyncio.gather(*tasks[: bisect.bisect_right(indexes, index)])
            async with slots:
                outcome.sent_at[body["transactionId"]] = time.time()
                begun = time.perf_counter()
                response = await client.post("/transactions", json=body)
                outcome.post_seconds.append(time.perf_counter() - begun)
            outcome.statuses[response.status_code] += 1
            answered[body["transactionId"]] = response.status_code
            if response.status_code == 201:
                outcome.completed.append(body["transactionId"])
            progress.update(sum(outcome.statuses.values()))

        async def check(item: LabelCheck) -> None:
            # The clock reaches ``due`` when the first transaction at or after it is sent.
            delay = started + bisect.bisect_left(moments, item.due) / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            while clock[0] < item.due:  # the sender fell behind its schedule
                await asyncio.sleep(0.05)
            while item.transaction_id not in answered:  # its POST is still in flight
                await asyncio.sleep(0.05)
            if answered[item.transaction_id] != 201:  # refused by the gateway: nothing to label
                return
            async with label_slots:
                decision = await decision_of(client, item.transaction_id)
                body = label_for(item, decision, traffic.frauds)
                if body is None:
                    return
                response = await client.post(f"/transactions/{item.transaction_id}/label", json=body)
            outcome.label_statuses[response.status_code] += 1
            outcome.labels.append(SentLabel(item.transaction_id, body, clock[0]))

        # Per card and per terminal: the label checks of its transactions, each with the index of the first
        # transaction at or after its label time (checks are in time order, so those indexes are too).
        labels_of: dict[str, tuple[list[int], list[asyncio.Future[None]]]] = {}
        label_tasks = []
        for item in checks or []:
            task = asyncio.ensure_future(check(item))
            label_tasks.append(task)
            labelled = by_id[item.transaction_id]
            for entity in (labelled["customerId"], labelled["terminalId"]):
                indexes, tasks = labels_of.setdefault(entity, ([], []))
                indexes.append(bisect.bisect_left(moments, item.due))
                tasks.append(task)
        await asyncio.gather(*(one(i, body) for i, body in enumerate(bodies)), *label_tasks)
    outcome.seconds = time.monotonic() - started
    progress.close()
    return outcome


async def decision_of(client: httpx.AsyncClient, transaction_id: str) -> str:
    """The analyzer's decision, once it has scored the transaction (it lags the sender by seconds)."""
    deadline = time.monotonic() + SCORING_TIMEOUT_S
    while time.monotonic() < deadline:
        response = await client.get(f"/transactions/{transaction_id}")
        if response.status_code == 200 and response.json().get("status") == "SCORED":
            return str(response.json().get("decision"))
        await asyncio.sleep(0.1)  # the payments after the label's time wait for it: ask often
    raise TimeoutError(f"{transaction_id} still unscored after {SCORING_TIMEOUT_S:.0f} s; see the poller's log")


def wait_until_scored(handles: StackHandles, completed: list[str], progress: Progress) -> float:
    """Seconds until the analyzer has scored everything sent (the stream is read in order, so
    the last ids to complete are the last to be scored); progress by binary search."""
    started = time.monotonic()
    with httpx.Client(base_url=handles.gateway_url, headers={"x-api-key": handles.api_key}, timeout=30.0) as client:

        def scored(index: int) -> bool:
            response = client.get(f"/transactions/{completed[index]}")
            return response.status_code == 200 and response.json().get("status") == "SCORED"

        tail = range(max(0, len(completed) - 2 * CONCURRENCY), len(completed))
        while time.monotonic() - started < SCORING_TIMEOUT_S:
            if all(scored(i) for i in tail):
                progress.update(len(completed))
                progress.close()
                return time.monotonic() - started
            low, high = 0, len(completed)
            while low < high:  # first index not yet scored
                middle = (low + high) // 2
                low, high = (middle + 1, high) if scored(middle) else (low, middle)
            progress.update(low)
            time.sleep(0.5)
    raise TimeoutError(f"transactions still unscored after {SCORING_TIMEOUT_S:.0f} s; see the poller's log")


def flagged_ids(report: ReportResult) -> set[str]:
    """Every flagged transaction of a day (the CSV lists them all; the JSON caps its list)."""
    csv_path = next(p for p in report.local_paths if p.suffix == ".csv")
    with csv_path.open(encoding="utf-8", newline="") as handle:
        return {row["transactionId"] for row in csv.DictReader(handle)}


def run_demo(
    handles: StackHandles,
    *,
    count: int,
    rate: float,
    seed: int,
    days: int = DEMO_DAYS,
    labels: bool = True,
    out: IO[str] = sys.stdout,
) -> dict[str, Any]:
    """Send the traffic (and the labels), wait for the decisions, report every day; print and return the summary."""
    started = time.monotonic()
    today = datetime.now(tz=UTC).date()
    traffic = build_traffic(count, seed, today, days)
    checks = plan_label_checks(traffic, seed) if labels else []
    out.write(
        f"Replaying {len(traffic.bodies):,} simulated transactions (seed {seed}, {len(traffic.days)} days up to "
        f"yesterday) through {handles.gateway_url} at up to {rate:g}/s"
        + (", with analyst reviews and chargebacks\n" if labels else ", no labels sent back\n")
    )
    progress = Progress("sending", len(traffic.bodies), out)
    sent = asyncio.run(send(handles, traffic, rate, progress, checks))
    scoring_s = wait_until_scored(handles, sent.completed, Progress("scoring", len(sent.completed), out))
    reports = [run_report_for(handles, day) for day in traffic.days]
    flagged = set().union(*(flagged_ids(r) for r in reports))
    decisions: Counter[str] = Counter()
    for result in reports:
        decisions.update(_report_json(result).get("decisions", {}))
    summary = {
        "sent": len(traffic.bodies),
        "stored": sent.statuses.get(201, 0),
        "rejected": sum(n for status, n in sent.statuses.items() if status != 201),
        "scored": sum(decisions.values()),
        "decisions": dict(decisions),
        **detection(traffic, flagged),
        "labels": Counter(
            f"{label.body['source']} {'fraud' if label.body['fraud'] else 'legitimate'}" for label in sent.labels
        ),
        "label_statuses": dict(sent.label_statuses),
        "throughput_tps": sent.statuses.get(201, 0) / (sent.seconds + scoring_s),
        "seconds": time.monotonic() - started,
        "reports": reports,
        "sent_labels": sent.labels,
        "traffic": traffic,
    }
    out.write(format_summary(summary))
    options = {"count": count, "seed": seed, "days": days, "labels": labels}
    (handles.state_dir / LAST_DEMO_FILE).write_text(json.dumps(options), encoding="utf-8")
    return summary


def _report_json(result: ReportResult) -> dict[str, Any]:
    data = json.loads(result.json_path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def format_summary(s: dict[str, Any]) -> str:
    reports: list[ReportResult] = s["reports"]
    d = {name: f"{s['decisions'].get(name, 0):,}" for name in ("approve", "review", "decline")}
    first, last = reports[0], reports[-1]
    folder = first.json_path.parent.parent.parent.parent
    bucket = first.s3_uris[0].rsplit("/reports/", 1)[0]
    lines = [
        "",
        f"Demo finished in {s['seconds']:.0f} s",
        f"  transactions   {s['sent']:,} sent, {s['stored']:,} stored, {s['rejected']:,} rejected, "
        f"{s['scored']:,} scored",
        f"  decisions      approve {d['approve']} · review {d['review']} · decline {d['decline']}",
        "  labels sent    "
        + (
            " · ".join(f"{name} {n:,}" for name, n in sorted(s["labels"].items()))
            + f" (HTTP {', '.join(f'{code}: {n:,}' for code, n in sorted(s['label_statuses'].items()))})"
            if s["labels"]
            else "none (a compromised terminal shows only through confirmed fraud labels)"
        ),
        *detection_lines(s),
        f"  throughput     {s['throughput_tps']:.1f} transactions/s from POST to decision",
        f"  reports        {len(reports)} days, {first.summary['date']} to {last.summary['date']}:",
        f"                 {bucket}/reports/YYYY/MM/DD/report.json (+ .csv) in moto",
        f"                 copies in {shown(folder)}/YYYY/MM/DD/ (kept after moto stops)",
        "",
    ]
    return "\n".join(lines)


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it (shorter to read)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
