"""The simulator follows the handbook's description and is determined by its seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fraud_scoring.simulator import HANDBOOK_COLUMNS, SimulatorConfig, simulate, write_csv

CFG = SimulatorConfig(n_customers=200, n_terminals=400, n_days=40)


def test_simulate_same_seed_same_table() -> None:
    a, b = simulate(5, CFG), simulate(5, CFG)
    pd.testing.assert_frame_equal(a, b)
    assert not simulate(6, CFG)["TX_AMOUNT"].equals(a["TX_AMOUNT"])


def test_simulate_shape_and_order() -> None:
    frame = simulate(5, CFG)
    assert frame["TRANSACTION_ID"].tolist() == list(range(len(frame)))
    assert frame["TX_DATETIME"].is_monotonic_increasing
    seconds = frame["TX_TIME_SECONDS"].to_numpy() % 86_400
    assert ((seconds > 0) & (seconds < 86_400)).all()
    assert frame["TX_TIME_DAYS"].between(0, CFG.n_days - 1).all()
    # ~2 transactions per customer per day on average, less the ~3 % dropped times
    assert 1.5 * CFG.n_customers * CFG.n_days < len(frame) < 2.1 * CFG.n_customers * CFG.n_days


def test_simulate_scenario_rules_hold() -> None:
    frame = simulate(5, CFG)
    fraud = frame["TX_FRAUD"].to_numpy() == 1
    scen = frame["TX_FRAUD_SCENARIO"].to_numpy()
    # Scenario 1: every amount above 220 is fraud (inflation by scenario 3 is fraud too).
    assert fraud[frame["TX_AMOUNT"].to_numpy() > 220].all()
    assert (fraud == (scen > 0)).all()
    # Scenario 2: on a terminal-day with a scenario-2 fraud, every transaction is fraud.
    s2 = frame[scen == 2][["TERMINAL_ID", "TX_TIME_DAYS"]].drop_duplicates()
    same = frame.merge(s2, on=["TERMINAL_ID", "TX_TIME_DAYS"])
    assert len(same) > 0 and (same["TX_FRAUD"] == 1).all()
    # All three scenarios occur.
    assert set(np.unique(scen)) == {0, 1, 2, 3}


def test_write_csv_handbook_columns(tmp_path: Path) -> None:
    path = tmp_path / "tx.csv"
    frame = simulate(5, SimulatorConfig(n_customers=20, n_terminals=40, n_days=3))
    write_csv(frame, path)
    back = pd.read_csv(path)
    assert tuple(back.columns) == HANDBOOK_COLUMNS
    assert back["TX_DATETIME"].iloc[0].startswith("2018-04-01 ")
    np.testing.assert_allclose(back["TX_AMOUNT"], frame["TX_AMOUNT"])
