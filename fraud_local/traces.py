"""fraud-api's traces in local mode: the JSON-lines file it writes, printed as trees.

Local mode starts fraud-api with ``FRAUD_API_TRACE_EXPORTER=file`` and every request sampled, so
each request leaves its spans (one JSON object per line, the OpenTelemetry SDK's own span
format) in ``<state>/logs/traces.jsonl``, where ``python -m fraud_local traces`` reads them. In
AWS the same spans go to X-Ray through the task's collector.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

TRACES_FILE = "traces.jsonl"
"""In the state folder's logs/ directory."""
SAMPLE_RATE = "1.0"
"""Every request: locally a trace is for looking at one decision, and the file is the only cost."""


def traces_path(state_dir: Path) -> Path:
    return state_dir / "logs" / TRACES_FILE


@dataclass
class Span:
    name: str
    span_id: str
    parent_id: str | None
    start: datetime
    end: datetime
    attributes: dict[str, Any]
    children: list[Span] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start).total_seconds() * 1000.0


def _span(entry: dict[str, Any]) -> Span:
    return Span(
        name=entry["name"],
        span_id=entry["context"]["span_id"],
        parent_id=entry.get("parent_id"),
        start=datetime.fromisoformat(entry["start_time"]),
        end=datetime.fromisoformat(entry["end_time"]),
        attributes=entry.get("attributes") or {},
    )


def read_traces(lines: Iterable[str]) -> list[tuple[str, Span]]:
    """``(trace id, root span)`` per trace, oldest first; children sorted by start time.

    A root is a span whose parent is not in the file (none, or the caller's span in another
    service); a line that is not a span (a write cut short by a crash) is skipped.
    """
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for line in lines:
        try:
            entry = json.loads(line)
            by_trace[entry["context"]["trace_id"]].append(_span(entry))
        except (ValueError, KeyError, TypeError):
            continue
    roots: list[tuple[str, Span]] = []
    for trace_id, spans in by_trace.items():
        ids = {s.span_id: s for s in spans}
        for s in sorted(spans, key=lambda s: s.start):
            parent = ids.get(s.parent_id) if s.parent_id else None
            if parent is None:
                roots.append((trace_id, s))
            else:
                parent.children.append(s)
    return sorted(roots, key=lambda pair: pair[1].start)


def _label(span: Span) -> str:
    status = span.attributes.get("http.response.status_code")
    details = [str(status)] if status is not None else []
    details += [f"{k}={span.attributes[k]}" for k in ("fraud.decision", "fraud.request_id") if k in span.attributes]
    return " ".join([span.name, *details])


def _lines(span: Span, root_start: datetime, prefix: str, last: bool, top: bool) -> Iterator[str]:
    offset = (span.start - root_start).total_seconds() * 1000.0
    branch = "" if top else ("└─ " if last else "├─ ")
    yield f"{span.duration_ms:9.3f} ms  +{offset:7.3f} ms  {prefix}{branch}{_label(span)}"
    inner = prefix if top else prefix + ("   " if last else "│  ")
    for i, child in enumerate(span.children):
        yield from _lines(child, root_start, inner, i == len(span.children) - 1, False)


def render(trace_id: str, root: Span) -> str:
    """One trace as a tree: duration, start offset from the request's start, name and key facts."""
    header = f"trace {trace_id}  {root.start.isoformat(timespec='milliseconds')}"
    return "\n".join([header, *_lines(root, root.start, "", True, True)])


def last_traces(path: Path, count: int) -> list[str]:
    """The ``count`` most recent traces in the file, rendered (oldest of them first)."""
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as lines:
        traces = read_traces(lines)
    return [render(trace_id, root) for trace_id, root in traces[-count:]] if count > 0 else []
