"""Tests of the compiled tinytorch_lite.core.embedding_systems (Module 12, part 3).

References are computed independently of the code under test: hand-computed byte counts, the cited
H200 measurements, plain numpy loops over bags and, when it is installed, torch.nn.EmbeddingBag.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch_lite.analysis.reference import CPU_REFERENCE, H200_COPY_GBPS, H200_EMBEDDING
from tinytorch_lite.core.embedding_systems import (
    EmbeddingBag, EmbeddingMemory, MemmapEmbedding, QuantizedEmbedding, ShardedEmbedding, achieved_bandwidth,
    dequantize_rows, embedding_memory, format_bytes, lookup_bytes, quantize_rows, reduce_bags, route_to_shards,
    sparse_embedding_backward, sparse_sgd_update)
from tinytorch_lite.core.embeddings import Embedding, embedding_backward
from tinytorch_lite.core.tensor import Tensor
from helpers import assert_freed_without_cyclic_gc, needs_torch

fast = settings(max_examples=60, deadline=None)


# Memory

@pytest.mark.parametrize("num_bytes, expected", [
    (0, "0 B"), (1000, "1000 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
    (154_389_504, "147.2 MiB"), (3 * 2**30, "3.0 GiB"), (5 * 2**40, "5.0 TiB")])
def test_format_bytes_uses_binary_units(num_bytes, expected):
    assert format_bytes(num_bytes) == expected


def test_format_bytes_rejects_negative():
    with pytest.raises(ValueError, match="num_bytes"):
        format_bytes(-1)


@pytest.mark.parametrize("kwargs, weights, grads, state", [
    (dict(vocab_size=50257, embedding_dim=768, tied=True), 154_389_504, 0, 0),
    (dict(vocab_size=50257, embedding_dim=768), 308_779_008, 0, 0),
    (dict(vocab_size=128256, embedding_dim=4096, dtype="bfloat16"), 2_101_346_304, 0, 0),
    (dict(vocab_size=1000, embedding_dim=10, tied=True, training=True), 40_000, 40_000, 80_000),
    (dict(vocab_size=1000, embedding_dim=10, tied=True, training=True, optimizer="sgd"), 40_000, 40_000, 0),
    (dict(vocab_size=1000, embedding_dim=10, training=True, optimizer="momentum", dtype="float16"),
     40_000, 40_000, 40_000),
    (dict(vocab_size=300, embedding_dim=5, dtype="int8", tied=True, training=False), 1500, 0, 0),
    (dict(vocab_size=10, embedding_dim=4, dtype=np.float64, tied=True), 320, 0, 0),
])
def test_embedding_memory_matches_hand_computed(kwargs, weights, grads, state):
    memory = embedding_memory(**kwargs)
    assert isinstance(memory, EmbeddingMemory)
    assert (memory.weight_bytes, memory.grad_bytes, memory.optimizer_bytes) == (weights, grads, state)
    assert memory.total_bytes == weights + grads + state


def test_embedding_memory_prints_readably():
    text = str(embedding_memory(50257, 768, tied=True, training=True))
    assert "147.2 MiB" in text and "294.5 MiB" in text and "588.9 MiB" in text, text
    assert "50,257" in text


@pytest.mark.parametrize("kwargs, text", [
    (dict(vocab_size=0, embedding_dim=4), "vocab_size"),
    (dict(vocab_size=4, embedding_dim=4, dtype="float8"), "unknown dtype"),
    (dict(vocab_size=4, embedding_dim=4, optimizer="lion"), "unknown optimizer"),
])
def test_embedding_memory_rejects_bad_input(kwargs, text):
    with pytest.raises(ValueError, match=text):
        embedding_memory(**kwargs)


def test_embedding_memory_is_measured_by_tracemalloc():
    """The formula predicts what numpy really allocates for weights, gradient and Adam state."""
    import tracemalloc

    tracemalloc.start()
    embedding = Embedding(2000, 64, rng=0)
    moments = [np.zeros_like(embedding.weight.data) for _ in range(2)]
    out = embedding(np.arange(10))
    out.backward(np.ones(out.shape, np.float32))
    snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)])
    tracemalloc.stop()
    held = sum(stat.size for stat in snapshot.statistics("filename"))  # numpy data buffers only
    predicted = embedding_memory(2000, 64, tied=True, training=True, optimizer="adam").total_bytes
    assert predicted <= held < predicted + 4 * out.data.nbytes + 2**12
    del moments


# Bandwidth

def test_lookup_bytes_counts_reads_and_writes():
    assert lookup_bytes(10, 4) == 320
    assert lookup_bytes(10, 4, itemsize=2, direction="backward") == 240
    with pytest.raises(ValueError, match="direction"):
        lookup_bytes(10, 4, direction="sideways")


@pytest.mark.parametrize("case", H200_EMBEDDING, ids=lambda c: f"{c['case']}-{c['dtype']}")
def test_bandwidth_reproduces_cited_h200_measurements(case):
    itemsize = {"float32": 4, "bfloat16": 2}[case["dtype"]]
    forward = lookup_bytes(case["num_ids"], case["embedding_dim"], itemsize)
    gbps, fraction = achieved_bandwidth(forward, case["forward_ms"] / 1e3, H200_COPY_GBPS)
    assert gbps == pytest.approx(case["forward_gbps"], rel=1e-9)
    assert 100 * fraction == pytest.approx(case["forward_percent_of_copy"], rel=1e-9)
    scatter = lookup_bytes(case["num_ids"], case["embedding_dim"], itemsize, direction="backward")
    assert achieved_bandwidth(scatter, case["scatter_ms"] / 1e3, H200_COPY_GBPS)[0] == pytest.approx(
        case["scatter_gbps"], rel=1e-9)


def test_bandwidth_reproduces_cited_cpu_measurement():
    forward = lookup_bytes(CPU_REFERENCE["num_ids"], CPU_REFERENCE["embedding_dim"])
    low, high = CPU_REFERENCE["copy_gbps"]
    fractions = [achieved_bandwidth(forward, CPU_REFERENCE["forward_ms_uniform"] / 1e3, c)[1] for c in (high, low)]
    assert fractions[0] < CPU_REFERENCE["percent_of_copy"][0] / 100 < fractions[1]


def test_achieved_bandwidth_rejects_zero_time():
    with pytest.raises(ValueError, match="positive"):
        achieved_bandwidth(100, 0.0, 10.0)


# Quantization

def test_int8_table_is_at_least_3_5x_smaller_with_small_row_error():
    source = Embedding(5000, 64, rng=1)
    quantized = QuantizedEmbedding.from_embedding(source, bits=8)
    assert source.weight.data.nbytes / quantized.nbytes >= 3.5
    ids = np.arange(5000)
    rows = source.weight.data
    relative = np.linalg.norm(quantized(ids).data - rows, axis=1) / np.linalg.norm(rows, axis=1)
    assert relative.max() < 0.02


def test_quantization_scale_is_per_row():
    magnitudes = np.array([[1000.0], [1.0], [0.001]], dtype=np.float32)
    table = np.random.default_rng(2).standard_normal((3, 50)).astype(np.float32) * magnitudes
    codes, scale, offset = quantize_rows(table)
    step = (table.max(1) - table.min(1)) / 255
    assert codes.dtype == np.uint8 and scale.shape == offset.shape == (3,)
    assert np.allclose(scale, step, rtol=1e-5)
    assert np.all(np.abs(dequantize_rows(codes, scale, offset) - table) <= step[:, None] / 2 * 1.001 + 1e-9)


def test_constant_rows_round_trip_exactly():
    table = np.array([[2.5, 2.5, 2.5], [0.0, 0.0, 0.0]], np.float32)
    assert np.array_equal(dequantize_rows(*quantize_rows(table)), table)


def test_float16_option_halves_memory():
    source = Embedding(100, 16, rng=3)
    half = QuantizedEmbedding.from_embedding(source, bits=16)
    assert half.nbytes * 2 == source.weight.data.nbytes
    ids = np.array([[1, 2], [99, 1]])
    assert np.array_equal(half(ids).data, source.weight.data[ids].astype(np.float16).astype(np.float32))


def test_quantized_lookup_shapes_and_errors():
    quantized = QuantizedEmbedding.from_embedding(np.ones((10, 4), np.float32))
    assert quantized(np.zeros((2, 3), np.int64)).shape == (2, 3, 4)
    assert quantized([]).shape == (0, 4)
    with pytest.raises(IndexError, match="10"):
        quantized([3, 10])
    with pytest.raises(TypeError, match="integers"):
        quantized(np.array([1.0]))
    with pytest.raises(ValueError, match="bits"):
        QuantizedEmbedding.from_embedding(np.ones((10, 4), np.float32), bits=4)
    assert "bits=8" in repr(quantized)


# Row-sparse gradients

@fast
@given(st.integers(1, 200), st.integers(1, 6), st.integers(0, 60), st.integers(0, 2**16))
def test_sparse_sgd_equals_dense_sgd(vocab_size, dim, num_ids, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab_size, size=num_ids)
    grad = rng.standard_normal((num_ids, dim)).astype(np.float32)
    weight = rng.standard_normal((vocab_size, dim)).astype(np.float32)
    dense = weight - 0.05 * embedding_backward(ids, grad, vocab_size)
    rows, values = sparse_embedding_backward(ids, grad, vocab_size)
    assert np.array_equal(rows, np.unique(ids))
    sparse_sgd_update(weight, rows, values, 0.05)
    assert np.array_equal(weight, dense)


def test_sparse_gradient_drops_padding_and_updates_tensor_in_place():
    ids = np.array([[0, 4, 4], [2, 0, 4]])
    grad = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    rows, values = sparse_embedding_backward(ids, grad, 5, padding_idx=0)
    assert rows.tolist() == [2, 4]
    assert np.array_equal(values, embedding_backward(ids, grad, 5, padding_idx=0)[[2, 4]])
    table = Tensor(np.zeros((5, 4), np.float32), requires_grad=True)
    data = table.data
    sparse_sgd_update(table, rows, values, 1.0)
    assert table.data is data and np.array_equal(table.data[[2, 4]], -values) and not table.data[[0, 1, 3]].any()


def test_sparse_gradient_of_no_ids_and_bad_shape():
    rows, values = sparse_embedding_backward(np.zeros(0, np.int64), np.zeros((0, 3), np.float32), 4)
    assert rows.shape == (0,) and values.shape == (0, 3)
    with pytest.raises(ValueError, match="grad_output"):
        sparse_embedding_backward(np.array([1, 2]), np.zeros((3, 4)), 4)


def test_sparse_gradient_drops_a_negative_padding_idx_like_the_dense_one():
    """Regression: padding_idx=-1 used to keep the last row with its summed gradient."""
    ids = np.array([[0, 4, 4], [2, 0, 4]])
    grad = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    rows, values = sparse_embedding_backward(ids, grad, 5, padding_idx=-1)
    assert rows.tolist() == [0, 2]
    np.testing.assert_array_equal(values, embedding_backward(ids, grad, 5, padding_idx=-1)[[0, 2]])


@pytest.mark.parametrize("bad_ids, error", [
    ([-1, 2], IndexError), ([1, 5], IndexError), ([1.7, 2.2], TypeError), ([True, False], TypeError)])
def test_sparse_gradient_and_update_check_their_ids(bad_ids, error):
    """Regression: ids [-1, 2] used to give row -1, which the update then applied to the last row;
    float ids were truncated to rows 1 and 2."""
    grad = np.ones((2, 3), np.float32)
    with pytest.raises(error):
        sparse_embedding_backward(np.array(bad_ids), grad, 5)
    table = np.zeros((5, 3), np.float32)
    with pytest.raises(error):
        sparse_sgd_update(table, np.array(bad_ids), grad, 1.0)
    assert not table.any(), "a refused update must leave the table untouched"


# Memmap

def test_memmap_table_created_in_chunks_matches_in_memory_lookup(tmp_path):
    path = tmp_path / "table.npy"
    table = MemmapEmbedding.create(path, 1000, 8, rng=0, chunk_rows=300)
    assert isinstance(table.weight, np.memmap)
    assert path.stat().st_size >= 1000 * 8 * 4
    in_memory = np.load(path)
    assert in_memory.shape == (1000, 8) and in_memory.std() > 0.5  # every chunk was filled
    assert not np.array_equal(in_memory[:300], in_memory[300:600])
    ids = np.array([[0, 999, 500], [299, 300, 0]])
    got = table(ids)
    assert isinstance(got, Tensor) and not isinstance(got.data, np.memmap)
    assert np.array_equal(got.data, in_memory[ids])
    with pytest.raises(IndexError, match="1000"):
        table([1000])


def test_memmap_reads_an_existing_file_and_rejects_1d(tmp_path):
    weights = np.random.default_rng(1).standard_normal((20, 3)).astype(np.float32)
    np.save(tmp_path / "w.npy", weights)
    assert np.array_equal(MemmapEmbedding(tmp_path / "w.npy")([[4, 19]]).data, weights[[[4, 19]]])
    np.save(tmp_path / "flat.npy", np.zeros(5))
    with pytest.raises(ValueError, match="2-D"):
        MemmapEmbedding(tmp_path / "flat.npy")


# EmbeddingBag

def reference_bags(weights, ids, offsets, mode, per_sample_weights=None):
    """One bag at a time with plain numpy."""
    ends = list(offsets[1:]) + [len(ids)]
    out = np.zeros((len(offsets), weights.shape[1]), weights.dtype)
    for b, (start, end) in enumerate(zip(offsets, ends)):
        if end > start:
            rows = weights[ids[start:end]]
            if per_sample_weights is not None:
                rows = rows * per_sample_weights[start:end, None]
            out[b] = {"sum": np.sum, "mean": np.mean, "max": np.max}[mode](rows, axis=0)
    return out


@st.composite
def bags(draw):
    vocab_size = draw(st.integers(1, 30))
    num_ids = draw(st.integers(0, 25))
    ids = np.array(draw(st.lists(st.integers(0, vocab_size - 1), min_size=num_ids, max_size=num_ids)), np.int64)
    cuts = sorted(draw(st.lists(st.integers(0, num_ids), min_size=0, max_size=6)))
    offsets = np.array([0] + cuts, np.int64)
    return vocab_size, ids, offsets, draw(st.integers(0, 2**16))


@fast
@given(bags(), st.sampled_from(["sum", "mean", "max"]))
def test_embedding_bag_matches_numpy_loop(case, mode):
    vocab_size, ids, offsets, seed = case
    weights = np.random.default_rng(seed).standard_normal((vocab_size, 3)).astype(np.float64)
    got = EmbeddingBag.from_pretrained(weights, mode=mode)(ids, offsets=offsets).data
    np.testing.assert_allclose(got, reference_bags(weights, ids, offsets, mode), rtol=1e-12, atol=1e-12)


@fast
@given(bags())
def test_embedding_bag_per_sample_weights(case):
    vocab_size, ids, offsets, seed = case
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((vocab_size, 3))
    per_sample = rng.standard_normal(len(ids))
    got = EmbeddingBag.from_pretrained(weights, mode="sum")(ids, offsets, per_sample).data
    np.testing.assert_allclose(got, reference_bags(weights, ids, offsets, "sum", per_sample), atol=1e-12)


def test_embedding_bag_2d_input_and_empty_bags():
    weights = np.arange(12, dtype=np.float32).reshape(6, 2)
    ids = np.array([[0, 1, 5], [2, 2, 2]])
    np.testing.assert_array_equal(EmbeddingBag.from_pretrained(weights, "mean")(ids).data, weights[ids].mean(axis=1))
    got = EmbeddingBag.from_pretrained(weights, "max")(np.array([3]), offsets=np.array([0, 0, 1, 1])).data
    np.testing.assert_array_equal(got, [[0, 0], [6, 7], [0, 0], [0, 0]])
    assert reduce_bags(np.zeros((0, 2), np.float32), np.array([0, 0]), "sum").shape == (2, 2)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_gradient_matches_numpy(mode):
    rng = np.random.default_rng(5)
    weights = rng.standard_normal((12, 4))
    ids, offsets = np.array([3, 3, 7, 1, 0, 3, 11]), np.array([0, 3, 3, 5])
    grad_out = rng.standard_normal((4, 4))
    bag = EmbeddingBag.from_pretrained(weights, mode=mode, freeze=False)
    bag(ids, offsets).backward(grad_out)
    expected = np.zeros_like(weights)
    ends = list(offsets[1:]) + [len(ids)]
    for b, (start, end) in enumerate(zip(offsets, ends)):
        members = ids[start:end]
        for column in range(4):
            if mode == "max" and len(members):
                winner = members[np.argmax(weights[members, column])]  # first maximum, as torch
                expected[winner, column] += grad_out[b, column]
            for token in members if mode != "max" else []:
                expected[token, column] += grad_out[b, column] / (len(members) if mode == "mean" else 1)
    np.testing.assert_allclose(bag.weight.grad, expected, atol=1e-12)


@pytest.mark.parametrize("call, error, text", [
    (lambda bag: bag(np.array([1, 2])), ValueError, "offsets"),
    (lambda bag: bag(np.array([1, 2]), offsets=np.array([1])), ValueError, "start at 0"),
    (lambda bag: bag(np.array([1, 2]), offsets=np.array([0, 2, 1])), ValueError, "never decrease"),
    (lambda bag: bag(np.array([[1, 2]]), offsets=np.array([0])), ValueError, "2-D"),
    (lambda bag: bag(np.array([1, 2]), np.array([0]), np.ones(2)), ValueError, "mode='sum'"),
    (lambda bag: bag(np.array([1, 9]), offsets=np.array([0])), IndexError, "vocab_size=5"),
    (lambda bag: bag(np.array([1.0]), offsets=np.array([0])), TypeError, "integers"),
])
def test_embedding_bag_rejects_bad_input(call, error, text):
    with pytest.raises(error, match=text):
        call(EmbeddingBag(5, 3, mode="mean", rng=0))


def test_embedding_bag_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        EmbeddingBag(5, 3, mode="median")


@needs_torch
@pytest.mark.parametrize("mode, with_weights", [("sum", False), ("mean", False), ("max", False), ("sum", True)])
def test_embedding_bag_matches_torch(mode, with_weights):
    import torch

    rng = np.random.default_rng(6)
    weights = rng.standard_normal((40, 5))
    ids = rng.integers(0, 40, size=30)
    offsets = np.array([0, 4, 4, 11, 29, 30])  # two empty bags
    per_sample = rng.standard_normal(30) if with_weights else None
    grad_out = rng.standard_normal((len(offsets), 5))

    bag = EmbeddingBag.from_pretrained(weights, mode=mode, freeze=False)
    out = bag(ids, offsets, per_sample)
    out.backward(grad_out)

    reference = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(weights), freeze=False, mode=mode)
    expected = reference(torch.tensor(ids), torch.tensor(offsets),
                         per_sample_weights=None if per_sample is None else torch.tensor(per_sample))
    expected.backward(torch.tensor(grad_out))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(bag.weight.grad, reference.weight.grad.numpy(), atol=1e-12)


# Sharding

@fast
@given(st.integers(1, 500), st.integers(1, 50), st.integers(0, 2**16))
def test_route_to_shards_is_a_contiguous_block_split(vocab_size, num_shards, seed):
    num_shards = min(num_shards, vocab_size)
    ids = np.random.default_rng(seed).integers(0, vocab_size, size=(3, 7))
    shard, local = route_to_shards(ids, vocab_size, num_shards)
    rows_per_shard = -(-vocab_size // num_shards)
    assert shard.shape == local.shape == ids.shape
    assert np.array_equal(shard * rows_per_shard + local, ids)
    assert shard.min() >= 0 and shard.max() < num_shards and local.min() >= 0 and local.max() < rows_per_shard
    assert np.all(np.diff(route_to_shards(np.arange(vocab_size), vocab_size, num_shards)[0]) >= 0)


@pytest.mark.parametrize("strategy, num_shards", [("row", 1), ("row", 3), ("row", 7), ("row", 23),
                                                  ("column", 1), ("column", 2), ("column", 4), ("column", 6)])
def test_sharded_equals_unsharded_exactly(strategy, num_shards):
    rng = np.random.default_rng(7)
    full = Embedding(23, 6, rng=rng)
    ids = rng.integers(0, 23, size=(4, 9))
    ids[0, :5] = 22  # many repeats of one id
    sharded = ShardedEmbedding.from_embedding(full, num_shards, strategy)
    assert len(sharded.shards) == num_shards
    assert np.array_equal(sharded.full_weight(), full.weight.data)
    out = sharded(ids)
    assert np.array_equal(out.data, full.weight.data[ids])
    # integer-valued gradients make every partial sum exact, whatever order the shards add them in
    grad = rng.integers(-4, 5, size=ids.shape + (6,)).astype(np.float32)
    out.backward(grad)
    assert np.array_equal(sharded.full_grad(), embedding_backward(ids, grad, 23))


def test_sharded_gradients_of_random_floats_agree():
    rng = np.random.default_rng(8)
    full = Embedding(50, 8, rng=rng)
    ids = rng.integers(0, 50, size=200)
    grad = rng.standard_normal((200, 8)).astype(np.float32)
    for strategy in ("row", "column"):
        sharded = ShardedEmbedding.from_embedding(full, 4, strategy)
        sharded(ids).backward(grad)
        np.testing.assert_allclose(sharded.full_grad(), embedding_backward(ids, grad, 50), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs, text", [
    (dict(num_shards=3, strategy="diagonal"), "strategy"),
    (dict(num_shards=0), "num_shards"),
    (dict(num_shards=11), "num_shards"),
    (dict(num_shards=5, strategy="column"), "num_shards"),
    (dict(num_shards=2, weight=np.zeros((3, 4), np.float32)), "shape"),
])
def test_sharded_rejects_bad_configuration(kwargs, text):
    with pytest.raises(ValueError, match=text):
        ShardedEmbedding(10, 4, **kwargs)


def test_sharded_rejects_out_of_range_ids():
    with pytest.raises(IndexError, match="vocab_size=10"):
        ShardedEmbedding(10, 4, 2, rng=0)([3, 10])


@pytest.mark.parametrize("run_backward", [False, True], ids=["before_backward", "after_backward"])
@pytest.mark.parametrize("make", [
    lambda ids: EmbeddingBag(20, 4, mode="sum", rng=0)(ids),
    lambda ids: EmbeddingBag(20, 4, mode="mean", rng=0)(ids),
    lambda ids: EmbeddingBag(20, 4, mode="max", rng=0)(ids),
    lambda ids: ShardedEmbedding(20, 4, 2, strategy="row", rng=0)(ids),
    lambda ids: ShardedEmbedding(20, 4, 2, strategy="column", rng=0)(ids),
], ids=["bag_sum", "bag_mean", "bag_max", "sharded_row", "sharded_column"])
def test_outputs_are_freed_without_the_cyclic_collector(make, run_backward):
    ids = np.array([[3, 7, 3], [19, 0, 1]])
    assert_freed_without_cyclic_gc(lambda: make(ids), run_backward)


@fast
@given(st.lists(st.integers(0, 80), min_size=0, max_size=12), st.sampled_from(["sum", "mean"]), st.booleans(),
       st.integers(0, 2**16))
def test_embedding_bag_sums_match_a_loop_over_bags_of_any_lengths(lengths, mode, weighted, seed):
    """Bags of mixed lengths, empty ones and ones longer than the position passes (64) included."""
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal((30, 3))
    ids = rng.integers(0, 30, size=sum(lengths))
    offsets = np.cumsum([0] + lengths[:-1]).astype(np.int64) if lengths else np.zeros(0, np.int64)
    per_sample = rng.standard_normal(ids.size) if weighted and mode == "sum" else None
    got = EmbeddingBag.from_pretrained(weights, mode=mode)(ids, offsets, per_sample).data
    expected = np.zeros((len(lengths), 3))
    for b, (start, length) in enumerate(zip(offsets, lengths)):
        rows = weights[ids[start:start + length]] * (1 if per_sample is None else per_sample[start:start + length, None])
        if length:
            expected[b] = rows.sum(axis=0) / (length if mode == "mean" else 1)
    np.testing.assert_allclose(got, expected, atol=1e-12)
