"""Benchmark of the embedding lookup (forward) and its dense gradient (backward).

Run: .venv/bin/python benchmarks/embedding_lookup.py [--repeats N] [--quick]

Compares tinytorch_lite.core.embeddings with plain numpy (W[ids], np.add.at) and, when it is
installed, PyTorch on one CPU thread, on GPT-2- and Llama-sized tables with uniform and
Zipf-distributed ids. Every implementation of a case is timed in the same run, round-robin, and the
medians are compared as ratios; the figures go to benchmarks/results/embedding_lookup.json.
The targets of issue 3 are checked against these measurements, never asserted in a test.

Each call is timed twice: wall-clock time and the CPU time of the calling thread (which includes
the kernel's page-fault work). Everything here runs on that one thread (torch with
set_num_threads(1)), so on a machine shared with other jobs the CPU time is the steadier estimate
of the unloaded wall time; the ratios use it, and the JSON keeps both.
"""

import argparse
import datetime
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # torch takes small pages on this VM otherwise

import numpy as np

from tinytorch_lite.core.embeddings import Embedding, embedding_backward
from tinytorch_lite.core.tensor import check_token_ids

try:
    import torch
except ImportError:
    torch = None

RESULTS = Path(__file__).resolve().parent / "results" / "embedding_lookup.json"

# name, vocab_size, embedding_dim, number of ids (shapes from the models' published configurations, as in MODEL_EMBEDDINGS)
SHAPES = [
    ("GPT-2", 50_257, 768, 8_192),
    ("Llama 2 7B", 32_000, 4_096, 8_192),
]
ZIPF_EXPONENT = 1.1
TARGETS = {  # ratio of times, ours / theirs, at most
    "forward_vs_torch_index_select": 1.1,
    "backward_vs_torch_dense_backward": 1.3,
    "validation_share_of_forward": 0.10,
}
MIN_BANDWIDTH_SHARE = 0.60  # forward on GPT-2, uniform ids


def median_times(functions, repeats, warmups=2):
    """Median CPU and wall seconds of each function; one call of each per round, so drift hits all alike."""
    for _ in range(warmups):
        for f in functions.values():
            f()
    cpu = {name: [] for name in functions}
    wall = {name: [] for name in functions}
    for _ in range(repeats):
        for name, f in functions.items():
            start_cpu, start_wall = time.thread_time(), time.perf_counter()
            f()
            cpu[name].append(time.thread_time() - start_cpu)
            wall[name].append(time.perf_counter() - start_wall)
    return ({name: float(np.median(t)) for name, t in cpu.items()},
            {name: float(np.median(t)) for name, t in wall.items()})


def copy_bandwidth(repeats, nbytes=256 * 2**20):
    """Bytes read plus written per second by np.copyto on a buffer far larger than the cache."""
    source = np.ones(nbytes, dtype=np.uint8)
    target = np.zeros_like(source)
    cpu, wall = median_times({"copy": lambda: np.copyto(target, source)}, repeats)
    return 2 * nbytes / cpu["copy"], 2 * nbytes / wall["copy"]


def make_ids(distribution, vocab_size, count, rng):
    if distribution == "uniform":
        return rng.integers(0, vocab_size, size=count)
    # Zipf ranks, mapped to ids by a fixed random permutation: frequent tokens are scattered over
    # the table, as in a real vocabulary.
    ranks = (rng.zipf(ZIPF_EXPONENT, size=count) - 1) % vocab_size
    return rng.permutation(vocab_size)[ranks]


