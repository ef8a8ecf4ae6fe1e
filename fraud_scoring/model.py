"""The versioned model artifact: validation at load time and fast pure-Python evaluation.

Standard library only (serving path). The artifact is JSON written by ``fraud_scoring.train``.
At load time the tree ensemble is turned into Python source (nested ``if``/``else`` per tree,
features bound to local variables) and compiled once, which is several times faster than
walking node arrays for every score.

Tree encoding, per tree: parallel arrays ``feature``, ``threshold``, ``left``, ``right`` for the
internal nodes, and ``value`` for the leaves. A child >= 0 is an internal node index; a child
< 0 is leaf ``~child``. A sample goes left when ``x[feature] <= threshold``. A tree with no
internal node is the single leaf ``value[0]``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraud_scoring.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION, LABEL_DELAY_DAYS

ARTIFACT_FORMAT = "fraud-scoring-model"
ARTIFACT_FORMAT_VERSION = 1
MODEL_TYPE = "gradient_boosted_trees"
SHIPPED_ARTIFACT = Path(__file__).with_name("model.json")
_MAX_DEPTH = 40  # generated code nests one block per level; keeps compile() far from its limits
_REQUIRED = (
    "format",
    "format_version",
    "model_version",
    "model_type",
    "objective",
    "feature_schema_version",
    "label_delay_days",
    "features",
    "base_score",
    "trees",
    "training",
    "metrics",
    "created_at",
)


class ArtifactError(Exception):
    """The model artifact is missing, unreadable, corrupt or does not match this code."""


@dataclass(frozen=True)
class Model:
    """A loaded, validated tree ensemble. ``predict`` maps a feature tuple to a probability."""

    version: str
    features: tuple[str, ...]
    label_delay_days: float
    metadata: Mapping[str, Any]
    raw_score: Callable[[tuple[float, ...]], float]

    def predict(self, features: tuple[float, ...]) -> float:
        z = self.raw_score(features)
        # Split so exp() never overflows for extreme raw scores.
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ArtifactError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _tree_source(tree: object, index: int, n_features: int, out: list[str]) -> None:
    where = f"trees[{index}]"
    if not isinstance(tree, dict):
        raise ArtifactError(f"{where} must be an object")
    try:
        feats, thresholds, lefts, rights, values = (
            tree["feature"],
            tree["threshold"],
            tree["left"],
            tree["right"],
            tree["value"],
        )
    except KeyError as exc:
        raise ArtifactError(f"{where} lacks key {exc.args[0]!r}") from None
    arrays = (feats, thresholds, lefts, rights, values)
    if not all(isinstance(a, list) for a in arrays):
        raise ArtifactError(f"{where}: feature/threshold/left/right/value must be lists")
    n_nodes = len(feats)
    if not (len(thresholds) == len(lefts) == len(rights) == n_nodes) or len(values) != n_nodes + 1:
        raise ArtifactError(f"{where}: node arrays differ in length or leaf count is not nodes + 1")
    leaves = [repr(_number(v, f"{where}.value")) for v in values]
    if n_nodes == 0:
        out.append(f"    s += {leaves[0]}")
        return
    seen: set[int] = set()

    def emit(child: object, depth: int) -> None:
        pad = "    " * depth
        if isinstance(child, bool) or not isinstance(child, int):
            raise ArtifactError(f"{where}: child reference {child!r} is not an integer")
        if child < 0:
            leaf = ~child
            if leaf >= len(leaves):
                raise ArtifactError(f"{where}: leaf {leaf} out of range")
            out.append(f"{pad}s += {leaves[leaf]}")
            return
        if child >= n_nodes or child in seen or depth > _MAX_DEPTH:
            raise ArtifactError(f"{where}: node {child} is out of range, revisited or too deep")
        seen.add(child)
        feat = feats[child]
        if isinstance(feat, bool) or not isinstance(feat, int) or not 0 <= feat < n_features:
            raise ArtifactError(f"{where}: feature index {feat!r} out of range")
        threshold = repr(_number(thresholds[child], f"{where}.threshold"))
        out.append(f"{pad}if f{feat} <= {threshold}:")
        emit(lefts[child], depth + 1)
        out.append(f"{pad}else:")
        emit(rights[child], depth + 1)

    emit(0, 1)


def compile_ensemble(trees: list[object], base_score: float, n_features: int) -> Callable[[tuple[float, ...]], float]:
    """Generate and compile ``raw_score(x) = base_score + sum of tree outputs``.

    Every number placed in the source went through ``float`` and ``repr`` and every index was
    range-checked, so the artifact cannot inject code.
    """
    names = ", ".join(f"f{i}" for i in range(n_features))
    lines = ["def raw_score(x):", f"    ({names},) = x", f"    s = {base_score!r}"]
    for i, tree in enumerate(trees):
        _tree_source(tree, i, n_features, lines)
    lines.append("    return s")
    namespace: dict[str, Any] = {"__builtins__": {}}
    exec(compile("\n".join(lines), "<fraud_scoring generated ensemble>", "exec"), namespace)
    fn: Callable[[tuple[float, ...]], float] = namespace["raw_score"]
    return fn


def validate_artifact(data: object, source: str = "<artifact>") -> Model:
    """Check an artifact's structure and compatibility with this code; compile it."""
    if not isinstance(data, dict):
        raise ArtifactError(f"{source}: top level must be a JSON object")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ArtifactError(f"{source}: missing key(s) {missing}")
    if data["format"] != ARTIFACT_FORMAT or data["format_version"] != ARTIFACT_FORMAT_VERSION:
        raise ArtifactError(
            f"{source}: format {data['format']!r} v{data['format_version']!r} is not supported; "
            f"this code reads {ARTIFACT_FORMAT!r} v{ARTIFACT_FORMAT_VERSION}"
        )
    if data["model_type"] != MODEL_TYPE or data["objective"] != "binary_logistic":
        raise ArtifactError(f"{source}: unsupported model {data['model_type']!r}/{data['objective']!r}")
    if data["feature_schema_version"] != FEATURE_SCHEMA_VERSION:
        raise ArtifactError(
            f"{source}: trained on feature schema v{data['feature_schema_version']!r}, "
            f"this code computes v{FEATURE_SCHEMA_VERSION}; retrain with `python -m fraud_scoring.train`"
        )
    if data["features"] != list(FEATURE_NAMES):
        theirs = data["features"] if isinstance(data["features"], list) else []
        diff = sorted(set(map(str, theirs)) ^ set(FEATURE_NAMES))
        raise ArtifactError(
            f"{source}: feature list does not match this code (differences: {diff or 'order only'}); "
            "retrain with `python -m fraud_scoring.train`"
        )
    if data["label_delay_days"] != LABEL_DELAY_DAYS:
        raise ArtifactError(
            f"{source}: trained with a {data['label_delay_days']!r}-day label delay, serving uses {LABEL_DELAY_DAYS}"
        )
    version = data["model_version"]
    if not isinstance(version, str) or not version:
        raise ArtifactError(f"{source}: model_version must be a non-empty string")
    trees = data["trees"]
    if not isinstance(trees, list) or not trees:
        raise ArtifactError(f"{source}: trees must be a non-empty list")
    base = _number(data["base_score"], f"{source}: base_score")
    raw_score = compile_ensemble(trees, base, len(FEATURE_NAMES))
    meta = {k: data[k] for k in ("training", "metrics", "created_at", "objective", "model_type")}
    return Model(version, FEATURE_NAMES, float(data["label_delay_days"]), meta, raw_score)


def load_model(path: str | Path | None = None) -> Model:
    """Load and validate an artifact (default: the one shipped in the package).

    Raises
    ------
    ArtifactError
        When the file is missing, unreadable, not JSON, malformed or incompatible.
    """
    target = Path(path) if path is not None else SHIPPED_ARTIFACT
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ArtifactError(f"model artifact not found: {target}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"model artifact {target} cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"model artifact {target} is not valid JSON (corrupt?): {exc}") from None
    return validate_artifact(data, str(target))
