"""``python -m fraud_local``: run local mode until Ctrl-C, replay demo traffic, or run the reporter.

    python -m fraud_local [--state-dir .local] [--port 8080] [--api-port 8081] [--aws-port 8082]
    python -m fraud_local demo [--weeks 1] [--transactions N] [--rate 50] [--seed 7] [--no-labels]
    python -m fraud_local replay [--weeks 1] [--transactions N] [--seed 7] [--no-labels] [--model PATH]
    python -m fraud_local retrain [--train-days 21] [--eval-days 7]
    python -m fraud_local report [--date YYYY-MM-DD]
    python -m fraud_local traces [--last N]

``demo``, ``retrain`` and ``report`` use the local mode already running on the state folder;
``demo`` starts one for its own duration when none is. ``traces`` prints fraud-api's latest traces from the state
folder, running or not. ``replay`` needs no local mode: it scores the demo's traffic and labels in-process.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO

from fraud_local.config import (
    DEFAULT_API_PORT,
    DEFAULT_AWS_PORT,
    DEFAULT_GATEWAY_PORT,
    DEFAULT_STATE_DIR,
    PortInUse,
    Ports,
    validate_api_key,
)
from fraud_local.demo import run_demo, shown
from fraud_local.processes import ChildFailed
from fraud_local.stack import (
    AlreadyRunning,
    LocalStack,
    PartFailed,
    StackHandles,
    already_running,
    attach,
    run_report_for,
)
from fraud_local.traces import last_traces, traces_path
from fraud_local.traffic import DEMO_DAYS

TRANSACTIONS_PER_WEEK = 2000
MAX_WEEKS = 26
MAX_TRANSACTIONS = 100_000


def _curl_example(h: StackHandles) -> str:
    noon = (datetime.now(tz=UTC) - timedelta(days=1)).strftime("%Y-%m-%dT12:00:00Z")
    body = (
        f'{{"transactionId":"tx-1001","timestamp":"{noon}","customerId":"cust-1","terminalId":"term-1",'
        '"amount":"42.50","currency":"EUR","cardNumber":"4111111111111111","channel":"pos"}'
    )
    key = '-H "x-api-key: $API_KEY"'
    return "\n".join(
        [
            "Try it (ingestion path: processor -> DynamoDB -> stream -> analyzer):",
            f"  export API_KEY={h.api_key}",
            f"  curl -s -X POST {h.gateway_url}/transactions {key} \\",
            f"       -H 'content-type: application/json' -d '{body}'",
            f"  curl -s {h.gateway_url}/transactions/tx-1001 {key}",
            "Real-time path (fraud-api, PostgreSQL):",
            f"  curl -s -X POST {h.gateway_url}/api/v1/score {key} \\",
            f"       -H 'content-type: application/json' -d '{body.replace('tx-1001', 'tx-1002')}'",
        ]
    )


def banner(h: StackHandles, seconds: float) -> str:
    r = h.resources
    state = shown(h.state_dir)
    first = "created now" if h.first_run else "reused"
    return "\n".join(
        [
            f"fraud-detection local mode is up ({seconds:.1f} s); nothing leaves this machine.",
            "",
            f"  Gateway (API)  {h.gateway_url}   routes POST /transactions, GET /transactions/{{id}}, "
            "POST /transactions/{id}/label, /api/*",
            f"  API key        {h.api_key}   (header x-api-key)",
            f"  fraud-api      {h.api_url}/api/docs   (reach it through the gateway: /api/*)",
            f"  AWS (moto)     {h.aws_endpoint}   table {r.table_name}, bucket {r.reports_bucket}",
            f"  PostgreSQL     {h.database_uri}   (Unix socket only)",
            f"  State folder   {state}/   ({first}: keys in local.json, PostgreSQL data, logs/, reports/)",
            "",
            _curl_example(h),
            "",
            "Also: `make demo` (simulated traffic, labels back, a report), `.venv/bin/python -m fraud_local "
            "retrain` (export, retrain, gate, promote) and `.venv/bin/python -m fraud_local report`.",
            "moto keeps AWS data in memory: the table, stream, bucket and queues start empty on every run.",
            "Press Ctrl-C to stop.",
            "",
        ]
    )


def run(args: argparse.Namespace, out: IO[str]) -> int:
    # Checked first, so that nothing is said to start: this state folder in use, then the ports.
    if attach(args.state_dir) is not None:
        raise already_running(args.state_dir)
    ports = Ports(args.port, args.api_port, args.aws_port).resolve()
    stack = LocalStack(args.state_dir, ports, api_key=args.api_key)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    out.write("Starting PostgreSQL, moto, fraud-api, the stream poller and the gateway...\n")
    out.flush()
    started = time.monotonic()
    handles = stack.start()
    out.write(banner(handles, time.monotonic() - started) + "\n")
    out.flush()
    code = 0
    while not stop.wait(1.0):
        try:
            restarted = stack.supervise()
        except PartFailed as exc:
            out.write(f"{exc} Stopping.\n")
            code = 1
            break
        for line in restarted:
            out.write(f"{datetime.now().strftime('%H:%M:%S')} {line}\n")
            out.flush()
    # A second Ctrl-C must not interrupt the orderly stop (it would leave PostgreSQL running).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out.write("Stopping the gateway, poller, fraud-api, moto and PostgreSQL...\n")
    out.flush()
    stack.stop()
    out.write(f"Stopped. State kept in {shown(handles.state_dir)}/.\n")
    return code


def demo(args: argparse.Namespace, out: IO[str]) -> int:
    options = {
        "count": args.transactions or TRANSACTIONS_PER_WEEK * args.weeks,
        "rate": args.rate,
        "seed": args.seed,
        "days": DEMO_DAYS * args.weeks,
        "labels": args.labels,
        "out": out,
    }
    running = attach(args.state_dir)
    if running is not None:
        out.write(f"Using the local mode running at {running.gateway_url}.\n")
        run_demo(running, **options)
        return 0
    out.write("No local mode is running on this state folder: starting one for the demo...\n")
    out.flush()
    with LocalStack(args.state_dir, Ports(args.port, args.api_port, args.aws_port)) as handles:
        run_demo(handles, **options)
    return 0


def retrain(args: argparse.Namespace, out: IO[str]) -> int:
    # Training needs pandas and LightGBM: imported only by this command, not by every start of local mode.
    from fraud_local.retrain import run_retrain
    from fraud_scoring.registry import RegistryError
    from fraud_scoring.retrain import EXIT_GATE_FAILED, RetrainConfig

    running = attach(args.state_dir)
    if running is None:
        out.write(f"No local mode is running on {shown(args.state_dir)}; start it with `make local` first.\n")
        return 1
    try:
        config = RetrainConfig(
            **{name: value for name in ("train_days", "eval_days") if (value := getattr(args, name)) is not None}
        )
        outcome = run_retrain(running, config, out)
    except RegistryError as exc:
        out.write(f"refused: {exc}\n")
        return 1
    return 0 if outcome.promoted else EXIT_GATE_FAILED


def replay(args: argparse.Namespace, out: IO[str]) -> int:
    # The simulator needs pandas: imported only by this command.
    from fraud_local.replay import SEEDED_THRESHOLDS, run_replay
    from fraud_scoring.model import ArtifactError
    from fraud_scoring.scorer import Scorer

    try:
        scorer = Scorer.load(args.model, SEEDED_THRESHOLDS)
    except ArtifactError as exc:
        out.write(f"refused: {exc}\n")
        return 1
    run_replay(
        count=args.transactions or TRANSACTIONS_PER_WEEK * args.weeks,
        seed=args.seed,
        days=DEMO_DAYS * args.weeks,
        labels=args.labels,
        scorer=scorer,
        out=out,
    )
    return 0


def report(args: argparse.Namespace, out: IO[str]) -> int:
    running = attach(args.state_dir)
    if running is None:
        out.write(f"No local mode is running on {shown(args.state_dir)}; start it with `make local` first.\n")
        return 1
    result = run_report_for(running, args.date)
    s = result.summary
    out.write(
        f"Report for {s['date']}: {s['transactions']} transactions, {s['flagged']} flagged "
        f"({s['queries']} queries, {s['malformed']} malformed items)\n"
    )
    for uri, path in zip(result.s3_uris, result.local_paths, strict=True):
        out.write(f"  {uri}\n    copy: {shown(path)}\n")
    return 0


def traces(args: argparse.Namespace, out: IO[str]) -> int:
    path = traces_path(args.state_dir)
    rendered = last_traces(path, args.last)
    if not rendered:
        out.write(f"No traces in {shown(path)} yet: send a request to fraud-api (/api/*) under `make local`.\n")
        return 1
    out.write("\n\n".join(rendered) + "\n")
    return 0


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected YYYY-MM-DD") from None


def _api_key(value: str) -> str:
    try:
        return validate_api_key(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_common(parser: argparse.ArgumentParser, *, ports: bool, subcommand: bool) -> None:
    # On a subcommand, an option left out must not reset the value given before the subcommand
    # (argparse lets a subparser's default win), hence SUPPRESS there.
    def default(value: object) -> object:
        return argparse.SUPPRESS if subcommand else value

    parser.add_argument("--state-dir", type=Path, default=default(DEFAULT_STATE_DIR), help="state folder (.local)")
    if ports:
        parser.add_argument("--port", type=int, default=default(DEFAULT_GATEWAY_PORT), help="gateway port (8080)")
        parser.add_argument("--api-port", type=int, default=default(DEFAULT_API_PORT), help="fraud-api port (8081)")
        parser.add_argument("--aws-port", type=int, default=default(DEFAULT_AWS_PORT), help="moto port (8082)")


def _add_traffic(parser: argparse.ArgumentParser) -> None:
    """The demo's traffic and label options (``demo`` and ``replay`` share them)."""
    # The simulator builds the whole traffic in memory first; past these a run is hours, not a demo.
    parser.add_argument(
        "--weeks", type=_whole(MAX_WEEKS), default=1, help="simulated weeks (default 1; 4 or more let labels matter)"
    )
    parser.add_argument(
        "--transactions",
        type=_whole(MAX_TRANSACTIONS),
        help=f"how many (default {TRANSACTIONS_PER_WEEK} per simulated week)",
    )
    parser.add_argument("--seed", type=int, default=7, help="simulator seed (default 7)")
    parser.add_argument(
        "--no-labels", dest="labels", action="store_false", help="send no analyst review or chargeback back"
    )


