"""The reporter on demand: one invocation of the real reporter handler, as the daily schedule does.

``run_report`` starts ``python -m fraud_local.reporter`` with the reporter's variables (its own
process, like its own Lambda), passes ``{"date": "YYYY-MM-DD"}`` or the scheduled-event shape,
then copies the report objects from S3 (moto) into the state folder, where they outlive moto.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fraud_local.aws import Resources, aws_environment, client, function_environment
from fraud_local.config import LocalNames
from fraud_local.processes import Child, ChildFailed

REPORT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ReportResult:
    summary: dict[str, Any]
    """The handler's answer: date, transactions, flagged, queries, malformed, keys."""
    s3_uris: list[str]
    local_paths: list[Path]

    @property
    def json_path(self) -> Path:
        return next(p for p in self.local_paths if p.suffix == ".json")


def run_report(endpoint: str, resources: Resources, state_dir: Path, day: date | None = None) -> ReportResult:
    """Report ``day`` (default: yesterday, UTC, as the schedule does) and copy it to the state folder."""
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    result_file = logs / "reporter.result.json"
    result_file.unlink(missing_ok=True)
    env = {
        **aws_environment(endpoint),
        **function_environment("reporter", resources),
        "FRAUD_LOCAL_RESULT_FILE": str(result_file),
    }
    if day is not None:
        env["FRAUD_LOCAL_REPORT_DATE"] = day.isoformat()
    child = Child("reporter", ["-m", "fraud_local.reporter"], env, logs / "reporter.log")
    try:
        code: int | None = child.process.wait(REPORT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        child.stop()
    if code != 0 or not result_file.exists():
        raise ChildFailed(f"the reporter failed (exit code {code}){child.log_tail()}")
    outcome = json.loads(result_file.read_text(encoding="utf-8"))
    result_file.unlink()
    if "error" in outcome:
        raise ChildFailed(f"the reporter refused: {outcome['error']}")
    s3 = client("s3", endpoint)
    uris: list[str] = []
    paths: list[Path] = []
    for key in outcome["keys"]:
        target = state_dir / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=resources.reports_bucket, Key=key)["Body"].read())
        uris.append(f"s3://{resources.reports_bucket}/{key}")
        paths.append(target)
    return ReportResult(outcome, uris, paths)


def main() -> None:
    """Child entry point: the reporter's variables are already in the environment."""
    from fraud_local.logs import configure_child_logging
    from fraud_local.runtime import FunctionRuntime

    configure_child_logging()
    # Imported only now: Powertools reads the function's variables when its singletons are built.
    from functions.reporter.handler import lambda_handler

    raw_day = os.environ.get("FRAUD_LOCAL_REPORT_DATE")
    event: dict[str, Any]
    if raw_day:
        event = {"date": raw_day}
    else:
        # The EventBridge scheduled event's shape: the handler reports the day before "time".
        now = datetime.now(tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        event = {"source": "aws.events", "detail-type": "Scheduled Event", "time": now, "detail": {}}
    result_path = Path(os.environ["FRAUD_LOCAL_RESULT_FILE"])
    function = FunctionRuntime(LocalNames.derive().function("reporter"), lambda_handler)
    try:
        summary = function.invoke(event)
    except ValueError as exc:  # a day that cannot be reported (malformed, or not over yet)
        result_path.write_text(json.dumps({"error": str(exc)}), encoding="utf-8")
        return
    result_path.write_text(json.dumps(summary, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
