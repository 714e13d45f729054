# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 12, part 3: Embedding systems
#
# Parts 1 and 2 built an embedding table and gave it a sense of position. This part asks the
# questions an engineer asks before shipping one: **how many bytes does it take, how fast can it
# be read, and what do production systems do when it is too large?**
#
# The method is the one of every systems course: *predict, then measure*. For each question you
# first write down a formula, then time or weigh the real thing on this machine and compare.
# When prediction and measurement disagree, the difference is the lesson.
#
# You will implement:
#
# 1. `format_bytes` and `embedding_memory`: the memory of a table, in training and inference;
# 2. `lookup_bytes` and `achieved_bandwidth`: how close a lookup gets to the machine's memory bandwidth;
# 3. `quantize_rows` / `dequantize_rows` and the lookup of a `QuantizedEmbedding` (int8 tables);
# 4. `sparse_embedding_backward` and `sparse_sgd_update`: updating only the rows a batch touched;
# 5. `reduce_bags`: the reduction inside `EmbeddingBag`, the workhorse of recommender models;
# 6. `route_to_shards`: which device owns a row when a table is split across devices.
#
# Everything you write becomes `tinytorch_lite.core.embedding_systems`.

# %%
#| default_exp core.embedding_systems
import os
import tempfile
import tracemalloc

import matplotlib.pyplot as plt

from tinytorch_lite.analysis.timing import best_seconds
from tinytorch_lite.core.embeddings import Embedding

# %%
#| export
from dataclasses import dataclass

import numpy as np

from tinytorch_lite.core.embeddings import Embedding, _check_padding_idx, embedding_backward
from tinytorch_lite.core.module import Module
from tinytorch_lite.core.tensor import Tensor, check_token_ids


# %% [markdown]
# ## 1. Memory: what a table costs
#
# An embedding table holds `vocab_size x embedding_dim` numbers. Its memory is
#
# $$\text{bytes} = V \cdot D \cdot b$$
#
# with $b$ the bytes per number (4 for float32, 2 for float16 and bfloat16, 1 for int8).
# Two things multiply this:
#
# - **Untied output layer.** A language model turns its last hidden state back into vocabulary
#   logits with a second `V x D` matrix. GPT-2 and BERT *tie* it to the input table (one table);
#   Llama does not (two tables).
# - **Training.** Each parameter also needs a gradient, and the optimizer keeps state: SGD with
#   momentum one number per parameter, Adam two (the first and second moment). Training a table
#   with Adam therefore costs $1 + 1 + 2 = 4$ times its weights. (Here gradients and optimizer state
#   use the weights' dtype; mixed-precision recipes keep float32 master copies, which you price by
#   calling with `dtype="float32"`.)
#
# **Units.** Memory is counted in binary units: 1 KiB = 1024 bytes, 1 MiB = $2^{20}$ bytes,
# 1 GiB = $2^{30}$ bytes. Bandwidth, in contrast, is quoted in decimal GB/s ($10^9$ bytes per second)
# by hardware vendors and by the measurements we cite below. Mixing the two is a 5 % error at MiB and
# 7 % at GiB: small enough to miss, large enough to make an out-of-memory error a surprise.

# %% nbgrader={"grade": false, "grade_id": "format_bytes", "locked": false, "schema_version": 3, "solution": true}
#| export
DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adagrad": 1, "adam": 2, "adamw": 2}
BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_bytes(num_bytes):
    """Return `num_bytes` as a readable string in binary units.

    Use the largest unit of BYTE_UNITS in which the value is at least 1 (1 KiB = 1024 B,
    1 MiB = 1024 KiB, ...) and one decimal; plain bytes stay whole:
    format_bytes(512) == "512 B", format_bytes(1536) == "1.5 KiB", format_bytes(3 * 2**30) == "3.0 GiB".
    """
    if num_bytes < 0:
        raise ValueError(f"num_bytes must be >= 0, got {num_bytes}")
    value, unit = float(num_bytes), 0
    ### BEGIN SOLUTION
    while value >= 1024 and unit < len(BYTE_UNITS) - 1:
        value /= 1024
        unit += 1
    ### END SOLUTION
    return f"{int(num_bytes)} B" if unit == 0 else f"{value:.1f} {BYTE_UNITS[unit]}"


# %% nbgrader={"grade": true, "grade_id": "test_format_bytes_binary_units", "locked": true, "points": 1, "schema_version": 3, "solution": false}
"""Check that format_bytes uses binary units (1 MiB = 2**20 bytes)."""
for num_bytes, expected in [(512, "512 B"), (1536, "1.5 KiB"), (3 * 2**30, "3.0 GiB")]:
    got = format_bytes(num_bytes)
    assert got == expected, f"format_bytes({num_bytes}) should be {expected!r}, got {got!r}"
got = format_bytes(50257 * 768 * 4)
assert got == "147.2 MiB", (f"GPT-2's float32 table (154,389,504 bytes) should print as '147.2 MiB', got {got!r}; "
                            "hint: divide by 1024 per unit, not 1000")
### BEGIN HIDDEN TESTS
for size, want in [(0, "0 B"), (1000, "1000 B"), (1023, "1023 B"), (1024, "1.0 KiB"),
                   (2**20 - 1, "1024.0 KiB"), (5 * 2**40, "5.0 TiB"), (3 * 2**60, "3072.0 PiB")]:
    result = format_bytes(size)
    assert result == want, f"format_bytes({size}) should be {want!r}, got {result!r}"
### END HIDDEN TESTS

# %% [markdown]
# Now the memory formula. `embedding_memory` returns an `EmbeddingMemory` record that prints
# readably. `tied=False` (the default) counts the input table **and** an output projection of the
# same shape, as in Llama; `tied=True` counts one shared table, as in GPT-2.

# %% nbgrader={"grade": false, "grade_id": "embedding_memory", "locked": false, "schema_version": 3, "solution": true}
#| export
@dataclass(frozen=True)
class EmbeddingMemory:
    """Bytes held by the vocabulary tables of a model: weights, gradients and optimizer state."""

    vocab_size: int
    embedding_dim: int
    dtype: str
    num_tables: int
    params: int
    weight_bytes: int
    grad_bytes: int
    optimizer_bytes: int

    @property
    def total_bytes(self):
        return self.weight_bytes + self.grad_bytes + self.optimizer_bytes

    def __str__(self):
        parts = f"weights {format_bytes(self.weight_bytes)}"
        if self.grad_bytes or self.optimizer_bytes:
            parts += (f", gradients {format_bytes(self.grad_bytes)}, "
                      f"optimizer state {format_bytes(self.optimizer_bytes)}")
        return (f"{self.num_tables} x [{self.vocab_size:,} x {self.embedding_dim:,}] {self.dtype}: "
                f"{format_bytes(self.total_bytes)} ({parts})")


def embedding_memory(vocab_size, embedding_dim, dtype="float32", tied=False, training=False, optimizer="adam"):
    """Predict the memory of a model's vocabulary tables.

    params          = num_tables * vocab_size * embedding_dim, with one table when tied, two when untied
    weight_bytes    = params * DTYPE_BYTES[dtype]
    grad_bytes      = weight_bytes when training, else 0
    optimizer_bytes = OPTIMIZER_STATES[optimizer] * weight_bytes when training, else 0
    """
    if vocab_size < 1 or embedding_dim < 1:
        raise ValueError(f"vocab_size and embedding_dim must be >= 1, got {vocab_size} and {embedding_dim}")
    dtype = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(DTYPE_BYTES)}")
    if optimizer not in OPTIMIZER_STATES:
        raise ValueError(f"unknown optimizer {optimizer!r}; use one of {sorted(OPTIMIZER_STATES)}")
    itemsize, states = DTYPE_BYTES[dtype], OPTIMIZER_STATES[optimizer]
    ### BEGIN SOLUTION
    num_tables = 1 if tied else 2
    params = num_tables * vocab_size * embedding_dim
    weight_bytes = params * itemsize
    grad_bytes = weight_bytes if training else 0
    optimizer_bytes = states * weight_bytes if training else 0
    ### END SOLUTION
    return EmbeddingMemory(vocab_size, embedding_dim, dtype, num_tables, params,
                           weight_bytes, grad_bytes, optimizer_bytes)


# %% nbgrader={"grade": true, "grade_id": "test_embedding_memory_formula", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that embedding_memory counts tables, dtype, gradients and optimizer state."""
gpt2 = embedding_memory(50257, 768, tied=True)
assert gpt2.total_bytes == 154_389_504, f"GPT-2's tied float32 table: expected 154,389,504 bytes, got {gpt2.total_bytes:,}"
assert "147.2 MiB" in str(gpt2), f"the record should print 147.2 MiB, got {str(gpt2)!r}"
llama = embedding_memory(128256, 4096, dtype="bfloat16")
assert llama.total_bytes == 2 * 128256 * 4096 * 2, (
    f"Llama 3's untied bf16 tables: expected {2 * 128256 * 4096 * 2:,} bytes, got {llama.total_bytes:,}; "
    "hint: untied means an input table and an output projection")
train = embedding_memory(1000, 10, tied=True, training=True, optimizer="adam")
assert (train.weight_bytes, train.grad_bytes, train.optimizer_bytes) == (40000, 40000, 80000), (
    f"Adam training of a 1000 x 10 float32 table: expected weights/gradients/state 40000/40000/80000 bytes, "
    f"got {train.weight_bytes}/{train.grad_bytes}/{train.optimizer_bytes}; hint: Adam keeps two numbers per parameter")
### BEGIN HIDDEN TESTS
sgd = embedding_memory(1000, 10, tied=True, training=True, optimizer="sgd")
assert sgd.total_bytes == 80000, f"plain SGD keeps no state: expected 80000 bytes, got {sgd.total_bytes}"
momentum = embedding_memory(7, 3, dtype="float16", tied=False, training=True, optimizer="momentum")
assert momentum.params == 42 and momentum.total_bytes == 42 * 2 * 3, (
    f"momentum, untied, fp16: expected 42 params and {42 * 2 * 3} bytes, got {momentum.params} and {momentum.total_bytes}")
inference = embedding_memory(300, 5, dtype="int8", tied=True, training=False)
assert (inference.grad_bytes, inference.optimizer_bytes, inference.total_bytes) == (0, 0, 1500), (
    "inference keeps no gradient or optimizer state")
assert embedding_memory(10, 4, dtype=np.float64, tied=True).total_bytes == 320, "numpy dtypes should be accepted"
### END HIDDEN TESTS

# %% [markdown]
# ### Predict, then measure
#
# Before running the next cell, predict: how much memory does one Adam training step of a
# 50,257 x 128 float32 table (GPT-2's vocabulary, a narrow width) allocate: weights, gradient, two
# moment buffers?
#
# We then measure it with `tracemalloc`, which sees every numpy allocation; we count the numpy
# data buffers still held after the step.

# %%
vocab_size, embedding_dim = 50257, 128
predicted = embedding_memory(vocab_size, embedding_dim, tied=True, training=True, optimizer="adam")
tracemalloc.start()
embedding = Embedding(vocab_size, embedding_dim, rng=np.random.default_rng(0))
first_moment = np.zeros_like(embedding.weight.data)
second_moment = np.zeros_like(embedding.weight.data)
token_ids = np.random.default_rng(1).integers(0, vocab_size, size=(8, 128))
output = embedding(token_ids)
output.backward(np.ones(output.shape, dtype=np.float32))
numpy_buffers = tracemalloc.take_snapshot().filter_traces([tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)])
_, peak_bytes = tracemalloc.get_traced_memory()
tracemalloc.stop()
measured_bytes = sum(stat.size for stat in numpy_buffers.statistics("filename"))
print("predicted:", predicted)
print(f"measured:  {format_bytes(measured_bytes)} of numpy arrays held after the step, {format_bytes(peak_bytes)} at the peak")
print(f"the formula explains {predicted.total_bytes / measured_bytes:.1%} of what is held; the rest is the "
      f"output of {token_ids.size} tokens ({format_bytes(output.data.nbytes)}), its gradient and the ids")
