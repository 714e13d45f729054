"""Benchmark of the memory-efficient embedding patterns of tinytorch_lite.core.embedding_systems.

Run: .venv/bin/python benchmarks/embedding_systems.py [--repeats N] [--quick] [--dir PATH]

Three comparisons, each timed round-robin in one run so that drift hits every side alike, and
reported as ratios of the fastest runs side by side (medians are kept in the JSON too):
  1. int8 and float16 QuantizedEmbedding lookups against the float32 Embedding (GPT-2 and Llama 2 widths);
  2. the row-sparse gradient and SGD step against the dense ones, for a large vocabulary;
  3. a table memory-mapped from a file (page cache warm, and cold: the file's pages evicted with
     posix_fadvise before each lookup) against the same table in memory.
The figures go to benchmarks/results/embedding_systems.json.
"""

import argparse
import datetime
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from tinytorch_lite.analysis.profiling import measure_memory_bandwidth, sample_token_ids
from tinytorch_lite.core.embedding_systems import (
    MemmapEmbedding, QuantizedEmbedding, embedding_memory, format_bytes, sparse_embedding_backward, sparse_sgd_update)
from tinytorch_lite.core.embeddings import Embedding, embedding_backward

RESULTS = Path(__file__).resolve().parent / "results" / "embedding_systems.json"
LEARNING_RATE = 0.01


def best_times(functions, repeats, warmups=1, before_each=None, medians=None):
    """Fastest seconds of each function over `repeats` rounds of one call each; before_each(name) runs
    untimed. The fastest run is the one least disturbed by other processes on a shared machine; the
    medians go into `medians` when a dict is given."""
    for _ in range(warmups):
        for f in functions.values():
            f()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, f in functions.items():
            if before_each is not None:
                before_each(name)
            start = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - start)
    if medians is not None:
        medians.update({name: float(np.median(t)) for name, t in times.items()})
    return {name: min(t) for name, t in times.items()}


def quantized_lookup(shape_name, vocab_size, embedding_dim, num_ids, repeats, rng):
    table = Embedding(vocab_size, embedding_dim, rng=rng)
    ids = sample_token_ids("uniform", num_ids, vocab_size, rng)
    medians = {}
    int8 = QuantizedEmbedding.from_embedding(table, bits=8)
    float16 = QuantizedEmbedding.from_embedding(table, bits=16)
    # float32_take is the bare gather; the layer's output lives until the cyclic garbage collector
    # frees it (its backward closure refers to it), so each layer call may fault in fresh pages
    times = best_times({"float32": lambda: table(ids), "float32_take": lambda: np.take(table.weight.data, ids, axis=0),
                          "float16": lambda: float16(ids), "int8": lambda: int8(ids)}, repeats, medians=medians)
    reference = table.weight.data[ids]
    norms = np.linalg.norm(reference, axis=1)
    result = {"shape": shape_name, "vocab_size": vocab_size, "embedding_dim": embedding_dim, "num_ids": num_ids,
              "seconds": times, "median_seconds": medians, "bytes": {"float32": table.weight.data.nbytes}, "max_relative_row_error": {}}
    for name, quantized in (("float16", float16), ("int8", int8)):
        result["bytes"][name] = quantized.nbytes
        error = np.linalg.norm(quantized(ids).data - reference, axis=1) / norms
        result["max_relative_row_error"][name] = float(error.max())
    result["ratios"] = {f"{name}_time_vs_{base}": times[name] / times[base]
                        for name in ("float16", "int8") for base in ("float32", "float32_take")}
    result["ratios"].update({f"float32_bytes_vs_{name}": result["bytes"]["float32"] / result["bytes"][name]
                             for name in ("float16", "int8")})
    return result


def sparse_update(vocab_size, embedding_dim, num_ids, distribution, repeats, rng):
    weight = np.full((vocab_size, embedding_dim), 0.5, np.float32)
    ids = sample_token_ids(distribution, num_ids, vocab_size, rng)
    grad_output = rng.standard_normal((num_ids, embedding_dim), dtype=np.float32)

    def dense():
        grad = embedding_backward(ids, grad_output, vocab_size)
        grad *= LEARNING_RATE
        weight[...] -= grad  # in place: no second [V, D] temporary

    def sparse():
        rows, values = sparse_embedding_backward(ids, grad_output, vocab_size)
        sparse_sgd_update(weight, rows, values, LEARNING_RATE)

    medians = {}
    times = best_times({"dense": dense, "sparse": sparse}, repeats, medians=medians)
    return {"vocab_size": vocab_size, "embedding_dim": embedding_dim, "num_ids": num_ids,
            "distribution": distribution, "rows_touched": int(np.unique(ids).size), "seconds": times,
            "median_seconds": medians,
            "ratios": {"dense_time_vs_sparse": times["dense"] / times["sparse"]}}


