"""Vectorised transaction simulator following the fraud-detection handbook's description.

Implemented from the prose specification (shared/reference/fraud-simulator.md), not from the
handbook's code. Every random draw comes from one ``numpy.random.Generator`` per concern, all
spawned from a single seed, so a seed fully determines the data set. Training/evaluation only:
never imported by the serving path.

Run ``python -m fraud_scoring.simulator --seed 7 --out data/seed7.csv`` to write a handbook CSV.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SECONDS_PER_DAY = 86_400
HANDBOOK_COLUMNS = (
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    "TX_FRAUD",
    "TX_FRAUD_SCENARIO",
)


@dataclass(frozen=True)
class SimulatorConfig:
    """Book-scale defaults (section 1.2 of the reference)."""

    n_customers: int = 5_000
    n_terminals: int = 10_000
    n_days: int = 183
    start_date: str = "2018-04-01"
    radius: float = 5.0
    amount_fraud_threshold: float = 220.0
    compromised_terminals_per_day: int = 2
    terminal_compromise_days: int = 28
    compromised_customers_per_day: int = 3
    customer_compromise_days: int = 14
    customer_fraud_fraction: float = 1 / 3
    customer_fraud_multiplier: float = 5.0


def _available_terminals(
    cust_xy: np.ndarray, term_xy: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR layout of the terminals strictly closer than ``radius`` to each customer.

    Chunked so the customer x terminal distance matrix never exceeds a few tens of MB.
    """
    indices: list[np.ndarray] = []
    counts = np.zeros(len(cust_xy), dtype=np.int64)
    chunk = 500
    for lo in range(0, len(cust_xy), chunk):
        block = cust_xy[lo : lo + chunk]
        d2 = ((block[:, None, :] - term_xy[None, :, :]) ** 2).sum(axis=2)
        rows, cols = np.nonzero(d2 < radius * radius)
        counts[lo : lo + chunk] = np.bincount(rows, minlength=len(block))
        indices.append(cols)
    flat = np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return flat, offsets, counts


def _legitimate_transactions(cfg: SimulatorConfig, rngs: list[np.random.Generator]) -> pd.DataFrame:
    profile_rng, terminal_rng, tx_rng = rngs[0], rngs[1], rngs[2]
    cust_xy = profile_rng.uniform(0, 100, size=(cfg.n_customers, 2))
    mean_amount = profile_rng.uniform(5, 100, size=cfg.n_customers)
    std_amount = mean_amount / 2
    mean_nb_tx = profile_rng.uniform(0, 4, size=cfg.n_customers)
    term_xy = terminal_rng.uniform(0, 100, size=(cfg.n_terminals, 2))
    flat, offsets, counts = _available_terminals(cust_xy, term_xy, cfg.radius)

    n_per_day = tx_rng.poisson(np.broadcast_to(mean_nb_tx[:, None], (cfg.n_customers, cfg.n_days)))
    # A customer with no terminal in range makes no transaction (reference 1.3).
    n_per_day[counts == 0, :] = 0
    flat_counts = n_per_day.ravel()
    customer = np.repeat(np.repeat(np.arange(cfg.n_customers), cfg.n_days), flat_counts)
    day = np.repeat(np.tile(np.arange(cfg.n_days), cfg.n_customers), flat_counts)
    n = len(customer)
    # Time of day: normal around noon, truncated to an integer; outside (0, 86400) is dropped.
    seconds = tx_rng.normal(SECONDS_PER_DAY / 2, 20_000, size=n).astype(np.int64)
    amount = tx_rng.normal(mean_amount[customer], std_amount[customer])
    negative = amount < 0
    amount[negative] = tx_rng.uniform(0, 2 * mean_amount[customer[negative]])
    amount = np.round(amount, 2)
    pick = np.floor(tx_rng.random(n) * np.maximum(counts[customer], 1)).astype(np.int64)
    terminal = flat[np.minimum(offsets[customer] + pick, len(flat) - 1)] if len(flat) else np.zeros(n, np.int64)
    keep = (seconds > 0) & (seconds < SECONDS_PER_DAY)
    frame = pd.DataFrame(
        {
            "TX_TIME_SECONDS": (day * SECONDS_PER_DAY + seconds)[keep],
            "TX_TIME_DAYS": day[keep],
            "CUSTOMER_ID": customer[keep],
            "TERMINAL_ID": terminal[keep],
            "TX_AMOUNT": amount[keep],
        }
    )
    # Chronological order gives TRANSACTION_ID; ties broken by customer for determinism.
    frame = frame.sort_values(["TX_TIME_SECONDS", "CUSTOMER_ID"], kind="stable").reset_index(drop=True)
    frame.insert(0, "TRANSACTION_ID", np.arange(len(frame)))
    return frame


