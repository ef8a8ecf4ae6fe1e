"""CPU cost of shadow scoring per fraud-api request, in process, on one core.

Run from the repository root: ``.venv/bin/python benchmarks/shadow.py [--rounds 7]``.

fraud-api computes the features once and scores them with the live model and, when a shadow
version is set, with the shadow model too (``fraud_api/app/scoring.py``). This measures the
thread CPU time of that step both ways on the histories of ``benchmarks/scoring.py`` (~120
customer transactions each): "once" is features + the live model's ``score_features``, "twice"
adds the shadow's ``score_features`` (the shipped model loaded a second time: a candidate of the
same size). Each case runs both ways in the same round, in alternating order, so the machine's
drift reaches both alike; the figure that carries across runs is the ratio twice / once.
Prints the median per-request CPU of each, the added microseconds and the ratio (median of the
per-round medians, with the range over rounds).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scoring import make_case
from fraud_scoring import Scorer, Thresholds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cases", type=int, default=500)
    args = parser.parse_args()
    live, shadow = Scorer.load(), Scorer.load()
    thresholds = Thresholds()
    rng = random.Random(20180808)
    cases = [make_case(rng, k) for k in range(args.cases)]

    once_rounds: list[float] = []
    twice_rounds: list[float] = []
    for round_ in range(args.rounds):
        once: list[int] = []
        twice: list[int] = []
        for k, (tx, history) in enumerate(cases):
            for with_shadow in (False, True) if (round_ + k) % 2 else (True, False):
                c0 = time.thread_time_ns()
                features = live.features(tx, history)
                live.score_features(features, thresholds)
                if with_shadow:
                    shadow.score_features(features, thresholds)
                (twice if with_shadow else once).append(time.thread_time_ns() - c0)
        once_rounds.append(statistics.median(once) / 1000)
        twice_rounds.append(statistics.median(twice) / 1000)

    ratios = [t / o for o, t in zip(once_rounds, twice_rounds, strict=True)]
    added = [t - o for o, t in zip(once_rounds, twice_rounds, strict=True)]
    print(f"cases {len(cases)}, rounds {args.rounds} (thread CPU per request, median per round)")
    print(f"features + live model  {statistics.median(once_rounds):7.1f} us")
    print(f"  + shadow model       {statistics.median(twice_rounds):7.1f} us")
    print(f"added by the shadow    {statistics.median(added):7.1f} us  (range {min(added):.1f}-{max(added):.1f})")
    print(f"ratio twice / once     {statistics.median(ratios):7.3f}  (range {min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main()
