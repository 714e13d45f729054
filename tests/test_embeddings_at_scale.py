"""Tests of Module 12 part 4 (embeddings at LLM scale): tinytorch_lite.core.long_context,
core.output_layer, core.vocab_parallel, analysis.llm_scale and analysis.long_context.

References are written independently here: rotary as an explicit loop over pairs, Llama 3.1's
scaling as the branchy per-frequency loop of its reference code, cross-entropy on the full logits,
and, when torch is installed, the vocab-parallel lookup on torch.distributed (gloo, 2 processes on
127.0.0.1) against the simulated shards.
"""
import math
import socket
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest

from helpers import needs_torch
from tinytorch_lite.analysis.llm_scale import gpu_gather_table, measure_small_lookups
from tinytorch_lite.analysis.long_context import (
    EXTENSIONS, SCHEMES, TASKS, LongContextConfig, LongContextResults, conclusions, copy_targets,
    extended_inv_freq, format_table, plot_long_context, run_long_context_lab)
from tinytorch_lite.analysis.reference import H200_COPY_GBPS, H200_EMBEDDING
from tinytorch_lite.core.embeddings import RotaryEmbedding, _alibi_slopes, embedding_backward
from tinytorch_lite.core.long_context import (
    alibi_slopes, apply_rotary, causal_alibi_bias, llama31_inv_freq, ntk_aware_inv_freq, position_interpolation,
    rotary_decay, rotary_inv_freq, rotary_matrix, rotate_pairs, yarn_inv_freq, yarn_logit_scale)
from tinytorch_lite.core.output_layer import lm_head_cost, mixed_precision_bytes, padded_vocab_size
from tinytorch_lite.core.tensor import Tensor
from tinytorch_lite.core.vocab_parallel import (
    atomic_order_scatter_add, hash_ids, masked_shard_lookup, optimizer_state_bytes, optimizer_step_bytes,
    pages_touched, row_wise_adagrad_step, shard_load, shared_bucket_fraction, sorted_scatter_add, split_vocab,
    vocab_parallel_cross_entropy, vocab_parallel_lookup, vocab_shard_ranges)


# Rotary

def _rotate_by_loop(x, position, base, pairing):
    """Each pair turned by position * theta_i, one pair at a time."""
    d = x.shape[-1]
    out = x.astype(np.float64).copy()
    for i in range(d // 2):
        a, b = (2 * i, 2 * i + 1) if pairing == "adjacent" else (i, i + d // 2)
        angle = position * base ** (-2 * i / d)
        out[a] = x[a] * math.cos(angle) - x[b] * math.sin(angle)
        out[b] = x[a] * math.sin(angle) + x[b] * math.cos(angle)
    return out


@pytest.mark.parametrize("pairing", ["adjacent", "half"])
def test_apply_rotary_matches_a_loop_and_part_two(pairing):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, 10))
    got = apply_rotary(x, np.arange(3, 12), rotary_inv_freq(10, 500.0), pairing)
    for row, position in enumerate(range(3, 12)):
        assert np.allclose(got[row], _rotate_by_loop(x[row], position, 500.0, pairing))
    part_two = RotaryEmbedding(10, base=500.0, pairing=pairing)(Tensor(x), positions=np.arange(3, 12)).data
    assert np.allclose(got, part_two)


def test_rotary_matrix_is_orthogonal_and_composes():
    theta = rotary_inv_freq(8)
    r3, r5 = rotary_matrix(3, theta), rotary_matrix(5, theta)
    assert np.allclose(r3.T @ r3, np.eye(8))
    assert np.allclose(r3.T @ r5, rotary_matrix(2, theta)), "R_m^T R_n = R_(n-m)"
    x = np.random.default_rng(0).standard_normal(8)
    assert np.allclose(rotate_pairs(x), rotary_matrix(1, np.full(4, math.pi / 2)) @ x), "rotate is a quarter turn per pair"


def test_rotary_decay_starts_at_its_maximum_and_falls():
    theta = rotary_inv_freq(128)
    decay = rotary_decay(np.array([0, 10, 100, 1000]), theta)
    assert decay[0] == pytest.approx(np.mean(np.arange(1, 65)))
    assert np.all(np.diff(decay) < 0)


def _llama31_reference(freqs, factor, low, high, old_length):
    """The per-frequency branches of Llama 3.1's `apply_scaling` (Meta's reference code), as a loop."""
    low_wavelen, high_wavelen = old_length / low, old_length / high
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            out.append(freq)
        elif wavelen > low_wavelen:
            out.append(freq / factor)
        else:
            smooth = (old_length / wavelen - low) / (high - low)
            out.append((1 - smooth) * freq / factor + smooth * freq)
    return np.array(out)


