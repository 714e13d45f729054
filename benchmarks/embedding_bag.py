"""Benchmark of EmbeddingBag (tinytorch_lite.core.embedding_systems) against torch.nn.functional.embedding_bag.

Run: .venv/bin/python benchmarks/embedding_bag.py [--repeats N]

8,192 bags of 16 uniform ids over a 1,000,000 x 64 float32 table (a recommender's shape): forward
in each mode, with per-sample weights, with bags of mixed lengths, and the dense and row-sparse
backward, each beside torch on one CPU thread in the same run, round-robin, as medians of the
calling thread's CPU time (see benchmarks/embedding_lookup.py). "gather then reduce_bags" is the
plain two-step version (all N rows gathered, then reduced), kept to show what the fused sum saves.
The goal of issue 13 (sum and mean forward at most 1.5x torch) is checked here, never in a test;
the figures go to benchmarks/results/embedding_bag.json.
"""

import argparse
import datetime
import json
import os
import platform
from pathlib import Path

from embedding_lookup import median_times  # sets THP_MEM_ALLOC_ENABLE before torch is imported

import numpy as np

from tinytorch_lite.core.embedding_systems import EmbeddingBag, reduce_bags

try:
    import torch
except ImportError:
    torch = None

RESULTS = Path(__file__).resolve().parent / "results" / "embedding_bag.json"
VOCAB_SIZE, EMBEDDING_DIM, NUM_BAGS, BAG_LENGTH = 1_000_000, 64, 8_192, 16
GOAL = {"sum": 1.5, "mean": 1.5}  # forward, ours / torch, at most


def cases(rng):
    weight = rng.random((VOCAB_SIZE, EMBEDDING_DIM), dtype=np.float32)
    ids = rng.integers(0, VOCAB_SIZE, size=NUM_BAGS * BAG_LENGTH)
    equal = np.arange(NUM_BAGS, dtype=np.int64) * BAG_LENGTH
    mixed = np.r_[0, np.sort(rng.choice(np.arange(1, ids.size), size=NUM_BAGS - 1, replace=False))]
    per_sample = rng.random(ids.size, dtype=np.float32)
    grad = rng.standard_normal((NUM_BAGS, EMBEDDING_DIM), dtype=np.float32)
    return weight, ids, {"equal": equal, "mixed": mixed}, per_sample, grad


def forward_functions(weight, ids, offsets, per_sample):
    ours = {mode: EmbeddingBag.from_pretrained(weight, mode=mode) for mode in ("sum", "mean", "max")}
    functions = {
        "sum": {"tinytorch_lite": lambda: ours["sum"](ids, offsets["equal"])},
        "mean": {"tinytorch_lite": lambda: ours["mean"](ids, offsets["equal"])},
        "max": {"tinytorch_lite": lambda: ours["max"](ids, offsets["equal"])},
        "sum, per_sample_weights": {"tinytorch_lite": lambda: ours["sum"](ids, offsets["equal"], per_sample)},
        "sum, mixed bag lengths": {"tinytorch_lite": lambda: ours["sum"](ids, offsets["mixed"])},
    }
    functions["sum"]["gather then reduce_bags"] = lambda: reduce_bags(
        np.take(weight, ids, axis=0, mode="clip"), offsets["equal"], "sum")
    if torch is not None:
        w, i = torch.from_numpy(weight), torch.from_numpy(ids)
        o = {name: torch.from_numpy(value) for name, value in offsets.items()}
        p = torch.from_numpy(per_sample)
        bag = torch.nn.functional.embedding_bag
        for mode in ("sum", "mean", "max"):
            functions[mode]["torch"] = lambda mode=mode: bag(i, w, o["equal"], mode=mode)
        functions["sum, per_sample_weights"]["torch"] = lambda: bag(i, w, o["equal"], mode="sum", per_sample_weights=p)
        functions["sum, mixed bag lengths"]["torch"] = lambda: bag(i, w, o["mixed"], mode="sum")
        for name, group in functions.items():  # same answers before timing
            expected = group["torch"]().numpy()
            assert np.allclose(group["tinytorch_lite"]().data, expected, rtol=1e-4, atol=1e-4), name
    return functions


def backward_functions(weight, ids, offsets, grad):
    dense = EmbeddingBag.from_pretrained(weight, mode="sum", freeze=False)
    sparse = EmbeddingBag.from_pretrained(weight, mode="sum", freeze=False, sparse=True)

    def ours(bag):
        bag.zero_grad()
        bag(ids, offsets["equal"]).backward(grad)

    functions = {"dense": {"tinytorch_lite": lambda: ours(dense)}, "sparse": {"tinytorch_lite": lambda: ours(sparse)}}
    if torch is not None:
        tables = {kind: torch.nn.EmbeddingBag.from_pretrained(torch.from_numpy(weight), freeze=False, mode="sum",
                                                              sparse=kind == "sparse") for kind in functions}
        i, o, g = torch.from_numpy(ids), torch.from_numpy(offsets["equal"]), torch.from_numpy(grad)

        def theirs(table):
            table.weight.grad = None
            table(i, o).backward(g)

        for kind in functions:
            functions[kind]["torch"] = lambda kind=kind: theirs(tables[kind])
    return functions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds per case (default 9)")
    args = parser.parse_args()
    if torch is None:
        print("torch is missing: no comparison (pip install torch==2.13.0 adds it)")
    else:
        torch.set_num_threads(1)
        print(f"torch {torch.__version__}, 1 thread, THP_MEM_ALLOC_ENABLE={os.environ['THP_MEM_ALLOC_ENABLE']}")
    print(f"EmbeddingBag: {NUM_BAGS:,} bags of {BAG_LENGTH} uniform ids, table {VOCAB_SIZE:,} x {EMBEDDING_DIM} float32")
    weight, ids, offsets, per_sample, grad = cases(np.random.default_rng(0))
    results = {}
    for kind, groups in (("forward", forward_functions(weight, ids, offsets, per_sample)),
                         ("backward", backward_functions(weight, ids, offsets, grad))):
        for name, functions in groups.items():
            cpu, wall = median_times(functions, args.repeats if kind == "forward" else max(3, args.repeats // 2))
            entry = {"seconds": cpu, "wall_seconds": wall}
            line = f"  {kind:<9}{name:<26}" + "".join(f"{impl} {seconds * 1e3:7.2f} ms   " for impl, seconds in cpu.items())
            if "torch" in cpu:
                entry["ours_vs_torch"] = cpu["tinytorch_lite"] / cpu["torch"]
                line += f"ours / torch = {entry['ours_vs_torch']:.2f}"
                if kind == "forward" and name in GOAL:
                    entry["goal_met"] = entry["ours_vs_torch"] <= GOAL[name]
                    line += f" (goal <= {GOAL[name]}: {'met' if entry['goal_met'] else 'NOT met'})"
            print(line)
            results[f"{kind}: {name}"] = entry
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                    "load_average": os.getloadavg()},
        "numpy": np.__version__, "torch": torch.__version__ if torch is not None else None,
        "shape": {"vocab_size": VOCAB_SIZE, "embedding_dim": EMBEDDING_DIM, "bags": NUM_BAGS, "bag_length": BAG_LENGTH},
        "repeats": args.repeats, "statistic": "median thread CPU seconds, 2 warm-ups, round-robin",
        "goal": GOAL, "cases": results,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
