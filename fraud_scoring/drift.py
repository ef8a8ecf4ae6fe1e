"""Population stability of the score and of the model's most important features.

Standard library only at run time: the daily drift Lambda imports this module. ``reference_profile``
runs at training time and imports numpy inside itself, so importing the module never needs it.

Definitions:

* **Reference profile**: for the score and for each of the ``top`` most important features, the
  interior edges of decile bins computed on the training data (``bins``), the share of training
  rows in each bin (``fractions``, one more than there are edges) and the share of missing values
  (``missing``: None or NaN). A value ``x`` falls in the first bin whose edge is ``>= x``
  (upper-inclusive, like the trees' ``x <= threshold``), or in the last bin above every edge.
  Edges are data values (numpy's ``inverted_cdf`` quantiles) with duplicates dropped, so a binary
  feature gets two bins and a constant one a single edge; values never seen in training (above
  the top edge, or a missing value where training had none) land in bins whose reference share
  is 0, which is exactly the shift PSI should report.
* **Importance**: how often a feature splits a node across the artifact's trees, or the summed
  ``gain`` when the trees carry one (the pure-Python artifact format stores none today). Split
  counts need nothing but the artifact; ties are broken by the feature's position.
* **PSI**: ``sum((o - r) * ln(o / r))`` over the bins and the missing bucket, with ``r`` and ``o``
  the reference and observed shares. A share below ``EPSILON`` counts as ``EPSILON``: an empty bin
  would otherwise make the term infinite (or undefined). With 1e-4, a bin that was empty in
  training and now holds 10 % of the traffic adds about 0.1 x ln(1000) = 0.69, well past "act".
* **Reading PSI** (the usual rule of thumb, e.g. Siddiqi, *Credit Risk Scorecards*, 2006):
  below ``PSI_WATCH`` (0.1) stable; 0.1 to ``PSI_ACT`` (0.25) a moderate shift to watch; above
  0.25 a significant shift to act on (retrain, or roll back a recent promotion).
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

EPSILON = 1e-4
"""Smallest share a bin counts with in ``psi`` (see the module docstring)."""
PSI_WATCH = 0.1
PSI_ACT = 0.25
DECILES = tuple(i / 10 for i in range(1, 10))
TOP_FEATURES = 10
SHIPPED_REFERENCE = Path(__file__).with_name("reference.json")
"""The shipped model's reference, in the model card's shape (``version``, ``reference``)."""

Profile = dict[str, Any]
"""``{"bins": [edge, ...], "fractions": [share, ...], "missing": share}``."""


def feature_importance(artifact: Mapping[str, Any]) -> dict[str, float]:
    """Importance per feature name of a ``fraud_scoring.model`` artifact: summed ``gain`` per
    split when every tree has a ``gain`` list, else the number of splits."""
    names = list(artifact["features"])
    trees = artifact["trees"]
    use_gain = all("gain" in tree for tree in trees)
    totals = [0.0] * len(names)
    for tree in trees:
        weights = tree["gain"] if use_gain else [1.0] * len(tree["feature"])
        for feature, weight in zip(tree["feature"], weights, strict=True):
            totals[feature] += float(weight)
    return dict(zip(names, totals, strict=True))


def top_features(artifact: Mapping[str, Any], top: int = TOP_FEATURES) -> list[str]:
    """The ``top`` most important features, most important first (never one the trees ignore)."""
    importance = feature_importance(artifact)
    order = {name: i for i, name in enumerate(importance)}
    ranked = sorted((name for name, value in importance.items() if value > 0), key=lambda n: (-importance[n], order[n]))
    return ranked[:top]


def reference_profile(
    features: Any, scores: Any, feature_names: Sequence[str], *, artifact: Mapping[str, Any], top: int = TOP_FEATURES
) -> dict[str, Any]:
    """The drift reference (model card key ``reference``) from training data.

    Parameters
    ----------
    features:
        Rows x ``feature_names`` (array-like; None or NaN = missing).
    scores:
        The model's score for each row.
    feature_names:
        Column names of ``features``.
    artifact:
        The model artifact whose trees rank the features.
    top:
        How many features to profile.

    Returns
    -------
    ``{"score": Profile, "features": {name: Profile, ...}}``, features most important first.
    """
    import numpy as np  # training side only: the serving path never calls this

    matrix = np.asarray(features, dtype=np.float64)
    columns = {name: matrix[:, i] for i, name in enumerate(feature_names)}
    return {
        "score": _profile(np.asarray(scores, dtype=np.float64)),
        "features": {name: _profile(columns[name]) for name in top_features(artifact, top)},
    }


def _profile(values: Any) -> Profile:
    import numpy as np

    present = values[~np.isnan(values)]
    missing = 1.0 - len(present) / len(values) if len(values) else 0.0
    if not len(present):
        return {"bins": [], "fractions": [0.0], "missing": missing}
    edges = np.unique(np.quantile(present, DECILES, method="inverted_cdf"))
    # side="left": the first edge >= x, the upper-inclusive rule of ``bin_fractions``.
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    share = len(present) / len(values)
    return {
        "bins": [float(e) for e in edges],
        "fractions": [float(c) / len(present) * share for c in counts],
        "missing": missing,
    }


def bin_fractions(profile: Mapping[str, Any], values: Iterable[float | None]) -> list[float]:
    """Shares of ``values`` in ``profile``'s bins, then the missing share (None or NaN)."""
    edges = profile["bins"]
    counts = [0] * (len(edges) + 2)
    for value in values:
        if value is None or math.isnan(value):
            counts[-1] += 1
        else:
            counts[bisect_left(edges, value)] += 1
    total = sum(counts)
    if not total:
        raise ValueError("no values to bin")
    return [c / total for c in counts]


