"""The model card: what an artifact was trained on and how it compared at the gate, as JSON and HTML.

Keys (shared contract, issue 14): version, created_at, training_code_commit, data_window
{start, end, label_delay_days}, rows {train, evaluation}, features, thresholds {review, decline},
metrics {challenger, current}, gate {passed, margin, reasons} and, when the drift job's profile is
available, reference. Standard library only (the registry writes cards on the serving side too).
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

METRIC_KEYS = ("average_precision", "card_precision_at_100", "roc_auc", "review_rate", "decline_rate")
"""The metrics every card reports for both models, in display order."""


def build_card(
    *,
    version: str,
    created_at: str,
    training_code_commit: str,
    data_window: Mapping[str, Any],
    rows: Mapping[str, int],
    features: Sequence[str],
    thresholds: Mapping[str, float],
    metrics: Mapping[str, Mapping[str, float | None]],
    gate: Mapping[str, Any],
    reference: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The card as a JSON-ready dict; ``reference`` is omitted when None."""
    card: dict[str, Any] = {
        "version": version,
        "created_at": created_at,
        "training_code_commit": training_code_commit,
        "data_window": dict(data_window),
        "rows": dict(rows),
        "features": list(features),
        "thresholds": dict(thresholds),
        "metrics": {name: dict(values) for name, values in metrics.items()},
        "gate": dict(gate),
    }
    if reference is not None:
        card["reference"] = dict(reference)
    return card


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def _table(header: Sequence[str], body: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def render_html(card: Mapping[str, Any]) -> str:
    """A self-contained readable page; every value from the card is escaped."""
    metrics = card.get("metrics", {})
    challenger, current = metrics.get("challenger", {}), metrics.get("current", {})
    gate = card.get("gate", {})
    window = card.get("data_window", {})
    thresholds = card.get("thresholds", {})
    version = html.escape(str(card.get("version")))
    sections = [
        f"<h1>Model card: {version}</h1>",
        _table(
            ["created", "training code commit", "data window", "label delay (days)", "rows (train / evaluation)"],
            [
                [
                    card.get("created_at"),
                    card.get("training_code_commit"),
                    f"{window.get('start')} to {window.get('end')}",
                    window.get("label_delay_days"),
                    f"{card.get('rows', {}).get('train')} / {card.get('rows', {}).get('evaluation')}",
                ]
            ],
        ),
        "<h2>Gate: " + ("passed" if gate.get("passed") else "not passed") + "</h2>",
        "<ul>" + "".join(f"<li>{html.escape(str(r))}</li>" for r in gate.get("reasons", [])) + "</ul>",
        _table(
            ["metric", "challenger", "current", "allowed drop"],
            [[k, challenger.get(k), current.get(k), gate.get("margin", {}).get(k)] for k in METRIC_KEYS],
        ),
        "<h2>Thresholds</h2>",
        _table(["review", "decline"], [[thresholds.get("review"), thresholds.get("decline")]]),
        "<h2>Features</h2>",
        "<ol>" + "".join(f"<li>{html.escape(str(f))}</li>" for f in card.get("features", [])) + "</ol>",
        "<h2>Card (JSON)</h2>",
        f"<pre>{html.escape(json.dumps(card, indent=2, sort_keys=True))}</pre>",
    ]
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:4px 8px}"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Model card {version}</title>'
        f"<style>{style}</style></head><body>{''.join(sections)}</body></html>\n"
    )
