"""Tests of the compiled position modules of tinytorch_lite.core.embeddings (Module 12 part 2).

References are independent of the code under test: plain loops over the formula of Vaswani et al.
(2017), complex-number rotations for rotary embeddings, the slopes printed in Press et al. (2022),
and finite differences for gradients.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinytorch_lite.core.embeddings import (
    Embedding,
    EmbeddingLayer,
    LearnedPositionalEmbedding,
    PositionalEncoding,
    RotaryEmbedding,
    alibi_bias,
    sinusoidal_table,
)
from tinytorch_lite.core.tensor import Tensor
from helpers import assert_freed_without_cyclic_gc

fast = settings(max_examples=50, deadline=None)


def loop_table(max_seq_length, embedding_dim, base=10000.0):
    table = np.zeros((max_seq_length, embedding_dim))
    for p in range(max_seq_length):
        for j in range(embedding_dim):
            angle = p / base ** ((j - j % 2) / embedding_dim)
            table[p, j] = np.sin(angle) if j % 2 == 0 else np.cos(angle)
    return table


def complex_rotary(x, positions, base=10000.0):
    """Adjacent-pair rotary as complex multiplication: (x[2i] + i x[2i+1]) * exp(i m theta_i)."""
    d = x.shape[-1]
    theta = base ** (-np.arange(0, d, 2) / d)
    z = (x[..., 0::2] + 1j * x[..., 1::2]) * np.exp(1j * np.outer(positions, theta))
    out = np.empty(x.shape)
    out[..., 0::2], out[..., 1::2] = z.real, z.imag
    return out


def finite_difference(loss, values, eps=1e-6):
    values = np.array(values, dtype=np.float64)
    grad = np.zeros_like(values)
    for index in np.ndindex(values.shape):
        step = np.zeros_like(values)
        step[index] = eps
        grad[index] = (loss(values + step) - loss(values - step)) / (2 * eps)
    return grad


# ---- sinusoidal table -------------------------------------------------------------------------

@pytest.mark.parametrize("n, d, base", [(1, 1, 1e4), (12, 2, 1e4), (50, 16, 1e4), (33, 7, 1e4), (20, 10, 5e5), (9, 3, 2.0)])
def test_sinusoidal_table_matches_the_formula(n, d, base):
    got = sinusoidal_table(n, d, base=base, dtype=np.float64)
    assert got.shape == (n, d)
    np.testing.assert_allclose(got, loop_table(n, d, base), rtol=0, atol=1e-12)


def test_sinusoidal_table_exact_values_at_nonzero_positions():
    table = sinusoidal_table(100, 4, dtype=np.float64)
    assert table[1, 0] == pytest.approx(np.sin(1.0))
    assert table[1, 1] == pytest.approx(np.cos(1.0))
    assert table[7, 2] == pytest.approx(np.sin(7 / 100.0))  # 10000 ** (2/4) = 100
    assert table[99, 3] == pytest.approx(np.cos(99 / 100.0))


def test_sinusoidal_table_dtype_and_float32_accuracy_at_large_positions():
    table = sinusoidal_table(4096, 64)
    assert table.dtype == np.float32
    assert sinusoidal_table(3, 4, dtype=np.float16).dtype == np.float16
    # angles computed in float64: only the final rounding to float32 remains (float32 math is ~1e-4 off)
    assert np.abs(table - loop_table(4096, 64)).max() < 1e-6


def test_odd_width_ends_with_a_sine_column():
    odd, even = sinusoidal_table(30, 5, dtype=np.float64), sinusoidal_table(30, 6, dtype=np.float64)
    np.testing.assert_allclose(odd[:, 4], np.sin(np.arange(30) / 10000 ** (4 / 5)))
    assert not np.allclose(odd, even[:, :5])  # the exponent uses d = 5, not 6


@fast
@given(p=st.integers(0, 2000), k=st.integers(0, 2000), half=st.integers(1, 16))
def test_offset_is_a_rotation_of_each_pair(p, k, half):
    d = 2 * half
    table = sinusoidal_table(p + k + 1, d, dtype=np.float64)
    omega = 10000.0 ** (-np.arange(0, d, 2) / d)
    s, c = table[p, 0::2], table[p, 1::2]
    np.testing.assert_allclose(table[p + k, 0::2], np.cos(k * omega) * s + np.sin(k * omega) * c, atol=1e-9)
    np.testing.assert_allclose(table[p + k, 1::2], -np.sin(k * omega) * s + np.cos(k * omega) * c, atol=1e-9)


def test_dot_product_of_positions_depends_only_on_the_offset():
    table = sinusoidal_table(200, 32, dtype=np.float64)
    omega = 10000.0 ** (-np.arange(0, 32, 2) / 32)
    dots = table @ table.T
    for k in (0, 1, 7, 50):
        np.testing.assert_allclose(np.diagonal(dots, k), np.cos(k * omega).sum(), atol=1e-9)


# ---- PositionalEncoding ------------------------------------------------------------------------

def test_seed_example_runs_verbatim():
    from tinytorch_lite.core.embeddings import Embedding, PositionalEncoding
    from tinytorch_lite.core.tokenization import CharTokenizer

    tokenizer = CharTokenizer()
    embedding = Embedding(vocab_size=tokenizer.vocab_size, embedding_dim=256)
    pos_encoding = PositionalEncoding(embedding_dim=256, max_seq_length=512)
    tokens = tokenizer.encode("Hello world!")
    embeddings = embedding(tokens)
    pos_embeddings = pos_encoding(embeddings)

    assert pos_embeddings.shape == embeddings.shape == (12, 256)
    assert np.array_equal(embeddings.data, embedding.weight.data[tokens])
    np.testing.assert_allclose(pos_embeddings.data - embeddings.data, loop_table(12, 256), atol=1e-5)


def test_positional_encoding_adds_the_table_to_sequences_and_batches():
    pe = PositionalEncoding(embedding_dim=6, max_seq_length=20)
    x = np.random.default_rng(0).standard_normal((3, 9, 6)).astype(np.float32)
    np.testing.assert_allclose(pe(Tensor(x)).data, x + loop_table(9, 6), atol=1e-6)
    np.testing.assert_allclose(pe(Tensor(x[1])).data, x[1] + loop_table(9, 6), atol=1e-6)
    np.testing.assert_allclose(pe(x[1]).data, x[1] + loop_table(9, 6), atol=1e-6)  # numpy input works too
    np.testing.assert_allclose(pe(Tensor(np.zeros((20, 6), np.float32))).data, pe.table)
    assert pe.parameters() == []
    assert "max_seq_length=20" in repr(pe)


def test_positional_encoding_passes_the_gradient_through():
    pe = PositionalEncoding(4, 10)
    x = Tensor(np.random.default_rng(1).standard_normal((2, 5, 4)), requires_grad=True)
    upstream = np.random.default_rng(2).standard_normal((2, 5, 4))
    pe(x).backward(upstream)
    np.testing.assert_allclose(x.grad, upstream)


# ---- LearnedPositionalEmbedding ----------------------------------------------------------------

def test_learned_table_gradient_is_the_batch_sum_in_the_used_rows():
    learned = LearnedPositionalEmbedding(max_seq_length=8, embedding_dim=3, rng=0)
    x = Tensor(np.zeros((4, 5, 3), np.float32), requires_grad=True)
    upstream = np.random.default_rng(3).standard_normal((4, 5, 3)).astype(np.float32)
    out = learned(x)
    np.testing.assert_allclose(out.data, np.broadcast_to(learned.weight.data[:5], (4, 5, 3)))
    out.backward(upstream)
    expected = np.zeros((8, 3), np.float32)
    expected[:5] = upstream.sum(axis=0)
    np.testing.assert_allclose(learned.weight.grad, expected, rtol=1e-6)
    np.testing.assert_allclose(x.grad, upstream)


@pytest.mark.parametrize("shape", [(0, 3), (2, 0, 3)])
def test_learned_backward_on_an_empty_sequence_gives_a_zero_table_gradient(shape):
    """Regression: an empty sequence used to raise a reshape ValueError in backward."""
    learned = LearnedPositionalEmbedding(4, 3, rng=0)
    x = Tensor(np.zeros(shape, np.float32), requires_grad=True)
    out = learned(x)
    out.backward(np.zeros(shape, np.float32))
    np.testing.assert_array_equal(learned.weight.grad, np.zeros((4, 3), np.float32))
    assert x.grad.shape == shape


def test_learned_table_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    learned = LearnedPositionalEmbedding(6, 3, rng=1)
    learned.weight = Tensor(rng.standard_normal((6, 3)), requires_grad=True)
    inputs = rng.standard_normal((3, 4, 3))
    weights = rng.standard_normal((3, 4, 3))
    y = learned(Tensor(inputs))
    (y * y * weights).sum().backward()
    numeric = finite_difference(lambda w: float((((inputs + w[:4]) ** 2) * weights).sum()), learned.weight.data)
    np.testing.assert_allclose(learned.weight.grad, numeric, atol=1e-6)


def test_learned_table_gradients_accumulate_and_init_like_gpt2():
    learned = LearnedPositionalEmbedding(5, 2, rng=0)
    for _ in range(2):
        learned(Tensor(np.zeros((3, 2), np.float32))).backward(np.ones((3, 2), np.float32))
    np.testing.assert_allclose(learned.weight.grad, [[2, 2], [2, 2], [2, 2], [0, 0], [0, 0]])
    big = LearnedPositionalEmbedding(1024, 128, rng=0).weight.data
    assert big.dtype == np.float32 and abs(big.std() - 0.01) < 5e-4 and abs(big.mean()) < 5e-4
    np.testing.assert_array_equal(LearnedPositionalEmbedding(4, 2, rng=7).weight.data,
                                  LearnedPositionalEmbedding(4, 2, rng=7).weight.data)
    assert learned.parameters() == [learned.weight]


# ---- RotaryEmbedding ---------------------------------------------------------------------------

def test_rotary_matches_complex_multiplication():
    x = np.random.default_rng(5).standard_normal((2, 3, 7, 16))
    np.testing.assert_allclose(RotaryEmbedding(16)(Tensor(x)).data, complex_rotary(x, np.arange(7)), atol=1e-12)
    positions = np.array([100, 4, 2048, 0, 9, 9, 1])
    np.testing.assert_allclose(RotaryEmbedding(16)(Tensor(x), positions=positions).data,
                               complex_rotary(x, positions), atol=1e-9)


def test_rotary_keeps_dtype_and_norms():
    x = np.random.default_rng(6).standard_normal((5, 8)).astype(np.float32)
    y = RotaryEmbedding(8)(Tensor(x))
    assert y.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(y.data, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5)


@fast
@given(m=st.integers(0, 5000), n=st.integers(0, 5000), shift=st.integers(0, 5000),
       half=st.integers(1, 8), pairing=st.sampled_from(["adjacent", "half"]), seed=st.integers(0, 2**16))
def test_rotary_scores_depend_only_on_relative_position(m, n, shift, half, pairing, seed):
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((1, 2 * half)), rng.standard_normal((1, 2 * half))
    rope = RotaryEmbedding(2 * half, pairing=pairing)

    def score(a, b):
        return float(rope(Tensor(q), positions=[a]).data[0] @ rope(Tensor(k), positions=[b]).data[0])

    assert score(m, n) == pytest.approx(score(m + shift, n + shift), abs=1e-8)


@fast
@given(half=st.integers(1, 8), seq_len=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_rotary_conventions_agree_up_to_a_permutation(half, seq_len, seed):
    d = 2 * half
    x = np.random.default_rng(seed).standard_normal((2, seq_len, d))
    perm = np.concatenate([np.arange(0, d, 2), np.arange(1, d, 2)])  # adjacent layout -> half layout
    adjacent = RotaryEmbedding(d, pairing="adjacent")(Tensor(x)).data
    halves = RotaryEmbedding(d, pairing="half")(Tensor(x[..., perm])).data
    np.testing.assert_allclose(halves, adjacent[..., perm], atol=1e-12)


def test_rotary_gradient_matches_finite_differences():
    rng = np.random.default_rng(7)
    for pairing in ("adjacent", "half"):
        rope = RotaryEmbedding(6, pairing=pairing)
        x = Tensor(rng.standard_normal((2, 4, 6)), requires_grad=True)
        weights = rng.standard_normal((2, 4, 6))
        (rope(x) * rope(x) * weights).sum().backward()
        numeric = finite_difference(lambda v: float((rope(Tensor(v)).data ** 2 * weights).sum()), x.data)
        np.testing.assert_allclose(x.grad, numeric, atol=1e-6)


# ---- ALiBi -------------------------------------------------------------------------------------

def test_alibi_slopes_for_eight_heads_are_the_papers():
    bias = alibi_bias(8, 6)
    assert bias.shape == (8, 6, 6)
    slopes = np.array([1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256])
    distance = np.abs(np.subtract.outer(np.arange(6), np.arange(6)))
    np.testing.assert_allclose(bias, -slopes[:, None, None] * distance)


@pytest.mark.parametrize("num_heads, slopes", [
    (1, [2 ** -8]),
    (2, [2 ** -4, 2 ** -8]),
    (4, [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8]),
    (6, [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3]),  # 4-head slopes + every other 8-head slope
    (12, [2.0 ** -e for e in (1, 2, 3, 4, 5, 6, 7, 8, 0.5, 1.5, 2.5, 3.5)]),
])
def test_alibi_slopes_other_head_counts(num_heads, slopes):
    np.testing.assert_allclose(-alibi_bias(num_heads, 2)[:, 1, 0], slopes)


# ---- EmbeddingLayer ----------------------------------------------------------------------------

def test_embedding_layer_modes():
    ids = np.array([[1, 2, 3, 4], [4, 3, 2, 1]])
    for mode in ("sinusoidal", "learned", "none"):
        layer = EmbeddingLayer(vocab_size=10, embedding_dim=6, max_seq_length=8, positional=mode, rng=0)
        tokens = layer.token_embedding(ids).data
        out = layer(ids)
        assert out.shape == (2, 4, 6)
        position = {"sinusoidal": loop_table(4, 6),
                    "learned": layer.position.weight.data[:4] if mode == "learned" else None,
                    "none": 0.0}[mode]
        np.testing.assert_allclose(out.data, tokens + position, atol=1e-6)
        assert len(layer.parameters()) == (2 if mode == "learned" else 1)
        assert mode in repr(layer)


def test_embedding_layer_scale_and_gradients():
    layer = EmbeddingLayer(10, 4, 8, positional="learned", scale=True, rng=0)
    out = layer([3, 3, 5])
    np.testing.assert_allclose(out.data, layer.token_embedding([3, 3, 5]).data * 2 + layer.position.weight.data[:3], rtol=1e-6)
    out.sum().backward()
    token_grad = layer.token_embedding.weight.grad
    np.testing.assert_allclose(token_grad[3], 2 * 2)  # two uses of id 3, times sqrt(4)
    np.testing.assert_allclose(token_grad[5], 2)
    np.testing.assert_allclose(layer.position.weight.grad[:3], 1)
    np.testing.assert_allclose(layer.position.weight.grad[3:], 0)


def test_embedding_layer_is_deterministic_for_a_seed():
    a = EmbeddingLayer(10, 4, 8, positional="learned", rng=3)
    b = EmbeddingLayer(10, 4, 8, positional="learned", rng=3)
    np.testing.assert_array_equal(a([1, 2]).data, b([1, 2]).data)


# ---- bad input ---------------------------------------------------------------------------------

def _raises(fn, error, *words):
    with pytest.raises(error) as info:
        fn()
    for word in words:
        assert word in str(info.value), f"{word!r} missing from the message: {info.value}"


BAD_INPUT = {
    "table length 0": (lambda: sinusoidal_table(0, 4), ValueError, ["max_seq_length", "0"]),
    "table width float": (lambda: sinusoidal_table(4, 4.0), TypeError, ["embedding_dim"]),
    "table base 1": (lambda: sinusoidal_table(4, 4, base=1.0), ValueError, ["base"]),
    "encoding too long": (lambda: PositionalEncoding(4, 6)(Tensor(np.zeros((7, 4), np.float32))),
                          ValueError, ["7", "max_seq_length=6"]),
    "encoding wrong width": (lambda: PositionalEncoding(4, 6)(Tensor(np.zeros((3, 5), np.float32))),
                             ValueError, ["embedding_dim=4", "5"]),
    "encoding 1-D": (lambda: PositionalEncoding(4, 6)(Tensor(np.zeros(4, np.float32))), ValueError, ["(4,)"]),
    "encoding 4-D": (lambda: PositionalEncoding(4, 6)(Tensor(np.zeros((1, 2, 3, 4), np.float32))),
                     ValueError, ["(1, 2, 3, 4)"]),
    "encoding of token ids": (lambda: PositionalEncoding(4, 6)(Tensor(np.zeros((3, 4), np.int64))),
                              TypeError, ["int64", "Embedding"]),
    "encoding width 0": (lambda: PositionalEncoding(0), ValueError, ["embedding_dim"]),
    "learned too long": (lambda: LearnedPositionalEmbedding(4, 2)(Tensor(np.zeros((2, 5, 2), np.float32))),
                         ValueError, ["5", "max_seq_length=4"]),
    "learned wrong width": (lambda: LearnedPositionalEmbedding(4, 2)(Tensor(np.zeros((3, 3), np.float32))),
                            ValueError, ["embedding_dim=2"]),
    "rotary odd head_dim": (lambda: RotaryEmbedding(7), ValueError, ["even", "7"]),
    "rotary unknown pairing": (lambda: RotaryEmbedding(4, pairing="interleaved"), ValueError, ["adjacent", "half"]),
    "rotary wrong width": (lambda: RotaryEmbedding(4)(Tensor(np.zeros((3, 6)))), ValueError, ["head_dim=4", "(3, 6)"]),
    "rotary integer input": (lambda: RotaryEmbedding(4)(Tensor(np.zeros((3, 4), np.int64))), TypeError, ["int64"]),
    "rotary 1-D": (lambda: RotaryEmbedding(4)(Tensor(np.zeros(4))), ValueError, ["(4,)"]),
    "rotary positions shape": (lambda: RotaryEmbedding(4)(Tensor(np.zeros((3, 4))), positions=[0, 1]),
                               ValueError, ["(3,)", "(2,)"]),
    "alibi zero heads": (lambda: alibi_bias(0, 4), ValueError, ["num_heads"]),
    "layer unknown mode": (lambda: EmbeddingLayer(10, 4, 8, positional="rotary"), ValueError,
                           ["'rotary'", "'sinusoidal'", "'learned'", "'none'"]),
    "layer too long": (lambda: EmbeddingLayer(10, 4, 4)(np.zeros(5, np.int64)), ValueError, ["max_seq_length=4"]),
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_raises_a_clear_error(case):
    fn, error, words = BAD_INPUT[case]
    _raises(fn, error, *words)


def test_embedding_is_the_part_one_class():
    assert isinstance(EmbeddingLayer(5, 2, 4).token_embedding, Embedding)


@pytest.mark.parametrize("run_backward", [False, True], ids=["before_backward", "after_backward"])
@pytest.mark.parametrize("make", [
    lambda x: LearnedPositionalEmbedding(8, 4, rng=0)(x),
    lambda x: RotaryEmbedding(4)(x),
], ids=["learned", "rotary"])
def test_position_outputs_are_freed_without_the_cyclic_collector(make, run_backward):
    x = Tensor(np.random.default_rng(0).normal(size=(2, 5, 4)), requires_grad=True)
    assert_freed_without_cyclic_gc(lambda: make(x), run_backward)
    if run_backward:
        assert x.grad is not None
