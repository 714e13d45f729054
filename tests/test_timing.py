"""The shared timer: warm-up calls are not timed, and the fastest timed call is returned."""
from __future__ import annotations

from tinytorch_lite.analysis import timing


def test_best_seconds_warms_up_then_returns_the_fastest_call(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock[0])
    durations = iter([0.05, 0.05, 0.03, 0.001, 0.02])  # two warm-ups, then three timed calls
    calls = []

    def call_that_takes_its_turn():
        calls.append(1)
        clock[0] += next(durations)

    seconds = timing.best_seconds(call_that_takes_its_turn, repeats=3, warmup=2)
    assert len(calls) == 5
    assert abs(seconds - 0.001) < 1e-12, f"the fastest timed call took 1 ms, got {seconds * 1e3:.3f} ms"
