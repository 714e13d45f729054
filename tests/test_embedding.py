"""Tests of the compiled tinytorch_lite.core.embeddings lookup table (Embedding, embedding_backward).

References are computed independently of the code under test: one-hot products, np.add.at,
finite differences, plain loops and, when it is installed, torch.nn.functional.embedding.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinytorch_lite.core.embeddings import Embedding, embedding_backward
from tinytorch_lite.core.tensor import Tensor
from helpers import assert_freed_without_cyclic_gc, needs_torch

fast = settings(max_examples=60, deadline=None)


@st.composite
def tables_and_ids(draw, max_vocab=40, max_dim=6):
    """A float64 Embedding and valid ids of a random shape (*), possibly with repeats or empty."""
    vocab_size = draw(st.integers(1, max_vocab))
    embedding_dim = draw(st.integers(1, max_dim))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    dtype = draw(st.sampled_from([np.int64, np.int32, np.int16, np.uint8, np.uint16]))
    max_id = min(vocab_size - 1, int(np.iinfo(dtype).max))
    ids = draw(hnp.arrays(dtype, shape, elements=st.integers(0, max_id)))
    seed = draw(st.integers(0, 2**16))
    return Embedding(vocab_size, embedding_dim, dtype=np.float64, rng=seed), ids


def reference_backward(ids, grad_output, vocab_size, padding_idx=None, scale_grad_by_freq=False):
    ids = np.asarray(ids).reshape(-1)
    grad_output = np.asarray(grad_output, dtype=np.float64)
    rows = grad_output.reshape(ids.size, grad_output.shape[-1])
    if scale_grad_by_freq:
        rows = rows / np.bincount(ids, minlength=vocab_size)[ids][:, None]
    expected = np.zeros((vocab_size, rows.shape[1]))
    np.add.at(expected, ids, rows)
    if padding_idx is not None:
        expected[padding_idx] = 0
    return expected


# ---- construction ----------------------------------------------------------------------------

def test_weight_is_a_standard_normal_parameter():
    embedding = Embedding(vocab_size=500, embedding_dim=64, rng=0)
    weight = embedding.weight
    assert isinstance(weight, Tensor) and weight.requires_grad
    assert weight.shape == (500, 64) and weight.dtype == np.float32
    assert abs(weight.data.mean()) < 0.02 and abs(weight.data.std() - 1) < 0.02
    assert embedding.parameters() == [weight]
    assert weight.grad is None


def test_seed_reproduces_the_table_and_generator_is_accepted():
    a = Embedding(30, 4, rng=7).weight.data
    b = Embedding(30, 4, rng=np.random.default_rng(7)).weight.data
    c = Embedding(30, 4, rng=8).weight.data
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_floating_dtypes(dtype):
    embedding = Embedding(10, 3, dtype=dtype, rng=0)
    assert embedding.weight.dtype == dtype
    assert embedding([1, 2]).dtype == dtype


def test_repr_is_readable():
    assert repr(Embedding(10, 3)) == "Embedding(10, 3, dtype=float32)"
    text = repr(Embedding(10, 3, padding_idx=0, max_norm=1.0, scale_grad_by_freq=True))
    assert text == "Embedding(10, 3, padding_idx=0, max_norm=1.0, scale_grad_by_freq=True, dtype=float32)"
    frozen = Embedding.from_pretrained(np.zeros((4, 2), dtype=np.float32))
    assert repr(frozen) == "Embedding(4, 2, dtype=float32, frozen)"


# ---- forward: values and shapes -------------------------------------------------------------

@fast
@given(tables_and_ids())
def test_lookup_equals_one_hot_product(table_and_ids):
    embedding, ids = table_and_ids
    W = embedding.weight.data
    one_hot = np.eye(embedding.vocab_size)[ids]  # (*) -> (*, V)
    assert np.array_equal(embedding(ids).data, one_hot @ W)


@fast
@given(tables_and_ids())
def test_output_shape_is_ids_shape_plus_embedding_dim(table_and_ids):
    embedding, ids = table_and_ids
    assert embedding(ids).shape == ids.shape + (embedding.embedding_dim,)


@fast
@given(tables_and_ids(), st.data())
def test_same_id_gives_same_row(table_and_ids, data):
    embedding, ids = table_and_ids
    if ids.size == 0:
        return
    token = data.draw(st.sampled_from(sorted(set(ids.reshape(-1).tolist()))))
    out = embedding(ids).data
    rows = out[ids == token]
    assert np.array_equal(rows, np.broadcast_to(embedding.weight.data[token], rows.shape))


def test_accepts_lists_arrays_and_integer_tensors():
    embedding = Embedding(20, 3, rng=0)
    W = embedding.weight.data
    expected = W[[[1, 2], [19, 0]]]
    for ids in ([[1, 2], [19, 0]], np.array([[1, 2], [19, 0]], dtype=np.uint16),
                Tensor(np.array([[1, 2], [19, 0]]))):
        out = embedding(ids)
        assert isinstance(out, Tensor) and np.array_equal(out.data, expected)
    assert np.array_equal(embedding.forward([5]).data, W[[5]])


def test_empty_and_scalar_ids():
    embedding = Embedding(20, 3, rng=0)
    assert embedding([]).shape == (0, 3)
    assert embedding(np.zeros(0, dtype=np.int64)).shape == (0, 3)
    assert embedding(np.zeros((2, 0), dtype=np.int64)).shape == (2, 0, 3)
    assert np.array_equal(embedding(np.array(4)).data, embedding.weight.data[4])


def test_output_is_a_new_array_not_a_view_of_the_table():
    embedding = Embedding(5, 2, rng=0)
    out = embedding([1])
    out.data[:] = 123.0
    assert not np.any(embedding.weight.data == 123.0)


# ---- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("ids, dtype_name", [
    ([1.0, 2.0], "float64"),
    (np.array([1, 2], dtype=np.float32), "float32"),
    (np.array([True, False]), "bool"),
    (["a", "b"], "<U1"),
    (Tensor([0.5]), "float32"),
])
def test_non_integer_ids_raise_type_error(ids, dtype_name):
    with pytest.raises(TypeError, match="integer") as error:
        Embedding(5, 2)(ids)
    assert dtype_name in str(error.value)


@pytest.mark.parametrize("ids, value, position", [
    ([0, 5, 1], 5, "(1,)"),
    ([0, 1, -1], -1, "(2,)"),
    ([[0, 1], [2, -5]], -5, "(1, 1)"),
    (np.array([[0, 7]], dtype=np.int8), 7, "(0, 1)"),
])
def test_out_of_range_ids_raise_index_error_naming_value_position_and_vocab_size(ids, value, position):
    with pytest.raises(IndexError) as error:
        Embedding(5, 2)(ids)
    message = str(error.value)
    assert f"token id {value}" in message
    assert position in message
    assert "vocab_size=5" in message


def test_index_error_names_the_first_bad_id():
    with pytest.raises(IndexError, match=r"token id 9 at position \(2,\)"):
        Embedding(5, 2)([0, 1, 9, -1])


def test_ragged_ids_raise_a_clear_error():
    with pytest.raises(ValueError, match="rectangular"):
        Embedding(5, 2)([[1, 2], [3]])


@pytest.mark.parametrize("kwargs, error, text", [
    (dict(vocab_size=0, embedding_dim=2), ValueError, "vocab_size must be at least 1, got 0"),
    (dict(vocab_size=3, embedding_dim=-1), ValueError, "embedding_dim must be at least 1, got -1"),
    (dict(vocab_size=3.0, embedding_dim=2), TypeError, "vocab_size must be an int"),
    (dict(vocab_size=3, embedding_dim=True), TypeError, "embedding_dim must be an int"),
    (dict(vocab_size=3, embedding_dim=2, padding_idx=3), ValueError, "padding_idx=3 is out of range"),
    (dict(vocab_size=3, embedding_dim=2, padding_idx=-4), ValueError, "padding_idx=-4 is out of range"),
    (dict(vocab_size=3, embedding_dim=2, padding_idx=1.0), TypeError, "padding_idx must be an int"),
    (dict(vocab_size=3, embedding_dim=2, max_norm=0.0), ValueError, "max_norm must be positive"),
    (dict(vocab_size=3, embedding_dim=2, dtype=np.int32), TypeError, "floating dtype"),
])
def test_bad_constructor_arguments(kwargs, error, text):
    with pytest.raises(error, match=text):
        Embedding(**kwargs)


@pytest.mark.parametrize("grad_shape", [(3, 4), (2,), (2, 2, 4), (4, 2)])
def test_wrong_grad_output_shape_raises_value_error(grad_shape):
    with pytest.raises(ValueError, match="grad_output has shape") as error:
        embedding_backward([1, 2], np.zeros(grad_shape), vocab_size=5)
    assert str(grad_shape) in str(error.value)


def test_embedding_backward_rejects_bad_ids_and_integer_gradients():
    with pytest.raises(IndexError, match="vocab_size=5"):
        embedding_backward([1, 5], np.zeros((2, 3)), vocab_size=5)
    with pytest.raises(TypeError, match="integer"):
        embedding_backward([1.0, 2.0], np.zeros((2, 3)), vocab_size=5)
    with pytest.raises(TypeError, match="floating"):
        embedding_backward([1, 2], np.zeros((2, 3), dtype=np.int64), vocab_size=5)
    with pytest.raises(ValueError, match="padding_idx=5"):
        embedding_backward([1, 2], np.zeros((2, 3)), vocab_size=5, padding_idx=5)


# ---- backward --------------------------------------------------------------------------------

@fast
@given(tables_and_ids(), st.booleans(), st.booleans(), st.data())
def test_backward_equals_np_add_at(table_and_ids, use_padding, scale, data):
    embedding, ids = table_and_ids
    padding_idx = data.draw(st.integers(0, embedding.vocab_size - 1)) if use_padding else None
    grad_output = data.draw(hnp.arrays(np.float64, ids.shape + (embedding.embedding_dim,),
                                       elements=st.floats(-100, 100)))
    got = embedding_backward(ids, grad_output, embedding.vocab_size, padding_idx, scale)
    expected = reference_backward(ids, grad_output, embedding.vocab_size, padding_idx, scale)
    assert got.shape == (embedding.vocab_size, embedding.embedding_dim)
    assert np.allclose(got, expected, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("name, ids", [
    ("uniform", np.random.default_rng(0).integers(0, 2000, size=5000)),
    ("zipf", np.minimum(np.random.default_rng(1).zipf(1.2, size=5000) - 1, 1999)),
    ("one id", np.full(3000, 17)),
    ("many long runs", np.repeat(np.arange(200), 40)),
    ("batched", np.random.default_rng(2).integers(0, 2000, size=(8, 64))),
])
def test_backward_on_realistic_batches(name, ids):
    grad_output = np.random.default_rng(3).standard_normal(ids.shape + (16,)).astype(np.float32)
    got = embedding_backward(ids, grad_output, vocab_size=2000)
    assert got.dtype == np.float32
    assert np.allclose(got, reference_backward(ids, grad_output, 2000), rtol=1e-5, atol=1e-4)


def test_backward_does_not_modify_grad_output():
    grad_output = np.arange(12.0).reshape(4, 3)
    before = grad_output.copy()
    embedding_backward([2, 2, 0, 2], grad_output, vocab_size=3, scale_grad_by_freq=True)
    assert np.array_equal(grad_output, before)


def test_backward_of_empty_ids_is_zero():
    got = embedding_backward([], np.zeros((0, 4), dtype=np.float32), vocab_size=6)
    assert got.shape == (6, 4) and not got.any()


def finite_difference_gradient(embedding, loss_of_weight, eps=1e-6):
    W = embedding.weight.data
    numeric = np.zeros_like(W)
    for index in np.ndindex(W.shape):
        saved = W[index]
        W[index] = saved + eps
        up = loss_of_weight()
        W[index] = saved - eps
        down = loss_of_weight()
        W[index] = saved
        numeric[index] = (up - down) / (2 * eps)
    return numeric


@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 2}, {"scale_grad_by_freq": True}])
def test_gradient_matches_finite_differences(kwargs):
    rng = np.random.default_rng(4)
    embedding = Embedding(7, 3, dtype=np.float64, rng=0, **kwargs)
    ids = np.array([[1, 2, 1], [6, 1, 2]])
    target = rng.standard_normal((2, 3, 3))
    counts = np.bincount(ids.reshape(-1), minlength=7)

    (embedding(ids).tanh() * Tensor(target)).sum().backward()

    def loss_of_weight():
        return float((np.tanh(embedding.weight.data[ids]) * target).sum())

    numeric = finite_difference_gradient(embedding, loss_of_weight)
    if kwargs.get("scale_grad_by_freq"):
        numeric[counts > 0] /= counts[counts > 0, None]
    if "padding_idx" in kwargs:
        numeric[kwargs["padding_idx"]] = 0
    assert np.allclose(embedding.weight.grad, numeric, atol=1e-7)


@pytest.mark.parametrize("run_backward", [False, True], ids=["before_backward", "after_backward"])
def test_lookup_result_is_freed_without_the_cyclic_collector(run_backward):
    embedding = Embedding(50, 8, rng=0)
    ids = np.array([[3, 7, 3], [49, 0, 1]])
    assert_freed_without_cyclic_gc(lambda: embedding(ids), run_backward)
    if run_backward:
        assert embedding.weight.grad is not None


def test_gradients_accumulate_across_backward_calls():
    embedding = Embedding(4, 2, dtype=np.float64, rng=0)
    embedding([1, 1]).sum().backward()
    embedding([1, 3]).sum().backward()
    expected = np.zeros((4, 2))
    expected[1] = 3.0
    expected[3] = 1.0
    assert np.array_equal(embedding.weight.grad, expected)


# ---- padding and max_norm --------------------------------------------------------------------

def test_padding_row_is_zero_and_stays_zero_through_training():
    embedding = Embedding(6, 4, padding_idx=0, rng=0)
    ids = np.array([[3, 1, 0, 0], [5, 2, 4, 0]])
    before = embedding.weight.data.copy()
    for _ in range(3):
        embedding.weight.zero_grad()
        (embedding(ids) ** 2).sum().backward()
        embedding.weight.data -= 0.1 * embedding.weight.grad
    assert not embedding.weight.data[0].any()
    assert not np.allclose(embedding.weight.data[1:], before[1:])
    assert not embedding(ids).data[0, 2].any()


def test_negative_padding_idx_counts_from_the_end():
    embedding = Embedding(6, 4, padding_idx=-1, rng=0)
    assert embedding.padding_idx == 5 and not embedding.weight.data[5].any()
    assert np.count_nonzero(embedding.weight.data[:5]) == 20


def test_max_norm_renormalises_looked_up_rows_in_place():
    embedding = Embedding(5, 2, max_norm=1.0, rng=0)
    table = np.array([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0], [0.0, 2.0], [1.0, 0.0]], dtype=np.float32)
    embedding.weight.data[:] = table
    out = embedding([[0, 1], [3, 0]])
    assert np.allclose(out.data[0, 0], [0.6, 0.8], atol=1e-6)
    assert np.allclose(out.data[1, 0], [0.0, 1.0], atol=1e-6)
    assert np.allclose(embedding.weight.data[[0, 3]], [[0.6, 0.8], [0.0, 1.0]], atol=1e-6)
    assert np.array_equal(embedding.weight.data[[1, 2, 4]], table[[1, 2, 4]])


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, np.inf])
def test_max_norm_respects_norm_type(norm_type):
    rng = np.random.default_rng(5)
    embedding = Embedding(20, 5, max_norm=0.7, norm_type=norm_type, dtype=np.float64, rng=0)
    ids = rng.integers(0, 20, size=30)
    embedding(ids)
    norms = np.linalg.norm(embedding.weight.data[np.unique(ids)], ord=norm_type, axis=1)
    assert np.all(norms <= 0.7 + 1e-9)


# ---- weight tying and from_pretrained --------------------------------------------------------

def test_weight_tying_trains_both_uses():
    rng = np.random.default_rng(6)
    embedding = Embedding(10, 6, dtype=np.float64, rng=0)
    inputs = rng.integers(0, 10, size=24)
    targets = (3 * inputs + 1) % 10
    target_one_hot = np.eye(10)[targets]

    def tied_loss():
        logits = embedding(inputs) @ embedding.weight.T  # (24, 6) @ (6, 10) -> (24, 10)
        return -(logits.log_softmax(axis=-1) * Tensor(target_one_hot)).sum() / len(inputs)

    loss = tied_loss()
    loss.backward()
    W = embedding.weight.data
    h = W[inputs]
    logits = h @ W.T
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    d_logits = (probs - target_one_hot) / len(inputs)
    from_projection = d_logits.T @ h
    from_lookup = reference_backward(inputs, d_logits @ W, 10)
    assert np.abs(from_projection).max() > 1e-3 and np.abs(from_lookup).max() > 1e-3
    assert np.allclose(embedding.weight.grad, from_projection + from_lookup, atol=1e-10)

    first = loss.item()
    for _ in range(40):
        embedding.weight.zero_grad()
        loss = tied_loss()
        loss.backward()
        embedding.weight.data -= 0.5 * embedding.weight.grad
    assert loss.item() < 0.5 * first


def test_from_pretrained_frozen_uses_the_table_without_copy_and_gets_no_gradient():
    table = np.random.default_rng(7).standard_normal((8, 3)).astype(np.float32)
    frozen = Embedding.from_pretrained(table)
    assert frozen.weight.data is table or np.shares_memory(frozen.weight.data, table)
    assert not frozen.weight.requires_grad
    assert (frozen.vocab_size, frozen.embedding_dim) == (8, 3)
    out = frozen([2, 7])
    assert np.array_equal(out.data, table[[2, 7]])
    assert not out.requires_grad


def test_from_pretrained_trainable_keeps_padding_values_but_not_their_gradient():
    table = np.arange(12.0).reshape(4, 3)
    embedding = Embedding.from_pretrained(table, freeze=False, padding_idx=1)
    assert embedding.weight.requires_grad and embedding.weight.dtype == np.float64
    assert np.array_equal(embedding.weight.data[1], [3.0, 4.0, 5.0])
    embedding([1, 2, 1]).sum().backward()
    assert np.array_equal(embedding.weight.grad, [[0, 0, 0], [0, 0, 0], [1, 1, 1], [0, 0, 0]])


def test_from_pretrained_accepts_tensors_and_lists_and_rejects_bad_tables():
    assert Embedding.from_pretrained(Tensor(np.ones((3, 2)))).weight.shape == (3, 2)
    assert Embedding.from_pretrained([[0.5, 1.0], [2.0, 3.0]]).weight.dtype == np.float32
    with pytest.raises(ValueError, match="must be 2-D"):
        Embedding.from_pretrained(np.ones(5))
    with pytest.raises(TypeError, match="floating"):
        Embedding.from_pretrained(np.ones((3, 2), dtype=np.int64))


# ---- PyTorch as a reference, when it is installed --------------------------------------------

@needs_torch
@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 3}, {"scale_grad_by_freq": True},
                                    {"max_norm": 1.5}, {"max_norm": 0.8, "norm_type": 1.0}])
def test_matches_torch_embedding(kwargs):
    import torch

    rng = np.random.default_rng(8)
    ids = rng.integers(0, 30, size=(4, 25))
    grad_output = rng.standard_normal((4, 25, 5))
    ours = Embedding(30, 5, dtype=np.float64, rng=0, **kwargs)
    theirs = torch.nn.Embedding(30, 5, dtype=torch.float64, **kwargs)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data.copy()))

    out = ours(ids)
    out.backward(grad_output)
    reference = theirs(torch.from_numpy(ids))
    reference.backward(torch.from_numpy(grad_output))

    assert np.allclose(out.data, reference.detach().numpy(), atol=1e-12)
    assert np.allclose(ours.weight.data, theirs.weight.detach().numpy(), atol=1e-12)
    assert np.allclose(ours.weight.grad, theirs.weight.grad.numpy(), atol=1e-12)


def test_output_memory_is_reused_only_once_nothing_refers_to_it():
    emb = Embedding(50, 8, rng=0)
    ids, other = np.array([[1, 2, 3], [4, 5, 6]]), np.array([[7, 8, 9], [10, 11, 12]])
    first = emb(ids)
    kept = first.data.copy()
    second = emb(other)  # `first` is alive: its rows must not be overwritten
    np.testing.assert_array_equal(first.data, kept)
    assert not np.shares_memory(first.data, second.data)
    view = second.data[0]  # a view alone keeps the memory in use
    del first, second
    third = emb(ids)
    np.testing.assert_array_equal(view, emb.weight.data[other[0]])
    assert not np.shares_memory(third.data, view)
    del view
    fourth_address = third.data.ctypes.data
    del third
    fourth = emb(other)
    assert fourth.data.ctypes.data == fourth_address, "a free output buffer should be reused"
    np.testing.assert_array_equal(fourth.data, emb.weight.data[other])


def test_gradients_stay_right_when_the_output_buffer_is_reused():
    emb = Embedding(20, 4, rng=1)
    rng = np.random.default_rng(2)
    expected = np.zeros((20, 4))
    for _ in range(3):
        ids = rng.integers(0, 20, (5, 3))
        g = rng.standard_normal((5, 3, 4))
        (emb(ids) * Tensor(g, dtype=np.float32)).sum().backward()
        np.add.at(expected, ids, g)
    np.testing.assert_allclose(emb.weight.grad, expected, rtol=1e-5, atol=1e-6)
