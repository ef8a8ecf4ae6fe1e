"""The serving path imports the standard library only."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_PROBE = textwrap.dedent(
    """
    import sys
    BLOCKED = {"numpy", "pandas", "sklearn", "scipy", "lightgbm"}

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError("serving path imported " + name)
            return None

    sys.meta_path.insert(0, Block())
    before = set(sys.modules)
    import fraud_scoring
    from fraud_scoring import History, HistoryItem, Scorer, Transaction
    scorer = Scorer.load()
    item = HistoryItem("h", 1.5e9 - 86400 * 8, 10.0, "c", "t", True, None)
    result = scorer.score(Transaction("x", 1.5e9, "c", "t", 12.5), History((item,), (item,)))
    assert 0.0 <= result.score <= 1.0
    new = {m.split(".")[0] for m in set(sys.modules) - before}
    third_party = sorted(new - set(sys.stdlib_module_names) - {"fraud_scoring"})
    print("THIRD_PARTY", third_party)
    print("SUBMODULES", sorted(m for m in sys.modules if m.startswith("fraud_scoring.")))
    """
)


def test_serving_import_uses_standard_library_only() -> None:
    # GIVEN a fresh interpreter where numpy/pandas/sklearn/scipy/lightgbm cannot be imported
    # WHEN it imports the package, loads the shipped model and scores a transaction
    proc = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, capture_output=True, text=True, check=False)
    # THEN it succeeds and nothing outside the standard library was loaded
    assert proc.returncode == 0, proc.stderr
    assert "THIRD_PARTY []" in proc.stdout
    submodules = proc.stdout.split("SUBMODULES", 1)[1]
    for training_only in ("simulator", "train", "benchmark", "metrics", "dataset", "gbdt"):
        assert f"fraud_scoring.{training_only}'" not in submodules
