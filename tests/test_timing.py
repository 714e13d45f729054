"""The shared timer: warm-up calls are not timed, and the fastest timed call is returned."""
from __future__ import annotations

import time

from tinytorch_lite.analysis.timing import best_seconds


def test_best_seconds_warms_up_then_returns_the_fastest_call():
    delays = iter([0.05, 0.05, 0.03, 0.001, 0.02])  # two warm-ups, then three timed calls
    calls = []

    def slow():
        calls.append(1)
        time.sleep(next(delays))

    seconds = best_seconds(slow, repeats=3, warmup=2)
    assert len(calls) == 5
    assert 0.001 <= seconds < 0.02, f"the fastest timed call slept 1 ms, got {seconds * 1e3:.1f} ms"