@pytest.mark.parametrize("factor, low, high, length", [(8.0, 1.0, 4.0, 8192), (32.0, 1.0, 4.0, 8192), (4.0, 2.0, 8.0, 64)])
def test_llama31_scaling_matches_the_branchy_reference(factor, low, high, length):
    theta = rotary_inv_freq(128, 500000.0)
    got = llama31_inv_freq(theta, factor, low, high, length)
    assert np.allclose(got, _llama31_reference(theta, factor, low, high, length))


def test_context_extension_methods_keep_or_stretch_as_published():
    theta = rotary_inv_freq(64, 10000.0)
    assert np.allclose(position_interpolation(theta, 8), theta / 8)
    ntk = ntk_aware_inv_freq(64, 10000.0, 8.0)
    assert ntk[0] == pytest.approx(1.0) and ntk[-1] == pytest.approx(theta[-1] / 8)
    yarn = yarn_inv_freq(theta, 8.0, 4096)
    turns = 4096 * theta / (2 * math.pi)
    assert np.allclose(yarn[turns > 32], theta[turns > 32]) and np.allclose(yarn[turns < 1], theta[turns < 1] / 8)
    assert yarn_logit_scale(1.0) == 1.0 and yarn_logit_scale(math.e) == pytest.approx(1.1 ** 2)


# ALiBi

@pytest.mark.parametrize("num_heads", [1, 2, 3, 5, 8, 12, 20, 64, 112])
def test_closed_form_slopes_equal_the_recursive_ones(num_heads):
    assert np.allclose(alibi_slopes(num_heads), _alibi_slopes(num_heads))


def test_causal_alibi_masks_exactly_the_future():
    bias = causal_alibi_bias(3, 6)
    future = np.triu(np.ones((6, 6), dtype=bool), k=1)
    assert np.isneginf(bias[:, future]).all()
    assert np.allclose(bias[:, ~future], (-alibi_slopes(3)[:, None, None] * (np.arange(6)[:, None] - np.arange(6)))[:, ~future])


# Output side

def test_lm_head_cost_and_padding_and_mixed_precision():
    cost = lm_head_cost(10, 4, 7, "float32")
    assert (cost.logits_bytes, cost.flops) == (280, 560)
    with pytest.raises(ValueError):
        lm_head_cost(1, 1, 1, "float8")
    assert [padded_vocab_size(v, 64) for v in (1, 63, 64, 65, 50257)] == [64, 64, 64, 128, 50304]
    with pytest.raises(ValueError):
        padded_vocab_size(0)
    assert sum(mixed_precision_bytes(7).values()) == 7 * 16


# Deterministic scatter

def test_sorted_scatter_equals_the_backward_and_is_bitwise_repeatable():
    rng = np.random.default_rng(1)
    ids = rng.zipf(1.3, 5000) % 300
    grads = rng.standard_normal((5000, 8)).astype(np.float32)
    got = sorted_scatter_add(ids, grads, 300)
    assert np.allclose(got, embedding_backward(ids, grads, 300), atol=1e-4)
    assert np.array_equal(got, sorted_scatter_add(ids, grads, 300))
    atomic = [atomic_order_scatter_add(ids, grads, 300, rng=seed) for seed in range(3)]
    assert all(np.allclose(a, got, atol=1e-4) for a in atomic)
    assert not all(np.array_equal(a, atomic[0]) for a in atomic[1:]), "the random orders should change some bits"
    assert sorted_scatter_add(np.array([], dtype=np.int64), np.zeros((0, 3)), 4).shape == (4, 3)


# Vocab parallelism

def test_vocab_shards_cover_the_vocabulary_in_order():
    for vocab_size, num_shards in [(10, 3), (12, 4), (5, 5), (7, 1)]:
        ranges = vocab_shard_ranges(vocab_size, num_shards)
        assert ranges[0][0] == 0 and ranges[-1][1] == vocab_size
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))


@pytest.mark.parametrize("num_shards", [1, 2, 3, 8])
def test_vocab_parallel_lookup_and_loss_equal_the_unsharded_ones(num_shards):
    rng = np.random.default_rng(2)
    table = rng.standard_normal((29, 5))
    ids = rng.integers(0, 29, (3, 7))
    assert np.array_equal(vocab_parallel_lookup(ids, split_vocab(table, num_shards)), table[ids])
    logits = rng.standard_normal((11, 29)) * 4
    targets = rng.integers(0, 29, 11)
    shards = [logits[:, a:b] for a, b in vocab_shard_ranges(29, num_shards)]
    log_z = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
    assert np.allclose(vocab_parallel_cross_entropy(shards, targets), log_z - logits[np.arange(11), targets])