def _add_frauds(frame: pd.DataFrame, cfg: SimulatorConfig, rng: np.random.Generator) -> None:
    amount = frame["TX_AMOUNT"].to_numpy().copy()
    day = frame["TX_TIME_DAYS"].to_numpy()
    terminal = frame["TERMINAL_ID"].to_numpy()
    customer = frame["CUSTOMER_ID"].to_numpy()
    fraud = np.zeros(len(frame), dtype=np.int8)
    scenario = np.zeros(len(frame), dtype=np.int8)
    last_day = int(day.max()) if len(day) else 0

    # Scenario 1: any amount above the threshold (before scenario-3 inflation).
    high = amount > cfg.amount_fraud_threshold
    fraud[high], scenario[high] = 1, 1

    # Scenario 2: each day, terminals compromised for the next 28 days (all their transactions).
    compromised = np.zeros((cfg.n_terminals, cfg.n_days + cfg.terminal_compromise_days), dtype=bool)
    for d in range(last_day):
        for t in rng.choice(cfg.n_terminals, size=cfg.compromised_terminals_per_day, replace=False):
            compromised[t, d : d + cfg.terminal_compromise_days] = True
    hit = compromised[terminal, day]
    fraud[hit], scenario[hit] = 1, 2

    # Scenario 3: each day, customers whose next 14 days are pooled; a third of that pool is
    # inflated five-fold. Draws are sequential because a customer drawn twice can be re-inflated.
    order = np.lexsort((day, customer))
    cust_sorted, day_sorted = customer[order], day[order]
    for d in range(last_day):
        drawn = rng.choice(cfg.n_customers, size=cfg.compromised_customers_per_day, replace=False)
        pools = []
        for c in drawn:
            lo = np.searchsorted(cust_sorted, c, side="left")
            hi = np.searchsorted(cust_sorted, c, side="right")
            days_c = day_sorted[lo:hi]
            a = lo + np.searchsorted(days_c, d, side="left")
            b = lo + np.searchsorted(days_c, d + cfg.customer_compromise_days, side="left")
            pools.append(order[a:b])
        pool = np.concatenate(pools)
        n_fraud = int(len(pool) * cfg.customer_fraud_fraction)
        if n_fraud == 0:
            continue
        chosen = rng.choice(pool, size=n_fraud, replace=False)
        amount[chosen] *= cfg.customer_fraud_multiplier
        fraud[chosen], scenario[chosen] = 1, 3

    frame["TX_AMOUNT"] = np.round(amount, 2)
    frame["TX_FRAUD"] = fraud
    frame["TX_FRAUD_SCENARIO"] = scenario


def simulate(seed: int, cfg: SimulatorConfig | None = None) -> pd.DataFrame:
    """Generate a labelled transaction table for ``seed``.

    Returns the handbook columns plus ``TX_TIME_SECONDS`` and ``TX_TIME_DAYS``; ``TX_DATETIME``
    is a naive (UTC) ``datetime64`` column.
    """
    cfg = cfg or SimulatorConfig()
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)]
    frame = _legitimate_transactions(cfg, rngs)
    _add_frauds(frame, cfg, rngs[3])
    start = pd.Timestamp(cfg.start_date)
    frame.insert(1, "TX_DATETIME", start + pd.to_timedelta(frame["TX_TIME_SECONDS"], unit="s"))
    return frame


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write the handbook's columns, timestamps as ``YYYY-MM-DD HH:MM:SS``."""
    out = frame.loc[:, list(HANDBOOK_COLUMNS)].copy()
    out["TX_DATETIME"] = out["TX_DATETIME"].dt.strftime("%Y-%m-%d %H:%M:%S")
    out.to_csv(path, index=False, float_format="%.2f")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--customers", type=int, default=SimulatorConfig.n_customers)
    parser.add_argument("--terminals", type=int, default=SimulatorConfig.n_terminals)
    parser.add_argument("--days", type=int, default=SimulatorConfig.n_days)
    parser.add_argument("--start-date", default=SimulatorConfig.start_date)
    args = parser.parse_args(argv)
    cfg = SimulatorConfig(
        n_customers=args.customers, n_terminals=args.terminals, n_days=args.days, start_date=args.start_date
    )
    write_csv(simulate(args.seed, cfg), args.out)


if __name__ == "__main__":
    main()