def memmap_lookup(vocab_size, embedding_dim, num_ids, repeats, directory, rng):
    with tempfile.TemporaryDirectory(dir=directory) as folder:
        path = Path(folder) / "table.npy"
        MemmapEmbedding.create(path, vocab_size, embedding_dim, rng=rng)
        in_memory = np.load(path)
        ids = sample_token_ids("uniform", num_ids, vocab_size, rng)
        warm = MemmapEmbedding(path)
        cold = {"table": MemmapEmbedding(path)}
        medians = {}

        def evict(name):
            if name == "memmap_cold":  # unmap, drop this file's cached pages, map it again
                cold["table"] = None
                with open(path, "rb") as f:
                    os.fsync(f.fileno())
                    os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                cold["table"] = MemmapEmbedding(path)

        times = best_times({"in_memory": lambda: np.take(in_memory, ids, axis=0),
                              "memmap_warm": lambda: warm(ids),
                              "memmap_cold": lambda: cold["table"](ids)}, repeats, before_each=evict, medians=medians)
        assert np.array_equal(warm(ids).data, in_memory[ids])
        file_bytes = path.stat().st_size
    return {"vocab_size": vocab_size, "embedding_dim": embedding_dim, "num_ids": num_ids, "file_bytes": file_bytes,
            "directory": str(directory or tempfile.gettempdir()), "seconds": times, "median_seconds": medians,
            "ratios": {f"{name}_time_vs_in_memory": times[name] / times["in_memory"]
                       for name in ("memmap_warm", "memmap_cold")}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per comparison (default 7)")
    parser.add_argument("--quick", action="store_true", help="small tables, for a smoke run")
    parser.add_argument("--dir", default=None, help="where the memmap file goes (default: the temp directory)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    scale = 8 if args.quick else 1
    copy_gbps = measure_memory_bandwidth(num_bytes=(64 if args.quick else 256) * 2**20)
    print(f"numpy {np.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} cpus; "
          f"memory copy bandwidth {copy_gbps:.1f} GB/s")

    shapes = [("GPT-2", 50_257, 768), ("Llama 2 7B", 32_000, 4_096)][: 1 if args.quick else 2]
    quantized = [quantized_lookup(name, v // scale, d, 8192 // scale, args.repeats, rng) for name, v, d in shapes]
    print(f"\n1. Lookup of {quantized[0]['num_ids']:,} uniform ids: quantized tables vs float32 "
          "(time relative to the bare float32 gather np.take)")
    print(f"  {'table':<24}{'Embedding':>10}{'np.take':>10}{'float16':>9}{'int8':>8}   "
          f"{'memory: f32, smaller by f16 / int8':<36}{'int8 row error':>14}")
    for r in quantized:
        t, b = r["seconds"], r["bytes"]
        label = f"{r['shape']} {r['vocab_size']:,} x {r['embedding_dim']:,}"
        print(f"  {label:<24}{1e3 * t['float32']:8.2f}ms{1e3 * t['float32_take']:8.2f}ms"
              f"{t['float16'] / t['float32_take']:8.2f}x{t['int8'] / t['float32_take']:7.2f}x   "
              f"{format_bytes(b['float32']):>10}, {b['float32'] / b['float16']:.2f}x / {b['float32'] / b['int8']:.2f}x"
              f"{'':14}{r['max_relative_row_error']['int8']:>12.2%}")

    vocab_size, dim, num_ids = 1_000_000 // scale, 128, 8192 // scale
    memory = embedding_memory(vocab_size, dim, tied=True)
    sparse = [sparse_update(vocab_size, dim, num_ids, d, max(3, args.repeats // 2), rng) for d in ("uniform", "zipf")]
    print(f"\n2. SGD step for {num_ids:,} ids on a {vocab_size:,} x {dim} table ({format_bytes(memory.total_bytes)}): "
          "dense vs row-sparse")
    for r in sparse:
        t = r["seconds"]
        print(f"  {r['distribution']:<8} {r['rows_touched']:>6,} rows touched: dense {1e3 * t['dense']:8.2f} ms, "
              f"sparse {1e3 * t['sparse']:7.2f} ms, sparse is {r['ratios']['dense_time_vs_sparse']:.0f}x faster")

    mm = memmap_lookup(500_000 // scale, 128, 8192 // scale, args.repeats, args.dir, rng)
    t = mm["seconds"]
    print(f"\n3. Lookup of {mm['num_ids']:,} uniform ids from a {format_bytes(mm['file_bytes'])} table file in "
          f"{mm['directory']}: in memory {1e3 * t['in_memory']:.2f} ms, memmap warm "
          f"{mm['ratios']['memmap_warm_time_vs_in_memory']:.2f}x, memmap cold "
          f"{mm['ratios']['memmap_cold_time_vs_in_memory']:.1f}x")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "numpy": np.__version__},
        "quick": args.quick, "repeats": args.repeats, "copy_gbps": copy_gbps,
        "quantized_lookup": quantized, "sparse_update": sparse, "memmap_lookup": mm}, indent=1) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