del embedding, first_moment, second_moment, output

# %% [markdown]
# ### Real models
#
# `MODEL_EMBEDDINGS` carries the vocabulary and width of real models, each with its source (the
# course's reference table, taken from the models' configurations, model cards and papers).
# For DLRM, the recommender benchmark, `table_rows` counts all 26 tables together.

# %%
#| export analysis.reference
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelEmbedding:
    """Embedding facts of one published model; `tied` is None where there is no output vocabulary."""

    name: str
    vocab_size: int
    hidden_size: int
    tied: object
    positional: str
    max_positions: object
    total_params: int
    source: str
    table_rows: int = 0

    @property
    def embedding_params(self):
        """Parameters of the token tables: input table, plus the output projection when untied."""
        rows = self.table_rows or self.vocab_size
        return rows * self.hidden_size * (2 if self.tied is False else 1)

    @property
    def embedding_share(self):
        return self.embedding_params / self.total_params


# Sources: each row's `source` names the published configuration, model card or paper it is taken from.
MODEL_EMBEDDINGS = (
    ModelEmbedding("GPT-2 small", 50257, 768, True, "learned absolute", 1024, 124_000_000,
                   "HF config gpt2: vocab_size, n_embd, n_positions; total from the model card"),
    ModelEmbedding("GPT-2 XL", 50257, 1600, True, "learned absolute", 1024, 1_558_000_000,
                   "HF config gpt2-xl; total from the model card"),
    ModelEmbedding("GPT-3 175B", 50257, 12288, True, "learned absolute", 2048, 175_000_000_000,
                   "Brown et al. 2020, Table 2.1"),
    ModelEmbedding("BERT-base", 30522, 768, True, "learned absolute", 512, 110_000_000,
                   "HF config bert-base-uncased (plus a 2 x 768 token-type table)"),
    ModelEmbedding("T5-base", 32128, 768, True, "relative bias (32 buckets)", None, 223_000_000,
                   "HF config t5-base; v1.1 unties the output layer"),
    ModelEmbedding("Llama 2 7B", 32000, 4096, False, "RoPE (base 10000)", 4096, 6_740_000_000,
                   "HF config Llama-2-7b"),
    ModelEmbedding("Llama 3 8B", 128256, 4096, False, "RoPE (base 500000)", 8192, 8_030_000_000,
                   "HF config Meta-Llama-3-8B: rope_theta 500000"),
    ModelEmbedding("Gemma 2B", 256000, 2048, True, "RoPE", 8192, 2_510_000_000,
                   "Gemma tech report (vocabulary listed there as 256128)"),
    ModelEmbedding("Gemma 7B", 256000, 3072, True, "RoPE", 8192, 8_540_000_000, "Gemma tech report"),
    ModelEmbedding("DLRM (MLPerf Criteo 1TB)", 40_000_000, 128, None, "none", None, 26_100_000_000,
                   "MLPerf DLRM: 26 tables of dim 128, rows capped at 40M; 204.2M rows in all (~97 GiB fp32); "
                   "vocab_size here is the largest table", table_rows=204_200_000),
)

# %%
for model in MODEL_EMBEDDINGS:
    print(f"{model.name:26s} {model.embedding_params / 1e6:9,.0f} M embedding params "
          f"= {model.embedding_share:6.1%} of {model.total_params / 1e9:7.2f} B")
shares = {model.name: model.embedding_share for model in MODEL_EMBEDDINGS}
largest, smallest = max(shares, key=shares.get), min(shares, key=shares.get)
print(f"\nThe vocabulary tables range from {shares[smallest]:.1%} of all parameters ({smallest}) "
      f"to {shares[largest]:.0%} ({largest}).")

# %% [markdown]
# Three pictures of the same formula: the memory of one table against vocabulary size for two
# widths and three dtypes (a straight line on log axes: memory is linear in $V$); the share of the
# vocabulary tables in real models; and what Adam training multiplies it to. The plotting helpers
# live in the package (`tinytorch_lite.analysis.plots`) so the course website draws the same figures.

# %%
#| export analysis.plots
import numpy as np

from tinytorch_lite.analysis.reference import MODEL_EMBEDDINGS
from tinytorch_lite.core import embedding_systems

_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")  # Okabe-Ito, colour-blind safe


def _axes(ax, figsize=None):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def plot_memory_scaling(widths=(768, 4096), dtypes=("float32", "bfloat16", "int8"), ax=None, embedding_memory=None):
    """Memory of one table against vocabulary size, for several widths and dtypes (log-log).

    `embedding_memory` computes it: by default the package's; the notebook passes the one written in it.
    """
    embedding_memory = embedding_memory or embedding_systems.embedding_memory
    ax = _axes(ax)
    vocab_sizes = np.logspace(3, 6, 31).astype(int)
    for colour, width in zip(_COLOURS, widths):
        for style, dtype in zip(("-", "--", ":"), dtypes):
            mib = [embedding_memory(v, width, dtype, tied=True).total_bytes / 2**20
                   for v in vocab_sizes]
            ax.loglog(vocab_sizes, mib, style, color=colour, label=f"{width}, {dtype}")
    ax.set(xlabel="vocab_size", ylabel="table memory (MiB)")
    ax.legend(title="width, dtype", loc="upper center", bbox_to_anchor=(0.5, -0.25))
    return ax


def plot_embedding_share(models=MODEL_EMBEDDINGS, ax=None):
    """Share of all parameters held by the token tables of real models, coloured by tying."""
    import textwrap

    from matplotlib import rcParams

    width, height = rcParams["figure.figsize"]
    ax = _axes(ax, figsize=(width, 1.8 * height))
    colour = {True: _COLOURS[0], False: _COLOURS[1], None: "#999999"}
    names = [textwrap.fill(m.name, 12) for m in models]  # long names wrap instead of squeezing the bars
    # The tables cannot hold more than all parameters: a share above 1 means a rounded published total.
    shares = [100 * min(m.embedding_share, 1.0) for m in models]
    ax.barh(names, shares, color=[colour[m.tied] for m in models])
    ax.invert_yaxis()
    ax.set(xlabel="% of all parameters")
    for label, key in (("tied", True), ("untied", False), ("no output vocabulary", None)):
        ax.bar(0, 0, color=colour[key], label=label)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3))
    return ax