def bench_case(name, vocab_size, embedding_dim, count, distribution, repeats, rng):
    weight = rng.random((vocab_size, embedding_dim), dtype=np.float32)
    ids = make_ids(distribution, vocab_size, count, rng)
    grad_output = rng.standard_normal((count, embedding_dim), dtype=np.float32)
    buffer = np.empty((count, embedding_dim), dtype=weight.dtype)
    embedding = Embedding.from_pretrained(weight, freeze=False)
    assert np.array_equal(embedding(ids).data, weight[ids])

    forward = {
        "tinytorch_lite": lambda: embedding(ids),
        "validation only": lambda: check_token_ids(ids, vocab_size),
        "numpy W[ids]": lambda: weight[ids],
        "numpy take (clip)": lambda: np.take(weight, ids, axis=0, mode="clip"),
        "numpy take (raise)": lambda: np.take(weight, ids, axis=0),
        "numpy take (raise, out=)": lambda: np.take(weight, ids, axis=0, out=buffer),
        "numpy take (clip, out=)": lambda: np.take(weight, ids, axis=0, mode="clip", out=buffer),
    }
    backward = {
        "tinytorch_lite": lambda: embedding_backward(ids, grad_output, vocab_size),
        "numpy add.at": lambda: np.add.at(np.zeros_like(weight), ids, grad_output),
    }
    if torch is not None:
        weight_t, ids_t = torch.from_numpy(weight), torch.from_numpy(ids)
        grad_t, out_t = torch.from_numpy(grad_output), torch.empty(count, embedding_dim)
        forward["torch index_select(out=)"] = lambda: torch.index_select(weight_t, 0, ids_t, out=out_t)
        forward["torch F.embedding"] = lambda: torch.nn.functional.embedding(ids_t, weight_t)
        backward["torch embedding_dense_backward"] = lambda: torch.ops.aten.embedding_dense_backward(
            grad_t, ids_t, vocab_size, -1, False)
        expected = torch.ops.aten.embedding_dense_backward(grad_t, ids_t, vocab_size, -1, False)
        assert np.allclose(embedding_backward(ids, grad_output, vocab_size), expected.numpy(), atol=1e-4)

    forward_cpu, forward_wall = median_times(forward, repeats)
    backward_cpu, backward_wall = median_times(backward, max(3, repeats // 2))
    moved = 2 * count * embedding_dim * weight.itemsize  # rows read plus written
    return {
        "shape": name, "vocab_size": vocab_size, "embedding_dim": embedding_dim, "ids": count,
        "distribution": distribution, "forward_seconds": forward_cpu, "backward_seconds": backward_cpu,
        "forward_wall_seconds": forward_wall, "backward_wall_seconds": backward_wall,
        "forward_bytes_moved": moved,
    }


def ratios(case, bandwidth):
    forward, backward = case["forward_seconds"], case["backward_seconds"]
    share = {impl: case["forward_bytes_moved"] / seconds / bandwidth for impl, seconds in forward.items()
             if impl != "validation only"}
    case["forward_share_of_copy_bandwidth_by_implementation"] = share
    out = {
        "forward_share_of_copy_bandwidth": share["tinytorch_lite"],
        "validation_share_of_forward": forward["validation only"] / forward["tinytorch_lite"],
        "forward_vs_numpy_W[ids]": forward["tinytorch_lite"] / forward["numpy W[ids]"],
        "backward_vs_numpy_add.at": backward["tinytorch_lite"] / backward["numpy add.at"],
    }
    if "torch index_select(out=)" in forward:
        out["forward_vs_torch_index_select"] = forward["tinytorch_lite"] / forward["torch index_select(out=)"]
        out["forward_vs_torch_F.embedding"] = forward["tinytorch_lite"] / forward["torch F.embedding"]
        out["backward_vs_torch_dense_backward"] = (
            backward["tinytorch_lite"] / backward["torch embedding_dense_backward"])
    return out


def target_checks(case, case_ratios):
    checks = {name: case_ratios[name] <= limit for name, limit in TARGETS.items() if name in case_ratios}
    if case["shape"] == "GPT-2" and case["distribution"] == "uniform":
        checks["forward_share_of_copy_bandwidth"] = (
            case_ratios["forward_share_of_copy_bandwidth"] >= MIN_BANDWIDTH_SHARE)
    return checks


def print_case(case, case_ratios, checks):
    print(f"\n{case['shape']} table {case['vocab_size']:,} x {case['embedding_dim']:,}, "
          f"{case['ids']:,} ids, {case['distribution']}")
    print(f"  {'':<41}{'CPU ms':>9}{'wall ms':>10}   ratio of CPU times")
    for kind in ("forward", "backward"):
        times, wall = case[f"{kind}_seconds"], case[f"{kind}_wall_seconds"]
        ours = times["tinytorch_lite"]
        for impl, seconds in times.items():
            if impl == "tinytorch_lite":
                relative = ""
            elif impl == "validation only":
                relative = f"   this / ours = {seconds / ours:5.3f}"
            else:
                relative = f"   ours / this = {ours / seconds:5.2f}"
            print(f"  {kind:<9}{impl:<32}{seconds * 1e3:9.3f}{wall[impl] * 1e3:10.3f}{relative}")
    share = case["forward_share_of_copy_bandwidth_by_implementation"]
    print("  share of copy bandwidth: " + ", ".join(
        f"{impl} {share[impl]:.0%}" for impl in
        ("tinytorch_lite", "numpy take (clip, out=)", "torch index_select(out=)") if impl in share))
    print(f"  validation is {case_ratios['validation_share_of_forward']:.1%} of the forward")
    for name, met in checks.items():
        print(f"  target {name}: {'met' if met else 'NOT met'} ({case_ratios[name]:.3f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds per case (default 9)")
    parser.add_argument("--quick", action="store_true", help="GPT-2 shape only")
    args = parser.parse_args()
    if torch is None:
        print("torch is missing: comparing with numpy only (pip install torch==2.13.0 for the torch columns)")
    else:
        torch.set_num_threads(1)
        print(f"torch {torch.__version__}, 1 thread, THP_MEM_ALLOC_ENABLE={os.environ['THP_MEM_ALLOC_ENABLE']}")

    rng = np.random.default_rng(0)
    bandwidth, wall_bandwidth = copy_bandwidth(args.repeats)
    print(f"numpy {np.__version__}; memory copy bandwidth {bandwidth / 1e9:.1f} GB/s by CPU time, "
          f"{wall_bandwidth / 1e9:.1f} GB/s by wall time (np.copyto of 256 MiB, bytes read plus written)")
    cases = []
    for name, vocab_size, embedding_dim, count in SHAPES[:1] if args.quick else SHAPES:
        for distribution in ("uniform", "zipf"):
            case = bench_case(name, vocab_size, embedding_dim, count, distribution, args.repeats, rng)
            case["ratios"] = ratios(case, bandwidth)
            case["targets_met"] = target_checks(case, case["ratios"])
            print_case(case, case["ratios"], case["targets_met"])
            cases.append(case)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
        "numpy": np.__version__, "torch": torch.__version__ if torch is not None else None,
        "repeats": args.repeats,
        "statistic": "median seconds (thread CPU time; *_wall_seconds: wall time), 2 warm-ups, round-robin",
        "copy_bandwidth_bytes_per_second": bandwidth,
        "copy_bandwidth_wall_bytes_per_second": wall_bandwidth, "targets": TARGETS,
        "min_forward_share_of_copy_bandwidth": MIN_BANDWIDTH_SHARE, "cases": cases,
    }, indent=2) + "\n")
    print(f"\nwrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


if __name__ == "__main__":
    main()