def test_shard_load_sums_to_one_and_replication_balances():
    ids = np.minimum(np.random.default_rng(3).zipf(1.2, 20000) - 1, 999)
    plain, replicated = shard_load(ids, 1000, 4), shard_load(ids, 1000, 4, replicated_rows=100)
    assert plain.sum() == pytest.approx(1) and replicated.sum() == pytest.approx(1)
    assert replicated.max() < plain.max()
    assert np.allclose(shard_load(np.arange(1000), 1000, 4, replicated_rows=1000), 0.25)


def test_row_wise_adagrad_touches_only_its_rows():
    weight, state = np.ones((6, 4)), np.zeros(6)
    row_wise_adagrad_step(weight, state, np.array([2]), np.full((1, 4), 2.0), lr=1.0, eps=0.0)
    assert state.tolist() == [0, 0, 4, 0, 0, 0]
    assert np.allclose(weight[2], 0) and np.allclose(np.delete(weight, 2, axis=0), 1)
    assert optimizer_state_bytes(10, 8, "rowwise_adagrad") == 40 and optimizer_state_bytes(10, 8, "adam") == 640
    assert optimizer_step_bytes(1000, 8, 10, "adam") == 100 * optimizer_step_bytes(1000, 8, 10, "sparse_adam")


def test_pages_touched_matches_a_set_of_byte_ranges():
    rng = np.random.default_rng(4)
    for dim, itemsize, page in [(128, 4, 4096), (1536, 4, 4096), (100, 2, 64), (3, 1, 16)]:
        ids = rng.integers(0, 500, 40)
        pages = {byte // page for r in set(ids.tolist()) for byte in range(r * dim * itemsize, (r + 1) * dim * itemsize)}
        assert pages_touched(ids, dim, itemsize, page) == len(pages)


def test_hashing_is_deterministic_in_range_and_near_the_collision_formula():
    ids = np.random.default_rng(5).choice(10**9, 20000, replace=False)
    buckets = hash_ids(ids, 1000)
    assert buckets.min() >= 0 and buckets.max() < 1000 and np.array_equal(buckets, hash_ids(ids, 1000))
    assert not np.array_equal(buckets, hash_ids(ids, 1000, seed=1))
    for num_buckets in (2**14, 2**17):
        predicted = 1 - (1 - 1 / num_buckets) ** (ids.size - 1)
        assert shared_bucket_fraction(ids, num_buckets) == pytest.approx(predicted, abs=0.02)


# GPU figures

def test_gpu_table_recomputes_the_cited_fractions():
    rows = gpu_gather_table()
    assert len(rows) == len(H200_EMBEDDING)
    for row, case in zip(rows, H200_EMBEDDING):
        assert 100 * row["fraction"] == pytest.approx(case["forward_percent_of_copy"], rel=1e-6)
        assert row["ideal_ms"] + row["fixed_ms"] == pytest.approx(case["forward_ms"])
    assert gpu_gather_table(copy_gbps=2 * H200_COPY_GBPS)[0]["fraction"] == pytest.approx(rows[0]["fraction"] / 2)


def test_small_lookups_cost_more_per_id_than_large_ones():
    """Side by side in one run: the time per id of a 1-id lookup against a 4,096-id one."""
    (_, one), (_, many) = measure_small_lookups(num_ids=(1, 4096), vocab_size=4096, embedding_dim=64)
    assert one > many / 4096


# The lab

TINY = LongContextConfig(vocab_size=5, embedding_dim=8, num_heads=2, train_length=6, test_length=12, steps=3,
                         batch_size=4, seeds=(0,), eval_sequences=5)


@pytest.fixture(scope="module")
def tiny_lab():
    return run_long_context_lab(TINY)


def test_lab_reports_every_scheme_and_extension(tiny_lab):
    expected_rows = list(SCHEMES[:4]) + [f"rotary + {e}" for e in EXTENSIONS] + ["alibi"]
    for task in TASKS:
        assert list(tiny_lab.accuracy[task]) == expected_rows
        for row, (seen, unseen) in tiny_lab.accuracy[task].items():
            assert seen.shape == unseen.shape == (1,) and 0 <= seen[0] <= 1 and 0 <= unseen[0] <= 1
            assert tiny_lab.by_position[task][row].shape == (1, TINY.test_length - 1)
    text = format_table(tiny_lab)
    assert all(row in text for row in expected_rows)
    plot_long_context(tiny_lab)


def test_lab_is_deterministic_and_leaves_the_trained_frequencies(tiny_lab):
    again = run_long_context_lab(TINY)
    for task in TASKS:
        for row in tiny_lab.accuracy[task]:
            assert np.array_equal(again.accuracy[task][row][1], tiny_lab.accuracy[task][row][1])
    assert np.allclose(extended_inv_freq(None, TINY), rotary_inv_freq(TINY.head_dim))


def test_copy_targets():
    ids = np.array([[3, 1, 4, 1]])
    assert copy_targets("previous", ids).tolist() == [[3, 1, 4]]
    assert copy_targets("first", ids).tolist() == [[3, 3, 3]]


def test_config_rejects_bad_settings():
    for bad in (dict(schemes=("xpos",)), dict(test_length=16), dict(num_heads=3), dict(seeds=())):
        with pytest.raises(ValueError):
            replace(LongContextConfig(), **bad)


def _results(rows_by_task):
    config = LongContextConfig(seeds=(0, 1))
    accuracy = {task: {row: (np.array(seen), np.array(unseen)) for row, (seen, unseen) in rows.items()}
                for task, rows in rows_by_task.items()}
    return LongContextResults(config, accuracy, {}, 0.0)


def test_conclusions_follow_the_numbers():
    results = _results({
        "previous": {"rotary": ([1, 1], [0.5, 0.5]), "rotary + PI": ([0.3, 0.3], [0.2, 0.2]),
                     "rotary + NTK-aware": ([1, 1], [0.9, 0.9]), "alibi": ([0.95, 0.95], [0.95, 0.95])},
        "first": {"rotary": ([1, 1], [0.2, 0.2]), "rotary + PI": ([0.9, 0.9], [0.8, 0.8]),
                  "rotary + NTK-aware": ([1, 1], [0.22, 0.22]), "alibi": ([0.4, 0.4], [0.1, 0.1])}})
    text = " ".join(conclusions(results))
    assert "Task 'previous': the best scheme beyond the training length is alibi (0.95)" in text
    assert "alibi: learned it (0.95) and kept it" in text
    assert "raised by NTK-aware 0.90; lowered by PI 0.20" in text
    assert "Task 'first': rotary alone scores 0.20 beyond the training length; raised by PI 0.80." in text
    assert "best worst case is rotary + PI: at least 0.20" in text or "best worst case is rotary + NTK-aware: at least 0.22" in text
    flipped = _results({"first": {"rotary": ([1, 1], [0.9, 0.9]), "rotary + PI": ([1, 1], [0.88, 0.88])}})
    assert "no extension changed it by more than 0.05" in " ".join(conclusions(flipped))


# torch.distributed: the engine users move to at scale

_WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    import torch
    import torch.distributed as dist

    rank, world, port, vocab, dim = (int(a) for a in sys.argv[1:6])
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    table = torch.from_numpy(np.random.default_rng(0).standard_normal((vocab, dim)).astype(np.float32))
    ids = torch.from_numpy(np.random.default_rng(1).integers(0, vocab, (4, 9)))
    per_rank = -(-vocab // world)
    start, end = rank * per_rank, min((rank + 1) * per_rank, vocab)
    outside = (ids < start) | (ids >= end)                     # Megatron's VocabParallelEmbedding
    local = (ids - start).masked_fill(outside, 0)
    out = torch.nn.functional.embedding(local, table[start:end])
    out[outside] = 0.0
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    if rank == 0:
        np.save(sys.argv[6], out.numpy())
    dist.destroy_process_group()
""")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_torch
def test_simulated_vocab_parallel_lookup_equals_torch_distributed(tmp_path):
    """Two gloo processes on 127.0.0.1 run the same masked lookup + all-reduce on real shards."""
    vocab, dim, world = 23, 6, 2
    script, result = tmp_path / "worker.py", tmp_path / "out.npy"
    script.write_text(_WORKER)
    port = _free_port()
    workers = [subprocess.Popen([sys.executable, str(script), str(rank), str(world), str(port), str(vocab), str(dim),
                                 str(result)], stdout=subprocess.PIPE, stderr=subprocess.PIPE) for rank in range(world)]
    for worker in workers:
        _, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err.decode()[-2000:]
    table = np.random.default_rng(0).standard_normal((vocab, dim)).astype(np.float32)
    ids = np.random.default_rng(1).integers(0, vocab, (4, 9))
    simulated = vocab_parallel_lookup(ids, split_vocab(table, world))
    assert np.array_equal(np.load(result), simulated)
    assert np.array_equal(simulated, table[ids])
    assert np.array_equal(masked_shard_lookup(ids, table[12:], 12)[ids < 12], np.zeros(((ids < 12).sum(), dim)))