def plot_training_memory(models=MODEL_EMBEDDINGS, dtype="float32", optimizer="adam", ax=None, embedding_memory=None):
    """Weights, gradients and optimizer state of each model's token tables during training (GiB)."""
    embedding_memory = embedding_memory or embedding_systems.embedding_memory
    ax = _axes(ax)
    models = [m for m in models if m.tied is not None]
    records = [embedding_memory(m.vocab_size, m.hidden_size, dtype, m.tied, True, optimizer)
               for m in models]
    left = np.zeros(len(models))
    parts = (("weight_bytes", "weights"), ("grad_bytes", "gradients"), ("optimizer_bytes", "optimizer state"))
    for colour, (field, label) in zip(_COLOURS, parts):
        gib = np.array([getattr(r, field) for r in records]) / 2**30
        ax.barh([m.name for m in models], gib, left=left, color=colour, label=label)
        left += gib
    ax.invert_yaxis()
    ax.set(xlabel=f"GiB ({dtype}, {optimizer})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3))
    return ax


# %%
fig, axes = plt.subplots(1, 3, figsize=(17, 4.5), layout="constrained")
plot_memory_scaling(ax=axes[0], embedding_memory=embedding_memory)  # your formula
plot_embedding_share(ax=axes[1])
plot_training_memory(ax=axes[2], embedding_memory=embedding_memory)
plt.show()

# %% [markdown]
# ## 2. Lookup performance: a lookup is a memory copy
#
# A forward lookup does no arithmetic: it reads `N` rows of the table and writes them to the output.
# So its speed limit is the machine's **memory bandwidth**, and the right measure of an
# implementation is the fraction of that bandwidth it reaches. Counting bytes read plus written:
#
# - forward gather: read a row, write it: $2 \cdot N \cdot D \cdot b$ bytes;
# - backward scatter into an existing gradient: read the output-gradient row, read the gradient row,
#   write it back: $3 \cdot N \cdot D \cdot b$ bytes. (The dense backward of part 1 first has to
#   zero the whole `[V, D]` gradient: another $V \cdot D \cdot b$ written, whatever `N` is.)
#
# The ids themselves (8 bytes each) are left out, as in the reference measurements we compare with.
# Bandwidth is in decimal GB/s: $10^9$ bytes per second.
#
# `measure_memory_bandwidth` measures the ceiling: a plain copy of an array much larger than the
# caches.

# %%
#| export analysis.profiling
import numpy as np

from tinytorch_lite.analysis.timing import best_seconds
from tinytorch_lite.core import embedding_systems
from tinytorch_lite.core.embeddings import Embedding, embedding_backward


def measure_memory_bandwidth(num_bytes=256 * 2**20, repeats=5):
    """This machine's copy bandwidth in GB/s (bytes read plus written, 10**9 bytes/s): a gather's ceiling.

    Use a `num_bytes` well above the last-level cache, or you measure the cache instead.
    """
    source = np.ones(num_bytes // 4, dtype=np.float32)
    target = np.empty_like(source)
    seconds = best_seconds(lambda: np.copyto(target, source), repeats)
    return 2 * source.nbytes / seconds / 1e9


# %% nbgrader={"grade": false, "grade_id": "lookup_bandwidth", "locked": false, "schema_version": 3, "solution": true}
#| export
def lookup_bytes(num_ids, embedding_dim, itemsize=4, direction="forward"):
    """Bytes a lookup moves, reads plus writes (ids not counted).

    forward:  each of the num_ids rows is read from the table and written to the output.
    backward: each output-gradient row is read, and the gradient row it adds into is read and written.
    """
    if direction not in ("forward", "backward"):
        raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
    ### BEGIN SOLUTION
    passes = 2 if direction == "forward" else 3
    return passes * num_ids * embedding_dim * itemsize
    ### END SOLUTION


def achieved_bandwidth(num_bytes, seconds, copy_gbps):
    """Return (GB/s reached, fraction of the copy bandwidth copy_gbps); GB means 10**9 bytes."""
    if seconds <= 0 or copy_gbps <= 0:
        raise ValueError(f"seconds and copy_gbps must be positive, got {seconds} and {copy_gbps}")
    ### BEGIN SOLUTION
    gbps = num_bytes / seconds / 1e9
    return gbps, gbps / copy_gbps
    ### END SOLUTION


# %% [markdown]
# The formula can be checked against published numbers. `H200_EMBEDDING` carries the measurements
# of the course's reference notes on one NVIDIA H200 GPU, and `CPU_REFERENCE` those of this machine
# kind; your two functions must reproduce the GB/s and the percentages stated there from the times.

# %%
#| export analysis.reference
# Source: the course authors' measurements of 2026-11-28 on one NVIDIA H200 with PyTorch 2.11.0+cu130
# (torch.index_select and index_add_; medians of 9 runs after 2 warm-ups; bytes read plus written).
H200_COPY_GBPS = 4182.801253763569
H200_EMBEDDING = tuple(
    dict(zip(("case", "vocab_size", "embedding_dim", "num_ids", "dtype", "forward_ms", "forward_gbps",
              "forward_percent_of_copy", "scatter_ms", "scatter_gbps", "dense_backward_ms"), row))
    for row in (
        ("gpt2", 50257, 768, 8192, "float32", 0.027712000533938408, 1816.240149763266, 43.421622008195186,
         0.04700800031423569, 1606.0558095498627, 0.315744012594223),
        ("gpt2", 50257, 768, 8192, "bfloat16", 0.028031999245285988, 897.7534488280218, 21.462971687221522,
         0.0589120015501976, 640.7647848772401, 0.30131199955940247),
        ("gpt2_big_batch", 50257, 768, 65536, "float32", 0.11903999745845795, 3382.503298023978,
         80.8669380353775, 0.3787519931793213, 1594.6576833301149, 0.8081920146942139),
        ("llama3", 128256, 4096, 16384, "float32", 0.1565759927034378, 3428.820106648523, 81.9742535833699,
         0.470304012298584, 1712.310222624109, 1.5061759948730469),
        ("llama3", 128256, 4096, 16384, "bfloat16", 0.09567999839782715, 2805.5545620295084,
         67.07358040273007, 0.5761600136756897, 698.8565232620366, 1.3295680284500122),
        ("dlrm_table", 40_000_000, 128, 262144, "float32", 0.1693439930677414, 1585.148968895636,
         37.896827334776255, 0.374208003282547, 1076.014356902932, 5.065919876098633),
    )
)
# Source: the course authors' measurements of 2026-11-28 on this machine kind (2 vCPU AMD EPYC under KVM,
# AVX-512, 32 MiB L3, numpy 2.4.6, torch 2.13.0+cpu, one thread): GPT-2-sized table, 8,192 ids,
# np.take(mode="clip") after a bounds check; benchmarks/embedding_lookup.py measures the same quantities.
CPU_REFERENCE = {"copy_gbps": (42.0, 44.0), "vocab_size": 50257, "embedding_dim": 768, "num_ids": 8192,
                 "forward_ms_uniform": 1.62, "forward_ms_zipf": 1.24, "percent_of_copy": (73, 96),
                 "torch_index_select_ms": 1.70, "torch_dense_backward_ms": 12.3}

# %% nbgrader={"grade": true, "grade_id": "test_lookup_bandwidth_fraction", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that lookup_bytes and achieved_bandwidth reproduce the cited H200 measurements."""
assert lookup_bytes(10, 4, itemsize=4) == 320, (
    f"forward of 10 ids, D=4, float32: expected 320 bytes (160 read + 160 written), got {lookup_bytes(10, 4, 4)}")
case = H200_EMBEDDING[0]
seconds = case["forward_ms"] / 1e3
gbps, fraction = achieved_bandwidth(lookup_bytes(case["num_ids"], case["embedding_dim"], 4), seconds, H200_COPY_GBPS)
assert abs(gbps - case["forward_gbps"]) < 1e-6 * case["forward_gbps"], (
    f"H200 GPT-2 gather: expected {case['forward_gbps']:.1f} GB/s, got {gbps:.1f}; hint: count reads and writes, GB = 1e9")
assert abs(100 * fraction - case["forward_percent_of_copy"]) < 1e-6, (
    f"expected {case['forward_percent_of_copy']:.2f} % of the copy bandwidth, got {100 * fraction:.2f} %")
### BEGIN HIDDEN TESTS
for case in H200_EMBEDDING:
    itemsize = DTYPE_BYTES[case["dtype"]]
    gbps, fraction = achieved_bandwidth(lookup_bytes(case["num_ids"], case["embedding_dim"], itemsize),
                                        case["forward_ms"] / 1e3, H200_COPY_GBPS)
    assert abs(100 * fraction - case["forward_percent_of_copy"]) < 1e-6, f"{case['case']} {case['dtype']}: {100 * fraction}"
    scatter = lookup_bytes(case["num_ids"], case["embedding_dim"], itemsize, direction="backward")
    gbps, _ = achieved_bandwidth(scatter, case["scatter_ms"] / 1e3, H200_COPY_GBPS)
    assert abs(gbps - case["scatter_gbps"]) < 1e-6 * gbps, (
        f"{case['case']} scatter: expected {case['scatter_gbps']:.1f} GB/s, got {gbps:.1f}; a scatter reads twice, writes once")
low, high = CPU_REFERENCE["copy_gbps"]
forward = lookup_bytes(8192, 768, 4)
_, fraction_low_copy = achieved_bandwidth(forward, 1.62e-3, low)
_, fraction_high_copy = achieved_bandwidth(forward, 1.62e-3, high)
assert fraction_high_copy < 0.73 < fraction_low_copy, "the CPU reference reports 73 % of 42-44 GB/s"
### END HIDDEN TESTS

# %% [markdown]
# ### Profiling the lookup
#
# `profile_lookup` times the lookup of part 1's `Embedding` and its dense backward
# (`embedding_backward`) over vocabulary sizes, batch sizes and three id distributions. It times the
# gather itself (into a reused output buffer, as a framework's caching allocator gives it) and,
# separately, the whole layer call, which adds validating the ids and allocating a fresh output: with
# small batches those fixed costs, not the memory, decide the time. Each time is the fastest of a few
# runs: on a machine shared with other work, the fastest run is the one least disturbed.
#
# - **sequential** ids `0, 1, 2, ...`: the best case for hardware prefetchers;
# - **uniform** ids: every row equally likely, the worst case for caches;
# - **Zipf** ids: the frequency of rank $k$ falls as $1/k$, as word frequencies do in text, so
#   a few hot rows take most lookups and stay in cache.
#
# Predict before measuring: which distribution is fastest for a table larger than the 32 MiB
# last-level cache? Does the backward time depend on `vocab_size`, and the forward time? With rows
# of 256 float32 numbers (1 KiB), is a uniform gather limited by bandwidth, or by the latency of
# fetching each row from a random place in memory?

# %%
#| export analysis.profiling
def sample_token_ids(distribution, num_ids, vocab_size, rng=None, zipf_exponent=1.0):
    """Token ids drawn 'sequential' (0, 1, 2, ... wrapping), 'uniform', or 'zipf' (rank k has weight 1/(k+1)**s)."""
    rng = np.random.default_rng(rng)
    if distribution == "sequential":
        return np.arange(num_ids, dtype=np.int64) % vocab_size
    if distribution == "uniform":
        return rng.integers(0, vocab_size, size=num_ids)
    if distribution == "zipf":
        weights = 1.0 / np.arange(1, vocab_size + 1) ** zipf_exponent
        return rng.choice(vocab_size, size=num_ids, p=weights / weights.sum())
    raise ValueError(f"unknown distribution {distribution!r}; use 'sequential', 'uniform' or 'zipf'")


def profile_lookup(vocab_sizes=(4096, 65536, 524288), num_ids=(1024, 8192), embedding_dim=64,
                   distributions=("sequential", "uniform", "zipf"), repeats=5, copy_gbps=None, seed=0,
                   lookup_bytes=None, achieved_bandwidth=None):
    """Lookup times (fastest of `repeats`) over table sizes, batch sizes and id distributions, as records.

    forward_s times the gather of Embedding.forward (np.take after its bounds check) into a reused output
    buffer, as a framework's caching allocator provides; layer_s the whole `embedding(ids)` call, which
    also validates the ids and allocates the output; backward_s the dense `embedding_backward`, whose
    bytes include zeroing the [vocab_size, embedding_dim] gradient. GB/s and fractions are of copy_gbps
    (measured with measure_memory_bandwidth() when None); forward_predicted_s and backward_predicted_s
    are the times at exactly that bandwidth, bytes / copy_gbps. `lookup_bytes` and
    `achieved_bandwidth` count the bytes and the bandwidth: by default the package's functions; the
    notebook passes the ones written in it.
    """
    lookup_bytes = lookup_bytes or embedding_systems.lookup_bytes
    achieved_bandwidth = achieved_bandwidth or embedding_systems.achieved_bandwidth
    copy_gbps = measure_memory_bandwidth() if copy_gbps is None else copy_gbps
    rng = np.random.default_rng(seed)
    records = []
    for vocab_size in vocab_sizes:
        # np.full writes every page, so the table is really in memory (np.zeros would map one shared zero page)
        embedding = Embedding.from_pretrained(np.full((vocab_size, embedding_dim), 0.5, np.float32), freeze=False)
        itemsize = embedding.weight.data.itemsize
        for n in num_ids:
            grad_output = rng.standard_normal((n, embedding_dim), dtype=np.float32)
            out = np.empty((n, embedding_dim), np.float32)
            for distribution in distributions:
                ids = sample_token_ids(distribution, n, vocab_size, rng)
                forward_s = best_seconds(lambda: np.take(embedding.weight.data, ids, axis=0, out=out, mode="clip"), repeats)
                layer_s = best_seconds(lambda: embedding(ids), repeats)
                backward_s = best_seconds(lambda: embedding_backward(ids, grad_output, vocab_size), repeats)
                forward_bytes = lookup_bytes(n, embedding_dim, itemsize)
                backward_bytes = vocab_size * embedding_dim * itemsize + lookup_bytes(n, embedding_dim, itemsize, "backward")
                forward_gbps, forward_fraction = achieved_bandwidth(forward_bytes, forward_s, copy_gbps)
                backward_gbps, backward_fraction = achieved_bandwidth(backward_bytes, backward_s, copy_gbps)
                records.append(dict(
                    vocab_size=vocab_size, num_ids=n, embedding_dim=embedding_dim, distribution=distribution,
                    table_mib=vocab_size * embedding_dim * itemsize / 2**20, forward_s=forward_s,
                    layer_s=layer_s, backward_s=backward_s, tokens_per_s=n / forward_s, forward_gbps=forward_gbps,
                    forward_fraction=forward_fraction, backward_gbps=backward_gbps,
                    backward_fraction=backward_fraction, copy_gbps=copy_gbps,
                    forward_predicted_s=forward_bytes / (copy_gbps * 1e9),
                    backward_predicted_s=backward_bytes / (copy_gbps * 1e9)))
        del embedding
    return records


# %%
#| export analysis.plots
def plot_profile(records, num_ids=None, cache_mib=None, axes=None, l2_mib=None):
    """Measured and predicted times of the forward gather (top) and the dense backward (bottom) against
    table size, one line per id distribution. The prediction, dashed, is bytes / copy bandwidth (the
    records' forward_predicted_s and backward_predicted_s); dotted lines mark the L2 and last-level
    cache sizes when given."""
    import matplotlib.pyplot as plt

    num_ids = max(r["num_ids"] for r in records) if num_ids is None else num_ids
    if axes is None:
        width, height = plt.rcParams["figure.figsize"]
        _, axes = plt.subplots(2, 1, figsize=(width, 2 * height), layout="constrained", sharex=True)
    records = sorted((r for r in records if r["num_ids"] == num_ids), key=lambda r: r["table_mib"])
    distributions = dict.fromkeys(r["distribution"] for r in records)
    for colour, distribution in zip(_COLOURS, distributions):
        rows = [r for r in records if r["distribution"] == distribution]
        mib = [r["table_mib"] for r in rows]
        axes[0].loglog(mib, [1e3 * r["forward_s"] for r in rows], "o-", color=colour, label=distribution)
        axes[1].loglog(mib, [1e3 * r["backward_s"] for r in rows], "o-", color=colour, label=distribution)
    predicted = [r for r in records if r["distribution"] == next(iter(distributions))]  # bytes do not depend on the ids
    mib = [r["table_mib"] for r in predicted]
    axes[0].loglog(mib, [1e3 * r["forward_predicted_s"] for r in predicted], "k--", label="predicted")
    axes[1].loglog(mib, [1e3 * r["backward_predicted_s"] for r in predicted], "k--", label="predicted")
    axes[0].set(ylabel="forward (ms)")
    axes[1].set(xlabel="table size (MiB)", ylabel="backward (ms)")
    for ax in axes:
        for size, name in ((l2_mib, "L2"), (cache_mib, "L3")):
            if size:
                ax.axvline(size, color="#999999", linestyle=":")
                ax.annotate(f" {name}", (size, 1), xycoords=("data", "axes fraction"), va="top", color="#595959")
    axes[1].legend(loc="upper center", bbox_to_anchor=(0.5, -0.3))
    return axes


# %%
def last_level_cache_mib():
    """Size of this CPU's largest cache in MiB, read from Linux's sysfs; None where it is not readable."""
    sizes = []
    for index in range(8):
        try:
            with open(f"/sys/devices/system/cpu/cpu0/cache/index{index}/size") as f:
                text = f.read().strip()  # e.g. "32768K"
        except OSError:
            break
        if text.endswith("K"):
            sizes.append(int(text[:-1]) / 1024)
        elif text.endswith("M"):
            sizes.append(float(text[:-1]))
    return max(sizes) if sizes else None


cache_mib = last_level_cache_mib()
copy_gbps = measure_memory_bandwidth(num_bytes=128 * 2**20)
print(f"copy bandwidth of this machine: {copy_gbps:.1f} GB/s; last-level cache: {cache_mib} MiB")
records = profile_lookup(vocab_sizes=(4096, 32768, 262144), num_ids=(1024, 8192), embedding_dim=256,
                         repeats=3, copy_gbps=copy_gbps, lookup_bytes=lookup_bytes,  # your byte count
                         achieved_bandwidth=achieved_bandwidth)
print(f"{'vocab':>8} {'MiB':>6} {'ids':>6} {'distribution':>12} {'gather us':>9} {'% copy':>7} {'Mtok/s':>7} "
      f"{'layer us':>9} {'bwd ms':>7}")
for r in records:
    print(f"{r['vocab_size']:8d} {r['table_mib']:6.1f} {r['num_ids']:6d} {r['distribution']:>12} "
          f"{1e6 * r['forward_s']:9.1f} {100 * r['forward_fraction']:7.1f} {r['tokens_per_s'] / 1e6:7.1f} "
          f"{1e6 * r['layer_s']:9.1f} {1e3 * r['backward_s']:7.2f}")
plot_profile(records, cache_mib=cache_mib)
plt.show()

# %% [markdown]
# What the measurements say (computed from the table above, so it stays true on another machine):

# %%
def pick(vocab_size, num_ids, distribution):
    return next(r for r in records if (r["vocab_size"], r["num_ids"], r["distribution"]) == (vocab_size, num_ids, distribution))


def compare(ratio, faster, slower, same="no clear difference (within 20 %)"):
    """Words for a measured time ratio a / b: which side won, or that they are alike."""
    return faster if ratio < 1 / 1.2 else slower if ratio > 1.2 else same


small_v, large_v = min(r["vocab_size"] for r in records), max(r["vocab_size"] for r in records)
n = max(r["num_ids"] for r in records)
small, large = pick(small_v, n, "uniform"), pick(large_v, n, "uniform")
fits = cache_mib is not None and small["table_mib"] < cache_mib < large["table_mib"]
print(f"- Uniform ids, {n} lookups: the {small['table_mib']:.0f} MiB table reaches {small['forward_fraction']:.0%} of the "
      f"copy bandwidth, the {large['table_mib']:.0f} MiB table {large['forward_fraction']:.0%}: "
      + compare(small["forward_s"] / large["forward_s"],
                ("the table that fits in cache is read faster"
                 + (", even faster than memory can stream." if small["forward_fraction"] > 1 else ".")) if fits
                else "the small table is faster.",
                "the small table was slower, so something other than the table (per-call overhead, other processes) dominated."))
zipf, uniform = pick(large_v, n, "zipf"), pick(large_v, n, "uniform")
print(f"- On the {large['table_mib']:.0f} MiB table, Zipf ids take {zipf['forward_s'] / uniform['forward_s']:.2f}x the time of "
      "uniform ids: " + compare(zipf["forward_s"] / uniform["forward_s"], "the hot rows stay in cache.",
                                "the skewed ids were slower here.", "the skew made no clear difference (within 20 %)."))
layer_overhead = np.median([r["layer_s"] / r["forward_s"] for r in records if r["num_ids"] == n])
print(f"- The whole layer call takes {layer_overhead:.1f}x the bare gather at {n} ids (median over the tables): "
      + ("validating the ids and allocating a fresh output, whose pages the operating system must map on first "
         "write, cost more than the lookup itself."
         if layer_overhead > 1.5 else "the extra work of the layer is small next to the memory traffic."))
growth_forward = large["forward_s"] / small["forward_s"]
growth_backward = large["backward_s"] / small["backward_s"]
print(f"- From {small_v:,} to {large_v:,} rows ({large_v // small_v}x), the forward time changes {growth_forward:.1f}x and "
      f"the dense backward {growth_backward:.1f}x"
      + (": the backward zeroes the whole [V, D] gradient whatever the batch, the forward reads only the rows it needs."
         if growth_backward > 2 * growth_forward else "."))

# %% [markdown]
# ### The production context
#
# The reference notes measured the same GPT-2-sized lookup (50,257 x 768 float32, 8,192 ids) on one
# H200 GPU. We time the same gather here (into a reused output buffer) and compare.

# %%
gpt2_ids = sample_token_ids("uniform", 8192, 50257, rng=2)
gpt2_table = Embedding.from_pretrained(np.full((50257, 768), 0.5, np.float32))  # values do not matter for timing
gpt2_out = np.empty((8192, 768), np.float32)
cpu_seconds = best_seconds(lambda: np.take(gpt2_table.weight.data, gpt2_ids, axis=0, out=gpt2_out, mode="clip"))
_, cpu_fraction = achieved_bandwidth(lookup_bytes(8192, 768), cpu_seconds, copy_gbps)
h200 = H200_EMBEDDING[0]
print(f"this machine: {1e3 * cpu_seconds:.2f} ms ({cpu_fraction:.0%} of {copy_gbps:.0f} GB/s); "
      f"reference CPU: {CPU_REFERENCE['forward_ms_uniform']} ms; "
      f"H200: {h200['forward_ms']:.3f} ms ({h200['forward_percent_of_copy']:.0f} % of {H200_COPY_GBPS:.0f} GB/s)")
speedup, bandwidth_ratio = cpu_seconds / (h200["forward_ms"] / 1e3), H200_COPY_GBPS / copy_gbps
print(f"The H200 is {speedup:.0f}x faster on this lookup; its copy bandwidth is {bandwidth_ratio:.0f}x this machine's. "
      + ("The two ratios agree within a factor of 2: a lookup is priced by bandwidth, on every device."
         if 0.5 < speedup / bandwidth_ratio < 2 else
         f"The ratios differ by {max(speedup / bandwidth_ratio, bandwidth_ratio / speedup):.1f}x: the two devices reach "
         "different fractions of their bandwidth on this batch."))
del gpt2_table, gpt2_out

# %% [markdown]
# The H200 reaches only 43 % of its bandwidth with 8,192 ids but 81 % with 65,536 (see
# `H200_EMBEDDING`): a GPU needs large batches to keep enough memory requests in flight.
#
# ## 3. Memory-efficient tables
#
# ### Quantization: int8 rows
#
# Serving a model needs no gradients, and a lookup only reads. Store each row as 8-bit codes with
# its own float32 **scale** and **offset**: a row of $D$ float32 numbers ($4D$ bytes) becomes
# $D + 8$ bytes, $4D / (D + 8)$ times smaller, 3.96x at $D = 768$. The codes are
#
# $$q_{ij} = \operatorname{round}\left(\frac{w_{ij} - \text{lo}_i}{s_i}\right),\quad
#   s_i = \frac{\text{hi}_i - \text{lo}_i}{2^{\text{bits}} - 1},\quad
#   \hat w_{ij} = q_{ij}\, s_i + \text{lo}_i$$
#
# with $\text{lo}_i, \text{hi}_i$ the minimum and maximum of row $i$. Rounding errs by at most
# half a step, $|\hat w_{ij} - w_{ij}| \le s_i / 2$. Why per row? Rows can differ in range by orders
# of magnitude (the test below mixes rows of scale 0.01 and 100), and one scale for the whole table
# would spend all 256 levels on the largest rows, leaving a small row only one or two. A row whose
# values are all equal has no range; give it scale 1.

# %% nbgrader={"grade": false, "grade_id": "quantize_rows", "locked": false, "schema_version": 3, "solution": true}
#| export
def quantize_rows(weights, bits=8):
    """Quantize each row of a 2-D float table to unsigned `bits`-bit codes with its own scale and offset.

    Returns (codes uint8 [V, D], scale float32 [V], offset float32 [V]) with offset = row minimum and
    scale = (row max - row min) / (2**bits - 1), or 1 for a constant row.
    """
    weights = np.asarray(weights, dtype=np.float32)
    if weights.ndim != 2 or not 1 <= bits <= 8:
        raise ValueError(f"need a 2-D table and 1 <= bits <= 8, got shape {weights.shape} and bits={bits}")
    ### BEGIN SOLUTION
    lo = weights.min(axis=1, keepdims=True)
    hi = weights.max(axis=1, keepdims=True)
    scale = (hi - lo) / (2**bits - 1)
    scale[scale == 0] = 1.0
    codes = np.clip(np.rint((weights - lo) / scale), 0, 2**bits - 1).astype(np.uint8)
    return codes, scale[:, 0], lo[:, 0]
    ### END SOLUTION


def dequantize_rows(codes, scale, offset):
    """Inverse of quantize_rows for codes of shape (*, D) with scale and offset of shape (*): float32 (*, D)."""
    ### BEGIN SOLUTION
    values = np.multiply(codes, scale[..., None], dtype=np.float32)  # one pass, no float32 copy of the codes
    values += offset[..., None]
    return values
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_quantize_rows_roundtrip", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that quantize_rows uses one scale per row and dequantize_rows inverts it within half a step."""
rng = np.random.default_rng(0)
table = rng.standard_normal((6, 40)).astype(np.float32) * np.array([[100], [1], [0.01], [5], [0.2], [30]], np.float32)
codes, scale, offset = quantize_rows(table)
assert codes.dtype == np.uint8 and codes.shape == (6, 40), f"codes should be uint8 (6, 40), got {codes.dtype} {codes.shape}"
assert scale.shape == (6,) and offset.shape == (6,), f"one scale and offset per row: expected (6,), got {scale.shape}, {offset.shape}"
row_step = (table.max(axis=1) - table.min(axis=1)) / 255
assert np.allclose(scale, row_step, rtol=1e-5), f"scale should be each row's (max - min) / 255: expected {row_step}, got {scale}"
error = np.abs(dequantize_rows(codes, scale, offset) - table).max(axis=1)
assert np.all(error <= row_step / 2 * 1.001 + 1e-7), (
    f"row errors {error} exceed half a step {row_step / 2}; hint: one scale for the whole table wastes levels on small rows")
### BEGIN HIDDEN TESTS
assert codes.min(axis=1).tolist() == [0] * 6 and codes.max(axis=1).tolist() == [255] * 6, "each row should span codes 0..255"
constant = np.full((2, 5), 3.25, np.float32)
c_codes, c_scale, c_offset = quantize_rows(constant)
assert np.array_equal(dequantize_rows(c_codes, c_scale, c_offset), constant), "a constant row must come back exactly"  # exact: code 0, scale 1
four = quantize_rows(table, bits=4)
assert four[0].max() == 15 and np.allclose(four[1], (table.max(1) - table.min(1)) / 15, rtol=1e-5), "bits=4 uses 16 levels"
picked = np.array([[5, 0], [2, 2]])
assert np.allclose(dequantize_rows(codes[picked], scale[picked], offset[picked]),
                   dequantize_rows(codes, scale, offset)[picked]), "dequantize_rows must work on gathered rows of shape (*, D)"
### END HIDDEN TESTS

# %% [markdown]
# `QuantizedEmbedding` stores the codes and looks rows up **without ever dequantizing the whole
# table**: gather the codes of the requested rows, then dequantize just those. `bits=16` stores
# float16 instead (no scale needed: half the memory, about 3 significant digits).

# %% nbgrader={"grade": false, "grade_id": "quantized_embedding", "locked": false, "schema_version": 3, "solution": true}
#| export
class QuantizedEmbedding(Module):
    """A frozen embedding table stored as uint8 codes with per-row scale and offset (bits=8), or cast to float16 (bits=16)."""

    def __init__(self, codes, scale=None, offset=None):
        self.codes, self.scale, self.offset = codes, scale, offset
        self.vocab_size, self.embedding_dim = codes.shape
        self.bits = 16 if scale is None else 8

    @classmethod
    def from_embedding(cls, embedding, bits=8):
        """Quantize an Embedding (or a 2-D array): bits=8 for uint8 codes with a scale and offset per row, bits=16 for a plain float16 cast."""
        weights = np.asarray(embedding.weight.data if hasattr(embedding, "weight") else embedding)
        if bits == 16:
            return cls(weights.astype(np.float16))
        if bits == 8:
            return cls(*quantize_rows(weights, bits=8))
        raise ValueError(f"bits must be 8 (uint8 codes per row) or 16 (float16 cast), got {bits}")

    @property
    def nbytes(self):
        return sum(a.nbytes for a in (self.codes, self.scale, self.offset) if a is not None)

    def forward(self, token_ids):
        """Look up rows: (*) integer ids -> float32 Tensor (*, embedding_dim), no gradient."""
        ids = check_token_ids(token_ids, self.vocab_size)
        ### BEGIN SOLUTION
        rows = np.take(self.codes, ids, axis=0)
        if self.scale is None:
            return Tensor(rows.astype(np.float32))
        return Tensor(dequantize_rows(rows, self.scale[ids], self.offset[ids]))
        ### END SOLUTION

    def __repr__(self):
        return f"QuantizedEmbedding({self.vocab_size}, {self.embedding_dim}, bits={self.bits}, {format_bytes(self.nbytes)})"


# %% nbgrader={"grade": true, "grade_id": "test_quantized_embedding_lookup", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that QuantizedEmbedding is at least 3.5x smaller than float32 and looks rows up with a small error."""
source = Embedding(1000, 64, rng=np.random.default_rng(3))
quantized = QuantizedEmbedding.from_embedding(source, bits=8)
ratio = source.weight.data.nbytes / quantized.nbytes
assert ratio >= 3.5, f"int8 with per-row scale and offset should be >= 3.5x smaller than float32, got {ratio:.2f}x"
ids = np.array([[3, 999, 3], [0, 500, 1]])
got = quantized(ids).data
expected = source.weight.data[ids]
assert got.shape == (2, 3, 64) and got.dtype == np.float32, f"expected float32 (2, 3, 64), got {got.dtype} {got.shape}"
step = (expected.max(-1) - expected.min(-1)) / 255
assert np.all(np.abs(got - expected).max(-1) <= step / 2 * 1.001 + 1e-7), "lookup error exceeds half a quantization step"
### BEGIN HIDDEN TESTS
codes, scale, offset = quantize_rows(source.weight.data)
# code * scale + offset rounds twice in float32 (once if computed in float64): allow two roundings
rounding = 2 * np.finfo(np.float32).eps * (255 * scale[ids] + np.abs(offset[ids]))[..., None]
assert np.all(np.abs(got - dequantize_rows(codes[ids], scale[ids], offset[ids])) <= rounding), \
    "lookup should dequantize the gathered rows"
half = QuantizedEmbedding.from_embedding(source, bits=16)
assert half.nbytes * 2 == source.weight.data.nbytes
assert np.array_equal(half(ids).data, source.weight.data[ids].astype(np.float16).astype(np.float32)), "float16 lookup"  # exact: float16 -> float32 is exact
assert QuantizedEmbedding.from_embedding(source)(np.array([], dtype=np.int64)).shape == (0, 64)
### END HIDDEN TESTS

# %% [markdown]
# Measure: memory, error and lookup time of each format on a GPT-2-width table.

# %%
rng = np.random.default_rng(4)
table = Embedding(20000, 768, rng=rng)
lookup_ids = sample_token_ids("uniform", 4096, 20000, rng)
reference = table.weight.data[lookup_ids]
float32_seconds = best_seconds(lambda: table(lookup_ids))
formats = [("float32", table.weight.data.nbytes, 0.0, float32_seconds)]
for bits in (16, 8):
    q = QuantizedEmbedding.from_embedding(table, bits=bits)
    relative_error = np.linalg.norm(q(lookup_ids).data - reference, axis=1) / np.linalg.norm(reference, axis=1)
    formats.append((f"{'float16' if bits == 16 else 'int8'}", q.nbytes, float(relative_error.max()),
                 best_seconds(lambda: q(lookup_ids))))
print(f"{'format':8s} {'memory':>10s} {'smaller':>8s} {'max row error':>14s} {'lookup time':>12s}")
for name, nbytes, row_error, seconds in formats:
    print(f"{name:8s} {format_bytes(nbytes):>10s} {formats[0][1] / nbytes:7.2f}x {row_error:14.2e} {seconds / float32_seconds:11.2f}x")
int8_row = formats[2]
print(f"int8 saves {formats[0][1] / int8_row[1]:.2f}x memory at a worst relative row error of {int8_row[2]:.1%}, "
      f"and its lookup takes {int8_row[3] / float32_seconds:.1f}x the float32 time "
      + ("(dequantizing costs more than the bytes it saves at this size)." if int8_row[3] > float32_seconds
         else "(fewer bytes to read outweigh the dequantization)."))
del table

# %% [markdown]
# ### Row-sparse gradients
#
# A batch of `N` tokens touches at most `N` rows, but the dense backward builds a `[V, D]`
# gradient, mostly zeros, and a dense SGD step then reads and writes all `V` rows. For a recommender
# table with millions of rows and a batch of thousands, nearly all of that work is wasted.
#
# The row-sparse gradient keeps only the touched rows: sorted unique ids `rows` and their summed
# gradients `values` of shape `(len(rows), D)`. A trick does it with part 1's function: renumber the
# ids to `0 .. U-1` (`np.unique(..., return_inverse=True)`) and call `embedding_backward` with a
# vocabulary of `U` rows. The SGD step then writes only those rows, and must give the dense step's
# result, up to the rounding of the float sums (another summation order may round differently).

# %% nbgrader={"grade": false, "grade_id": "sparse_gradients", "locked": false, "schema_version": 3, "solution": true}
#| export
def sparse_embedding_backward(token_ids, grad_output, vocab_size, padding_idx=None):
    """Row-sparse embedding gradient: (rows int64 [U] sorted unique ids, values [U, D] summed gradients).

    values[k] is row rows[k] of embedding_backward(token_ids, grad_output, vocab_size), up to the
    rounding of the sums; the padding row is dropped. Ids are checked like a lookup's, and a negative padding_idx counts from
    the end of the vocab_size rows, as in embedding_backward.
    """
    ids = check_token_ids(token_ids, vocab_size)
    padding_idx = _check_padding_idx(padding_idx, vocab_size)
    grad_output = np.asarray(grad_output)
    if grad_output.ndim != ids.ndim + 1 or grad_output.shape[:-1] != ids.shape:
        raise ValueError(f"grad_output has shape {grad_output.shape}; ids of shape {ids.shape} need {ids.shape + ('embedding_dim',)}")
    ids, grad_output = ids.reshape(-1), grad_output.reshape(ids.size, grad_output.shape[-1])
    if ids.size == 0:
        return np.zeros(0, np.int64), np.zeros((0, grad_output.shape[1]), grad_output.dtype)
    ### BEGIN SOLUTION
    rows, compact_ids = np.unique(ids, return_inverse=True)
    values = embedding_backward(compact_ids, grad_output, len(rows))
    ### END SOLUTION
    if padding_idx is not None:
        keep = rows != padding_idx
        rows, values = rows[keep], values[keep]
    return rows.astype(np.int64), values


def sparse_sgd_update(weight, rows, values, lr):
    """In place: weight[rows] -= lr * values, touching only those rows. weight is a Tensor or an array.

    rows are checked to be row numbers of the table (integers in [0, len(weight))), so a negative
    row is an error rather than the last row counted from the end.
    """
    table = weight.data if isinstance(weight, Tensor) else weight
    rows = check_token_ids(rows, len(table))
    ### BEGIN SOLUTION
    table[rows] -= lr * values
    ### END SOLUTION
    return weight


# %% nbgrader={"grade": true, "grade_id": "test_sparse_sgd_matches_dense", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that the row-sparse gradient and SGD step give the dense result, up to float32 rounding."""
rng = np.random.default_rng(5)
vocab_size, dim = 50, 4
eps = np.finfo(np.float32).eps


def scatter_float64(ids, grad, vocab_size):
    """The exact sums, and the sums of the terms' sizes (a float32 sum of n terms, in any order,
    is off by at most about n eps times the latter)."""
    ids, grad = ids.reshape(-1), grad.reshape(ids.size, -1).astype(np.float64)
    sums, sizes = np.zeros((vocab_size, grad.shape[1])), np.zeros((vocab_size, grad.shape[1]))
    np.add.at(sums, ids, grad)
    np.add.at(sizes, ids, np.abs(grad))
    return sums, sizes


ids = np.array([[7, 3, 7], [49, 3, 7]])
grad = rng.standard_normal((2, 3, dim)).astype(np.float32)
rows, values = sparse_embedding_backward(ids, grad, vocab_size)
assert rows.tolist() == [3, 7, 49], f"rows should be the sorted unique ids [3, 7, 49], got {rows.tolist()}"
exact, sizes = scatter_float64(ids, grad, vocab_size)
assert np.all(np.abs(values - exact[rows]) <= 3 * eps * sizes[rows]), \
    "values should be the dense gradient's rows; hint: repeated ids must add up"
weight = rng.standard_normal((vocab_size, dim)).astype(np.float32)
expected = weight - 0.1 * exact
sparse_sgd_update(weight, rows, values, 0.1)
bound = 3 * eps * (np.abs(expected) + 0.1 * sizes)  # the gradient's rounding, then the step's
assert np.all(np.abs(weight - expected) <= bound), \
    f"sparse SGD differs from dense SGD by {np.abs(weight - expected).max()}; hint: only rows get updated"
### BEGIN HIDDEN TESTS
ids = rng.integers(0, 1000, size=(16, 32))
ids[0, :10] = 0
grad = rng.standard_normal((16, 32, 8)).astype(np.float32)
rows, values = sparse_embedding_backward(ids, grad, 1000, padding_idx=0)
exact, sizes = scatter_float64(ids, grad, 1000)
count = np.bincount(ids.reshape(-1), minlength=1000)
assert 0 not in rows and rows.tolist() == np.flatnonzero(np.isin(np.arange(1000), ids) & (np.arange(1000) != 0)).tolist()
assert np.all(np.abs(values - exact[rows]) <= count[rows, None] * eps * sizes[rows]), \
    "with padding_idx, values should be the dense gradient's rows"
table = Tensor(rng.standard_normal((1000, 8)).astype(np.float32), requires_grad=True)
exact[0] = sizes[0] = 0
expected = table.data - 0.5 * exact
sparse_sgd_update(table, rows, values, 0.5)
bound = 3 * eps * np.abs(expected) + 0.5 * count[:, None] * eps * sizes
assert np.all(np.abs(table.data - expected) <= bound), "sparse SGD on a Tensor should update its data in place"
### END HIDDEN TESTS

# %% [markdown]
# Predict, then measure: with `V = 500,000`, `D = 64` and a batch of 1,024 ids, how much less data
# does the sparse step touch than the dense one?

# %%
vocab_size, dim, n = 500_000, 64, 1024
rng = np.random.default_rng(6)
weight = np.full((vocab_size, dim), 0.5, np.float32)
ids = sample_token_ids("zipf", n, vocab_size, rng)
grad = rng.standard_normal((n, dim), dtype=np.float32)


def dense_step():
    weight[...] -= 0.01 * embedding_backward(ids, grad, vocab_size)


def sparse_step():
    sparse_sgd_update(weight, *sparse_embedding_backward(ids, grad, vocab_size), 0.01)


dense_seconds, sparse_seconds = best_seconds(dense_step, 3, 1), best_seconds(sparse_step, 3, 1)
unique_rows = len(np.unique(ids))
print(f"{n} ids touch {unique_rows} of {vocab_size:,} rows ({unique_rows / vocab_size:.2%}): "
      f"dense step {1e3 * dense_seconds:.1f} ms, sparse step {1e3 * sparse_seconds:.2f} ms, "
      f"{dense_seconds / sparse_seconds:.0f}x faster")
del weight

# %% [markdown]
# ### Tables larger than memory: `np.memmap`
#
# DLRM's tables hold about 97 GiB in float32, more than many machines have. The operating system can
# back an array by a file: `np.load(path, mmap_mode="r")` maps the file into the address space, and
# only the pages a lookup touches are read from disk (and cached). `MemmapEmbedding` is a frozen
# table of that kind. `MemmapEmbedding.create` fills a new file chunk by chunk, so the whole table
# never sits in memory.

# %%
#| export
class MemmapEmbedding(Module):
    """A frozen embedding table whose rows live in a .npy file, read page by page on lookup."""

    def __init__(self, path, mode="r"):
        self.weight = np.load(path, mmap_mode=mode)
        if self.weight.ndim != 2:
            raise ValueError(f"{path} holds an array of shape {self.weight.shape}; an embedding table is 2-D")
        self.vocab_size, self.embedding_dim = self.weight.shape

    @classmethod
    def create(cls, path, vocab_size, embedding_dim, dtype=np.float32, rng=None, chunk_rows=65536):
        """Write a new N(0, 1) table of shape (vocab_size, embedding_dim) to path, chunk_rows rows at a time."""
        rng = np.random.default_rng(rng)
        table = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(vocab_size, embedding_dim))
        for start in range(0, vocab_size, chunk_rows):
            stop = min(start + chunk_rows, vocab_size)
            table[start:stop] = rng.standard_normal((stop - start, embedding_dim))
        table.flush()
        del table
        return cls(path)

    def forward(self, token_ids):
        ids = check_token_ids(token_ids, self.vocab_size)
        return Tensor(np.asarray(np.take(self.weight, ids, axis=0)))


# %%
with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, "table.npy")
    on_disk = MemmapEmbedding.create(path, 200_000, 64, rng=7)
    in_memory = np.array(on_disk.weight)
    ids = sample_token_ids("uniform", 4096, 200_000, rng=8)
    assert np.array_equal(on_disk(ids).data, in_memory[ids])
    memmap_seconds = best_seconds(lambda: on_disk(ids))
    memory_seconds = best_seconds(lambda: np.take(in_memory, ids, axis=0))
    del on_disk
    cold_times = []
    for _ in range(3):  # drop this file's pages from the page cache, map it again, look up once
        with open(path, "rb") as f:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        cold_table = MemmapEmbedding(path)
        cold_times.append(best_seconds(lambda: cold_table(ids), repeats=1, warmup=0))
        del cold_table
    cold_seconds = min(cold_times)