def _whole(most: int) -> Callable[[str], int]:
    """An argparse type: a whole number from 1 to ``most``."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = 0
        if not 1 <= number <= most:
            raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {most:,}, got {value!r}")
        return number

    return parse


def _rate(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of transactions per second, got {value!r}")
    return number


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m fraud_local", description="Run the fraud-detection system locally.")
    _add_common(main, ports=True, subcommand=False)
    main.add_argument("--api-key", type=_api_key, help="use (and store) this API key instead of the generated one")
    commands = main.add_subparsers(dest="command")
    demo_parser = commands.add_parser("demo", help="replay simulated traffic through the gateway, then report")
    _add_common(demo_parser, ports=True, subcommand=True)
    _add_traffic(demo_parser)
    demo_parser.add_argument("--rate", type=_rate, default=50.0, help="at most this many per second (default 50)")
    replay_parser = commands.add_parser(
        "replay", help="the demo's traffic and labels scored in-process, without the services (seconds)"
    )
    _add_traffic(replay_parser)
    replay_parser.add_argument("--model", type=Path, help="a model artifact (default: the shipped model)")
    retrain_parser = commands.add_parser("retrain", help="export, retrain, gate and promote into the local registry")
    _add_common(retrain_parser, ports=False, subcommand=True)
    retrain_parser.add_argument("--train-days", type=int, help="training window (default: the scheduled cycle's, 21)")
    retrain_parser.add_argument("--eval-days", type=int, help="evaluation window (default: the scheduled cycle's, 7)")
    report_parser = commands.add_parser("report", help="run the reporter once")
    _add_common(report_parser, ports=False, subcommand=True)
    report_parser.add_argument("--date", type=_date, help="UTC day to report (default: yesterday)")
    traces_parser = commands.add_parser("traces", help="print fraud-api's latest traces as trees, with durations")
    _add_common(traces_parser, ports=False, subcommand=True)
    traces_parser.add_argument("--last", type=int, default=1, help="how many traces, newest last (default 1)")
    return main


def main(argv: list[str] | None = None, out: IO[str] = sys.stdout) -> int:
    args = parser().parse_args(argv)
    command = {"demo": demo, "replay": replay, "retrain": retrain, "report": report, "traces": traces}.get(
        args.command, run
    )
    try:
        return command(args, out)
    except (PortInUse, AlreadyRunning, ChildFailed) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2 if isinstance(exc, PortInUse | AlreadyRunning) else 1


if __name__ == "__main__":
    sys.exit(main())
