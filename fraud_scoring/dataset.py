"""Handbook CSV loading and feature matrices for training and evaluation (numpy/pandas).

Features are computed by the serving path's ``compute_features`` on histories sliced from the
table, so training, the benchmark and production share one feature definition. Not imported by
the serving path.

Two sources give the same frame: the handbook's CSV or simulator (``prepare``: a label is taken
as known from timestamp + delay, the handbook's convention) and the training export
(``from_export``: each label carries the time it really became known, in ``LABEL_TIME``).
"""

from __future__ import annotations

import gc
import math
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_scoring.features import CUSTOMER_WINDOW_DAYS, DAY, FEATURE_NAMES, LABEL_DELAY_DAYS, compute_features
from fraud_scoring.types import History, HistoryItem, Transaction

_USED_COLUMNS = ("TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD")
LABEL_TIME = "LABEL_TIME"
"""Epoch seconds when the label became known; NaN while unlabelled (export frames only)."""


def load_transactions(path: str | Path) -> pd.DataFrame:
    """Read a handbook CSV. ``TX_FRAUD_SCENARIO`` is never read, so it cannot leak.

    Adds ``TS`` (epoch seconds, the naive ``TX_DATETIME`` taken as UTC) and sorts by time.
    """
    frame = pd.read_csv(path, usecols=list(_USED_COLUMNS))
    return prepare(frame)


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep the handbook columns (dropping any scenario column) and add ``TS``; sort by time."""
    missing = [c for c in _USED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"transactions are missing column(s) {missing}; expected {list(_USED_COLUMNS)}")
    out = frame.loc[:, list(_USED_COLUMNS)].copy()
    dt = pd.to_datetime(out["TX_DATETIME"])
    out["TX_DATETIME"] = dt
    out["TS"] = (dt - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy(dtype=np.float64)
    out["TX_FRAUD"] = out["TX_FRAUD"].astype(np.int8)
    return out.sort_values(["TS", "TRANSACTION_ID"], kind="stable").reset_index(drop=True)


def from_export(export: pd.DataFrame) -> pd.DataFrame:
    """``prepare``'s frame from ``fraud_scoring.export.read_labelled_window``, plus ``LABEL_TIME``.

    An unlabelled transaction gets ``TX_FRAUD`` 0 and ``LABEL_TIME`` NaN: features never see its
    label (there is none), and as a training target it counts as legitimate, as a transaction
    nobody disputed does.
    """
    labelled = export["fraud"].notna().to_numpy()
    frame = pd.DataFrame(
        {
            "TRANSACTION_ID": export["transaction_id"].to_numpy(),
            "TX_DATETIME": pd.to_datetime(export["timestamp"], unit="s"),
            "CUSTOMER_ID": export["customer_id"].to_numpy(),
            "TERMINAL_ID": export["terminal_id"].to_numpy(),
            "TX_AMOUNT": export["amount"].to_numpy(dtype=np.float64),
            "TX_FRAUD": export["fraud"].fillna(False).to_numpy(dtype=np.int8),
            "TS": export["timestamp"].to_numpy(dtype=np.float64),
            LABEL_TIME: np.where(labelled, export["label_time"].to_numpy(dtype=np.float64), np.nan),
        }
    )
    return frame.sort_values(["TS", "TRANSACTION_ID"], kind="stable").reset_index(drop=True)


def _strings(values: pd.Series) -> list[str]:
    return [str(v) for v in values.to_numpy().tolist()]


def _items(frame: pd.DataFrame, known_before: float, delay_days: float) -> list[HistoryItem]:
    """One HistoryItem per row, in frame order. Labels of transactions at or after
    ``known_before`` are withheld entirely (``fraud`` and ``label_time`` are None). A label is
    known from its ``LABEL_TIME`` when the frame has one (export), else from timestamp + delay."""
    ts = frame["TS"].to_numpy().tolist()
    fraud = frame["TX_FRAUD"].to_numpy().tolist()
    if LABEL_TIME in frame:
        label_times = frame[LABEL_TIME].to_numpy(dtype=np.float64).tolist()
    else:
        label_times = (frame["TS"].to_numpy() + delay_days * DAY).tolist()
    labels = [
        (bool(f), lt) if s < known_before and not math.isnan(lt) else (None, None)
        for s, f, lt in zip(ts, fraud, label_times, strict=True)
    ]
    return [
        HistoryItem(i, s, a, c, m, f, lt)
        for i, s, a, c, m, (f, lt) in zip(
            _strings(frame["TRANSACTION_ID"]),
            ts,
            frame["TX_AMOUNT"].to_numpy(dtype=np.float64).tolist(),
            _strings(frame["CUSTOMER_ID"]),
            _strings(frame["TERMINAL_ID"]),
            labels,
            strict=True,
        )
    ]


def feature_matrix(
    frame: pd.DataFrame,
    rows: np.ndarray,
    label_delay_days: float = LABEL_DELAY_DAYS,
    labels_known_before: float = float("inf"),
) -> np.ndarray:
    """Features (n_rows x n_features, float64) for ``frame.iloc[rows]``.

    Parameters
    ----------
    frame:
        Output of ``prepare`` or ``from_export``: every transaction that may be history for ``rows``.
    rows:
        Positional indices of the transactions to featurise.
    label_delay_days:
        Label delay passed to ``compute_features``.
    labels_known_before:
        Epoch seconds; labels of transactions at or after it are treated as never known (the
        benchmark passes the test-window start). ``compute_features`` already ignores labels
        younger than the delay; this is a second, independent barrier.
    """
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows), len(FEATURE_NAMES)), dtype=np.float64)
    if len(rows) == 0:
        return out
    ts_all = frame["TS"].to_numpy()
    t_rows = ts_all[rows]
    # Only transactions that can be history of some target row need HistoryItem objects.
    span = (CUSTOMER_WINDOW_DAYS + max(label_delay_days, LABEL_DELAY_DAYS)) * DAY
    lo_t, hi_t = t_rows.min() - span, t_rows.max()
    window = np.flatnonzero((ts_all > lo_t) & (ts_all <= hi_t))
    sub = frame.iloc[window]
    cust_codes = pd.factorize(sub["CUSTOMER_ID"])[0]
    term_codes = pd.factorize(sub["TERMINAL_ID"])[0]
    sub_ts = sub["TS"].to_numpy()
    by_cust = np.lexsort((sub_ts, cust_codes))
    by_term = np.lexsort((sub_ts, term_codes))
    # Items are created in customer order (customer slices are then contiguous in memory) and
    # shared with the terminal lists.
    cust_items = _items(sub.iloc[by_cust], labels_known_before, label_delay_days)
    rank = np.empty(len(by_cust), dtype=np.int64)
    rank[by_cust] = np.arange(len(by_cust))
    term_items = [cust_items[i] for i in rank[by_term].tolist()]

    # Composite (entity, time) keys let one searchsorted find every row's history slice.
    stride = (hi_t - lo_t) + 2 * DAY
    cust_key = cust_codes[by_cust] * stride + (sub_ts[by_cust] - lo_t)
    term_key = term_codes[by_term] * stride + (sub_ts[by_term] - lo_t)
    pos_in_sub = np.searchsorted(window, rows)
    row_cust = cust_codes[pos_in_sub] * stride
    row_term = term_codes[pos_in_sub] * stride
    rel = t_rows - lo_t
    c_lo = np.searchsorted(cust_key, row_cust + rel - span, side="right").tolist()
    c_hi = np.searchsorted(cust_key, row_cust + rel, side="right").tolist()
    m_lo = np.searchsorted(term_key, row_term + rel - span, side="right").tolist()
    m_hi = np.searchsorted(term_key, row_term + rel, side="right").tolist()

    target = frame.iloc[rows]
    tx_ids = _strings(target["TRANSACTION_ID"])
    customers = _strings(target["CUSTOMER_ID"])
    terminals = _strings(target["TERMINAL_ID"])
    amounts = target["TX_AMOUNT"].to_numpy(dtype=np.float64).tolist()
    times = t_rows.tolist()
    # Hundreds of thousands of long-lived HistoryItems make every cyclic-GC pass expensive and
    # the loop creates no cycles, so collection is paused for its duration.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for k in range(len(rows)):
            tx = Transaction(tx_ids[k], times[k], customers[k], terminals[k], amounts[k])
            hist = History(tuple(cust_items[c_lo[k] : c_hi[k]]), tuple(term_items[m_lo[k] : m_hi[k]]))
            out[k] = compute_features(tx, hist, label_delay_days)
    finally:
        if gc_was_enabled:
            gc.enable()
    return out


def window_rows(frame: pd.DataFrame, start: str | pd.Timestamp, days: float) -> np.ndarray:
    """Positions of transactions with TX_DATETIME in [start, start + days)."""
    begin = pd.Timestamp(start)
    end = begin + pd.Timedelta(days=days)
    dt = frame["TX_DATETIME"]
    return np.flatnonzero(((dt >= begin) & (dt < end)).to_numpy())