print(f"{format_bytes(200_000 * 64 * 4)} table, {len(ids)} uniform ids: in memory {1e6 * memory_seconds:.0f} us; "
      f"memmap with the file cached {memmap_seconds / memory_seconds:.1f}x that, "
      f"with its pages evicted first {cold_seconds / memory_seconds:.1f}x")
print("With the file in the page cache, a memmap lookup costs "
      + ("about what an in-memory one does" if memmap_seconds < 1.5 * memory_seconds else
         f"{memmap_seconds / memory_seconds:.1f}x an in-memory one")
      + "; reading the pages from storage makes it " + compare(cold_seconds / memmap_seconds, "faster, which means the "
      "eviction did not take effect here", f"{cold_seconds / memmap_seconds:.0f}x slower", "no slower: this storage is as fast as the cache") + ".")

# %% [markdown]
# A memmap table costs what its page misses cost: a page in the page cache is read at memory
# speed, a missing one is a read from storage (`posix_fadvise(..., POSIX_FADV_DONTNEED)` above asks
# the operating system to forget this file's cached pages, so the second measurement pays the misses).
# Production recommenders therefore keep the hot rows (Zipf again) in fast memory and the long tail
# on slower tiers.
#
# ### `EmbeddingBag`: lookup and reduce in one step
#
# A recommender describes a user by a *bag* of ids (items clicked, categories seen) and needs one
# vector per bag: the sum, mean or max of its rows. `EmbeddingBag` (as in `torch.nn.EmbeddingBag`)
# never materializes the `(bag, length, D)` tensor of padded bags; its input is flat:
#
# - `token_ids` of shape `(N,)` with `offsets` of shape `(B,)`: bag `b` holds
#   `token_ids[offsets[b]:offsets[b+1]]` (the last bag runs to the end); `offsets[0]` is 0;
# - or `token_ids` of shape `(B, L)`: `B` bags of equal length `L`, no offsets.
#
# `per_sample_weights` (mode `"sum"` only) scales each id's row. An empty bag gives a zero vector
# in every mode. The layer, given, also takes the rest of torch's options (`padding_idx`,
# `include_last_offset`, `max_norm`, `scale_grad_by_freq`, `sparse=True`); its docstring says where it
# differs from torch on purpose, and `tests/test_torch_parity.py` compares it with torch. You write the reduction: given the looked-up rows and the offsets, return one row
# per bag. `np.add.reduceat(rows, starts, axis=0)` sums consecutive segments (mind empty bags:
# pass only the starts of non-empty ones), and `np.maximum.reduceat` takes their maxima.