def psi(reference: Sequence[float], observed: Sequence[float]) -> float:
    """Population stability index of ``observed`` shares against ``reference`` shares (same bins)."""
    if len(reference) != len(observed) or not reference:
        raise ValueError(f"PSI needs two non-empty share lists of one length, got {len(reference)} and {len(observed)}")
    total = 0.0
    for r, o in zip(reference, observed, strict=True):
        r, o = max(r, EPSILON), max(o, EPSILON)
        total += (o - r) * math.log(o / r)
    return total


def profile_psi(profile: Mapping[str, Any], values: Iterable[float | None]) -> float:
    """PSI of ``values`` against one reference profile (its bins and its missing share)."""
    return psi([*profile["fractions"], profile["missing"]], bin_fractions(profile, values))


def drift_report(
    reference: Mapping[str, Any],
    recent_features: Sequence[Mapping[str, float | None]],
    recent_scores: Sequence[float],
    decisions: Sequence[str],
) -> dict[str, Any]:
    """PSI of the score and of each reference feature, and the decision rates, for recent traffic.

    ``recent_features`` holds one mapping per sampled transaction (feature name -> value, e.g.
    ``Features._asdict()``); ``recent_scores`` and ``decisions`` may cover more transactions than
    the sample. A PSI or rate without data to compute it from is None.
    """
    counts = Counter(decisions)
    n = len(decisions)
    return {
        "transactions": n,
        "scores": len(recent_scores),
        "sampled": len(recent_features),
        "score_psi": profile_psi(reference["score"], recent_scores) if recent_scores else None,
        "feature_psi": {
            name: profile_psi(profile, [row[name] for row in recent_features])
            for name, profile in reference["features"].items()
        }
        if recent_features
        else {},
        "review_rate": counts["review"] / n if n else None,
        "decline_rate": counts["decline"] / n if n else None,
    }


def load_reference(path: str | Path | None = None) -> tuple[str, dict[str, Any]]:
    """``(model_version, reference)`` from a model card or ``reference.json`` (same keys);
    default: the shipped model's."""
    card = json.loads(Path(path or SHIPPED_REFERENCE).read_text(encoding="utf-8"))
    return str(card["version"]), card["reference"]