# %% nbgrader={"grade": false, "grade_id": "reduce_bags", "locked": false, "schema_version": 3, "solution": true}
#| export
BAG_MODES = ("sum", "mean", "max")


def reduce_bags(rows, offsets, mode="mean"):
    """Reduce rows (N, D) into bags: out[b] = reduction of rows[offsets[b]:offsets[b+1]], zeros if empty.

    offsets: non-decreasing (B,) starts, the last bag running to N. mode: 'sum', 'mean' or 'max'.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(np.append(offsets, len(rows)))
    out = np.zeros((len(offsets), rows.shape[1]), dtype=rows.dtype)
    full = lengths > 0
    if not full.any():
        return out
    ### BEGIN SOLUTION
    reduce = np.maximum if mode == "max" else np.add
    out[full] = reduce.reduceat(rows, offsets[full], axis=0)
    if mode == "mean":
        out[full] /= lengths[full, None]
    ### END SOLUTION
    return out


class EmbeddingBag(Embedding):
    """Sums, averages or takes the max of the embeddings of each bag of ids, like torch.nn.EmbeddingBag.

    Input: `token_ids` of shape (N,) with `offsets` (B,) (bag b is token_ids[offsets[b]:offsets[b+1]],
    the last bag running to N) or, with `include_last_offset=True`, offsets (B + 1,) whose last entry
    ends the last bag; or `token_ids` of shape (B, L), B bags of L ids, without offsets. Output (B, D).

    Options, as in torch: `padding_idx` (ids equal to it are left out of their bag, a mean counts only
    the others, and the row gets no gradient), `max_norm` / `norm_type` (rows looked up are rescaled
    in place to that norm), `scale_grad_by_freq` (each row's gradient is divided by how often its id
    occurs in the call), `sparse=True` (the gradient is row-sparse) and `per_sample_weights` (mode
    'sum': each id's row is scaled by its weight; a Tensor with requires_grad receives its gradient).

    Sum and mean never gather all N rows: `_sum_bags` adds the k-th row of every bag straight from
    the table, one pass per position, as torch's fused kernel reads each row once; max gathers the
    rows and reduces them with `reduce_bags`, since its backward needs them.

    Where we differ from torch on purpose:

    - `sparse=True` keeps `weight.grad` None and puts the gradient in `sparse_grad`, a pair (rows,
      values) of sorted unique rows and their summed gradients, ready for `sparse_sgd_update`
      (torch stores an uncoalesced sparse tensor in `weight.grad`);
    - `scale_grad_by_freq` divides each row by the count of its own id, as torch.nn.Embedding does
      (torch 2.13's CPU EmbeddingBag divides by another id's count: ids [0, 0, 1, 0] give row 1 a
      third of its gradient);
    - with `include_last_offset=True` the last offset must equal len(token_ids), as torch documents
      (torch 2.13 on CPU, given a smaller one, ignores the ids after it without gradients and keeps
      them in the last bag with gradients);
    - integer tables, zero-size tables and `max_norm=0` are rejected (torch accepts the first two
      without gradients and zeroes every row for the last); ids of any integer dtype, int8 and uint8
      included, are accepted;
    - per_sample_weights of another dtype than the table raise TypeError, of another shape ValueError,
      with torch's messages (torch raises RuntimeError and ValueError).
    """

    def __init__(self, vocab_size, embedding_dim, mode="mean", padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, include_last_offset=False, dtype=np.float32, rng=None,
                 _weight=None, _freeze=False):
        if mode not in BAG_MODES:
            raise ValueError(f"mode must be one of {BAG_MODES}, got {mode!r}")
        if mode == "max" and (sparse or scale_grad_by_freq):
            raise ValueError("mode='max' supports neither sparse=True nor scale_grad_by_freq=True, as in torch")
        super().__init__(vocab_size, embedding_dim, padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                         scale_grad_by_freq=scale_grad_by_freq, dtype=dtype, rng=rng, _weight=_weight, _freeze=_freeze)
        self.mode, self.sparse, self.include_last_offset = mode, bool(sparse), bool(include_last_offset)
        self.sparse_grad = None  # (rows, values) after a backward with sparse=True

    @classmethod
    def from_pretrained(cls, weights, mode="mean", freeze=True, **options):
        """An EmbeddingBag whose table is `weights` (2-D floating array or Tensor, no copy); freeze=True keeps
        it fixed. `options` are the constructor's (padding_idx, max_norm, sparse, ...)."""
        data = Tensor(weights).data
        if data.ndim != 2 or data.dtype.kind != "f":
            raise ValueError(f"pretrained weights must be a 2-D floating table (vocab_size, embedding_dim), "
                             f"got shape {data.shape} and dtype {data.dtype}")
        return cls(*data.shape, mode=mode, _weight=data, _freeze=freeze, **options)

    def zero_grad(self):
        super().zero_grad()
        self.sparse_grad = None

    def _bag_starts(self, ids, offsets):
        """The start of every bag in the flattened ids, checked: (B,) int64."""
        if ids.ndim == 2:
            if offsets is not None:
                raise ValueError("offsets are only used with 1-D token_ids; 2-D token_ids are bags of equal length")
            return np.arange(len(ids), dtype=np.int64) * ids.shape[1]
        if ids.ndim != 1 or offsets is None:
            raise ValueError(f"give 1-D token_ids with offsets, or 2-D (bags, length) token_ids; got shape {ids.shape}")
        offsets = np.asarray(offsets.data if isinstance(offsets, Tensor) else offsets)
        if offsets.ndim != 1 or offsets.dtype.kind not in "iu":
            raise TypeError(f"offsets must be a 1-D integer array, got shape {offsets.shape} and dtype {offsets.dtype}")
        if offsets.size and (offsets[0] != 0 or np.any(np.diff(offsets) < 0) or offsets[-1] > ids.size):
            raise ValueError(f"offsets must start at 0, never decrease and stay <= {ids.size}; got {offsets}")
        if self.include_last_offset and (offsets.size == 0 or offsets[-1] != ids.size):
            raise ValueError(f"with include_last_offset=True the last offset ends the last bag and must be "
                             f"len(token_ids) = {ids.size}; got offsets {offsets}")
        offsets = offsets.astype(np.int64)
        return offsets[:-1] if self.include_last_offset else offsets

    def _sample_weights(self, per_sample_weights, ids_shape):
        if per_sample_weights is None:
            return None
        if self.mode != "sum":
            raise ValueError(f"per_sample_weights need mode='sum', this bag has mode={self.mode!r}")
        weights = per_sample_weights if isinstance(per_sample_weights, Tensor) else Tensor(per_sample_weights)
        if weights.dtype != self.weight.dtype:
            raise TypeError(f"Expected tensor for argument #1 'weight' to have the same type as tensor for argument "
                            f"#1 'per_sample_weights'; but type {self.weight.dtype} does not equal {weights.dtype}")
        if weights.shape != ids_shape:
            raise ValueError(f"embedding_bag: If per_sample_weights ({weights.shape}) is not None, then it must "
                             f"have the same shape as the input ({ids_shape})")
        return weights

    def forward(self, token_ids, offsets=None, per_sample_weights=None):
        """(N,) ids with offsets, or (B, L) ids -> Tensor (B, embedding_dim)."""
        ids = check_token_ids(token_ids, self.vocab_size)
        starts = self._bag_starts(ids, offsets)
        weights = self._sample_weights(per_sample_weights, ids.shape)
        flat = ids.reshape(-1)
        kept = None  # positions of the ids that take part: all of them unless some are padding
        if self.padding_idx is not None:
            is_padding = flat == self.padding_idx
            if is_padding.any():
                kept = np.flatnonzero(~is_padding)
                starts = np.cumsum(np.r_[0, ~is_padding])[starts]  # each bag's start among the kept ids
                flat = flat[kept]
        if self.max_norm is not None:
            self._renormalize(flat)
        scale = None
        if weights is not None:
            scale = weights.data.reshape(-1)
            scale = scale if kept is None else scale[kept]
        lengths = np.diff(np.append(starts, flat.size))
        rows = None
        if self.mode == "max":  # the backward needs the gathered rows to find each bag's maxima
            rows = np.take(self.weight.data, flat, axis=0, mode="clip")  # ids checked above
            bags = reduce_bags(rows, starts, "max")
        else:
            bags = _sum_bags(self.weight.data, flat, starts, scale)
            if self.mode == "mean":
                bags /= np.maximum(lengths, 1)[:, None].astype(bags.dtype)
        children = (self.weight,) + ((weights,) if weights is not None else ())
        out = Tensor(bags, _children=children, _op="embedding_bag")

        def _backward(grad):  # grad is dL/d(out), (B, D)
            bag_of_id = np.repeat(np.arange(len(starts)), lengths)
            grad_rows = grad[bag_of_id]  # (M, D): each id's bag gradient
            if self.mode == "mean":
                grad_rows /= lengths[bag_of_id, None].astype(grad.dtype)
            elif self.mode == "max":  # only the first maximum of each bag and column receives the gradient
                winner = rows == bags[bag_of_id]
                before = np.cumsum(winner, axis=0) - winner
                grad_rows *= winner & (before == before[starts[bag_of_id]])
            if weights is not None and weights.requires_grad:  # d out[b] / d weight_i = W[id_i]
                grad_weights = np.zeros(ids.size, dtype=grad.dtype)
                products = np.einsum("nd,nd->n", np.take(self.weight.data, flat, axis=0), grad_rows)
                grad_weights[slice(None) if kept is None else kept] = products
                weights._accumulate_grad(grad_weights.reshape(ids.shape))
            if scale is not None:
                grad_rows *= scale[:, None]
            if not self.weight.requires_grad:
                return
            if self.sparse:
                self._accumulate_sparse_grad(flat, grad_rows)
            else:
                self.weight._accumulate_grad(embedding_backward(
                    flat, grad_rows, self.vocab_size, scale_grad_by_freq=self.scale_grad_by_freq))

        out._backward = _backward
        return out

    def _accumulate_sparse_grad(self, flat, grad_rows):
        """Add this call's row-sparse gradient into sparse_grad, kept as sorted unique rows."""
        if flat.size == 0:  # no row touched: an empty gradient, unless one is there already
            if self.sparse_grad is None:
                self.sparse_grad = (np.zeros(0, np.int64), np.zeros((0, self.embedding_dim), grad_rows.dtype))
            return
        rows, compact = np.unique(flat, return_inverse=True)
        values = embedding_backward(compact, grad_rows, len(rows), scale_grad_by_freq=self.scale_grad_by_freq)
        if self.sparse_grad is not None:
            rows, compact = np.unique(np.concatenate([self.sparse_grad[0], rows]), return_inverse=True)
            values = embedding_backward(compact, np.concatenate([self.sparse_grad[1], values]), len(rows))
        self.sparse_grad = (rows.astype(np.int64), values)

    def __repr__(self):
        options = "".join(f", {name}={value!r}" for name, value in (
            ("padding_idx", self.padding_idx), ("max_norm", self.max_norm),
            ("scale_grad_by_freq", self.scale_grad_by_freq or None), ("sparse", self.sparse or None),
            ("include_last_offset", self.include_last_offset or None)) if value is not None)
        return f"EmbeddingBag({self.vocab_size}, {self.embedding_dim}, mode={self.mode!r}{options})"


_LONG_BAG = 64  # bags longer than this many ids are finished one at a time after the position passes


def _sum_bags(table, ids, starts, scale=None):
    """out[b] = sum over the ids of bag b of table[id] (times scale[i] per id i if given), zeros if empty.

    ids (N,) with the bags' starts (B,), the last bag running to N. No (N, D) array of gathered rows is
    made: pass k gathers the k-th row of every bag that long straight from the table and adds it,
    bags sorted longest first so that each pass works on a prefix. Like torch's fused kernel, this
    reads each table row once and keeps only (B, D) arrays, which stay in the cache.
    """
    lengths = np.diff(np.append(starts, len(ids)))
    equal = len(lengths) > 0 and lengths.min() == lengths.max()
    order = None if equal else np.argsort(-lengths, kind="stable")
    if order is not None:
        starts, lengths = starts[order], lengths[order]
    else:  # bags of one length L: pass k takes ids k, k + L, ...; one transposed copy makes them contiguous
        by_pass = ids.reshape(len(starts), -1).T.copy()
    out = np.empty((len(starts), table.shape[1]), dtype=table.dtype)
    passes = min(int(lengths[0]) if len(lengths) else 0, _LONG_BAG)
    still = np.searchsorted(-lengths, -np.arange(1, passes + 1), side="right")  # bags with more than k ids
    out[still[0] if passes else 0:] = 0  # empty bags
    rows = np.empty_like(out)
    for k in range(passes):
        n = still[k]
        positions = slice(k, None, int(lengths[0])) if equal else starts[:n] + k
        target = out[:n] if k == 0 else rows[:n]  # the first pass writes the sums' first terms
        pass_ids = by_pass[k] if equal else ids[positions]
        gathered = np.take(table, pass_ids, axis=0, mode="clip", out=target)  # ids checked by the caller
        if scale is not None:
            gathered *= scale[positions, None]
        if k:
            out[:n] += gathered
    for b in range(np.count_nonzero(lengths > passes)):  # the few long bags: the rest of each at once
        positions = np.arange(starts[b] + passes, starts[b] + lengths[b])
        rest = np.take(table, ids[positions], axis=0, mode="clip")
        out[b] += (rest if scale is None else rest * scale[positions, None]).sum(axis=0)
    if order is None:
        return out
    result = np.empty_like(out)
    result[order] = out
    return result


# %% nbgrader={"grade": true, "grade_id": "test_embedding_bag_modes", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that reduce_bags and EmbeddingBag sum, average and max each bag, with zeros for empty bags."""
rows = np.array([[1, 2], [3, 4], [5, 0], [7, 9]], dtype=np.float32)
offsets = np.array([0, 1, 3])  # bags: rows 0 | rows 1, 2 | row 3
for mode, expected in [("sum", [[1, 2], [8, 4], [7, 9]]), ("mean", [[1, 2], [4, 2], [7, 9]]), ("max", [[1, 2], [5, 4], [7, 9]])]:
    got = reduce_bags(rows, offsets, mode)
    assert np.array_equal(got, np.array(expected, np.float32)), f"mode {mode!r}: expected {expected}, got {got.tolist()}"  # exact: sums and halves of small whole numbers
got = reduce_bags(rows, [0, 2, 2], "mean")
assert np.array_equal(got, [[2, 3], [0, 0], [6, 4.5]]), f"an empty bag gives zeros: expected [[2, 3], [0, 0], [6, 4.5]], got {got.tolist()}"  # exact: sums and halves of small whole numbers
bag = EmbeddingBag.from_pretrained(np.arange(12, dtype=np.float32).reshape(4, 3), mode="sum")
got = bag(np.array([3, 0, 0]), offsets=np.array([0, 1]), per_sample_weights=np.array([1, 2, 0.5], np.float32)).data
assert np.array_equal(got, [[9, 10, 11], [0, 2.5, 5]]), f"weighted sums: expected [[9, 10, 11], [0, 2.5, 5]], got {got.tolist()}"  # exact: sums and halves of small whole numbers
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(9)
weights = rng.standard_normal((30, 5)).astype(np.float32)
ids = rng.integers(0, 30, size=(4, 6))
for mode, reduce in [("sum", np.sum), ("mean", np.mean), ("max", np.max)]:
    got = EmbeddingBag.from_pretrained(weights, mode=mode)(ids).data
    assert np.allclose(got, reduce(weights[ids], axis=1), atol=1e-5), f"2-D input, mode {mode!r}"  # 6 float32 terms below 5
assert np.array_equal(reduce_bags(rows, [0, 4, 4, 4], "max")[1:], np.zeros((3, 2))), "empty trailing bags give zeros"  # exact: the task says zeros
bag = EmbeddingBag.from_pretrained(weights, mode="mean", freeze=False)
bag(np.array([1, 1, 2, 5]), offsets=np.array([0, 3])).sum().backward()
expected = np.zeros_like(weights)
expected[1], expected[2], expected[5] = 2 / 3, 1 / 3, 1
assert np.allclose(bag.weight.grad, expected), "mean-mode gradient: each id gets 1 / bag length"
### END HIDDEN TESTS

# %% [markdown]
# ### Sharding: one table, several devices
#
# A table that does not fit on one device is split into `num_shards` pieces:
#
# - **row-wise**: shard `s` holds a contiguous block of
#   `rows_per_shard = ceil(V / num_shards)` rows. Each id is routed to the shard that owns it, which
#   sends back the full row: an *all-to-all* exchange of ids and rows;
# - **column-wise**: every shard holds all rows but only `D / num_shards` columns. Every shard sees
#   every id and returns its slice; the slices are concatenated: an *all-gather*.
#
# (A model with many tables, like DLRM's 26, can also place whole tables on devices: *table-wise*.)
#
# You write the routing of the row-wise split: for each id, its shard and its row inside that
# shard. It must agree with how the shards were cut (contiguous blocks), or lookups return
# someone else's row.

# %% nbgrader={"grade": false, "grade_id": "route_to_shards", "locked": false, "schema_version": 3, "solution": true}
#| export
def route_to_shards(token_ids, vocab_size, num_shards):
    """For row-wise sharding in contiguous blocks of ceil(vocab_size / num_shards) rows:
    return (shard, local_row), integer arrays of the ids' shape with shard * rows_per_shard + local_row == id."""
    token_ids = np.asarray(token_ids)
    ### BEGIN SOLUTION
    rows_per_shard = -(-vocab_size // num_shards)
    shard = token_ids // rows_per_shard
    return shard, token_ids - shard * rows_per_shard
    ### END SOLUTION


class ShardedEmbedding(Module):
    """An embedding table split across num_shards (simulated) devices, by 'row' blocks or by 'column' slices."""

    def __init__(self, vocab_size, embedding_dim, num_shards, strategy="row", weight=None, rng=None):
        if strategy not in ("row", "column"):
            raise ValueError(f"strategy must be 'row' or 'column', got {strategy!r}")
        limit = vocab_size if strategy == "row" else embedding_dim
        if not 1 <= num_shards <= limit:
            raise ValueError(f"num_shards must be between 1 and {limit} for strategy {strategy!r}, got {num_shards}")
        if weight is None:
            weight = np.random.default_rng(rng).standard_normal((vocab_size, embedding_dim)).astype(np.float32)
        if weight.shape != (vocab_size, embedding_dim):
            raise ValueError(f"weight has shape {weight.shape}, expected {(vocab_size, embedding_dim)}")
        self.vocab_size, self.embedding_dim, self.num_shards, self.strategy = vocab_size, embedding_dim, num_shards, strategy
        size = -(-limit // num_shards)
        pieces = [weight[s * size:(s + 1) * size] if strategy == "row" else weight[:, s * size:(s + 1) * size]
                  for s in range(num_shards)]
        self.shards = [Tensor(np.array(piece), requires_grad=True) for piece in pieces]

    @classmethod
    def from_embedding(cls, embedding, num_shards, strategy="row"):
        return cls(*embedding.weight.shape, num_shards, strategy, weight=embedding.weight.data)

    def full_weight(self):
        return np.concatenate([s.data for s in self.shards], axis=0 if self.strategy == "row" else 1)

    def full_grad(self):
        grads = [s.grad if s.grad is not None else np.zeros_like(s.data) for s in self.shards]
        return np.concatenate(grads, axis=0 if self.strategy == "row" else 1)

    def forward(self, token_ids):
        ids = check_token_ids(token_ids, self.vocab_size)
        flat = ids.reshape(-1)
        if self.strategy == "column":  # every shard gathers its columns of every row; all-gather the slices
            values = np.concatenate([np.take(s.data, flat, axis=0) for s in self.shards], axis=1)
        else:  # each shard gathers the rows it owns; all-to-all puts them back in order
            shard_of_id, local_row = route_to_shards(flat, self.vocab_size, self.num_shards)
            owned = [np.flatnonzero(shard_of_id == s) for s in range(self.num_shards)]
            values = np.empty((flat.size, self.embedding_dim), dtype=self.shards[0].dtype)
            for s, positions in enumerate(owned):
                values[positions] = np.take(self.shards[s].data, local_row[positions], axis=0)
        out = Tensor(values.reshape(ids.shape + (self.embedding_dim,)), _children=tuple(self.shards), _op="sharded_embedding")

        def _backward(grad):  # grad is dL/d(out), ids.shape + (D,)
            grad = grad.reshape(flat.size, self.embedding_dim)
            start = 0
            for s, shard in enumerate(self.shards):
                rows, width = shard.data.shape
                if self.strategy == "column":
                    shard._accumulate_grad(embedding_backward(flat, grad[:, start:start + width], rows))
                    start += width
                elif owned[s].size:
                    shard._accumulate_grad(embedding_backward(local_row[owned[s]], grad[owned[s]], rows))

        out._backward = _backward
        return out


# %% nbgrader={"grade": true, "grade_id": "test_shard_routing", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that route_to_shards maps ids to contiguous row blocks and sharded lookups equal the full table's."""
shard, local = route_to_shards(np.array([0, 3, 4, 9]), vocab_size=10, num_shards=3)  # blocks of 4 rows: 0-3 | 4-7 | 8-9
assert shard.tolist() == [0, 0, 1, 2] and local.tolist() == [0, 3, 0, 1], (
    f"vocab 10 over 3 shards (blocks of 4): expected shards [0, 0, 1, 2], rows [0, 3, 0, 1]; got {shard.tolist()}, {local.tolist()}")
full = Embedding(10, 3, rng=np.random.default_rng(10))
sharded = ShardedEmbedding.from_embedding(full, num_shards=3, strategy="row")
ids = np.array([[9, 0, 4], [5, 5, 8]])
assert np.array_equal(sharded(ids).data, full.weight.data[ids]), "row-sharded lookup must return the same rows as the full table"  # exact: a lookup copies rows
### BEGIN HIDDEN TESTS
shard, local = route_to_shards(np.arange(12).reshape(3, 4), vocab_size=12, num_shards=4)
assert shard.shape == (3, 4) and np.array_equal(shard * 3 + local, np.arange(12).reshape(3, 4))  # exact: integers
assert np.array_equal(shard.reshape(-1), np.repeat(np.arange(4), 3)), "contiguous blocks of 3"  # exact: integers
for n in (1, 2, 7, 10):
    s = ShardedEmbedding.from_embedding(full, num_shards=n, strategy="row")
    assert np.array_equal(s.full_weight(), full.weight.data)  # exact: the shards hold copies of rows
    assert np.array_equal(s(ids).data, full.weight.data[ids]), f"{n} row shards"  # exact: a lookup copies rows
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_sharded_gradients_exact", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that row and column sharding give exactly the unsharded lookups and gradients."""
rng = np.random.default_rng(11)
full = Embedding(23, 6, rng=rng)
ids = rng.integers(0, 23, size=(5, 7))
grad = rng.integers(-3, 4, size=(5, 7, 6)).astype(np.float32)
expected_grad = embedding_backward(ids, grad, 23)
for strategy, num_shards in [("row", 4), ("column", 3)]:
    sharded = ShardedEmbedding.from_embedding(full, num_shards=num_shards, strategy=strategy)
    out = sharded(ids)
    assert np.array_equal(out.data, full.weight.data[ids]), f"{strategy} sharding changed the looked-up values"  # exact: copies
    out.backward(grad)
    assert np.array_equal(sharded.full_grad(), expected_grad), f"{strategy} sharding changed the gradient"  # exact: whole numbers
### BEGIN HIDDEN TESTS
for kind, count in [("row", 1), ("row", 23), ("row", 5), ("column", 6), ("column", 4)]:
    split = ShardedEmbedding.from_embedding(full, num_shards=count, strategy=kind)
    result = split(ids)
    assert np.array_equal(result.data, full.weight.data[ids]), f"{kind} sharding over {count} shards changed the values"  # exact: copies
    result.backward(grad)
    assert np.array_equal(split.full_grad(), expected_grad), f"{kind} sharding over {count} shards changed the gradient"  # exact: whole numbers
### END HIDDEN TESTS

# %% [markdown]
# ### What each split costs in communication
#
# Per batch of `N` ids, on `n` devices, `b` bytes per number, counting what crosses between devices
# for the device that needs the rows:
#
# - row-wise: the ids it does not own go out, $(n-1)/n \cdot N \cdot 8$ bytes, and their rows come
#   back, $(n-1)/n \cdot N \cdot D \cdot b$;
# - column-wise: every id goes to every other device, $(n-1) \cdot N \cdot 8$, and $n-1$ slices of
#   $D/n$ columns come back, the same $(n-1)/n \cdot N \cdot D \cdot b$.
#
# The row traffic is equal; what differs is **balance**. Column-wise every device does the same work.
# Row-wise the work follows the ids, and with Zipf-distributed ids the block holding the frequent
# (low) ids is hot. We measure it:

# %%
num_shards, n, vocab_size, dim = 8, 65536, 128256, 4096
zipf_ids = sample_token_ids("zipf", n, vocab_size, rng=12)
shard_of_id, _ = route_to_shards(zipf_ids, vocab_size, num_shards)
load = np.bincount(shard_of_id, minlength=num_shards) / n
row_bytes = (num_shards - 1) / num_shards * n * dim * 2
print(f"Llama 3 table in bf16 over {num_shards} devices, {n:,} Zipf ids: {format_bytes(row_bytes)} of rows cross devices "
      f"either way; ids: {format_bytes((num_shards - 1) / num_shards * n * 8)} row-wise vs "
      f"{format_bytes((num_shards - 1) * n * 8)} column-wise")
print("row-wise share of lookups per shard:", " ".join(f"{x:.0%}" for x in load))
print(f"the busiest shard serves {load.max() / (1 / num_shards):.1f}x its fair share; column-wise every shard serves 100 %"
      f" of the ids for 1/{num_shards} of the columns")

# %% [markdown]
# Production systems answer the imbalance by interleaving (shard `id % n`, which spreads hot low ids
# over all devices, with the routing changed to match), by hashing, or by replicating the hot rows
# on every device.
#
# ## Summary
#
# - Memory is $V \cdot D \cdot b$ per table, times 2 when untied and times 4 when training with Adam;
#   count it in MiB and GiB ($2^{20}$, $2^{30}$).
# - A lookup is a memory copy: judge it by the fraction of the copy bandwidth it reaches. The dense
#   backward costs $V \cdot D$ whatever the batch; row-sparse gradients cost only the touched rows.
# - int8 rows with per-row scale and offset cut memory almost 4x for a small error; memmap moves a
#   table out of memory; `EmbeddingBag` reduces bags without padding; sharding splits a table with
#   exactly the same results, at the price of communication and, row-wise, of load imbalance.
#
# The measured numbers of this run:

# %%
print(f"copy bandwidth {copy_gbps:.1f} GB/s; uniform-id gather on a {large['table_mib']:.0f} MiB table at "
      f"{large['forward_fraction']:.0%} of it; GPT-2 lookup {1e3 * cpu_seconds:.2f} ms here vs "
      f"{h200['forward_ms']:.3f} ms on an H200 (cited)")
print(f"int8 table {formats[0][1] / int8_row[1]:.2f}x smaller, worst row error {int8_row[2]:.1%}; "
      f"sparse update {dense_seconds / sparse_seconds:.0f}x faster than dense; "
      f"memmap lookup {memmap_seconds / memory_seconds:.1f}x the in-memory time with the file cached, "
      f"{cold_seconds / memory_seconds:.1f}x with its pages evicted")

# %% [markdown]
# ## Exercises
#
# 1. Price Adam training of Gemma 7B's table in bfloat16 with `embedding_memory`. Which costs more,
#    its weights or its optimizer state?
# 2. Run `profile_lookup` with `embedding_dim=16` and `embedding_dim=1024`. Which reaches a larger
#    fraction of the bandwidth, and why (think of how many bytes each id brings)?
# 3. Change `route_to_shards` and `ShardedEmbedding` together to interleave rows (`id % n`) and
#    measure the load balance again with Zipf ids.
# 4. Extend `quantize_rows` to pack two 4-bit codes per byte. What memory ratio and error do you get?
