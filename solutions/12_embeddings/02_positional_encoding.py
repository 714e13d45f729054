# %% [markdown]
# # Module 12, part 2: Position information
#
# Part 1 turned token ids into vectors: row `token_ids[t]` of a learnable table. That lookup knows
# *what* each token is, but not *where* it is. This part gives a model a sense of order, in the four
# ways that real language models do it, and then measures, in a small experiment, what each of them
# can and cannot do when a sequence is longer than anything seen in training.
#
# You will write the ideas, not the plumbing:
#
# 1. the sinusoidal table of the original Transformer (Vaswani et al. 2017);
# 2. adding it to a batch of token embeddings;
# 3. the gradient of a **learned** position table (GPT-2, BERT);
# 4. the rotation of **rotary** position embeddings (Su et al. 2021; Llama, Gemma);
# 5. the head slopes of **ALiBi** (Press et al. 2022).
#
# Input checks, error messages and the experiment are given. Everything marked for export is
# compiled into `tinytorch_lite.core.embeddings`, next to the `Embedding` of part 1; the experiment
# goes to `tinytorch_lite.analysis.extrapolation`.

# %%
#| default_exp core.embeddings

# %%
#| export
import math

from tinytorch_lite.core.module import Module

# %%
import matplotlib.pyplot as plt
import numpy as np

from tinytorch_lite.core.embeddings import Embedding, _check_size  # part 1
from tinytorch_lite.core.tensor import Tensor
from tinytorch_lite.analysis.timing import best_seconds

# %% [markdown]
# ## 1. Why order matters
#
# "dog bites man" and "man bites dog" contain the same three tokens. After the lookup of part 1 they
# are the same three vectors, in a different order. Attention, the layer that reads them, treats its
# input as a *set*: each output is a weighted sum over all positions, with weights computed from the
# vectors alone, so permuting the inputs only permutes the outputs (a causal mask changes this a
# little: each position sees a different number of tokens). Any summary of the sequence, such as
# the mean vector, cannot tell the two sentences apart:

# %%
words = {"dog": 0, "bites": 1, "man": 2}
demo_embedding = Embedding(vocab_size=3, embedding_dim=4, rng=0)
sentence_a = demo_embedding([words[w] for w in "dog bites man".split()]).data
sentence_b = demo_embedding([words[w] for w in "man bites dog".split()]).data
print("mean vector, 'dog bites man':", np.round(sentence_a.mean(axis=0), 3))
print("mean vector, 'man bites dog':", np.round(sentence_b.mean(axis=0), 3))
print("identical:", np.allclose(sentence_a.mean(axis=0), sentence_b.mean(axis=0)))

# %% [markdown]
# The remedy is to make the vector at position $p$ depend on $p$. There are two families:
#
# | family | idea | used by |
# |---|---|---|
# | absolute | add a vector $\mathrm{PE}(p)$ to the token embedding at position $p$ | Transformer (sinusoidal), GPT-2, GPT-3, BERT (learned) |
# | relative | change how attention compares positions $m$ and $n$, so that only $n - m$ matters | Llama, Gemma (rotary), BLOOM (ALiBi), T5 (learned bias) |
#
# We start with the absolute ones.
#
# ## 2. The sinusoidal table
#
# Vaswani et al. (2017, section 3.5) fill a table with sines and cosines of geometrically spaced
# frequencies. For position $p$ and pair index $i = 0, 1, \dots, d/2 - 1$ of an embedding of width $d$:
#
# $$\mathrm{PE}[p, 2i] = \sin\left(\frac{p}{b^{2i/d}}\right), \qquad
#   \mathrm{PE}[p, 2i+1] = \cos\left(\frac{p}{b^{2i/d}}\right), \qquad b = 10000.$$
#
# Three ways to look at it:
#
# - **Clocks at different speeds.** Pair $i$ is a point on the unit circle that turns by the angle
#   $\omega_i = b^{-2i/d}$ per position. The first pair turns by one radian per step (wavelength
#   $2\pi$), the last by about $1/b$ radian (wavelength close to $2\pi b$). Every position gets a
#   different combination of hands.
# - **A binary counter, made smooth.** When you count in binary the lowest bit flips every step, the
#   next one every two steps, and so on. The sinusoidal dimensions do the same with smooth waves:
#   the first columns change fast, the last ones slowly.
# - **Offsets are rotations.** Because $\sin(a + b)$ and $\cos(a + b)$ are linear in $\sin a$ and
#   $\cos a$, moving $k$ positions ahead rotates every pair by the fixed angle $k\,\omega_i$:
#
# $$\begin{pmatrix} \mathrm{PE}[p+k, 2i] \\ \mathrm{PE}[p+k, 2i+1] \end{pmatrix}
#   = \begin{pmatrix} \cos k\omega_i & \sin k\omega_i \\ -\sin k\omega_i & \cos k\omega_i \end{pmatrix}
#     \begin{pmatrix} \mathrm{PE}[p, 2i] \\ \mathrm{PE}[p, 2i+1] \end{pmatrix}.$$
#
#   The matrix depends on $k$ only, not on $p$, so a layer can learn "look $k$ tokens back" with one
#   linear map. It also means $\mathrm{PE}(p) \cdot \mathrm{PE}(p+k) = \sum_i \cos(k\omega_i)$:
#   the similarity of two positions depends only on their distance.
#
# **Odd widths.** With $d$ odd the sines get one column more than the cosines: column $d-1$ is
# $\sin(p\,\omega_{(d-1)/2})$, as if a table of width $d+1$ had lost its last column.
#
# **Precision.** The angle $p\,\omega_i$ reaches thousands of radians, where neighbouring float32
# numbers lie $10^{-4}$ to $10^{-3}$ apart, so angles computed in float32 give visibly wrong values
# at large $p$. We compute in float64 and cast the finished table to the requested dtype; section
# 2.1 measures both.
#
# **Your task:** fill in the angles and the two interleaved column sets. `positions` and `pair_index`
# are prepared for you; use broadcasting, no Python loop.

# %%
#| export
def _check_sequence(x, embedding_dim, max_seq_length, owner):
    """Return x as a floating Tensor of shape (T, D) or (B, T, D), and T; raise a clear error otherwise."""
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if x.ndim not in (2, 3):
        raise ValueError(
            f"{owner} expects embeddings of shape (seq_len, embedding_dim) or "
            f"(batch, seq_len, embedding_dim), got shape {x.shape}; a single vector needs a "
            "sequence axis: x.reshape(1, -1)")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"{owner} adds position information to embeddings (floats), got dtype {x.dtype}; "
            "look token ids up with an Embedding first")
    if x.shape[-1] != embedding_dim:
        raise ValueError(
            f"{owner} was built for embedding_dim={embedding_dim}, but the input's last "
            f"dimension is {x.shape[-1]} (shape {x.shape})")
    seq_len = x.shape[-2]
    if seq_len > max_seq_length:
        raise ValueError(
            f"{owner}: the sequence has {seq_len} positions but max_seq_length={max_seq_length}; "
            f"build it with max_seq_length >= {seq_len}, or split the input into chunks of at "
            f"most {max_seq_length} positions")
    return x, seq_len

# %% nbgrader={"grade": false, "grade_id": "sinusoidal_table", "locked": false, "schema_version": 3, "solution": true}
#| export
def sinusoidal_table(max_seq_length, embedding_dim, base=10000.0, dtype=np.float32):
    """The sinusoidal position table of Vaswani et al. (2017), shape (max_seq_length, embedding_dim).

    PE[p, 2i] = sin(p / base**(2i/d)) and PE[p, 2i+1] = cos(p / base**(2i/d)), d = embedding_dim.
    For odd d the last column is a sine (the table of width d + 1 without its last column).
    Angles are computed in float64 and the table is cast to `dtype` at the end: float32 angle
    math is several times faster but off by up to ~1e-3 at positions in the thousands (8.5e-4 for
    8192 x 1024 in the reference measurements; section 2.1 of the Module 12 part 2 notebook measures both).
    """
    max_seq_length = _check_size("max_seq_length", max_seq_length)
    embedding_dim = _check_size("embedding_dim", embedding_dim)
    if not base > 1:
        raise ValueError(f"base must be greater than 1, got {base}")
    positions = np.arange(max_seq_length, dtype=np.float64)[:, None]  # (T, 1)
    pair_index = np.arange(0, embedding_dim, 2, dtype=np.float64)     # 2i, shape (ceil(d/2),)
    table = np.empty((max_seq_length, embedding_dim), dtype=np.float64)
    # Angles p / base**(2i/d), shape (T, ceil(d/2)); sines into the even columns, cosines into the odd
    ### BEGIN SOLUTION
    angles = positions / base ** (pair_index / embedding_dim)         # (T, ceil(d/2))
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, : embedding_dim // 2])
    ### END SOLUTION
    return table.astype(dtype)

# %% [markdown]
# The first test checks the first rows by hand: at $p = 0$ every sine is 0 and every cosine 1; at
# $p = 1$ the first pair is $(\sin 1, \cos 1)$.

# %% nbgrader={"grade": true, "grade_id": "test_sinusoidal_table_values", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that sinusoidal_table has the right shape, dtype and values (Vaswani et al. 2017)."""
table = sinusoidal_table(8, 6)
assert table.shape == (8, 6), f"expected shape (max_seq_length, embedding_dim) = (8, 6), got {table.shape}"
assert table.dtype == np.float32, f"expected float32 by default, got {table.dtype}; cast at the end with .astype(dtype)"
assert np.allclose(table[0], [0, 1, 0, 1, 0, 1]), f"row 0 must be sin(0)=0 in even columns and cos(0)=1 in odd columns, got {table[0]}"
assert np.isclose(table[1, 0], np.sin(1.0)) and np.isclose(table[1, 1], np.cos(1.0)), (
    f"PE[1, 0:2] should be (sin 1, cos 1) = ({np.sin(1.0):.4f}, {np.cos(1.0):.4f}), got {table[1, :2]}; "
    "hint: even columns take the sine, odd columns the cosine")
expected = np.sin(3 / 10000 ** (2 / 6))
assert np.isclose(table[3, 2], expected, atol=1e-6), (
    f"PE[3, 2] should be sin(3 / 10000**(2/6)) = {expected:.6f}, got {table[3, 2]:.6f}; "
    "hint: divide the position by base**(2i/d), with the base argument (10000) and 2i, not i")
### BEGIN HIDDEN TESTS
def _reference_table(n, d, base=10000.0):
    ref = np.zeros((n, d))
    for p in range(n):
        for j in range(d):
            i2 = j - j % 2
            angle = p / base ** (i2 / d)
            ref[p, j] = np.sin(angle) if j % 2 == 0 else np.cos(angle)
    return ref

for n, d, base in [(50, 16, 10000.0), (20, 7, 10000.0), (30, 10, 500000.0), (5, 1, 10000.0)]:
    got = sinusoidal_table(n, d, base=base, dtype=np.float64)
    assert got.shape == (n, d), f"shape for ({n}, {d}): expected {(n, d)}, got {got.shape}"
    err = np.abs(got - _reference_table(n, d, base)).max()
    assert err < 1e-12, f"values for max_seq_length={n}, embedding_dim={d}, base={base} differ from the formula by {err:.2e}"
big = sinusoidal_table(2048, 64)
assert np.abs(big.astype(np.float64) - _reference_table(2048, 64)).max() < 1e-6, "large positions must be accurate to float32 rounding: compute the angles in float64"
### END HIDDEN TESTS

# %% [markdown]
# The second test checks the property that makes the table useful: an offset of $k$ positions is
# one fixed rotation per pair, whatever $p$ is.

# %% nbgrader={"grade": true, "grade_id": "test_sinusoidal_offset_rotation", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that PE(p + k) is PE(p) with pair i rotated by the angle k * base**(-2i/d)."""
d, k = 8, 3
table = sinusoidal_table(40, d, dtype=np.float64)
omega = 10000.0 ** (-np.arange(0, d, 2) / d)
for p in (0, 5, 20):
    s, c = table[p, 0::2], table[p, 1::2]
    rotated_s = np.cos(k * omega) * s + np.sin(k * omega) * c
    rotated_c = -np.sin(k * omega) * s + np.cos(k * omega) * c
    assert np.allclose(table[p + k, 0::2], rotated_s) and np.allclose(table[p + k, 1::2], rotated_c), (
        f"PE({p + k}) should be PE({p}) rotated pairwise by k * omega_i with k = {k}; "
        f"got {table[p + k]}, expected the rotation to give sines {rotated_s} and cosines {rotated_c}")
### BEGIN HIDDEN TESTS
dots = table @ table.T
for offset in (1, 4, 9):
    along = np.diagonal(dots, offset)
    expected = np.cos(offset * omega).sum()
    assert np.allclose(along, expected), f"PE(p) . PE(p + {offset}) must equal sum_i cos({offset} omega_i) = {expected:.4f} for every p, got {along[:4]}"
### END HIDDEN TESTS

# %% [markdown]
# ### 2.1 Float32 or float64 angles?
#
# The table is built once per model, so its cost matters less than its accuracy. Measured here:

# %%
def sinusoidal_float32_math(max_seq_length, embedding_dim, base=10000.0):
    positions = np.arange(max_seq_length, dtype=np.float32)[:, None]
    angles = positions / np.float32(base) ** (np.arange(0, embedding_dim, 2, dtype=np.float32) / embedding_dim)
    table = np.empty((max_seq_length, embedding_dim), dtype=np.float32)
    table[:, 0::2], table[:, 1::2] = np.sin(angles), np.cos(angles)
    return table


exact = sinusoidal_table(4096, 512, dtype=np.float64)
float32_error = np.abs(sinusoidal_float32_math(4096, 512) - exact).max()
float64_error = np.abs(sinusoidal_table(4096, 512) - exact).max()
time_float32 = best_seconds(lambda: sinusoidal_float32_math(4096, 512))
time_float64 = best_seconds(lambda: sinusoidal_table(4096, 512))
print(f"4096 x 512 table: float32 angles {time_float32 * 1e3:.1f} ms, max error {float32_error:.1e}; "
      f"float64 angles then cast {time_float64 * 1e3:.1f} ms, max error {float64_error:.1e}")
print(f"float64 angles cost {time_float64 / time_float32:.1f}x the time and are "
      f"{float32_error / float64_error:.0f}x more accurate; the table is built once, so we keep float64")

# %% [markdown]
# ### 2.2 Pictures of the table
#
# Left: the whole table, one row per position. The first columns oscillate fast, the last ones
# barely move. Middle: four columns against position; each pair has wavelength
# $2\pi \cdot 10000^{2i/d}$. Right: the dot product $\mathrm{PE}(p) \cdot \mathrm{PE}(p + k)$ against
# the offset $k$, from three starting positions: the curves lie on top of each other (distance is
# all that matters), and similarity falls off with distance, though not monotonically.

# %%
figure_table = sinusoidal_table(128, 64)
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
image = axes[0].imshow(figure_table, aspect="auto", cmap="viridis", interpolation="nearest")
axes[0].set(xlabel="dimension", ylabel="position", title="sinusoidal table, 128 positions x 64 dims")
fig.colorbar(image, ax=axes[0])
colors = ["#0072B2", "#E69F00", "#009E73", "#CC79A7"]
for color, column in zip(colors, (0, 6, 20, 40)):
    axes[1].plot(figure_table[:, column], color=color, label=f"dim {column}")
axes[1].set(xlabel="position", ylabel="value", title="fast and slow dimensions")
axes[1].legend(loc="lower left")
for color, start in zip(colors, (0, 20, 50)):
    offsets = np.arange(0, 64)
    axes[2].plot(offsets, figure_table[start + offsets] @ figure_table[start], color=color, label=f"from p = {start}")
axes[2].set(xlabel="offset k", ylabel="PE(p) . PE(p + k)", title="similarity depends on the offset only")
axes[2].legend()
fig.tight_layout()

# %% [markdown]
# ## 3. Adding the table: `PositionalEncoding`
#
# `PositionalEncoding(embedding_dim, max_seq_length=512)` builds the table once and adds its first
# `T` rows to its input: a `(T, D)` sequence, or a `(B, T, D)` batch, where the same rows are added to
# every sequence (broadcasting). It has no parameters: the gradient passes through to the token
# embeddings unchanged, because $\partial(x + \mathrm{PE})/\partial x = 1$.
#
# A sequence longer than `max_seq_length` is an error, not a silent truncation: the message says both
# lengths and what to do.
#
# **Your task:** the forward pass, one line with `Tensor` arithmetic, so that the gradient flows.

# %% nbgrader={"grade": false, "grade_id": "positional_encoding_class", "locked": false, "schema_version": 3, "solution": true}
#| export
class PositionalEncoding(Module):
    """Adds the fixed sinusoidal table to embeddings of shape (T, D) or (B, T, D); no parameters."""

    def __init__(self, embedding_dim, max_seq_length=512, base=10000.0):
        self.embedding_dim = _check_size("embedding_dim", embedding_dim)
        self.max_seq_length = _check_size("max_seq_length", max_seq_length)
        self.base = base
        self.table = sinusoidal_table(self.max_seq_length, self.embedding_dim, base)  # (max_seq_length, D)

    def forward(self, x):
        """x: (T, D) or (B, T, D) Tensor -> x + PE[:T], same shape; the gradient reaches x."""
        x, seq_len = _check_sequence(x, self.embedding_dim, self.max_seq_length, "PositionalEncoding")
        # Add the first seq_len rows of self.table to x (broadcasting covers a batch axis)
        ### BEGIN SOLUTION
        return x + self.table[:seq_len]
        ### END SOLUTION

    def __repr__(self):
        return (f"PositionalEncoding(embedding_dim={self.embedding_dim}, "
                f"max_seq_length={self.max_seq_length}, base={self.base})")

# %% nbgrader={"grade": true, "grade_id": "test_positional_encoding_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that PositionalEncoding adds PE[:T] to (T, D) and (B, T, D) inputs and passes the gradient through."""
pe = PositionalEncoding(embedding_dim=4, max_seq_length=10)
x = Tensor(np.ones((3, 4), dtype=np.float32), requires_grad=True)
out = pe(x)
assert isinstance(out, Tensor), f"forward must return a Tensor (use Tensor arithmetic), got {type(out).__name__}"
assert out.shape == (3, 4), f"expected shape (3, 4), got {out.shape}"
expected = 1 + sinusoidal_table(10, 4)[:3]
assert np.allclose(out.data, expected), f"out should be x + PE[:3] =\n{expected}\ngot\n{out.data}\nhint: add the first T rows, once"
out.sum().backward()
assert x.grad is not None and np.allclose(x.grad, 1), f"d(sum of x + PE)/dx is all ones, got {x.grad}; build the output from x with Tensor arithmetic"
batch = Tensor(np.zeros((2, 5, 4), dtype=np.float32))
assert np.allclose(pe(batch).data, sinusoidal_table(10, 4)[:5]), "a (B, T, D) batch gets the same rows PE[:T] added to every sequence"
### BEGIN HIDDEN TESTS
seed_pe = PositionalEncoding(embedding_dim=256, max_seq_length=512)
tokens = Embedding(vocab_size=50, embedding_dim=256, rng=1)(np.arange(12) % 50)
seed_out = seed_pe(tokens)
assert seed_out.shape == (12, 256), f"the seed example should give (12, 256), got {seed_out.shape}"
assert np.allclose(seed_out.data - tokens.data, sinusoidal_table(512, 256)[:12], atol=1e-6), "the seed example must add PE[:12]"
x3 = Tensor(np.random.default_rng(0).standard_normal((3, 7, 4)), requires_grad=True)
pe(x3).backward(np.arange(84, dtype=np.float64).reshape(3, 7, 4))
assert np.allclose(x3.grad, np.arange(84).reshape(3, 7, 4)), "the gradient must pass through unchanged for a batch"
full = pe(Tensor(np.zeros((10, 4), dtype=np.float32)))
assert np.allclose(full.data, pe.table), "T = max_seq_length must work and use every row"
assert pe.parameters() == [], "PositionalEncoding has no parameters"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_positional_encoding_bad_input", "locked": true, "points": 1, "schema_version": 3, "solution": false}
"""Check that PositionalEncoding rejects sequences that are too long, the wrong width or the wrong rank."""
pe = PositionalEncoding(embedding_dim=4, max_seq_length=6)
assert np.allclose(pe(Tensor(np.zeros((6, 4), dtype=np.float32))).data, pe.table), "a sequence of exactly max_seq_length positions must work"
for bad, facts in [(np.zeros((7, 4)), ("max_seq_length", "6")), (np.zeros((3, 5)), ("embedding_dim", "4")), (np.zeros(4), ())]:
    try:
        pe(Tensor(bad, dtype=np.float32))
    except ValueError as error:
        missing = [fact for fact in facts if fact not in str(error)]
        assert not missing, f"the error for shape {bad.shape} should name {' and '.join(facts)}, got: {error}"
    else:
        raise AssertionError(f"an input of shape {bad.shape} should raise ValueError")
### BEGIN HIDDEN TESTS
try:
    pe(Tensor(np.zeros((2, 3, 4, 4), dtype=np.float32)))
except ValueError:
    pass
else:
    raise AssertionError("a 4-D input should raise ValueError")
try:
    pe(Tensor(np.zeros((3, 4), dtype=np.int64)))
except TypeError:
    pass
else:
    raise AssertionError("integer input (token ids) should raise TypeError")
for bad_args in [dict(embedding_dim=0), dict(embedding_dim=4, max_seq_length=0), dict(embedding_dim=4.0)]:
    try:
        PositionalEncoding(**bad_args)
    except (ValueError, TypeError):
        pass
    else:
        raise AssertionError(f"PositionalEncoding({bad_args}) should raise")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Learned position tables and their wall
#
# GPT-2, GPT-3 and BERT do not use a formula: position $p$ simply has its own learnable row, exactly
# like a token in part 1. GPT-2 initialises that table with small normal values (standard deviation
# 0.01, `wpe` in `openai/gpt-2`, `src/model.py`) and has 1,024 rows; BERT has 512.
#
# Two consequences:
#
# - **The gradient of a row is a sum over the batch.** Row $p$ is added to position $p$ of *every*
#   sequence in the batch, just as a repeated token id in part 1 used the same row several times.
#   For output gradient $G$ of shape $(B, T, D)$:
#   $\;\partial L / \partial W[p] = \sum_b G[b, p]\;$ for $p < T$, and zero for the rows not used.
# - **The wall.** A table with `max_seq_length` rows has nothing to say about position
#   `max_seq_length`; and rows beyond the longest training sequence never receive a gradient, so
#   they keep their random initial values. The experiment in section 8 shows what that does.
#
# The forward pass below adds the rows with numpy and registers its own backward closure, the
# extension point of the `Tensor` (see its docstring), so that you write the gradient yourself.
#
# **Your task:** the gradient of the table, `grad_table`, inside `_backward`.

# %% nbgrader={"grade": false, "grade_id": "learned_positional_class", "locked": false, "schema_version": 3, "solution": true}
#| export
class LearnedPositionalEmbedding(Module):
    """A trainable position table (max_seq_length, D) added to embeddings of shape (T, D) or (B, T, D).

    Initialised N(0, std**2) with std = 0.01, as GPT-2 does for its position table.
    """

    def __init__(self, max_seq_length, embedding_dim, std=0.01, rng=None):
        self.max_seq_length = _check_size("max_seq_length", max_seq_length)
        self.embedding_dim = _check_size("embedding_dim", embedding_dim)
        rng = np.random.default_rng(rng)
        values = std * rng.standard_normal((self.max_seq_length, self.embedding_dim))
        self.weight = Tensor(values.astype(np.float32), requires_grad=True)

    def forward(self, x):
        """x: (T, D) or (B, T, D) Tensor -> x + weight[:T]; gradients reach x and weight."""
        x, seq_len = _check_sequence(x, self.embedding_dim, self.max_seq_length, "LearnedPositionalEmbedding")
        out = Tensor(x.data + self.weight.data[:seq_len], _children=(x, self.weight), _op="learned_position")

        def _backward(grad):  # grad is dL/d(out): (T, D) or (B, T, D)
            x._accumulate_grad(grad)
            grad_table = np.zeros_like(self.weight.data)                     # (max_seq_length, D)
            if seq_len:  # an empty sequence leaves the table's gradient at zero
                # Rows 0..seq_len-1 get grad summed over the batch
                ### BEGIN SOLUTION
                grad_table[:seq_len] = grad.reshape(-1, seq_len, self.embedding_dim).sum(axis=0)
                ### END SOLUTION
            self.weight._accumulate_grad(grad_table)

        out._backward = _backward
        return out

    def __repr__(self):
        return (f"LearnedPositionalEmbedding(max_seq_length={self.max_seq_length}, "
                f"embedding_dim={self.embedding_dim})")

# %% nbgrader={"grade": true, "grade_id": "test_learned_positional_gradient", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that the learned table's gradient is the batch sum of the output gradient, in rows :T only."""
learned = LearnedPositionalEmbedding(max_seq_length=5, embedding_dim=2, rng=0)
x = Tensor(np.zeros((3, 2, 2), dtype=np.float32), requires_grad=True)
out = learned(x)
assert np.allclose(out.data, learned.weight.data[:2]), f"forward should add rows 0 and 1 of the table to every sequence, got {out.data}"
grad_output = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
out.backward(grad_output)
assert learned.weight.grad is not None, "the table received no gradient: pass grad_table to self.weight._accumulate_grad"
expected = np.zeros((5, 2), dtype=np.float32)
expected[:2] = grad_output.sum(axis=0)
assert np.allclose(learned.weight.grad, expected), (
    f"weight.grad should be the sum over the batch in rows 0..T-1 and zero below:\n{expected}\ngot\n{learned.weight.grad}\n"
    "hint: every sequence in the batch uses the same rows, so their gradients add up")
assert np.allclose(x.grad, grad_output), "the input's gradient is the output gradient unchanged"
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(3)
table = LearnedPositionalEmbedding(6, 3, rng=1)
table.weight = Tensor(rng.standard_normal((6, 3)), requires_grad=True)
inputs = Tensor(rng.standard_normal((4, 5, 3)), requires_grad=True)
weights = rng.standard_normal((4, 5, 3))
(table(inputs) * table(inputs) * weights).sum().backward()

def loss_of_table(values):
    return float(((inputs.data + values[:5]) ** 2 * weights).sum())

numeric = np.zeros((6, 3))
for index in np.ndindex(6, 3):
    step = np.zeros((6, 3))
    step[index] = 1e-6
    numeric[index] = (loss_of_table(table.weight.data + step) - loss_of_table(table.weight.data - step)) / 2e-6
assert np.allclose(table.weight.grad, numeric, atol=1e-5), f"weight.grad differs from finite differences:\n{table.weight.grad}\nvs\n{numeric}"
single = LearnedPositionalEmbedding(4, 2, rng=2)
one = single(Tensor(np.zeros((3, 2), dtype=np.float32)))
one.backward(np.ones((3, 2), dtype=np.float32))
assert np.allclose(single.weight.grad, [[1, 1], [1, 1], [1, 1], [0, 0]]), f"a (T, D) input (no batch axis) gives grad 1 in rows :T, got {single.weight.grad}"
try:
    single(Tensor(np.zeros((5, 2), dtype=np.float32)))
except ValueError as error:
    assert "max_seq_length" in str(error) and "4" in str(error), f"the wall error should name max_seq_length=4, got: {error}"
else:
    raise AssertionError("a sequence longer than max_seq_length must raise ValueError")
init = LearnedPositionalEmbedding(1024, 64, rng=0).weight.data
assert 0.008 < init.std() < 0.012 and init.dtype == np.float32, f"init should be float32 N(0, 0.01^2), got std {init.std():.4f}, dtype {init.dtype}"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Rotary position embeddings
#
# Absolute schemes put position into the token vectors and hope attention works out distances.
# Rotary embeddings (RoPE, Su et al. 2021) put *relative* position directly into attention. Split a
# query or key vector of width $d$ (the head dimension) into $d/2$ pairs; at position $m$ rotate
# pair $i$ by the angle $m\,\theta_i$, with $\theta_i = b^{-2i/d}$, the same frequencies as the
# sinusoidal table:
#
# $$\begin{pmatrix} y_1 \\ y_2 \end{pmatrix}
#   = \begin{pmatrix} \cos m\theta_i & -\sin m\theta_i \\ \sin m\theta_i & \cos m\theta_i \end{pmatrix}
#     \begin{pmatrix} x_1 \\ x_2 \end{pmatrix}.$$
#
# Rotations compose, $R_m^\top R_n = R_{n-m}$, so the attention score of a query at $m$ and a key at
# $n$ is
#
# $$\langle R_m q, R_n k \rangle = \langle q, R_{n-m}\, k \rangle,$$
#
# which depends on the positions only through $n - m$. Nothing is added to the token vectors, there
# are no parameters, and any position can be rotated: there is no table with a last row. (Whether a
# model trained on short sequences *uses* that well on long ones is a different question; section 8
# measures it.)
#
# **Which coordinates form a pair?** Two conventions exist, and mixing them silently breaks a model:
#
# | `pairing` | pair $i$ | used by |
# |---|---|---|
# | `"adjacent"` (default) | $(x_{2i}, x_{2i+1})$ | the RoFormer paper, Meta's original Llama code |
# | `"half"` | $(x_i, x_{i + d/2})$ (`rotate_half`) | Hugging Face Llama, GPT-NeoX |
#
# They are the same rotation applied to permuted coordinates: `half` on `x[..., perm]` equals
# `adjacent` on `x`, permuted, with `perm = [0, 2, 4, ..., 1, 3, 5, ...]`. (That is why the Hugging
# Face conversion script for Meta's Llama weights permutes the query and key projections.)
#
# The backward pass needs no new idea: a rotation by $\alpha$ is undone by the rotation by $-\alpha$,
# and for an orthogonal map the gradient is sent back by the transpose, which is that inverse.
#
# **Your task:** the rotation of one set of pairs, `(x1, x2) -> (y1, y2)`, in `_rotate_pairs`.

# %% nbgrader={"grade": false, "grade_id": "rotary_class", "locked": false, "schema_version": 3, "solution": true}
#| export
class RotaryEmbedding(Module):
    """Rotary position embedding (Su et al. 2021) for queries and keys of width head_dim.

    `pairing="adjacent"` rotates the pairs (x[2i], x[2i+1]) as in the paper; `pairing="half"`
    rotates (x[i], x[i + head_dim/2]) as `rotate_half` in Hugging Face Llama code. Pair i turns by
    position * base**(-2i/head_dim). No parameters.
    """

    def __init__(self, head_dim, base=10000.0, pairing="adjacent"):
        head_dim = _check_size("head_dim", head_dim)
        if head_dim % 2:
            raise ValueError(f"head_dim must be even, since rotary embeddings rotate pairs of "
                             f"coordinates; got {head_dim}")
        if pairing not in ("adjacent", "half"):
            raise ValueError(f"pairing must be 'adjacent' or 'half', got {pairing!r}")
        self.head_dim, self.base, self.pairing = head_dim, base, pairing
        self.inv_freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)  # (head_dim/2,)

    def _rotate_pairs(self, x, angles):
        """Rotate every pair of x (..., T, head_dim) by angles (T, head_dim/2); returns a new array."""
        half = self.head_dim // 2
        if self.pairing == "adjacent":
            x1, x2 = x[..., 0::2], x[..., 1::2]
        else:
            x1, x2 = x[..., :half], x[..., half:]
        cos, sin = np.cos(angles), np.sin(angles)
        # y1, y2 = the pairs (x1, x2) turned counter-clockwise by the angles
        ### BEGIN SOLUTION
        y1 = x1 * cos - x2 * sin
        y2 = x1 * sin + x2 * cos
        ### END SOLUTION
        if self.pairing == "adjacent":
            y = np.stack([y1, y2], axis=-1).reshape(y1.shape[:-1] + (self.head_dim,))
        else:
            y = np.concatenate([y1, y2], axis=-1)
        return y.astype(x.dtype, copy=False)

    def forward(self, x, positions=None):
        """x: Tensor (..., T, head_dim) -> rotated Tensor, same shape.

        positions: T ints shared by every sequence (default 0..T-1), or one row of T ints per
        sequence, shape (B, T) for x of shape (B, ..., T, head_dim), as Hugging Face's `position_ids`
        (left-padded batches, packed sequences, decoding with a cache).
        """
        if not isinstance(x, Tensor):
            x = Tensor(x)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"RotaryEmbedding rotates query and key vectors (floats), got dtype {x.dtype}")
        if x.ndim < 2 or x.shape[-1] != self.head_dim:
            raise ValueError(f"RotaryEmbedding expects shape (..., seq_len, head_dim={self.head_dim}), "
                             f"got {x.shape}")
        seq_len = x.shape[-2]
        positions = np.arange(seq_len) if positions is None else np.asarray(positions)
        per_sequence = x.ndim >= 3 and positions.shape == (x.shape[0], seq_len)
        if positions.shape != (seq_len,) and not per_sequence:
            raise ValueError(f"positions must have shape ({seq_len},), one per row of x, or (batch, {seq_len}), "
                             f"one row per sequence of x; got {positions.shape} for x of shape {x.shape}")
        angles = positions[..., None].astype(np.float64) * self.inv_freq  # (T, head_dim/2) or (B, T, head_dim/2)
        if per_sequence:  # (B, T, head_dim/2) -> (B, 1, ..., 1, T, head_dim/2): shared by the heads
            angles = angles.reshape((x.shape[0],) + (1,) * (x.ndim - 3) + angles.shape[1:])
        out = Tensor(self._rotate_pairs(x.data, angles), _children=(x,), _op="rotary")

        def _backward(grad):
            x._accumulate_grad(self._rotate_pairs(grad, -angles))

        out._backward = _backward
        return out

    def __repr__(self):
        return f"RotaryEmbedding(head_dim={self.head_dim}, base={self.base}, pairing={self.pairing!r})"

# %% nbgrader={"grade": true, "grade_id": "test_rotary_rotation", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that RotaryEmbedding rotates each pair counter-clockwise by position * theta_i."""
rope = RotaryEmbedding(head_dim=4)
x = Tensor(np.tile([1.0, 0.0, 0.0, 1.0], (3, 1)))
y = rope(x).data
theta = np.array([1.0, 0.01])
for m in range(3):
    expected = [np.cos(m * theta[0]), np.sin(m * theta[0]), -np.sin(m * theta[1]), np.cos(m * theta[1])]
    assert np.allclose(y[m], expected, atol=1e-6), (
        f"at position {m}, (1, 0) should turn into (cos, sin) of {m} * theta_0 and (0, 1) into (-sin, cos) of {m} * theta_1:\n"
        f"expected {np.round(expected, 5)}, got {np.round(y[m], 5)}; hint: check the direction of the turn and which "
        "coordinates form a pair")
q = np.random.default_rng(0).standard_normal((6, 4))
assert np.allclose(np.linalg.norm(rope(Tensor(q)).data, axis=-1), np.linalg.norm(q, axis=-1), atol=1e-5), "a rotation keeps every vector's length"
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(5)
for pairing in ("adjacent", "half"):
    r = RotaryEmbedding(8, pairing=pairing)
    q, k = rng.standard_normal(8), rng.standard_normal(8)
    scores = {}
    for m, n in [(0, 3), (5, 8), (40, 43), (2, 2), (17, 17)]:
        rq = r(Tensor(q[None]), positions=[m]).data[0]
        rk = r(Tensor(k[None]), positions=[n]).data[0]
        scores.setdefault(n - m, []).append(rq @ rk)
    for offset, values in scores.items():
        assert np.allclose(values, values[0], atol=1e-9), f"<R_m q, R_n k> must depend only on n - m = {offset} ({pairing}), got {values}"
perm = np.concatenate([np.arange(0, 8, 2), np.arange(1, 8, 2)])
xs = rng.standard_normal((2, 5, 8))
adjacent = RotaryEmbedding(8)(Tensor(xs)).data
half = RotaryEmbedding(8, pairing="half")(Tensor(xs[..., perm])).data
assert np.allclose(half, adjacent[..., perm]), "the two pairings must agree up to the permutation [0, 2, 4, 6, 1, 3, 5, 7]"
xt = Tensor(rng.standard_normal((2, 5, 8)), requires_grad=True)
g = rng.standard_normal((2, 5, 8))
(RotaryEmbedding(8)(xt) * g).sum().backward()
numeric = np.zeros(xt.shape)
for index in np.ndindex(xt.shape):
    step = np.zeros(xt.shape)
    step[index] = 1e-6
    plus = (RotaryEmbedding(8)(Tensor(xt.data + step)).data * g).sum()
    minus = (RotaryEmbedding(8)(Tensor(xt.data - step)).data * g).sum()
    numeric[index] = (plus - minus) / 2e-6
assert np.allclose(xt.grad, numeric, atol=1e-5), "the gradient of the rotation differs from finite differences"
try:
    RotaryEmbedding(7)
except ValueError as error:
    assert "head_dim" in str(error) and "7" in str(error), f"the odd head_dim error should name head_dim and 7, got: {error}"
else:
    raise AssertionError("RotaryEmbedding(7) must raise ValueError")
### END HIDDEN TESTS

# %% [markdown]
# ## 6. ALiBi: a bias instead of an embedding
#
# ALiBi (Press et al. 2022, "Train Short, Test Long") adds no vector and rotates nothing. Each
# attention head $h$ subtracts a penalty proportional to the distance from every score:
#
# $$\text{score}_h(i, j) = q_i \cdot k_j - m_h\,(i - j), \qquad j \le i,$$
#
# so far-away tokens are attended less, more so in heads with a large slope $m_h$. The slopes are a
# geometric sequence that starts at $2^{-8/n}$ and has that same ratio, for $n$ heads: with 8 heads
# $\tfrac12, \tfrac14, \dots, \tfrac1{256}$. When $n$ is not a power of two, the paper's code takes
# the slopes of the nearest smaller power of two $2^a$, then every other slope of the sequence for
# $2^{a+1}$ heads until it has $n$.
#
# `alibi_bias(num_heads, seq_len)` returns the array of $-m_h\,|i - j|$, shape
# `(num_heads, seq_len, seq_len)`, to be added to the attention scores. For causal attention combine
# it with the causal mask (the entries $j > i$ do not matter there).
#
# **Your task:** the slopes for a power-of-two number of heads.

# %% nbgrader={"grade": false, "grade_id": "alibi_bias", "locked": false, "schema_version": 3, "solution": true}
#| export
def _alibi_slopes(num_heads):
    if num_heads & (num_heads - 1):  # not a power of two: interleave from the next power (Press et al.)
        lower = 2 ** int(math.log2(num_heads))
        return np.concatenate([_alibi_slopes(lower), _alibi_slopes(2 * lower)[0::2][: num_heads - lower]])
    # num_heads slopes, geometric: start 2**(-8/num_heads), ratio the same
    ### BEGIN SOLUTION
    start = 2.0 ** (-8.0 / num_heads)
    return start ** np.arange(1, num_heads + 1)
    ### END SOLUTION


def alibi_bias(num_heads, seq_len):
    """ALiBi attention bias (Press et al. 2022): array (num_heads, seq_len, seq_len) of -slope_h * |i - j|.

    Slopes: geometric, starting at 2**(-8/num_heads) with that ratio (1/2 ... 1/256 for 8 heads).
    """
    num_heads = _check_size("num_heads", num_heads)
    seq_len = _check_size("seq_len", seq_len)
    distance = np.abs(np.arange(seq_len)[:, None] - np.arange(seq_len)[None, :])  # (T, T)
    return -_alibi_slopes(num_heads)[:, None, None] * distance

# %% nbgrader={"grade": true, "grade_id": "test_alibi_slopes", "locked": true, "points": 1, "schema_version": 3, "solution": false}
"""Check that alibi_bias uses the slopes of Press et al. (2022): 1/2, 1/4, ..., 1/256 for 8 heads."""
bias = alibi_bias(8, 5)
assert bias.shape == (8, 5, 5), f"expected shape (num_heads, seq_len, seq_len) = (8, 5, 5), got {bias.shape}"
slopes = -bias[:, 1, 0]
expected = 1 / 2.0 ** np.arange(1, 9)
assert np.allclose(slopes, expected), f"8 heads need slopes 1/2, 1/4, ..., 1/256 (start 2**(-8/8)), got {slopes}"
assert np.allclose(bias[2, 4], -expected[2] * np.array([4, 3, 2, 1, 0])), f"row i = 4 of head 2 should be -slope * (4 - j), got {bias[2, 4]}"
### BEGIN HIDDEN TESTS
assert np.allclose(-alibi_bias(16, 2)[:, 1, 0], 2.0 ** (-0.5 * np.arange(1, 17))), "16 heads: slopes 2**-0.5, 2**-1, ..., 2**-8"
assert np.allclose(-alibi_bias(1, 2)[:, 1, 0], [2.0 ** -8]), "1 head: slope 2**-8"
paper_12 = np.concatenate([2.0 ** -np.arange(1, 9), [2 ** -0.5, 2 ** -1.5, 2 ** -2.5, 2 ** -3.5]])
assert np.allclose(-alibi_bias(12, 2)[:, 1, 0], paper_12), f"12 heads: the 8-head slopes, then every other 16-head slope: {paper_12}"
assert np.allclose(alibi_bias(4, 6), alibi_bias(4, 6).transpose(0, 2, 1)), "the bias is symmetric in i and j"
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Everything together: `EmbeddingLayer`
#
# The seed's whole pipeline in one object: token ids `(T,)` or `(B, T)` go through the `Embedding`
# of part 1, are optionally multiplied by $\sqrt{d}$ (`scale=True`, as in Vaswani et al., so that
# token vectors initialised small are not drowned by the position signal), and get position
# information of the chosen kind. Rotary and ALiBi act inside attention, so they are not modes here.

# %%
#| export
class EmbeddingLayer(Module):
    """Token ids (T,) or (B, T) -> position-aware embeddings (T, D) or (B, T, D).

    positional: "sinusoidal" (fixed table), "learned" (trainable table) or "none".
    """

    def __init__(self, vocab_size, embedding_dim, max_seq_length=512, positional="sinusoidal",
                 scale=False, rng=None):
        modes = ("sinusoidal", "learned", "none")
        if positional not in modes:
            raise ValueError(f"unknown positional mode {positional!r}; "
                             f"choose one of {', '.join(map(repr, modes))}")
        rng = np.random.default_rng(rng)
        self.embedding_dim, self.positional, self.scale = embedding_dim, positional, scale
        self.token_embedding = Embedding(vocab_size, embedding_dim, rng=rng)
        self.position = None
        if positional == "sinusoidal":
            self.position = PositionalEncoding(embedding_dim, max_seq_length)
        elif positional == "learned":
            self.position = LearnedPositionalEmbedding(max_seq_length, embedding_dim, rng=rng)

    def forward(self, token_ids):
        h = self.token_embedding(token_ids)  # (*, T) -> (*, T, D)
        if self.scale:
            h = h * math.sqrt(self.embedding_dim)
        return h if self.position is None else self.position(h)

    def __repr__(self):
        return f"EmbeddingLayer({self.token_embedding!r}, positional={self.positional!r}, scale={self.scale})"

# %% [markdown]
# The seed's example: the `(12, 256)` embeddings of "Hello world!" get their positions. (In a later
# module you would start with `from tinytorch_lite.core.embeddings import Embedding,
# PositionalEncoding`; here we use the classes defined above.)

# %%
from tinytorch_lite.core.tokenization import CharTokenizer

tokenizer = CharTokenizer()
embedding = Embedding(vocab_size=tokenizer.vocab_size, embedding_dim=256)
pos_encoding = PositionalEncoding(embedding_dim=256, max_seq_length=512)
tokens = tokenizer.encode("Hello world!")
embeddings = embedding(tokens)
pos_embeddings = pos_encoding(embeddings)
print(embeddings.shape, "->", pos_embeddings.shape)

# %% nbgrader={"grade": true, "grade_id": "test_embedding_layer_modes", "locked": true, "points": 1, "schema_version": 3, "solution": false}
"""Check that EmbeddingLayer combines the lookup with each kind of position information."""
layer = EmbeddingLayer(vocab_size=10, embedding_dim=6, max_seq_length=8, positional="sinusoidal", rng=0)
ids = np.array([[1, 2, 3], [3, 2, 1]])
out = layer(ids)
assert out.shape == (2, 3, 6), f"(B, T) ids should give (B, T, D) = (2, 3, 6), got {out.shape}"
tokens_only = layer.token_embedding(ids).data
assert np.allclose(out.data - tokens_only, sinusoidal_table(8, 6)[:3], atol=1e-6), "sinusoidal mode adds PE[:T] to the token vectors"
learned_layer = EmbeddingLayer(10, 6, 8, positional="learned", rng=0)
out = learned_layer(ids)
out.sum().backward()
table_grad = learned_layer.position.weight.grad
assert table_grad is not None and np.allclose(table_grad[:3], 2) and np.allclose(table_grad[3:], 0), (
    f"learned mode: with a batch of 2 and an all-ones output gradient, rows 0..2 of the table get gradient 2, the rest 0; got {table_grad}")
assert len(learned_layer.parameters()) == 2, "learned mode has two parameters: the token table and the position table"
### BEGIN HIDDEN TESTS
plain = EmbeddingLayer(10, 6, 8, positional="none", rng=0)
assert np.allclose(plain(ids).data, plain.token_embedding(ids).data), "mode 'none' returns the token vectors unchanged"
scaled = EmbeddingLayer(10, 4, 8, positional="sinusoidal", scale=True, rng=0)
expected = scaled.token_embedding([5, 6]).data * 2.0 + sinusoidal_table(8, 4)[:2]
assert np.allclose(scaled([5, 6]).data, expected, atol=1e-5), "scale=True multiplies the token vectors by sqrt(embedding_dim) before adding positions"
try:
    EmbeddingLayer(10, 4, 8, positional="rotary")
except ValueError as error:
    assert all(mode in str(error) for mode in ("sinusoidal", "learned", "none")), f"the unknown-mode error should list the modes, got: {error}"
else:
    raise AssertionError("an unknown positional mode must raise ValueError")
try:
    EmbeddingLayer(10, 4, 4)(np.zeros(5, dtype=np.int64))
except ValueError:
    pass
else:
    raise AssertionError("5 ids with max_seq_length=4 must raise ValueError")
### END HIDDEN TESTS

# %% [markdown]
# ## 8. The extrapolation lab
#
# Which of these schemes still works on sequences longer than the ones a model was trained on? We
# train the same tiny model four times, with no position information, a learned table, the
# sinusoidal table and rotary embeddings, and test each on longer sequences.
#
# **The task: copy the token three positions back.** The input is a random sequence over 16 token
# ids; at every position $t \ge 3$ the model must output the token at $t - 3$. The tokens are random,
# so content says nothing about the answer: only position does. The first three positions have no
# answer and are not scored.
#
# **The model:** the embedding layer of section 7, one causal attention head of width 32 (queries
# and keys with a bias, so that a part of them can ignore the content), and a linear map to the 16
# logits. `"rotary"` rotates the queries and keys with `RotaryEmbedding`; the other schemes go
# through `EmbeddingLayer`. Every model is trained with Adam on sequences of length 16 and tested on
# fresh sequences of length 16, 32 and 64, scored position by position. The learned table has 64
# rows, so it *can* run on length 64, but rows 16 to 63 are never trained.
#
# The numbers above are the defaults of `LabConfig`; change any of them with
# `LabConfig(offset=8)`, for example. The code below is compiled into
# `tinytorch_lite.analysis.extrapolation`, and the book runs the same experiment with it. Here it
# runs on the `EmbeddingLayer` and `RotaryEmbedding` you wrote above, so finish those first; the
# book passes the package's.

# %% [markdown]
# Every model in the lab is trained with Adam (Kingma and Ba 2015, Algorithm 1): per parameter, a
# running mean $m$ of the gradient and $v$ of its square, both corrected for their start at zero.
# Part 4's long-context lab trains with the same function.

# %%
#| export analysis.training
import numpy as np


def train_with_adam(params, batch_loss, steps, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8):
    """Take `steps` Adam steps on the Tensors `params`; `batch_loss()` returns the loss of a fresh batch."""
    moments = [(np.zeros_like(p.data), np.zeros_like(p.data)) for p in params]
    for step in range(1, steps + 1):
        for p in params:
            p.zero_grad()
        batch_loss().backward()
        for p, (m, v) in zip(params, moments):
            m *= beta1
            m += (1 - beta1) * p.grad
            v *= beta2
            v += (1 - beta2) * p.grad ** 2
            p.data -= learning_rate * (m / (1 - beta1 ** step)) / (np.sqrt(v / (1 - beta2 ** step)) + eps)

# %%
#| export analysis.extrapolation
import math
import time
from dataclasses import dataclass

import numpy as np

from tinytorch_lite.core import embeddings as package_embeddings  # not the names: a notebook keeps its own classes
from tinytorch_lite.core.module import Module
from tinytorch_lite.analysis.training import train_with_adam
from tinytorch_lite.core.tensor import Tensor, cross_entropy

SCHEMES = ("none", "learned", "sinusoidal", "rotary")


@dataclass(frozen=True)
class LabConfig:
    """The extrapolation lab: copy the token `offset` positions back; train at `train_length`,
    test at every length of `eval_lengths`. One model per scheme and seed."""

    vocab_size: int = 16
    embedding_dim: int = 32              # width of the embeddings and of the one attention head
    offset: int = 3                      # the answer at position t is the token at t - offset
    train_length: int = 16
    eval_lengths: tuple = (16, 32, 64)   # must contain train_length and a longer length
    steps: int = 250                     # Adam steps per model
    batch_size: int = 32
    learning_rate: float = 1e-2
    seeds: tuple = (0, 1, 2)
    eval_sequences: int = 64             # test sequences per length, the same for every model
    schemes: tuple = SCHEMES
    rotary_base: float = 10000.0

    def __post_init__(self):
        for name in ("eval_lengths", "seeds", "schemes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        unknown = [s for s in self.schemes if s not in SCHEMES]
        if unknown or not self.schemes:
            raise ValueError(f"schemes must be a non-empty selection of {SCHEMES}, got {self.schemes}")
        if not self.seeds:
            raise ValueError("seeds is empty: give at least one, for example seeds=(0,)")
        if not 1 <= self.offset < self.train_length:
            raise ValueError(f"offset must be between 1 and train_length - 1 = {self.train_length - 1}, "
                             f"got {self.offset}")
        if self.train_length not in self.eval_lengths or max(self.eval_lengths) <= self.train_length:
            raise ValueError(f"eval_lengths must contain train_length={self.train_length} (for the 'seen' "
                             f"accuracy) and a longer length (for the 'unseen' one), got {self.eval_lengths}")
        if min(self.eval_lengths) <= self.offset:
            raise ValueError(f"every eval length must exceed offset={self.offset}, got {self.eval_lengths}")

    @property
    def longest(self):
        return max(self.eval_lengths)


class CopyBackModel(Module):
    """Token ids (B, T) -> logits (B, T, vocab_size) through one causal attention head."""

    def __init__(self, scheme, seed, config, embedding_layer, rotary_embedding):
        rng = np.random.default_rng(seed)
        vocab_size, width = config.vocab_size, config.embedding_dim
        absolute = scheme if scheme in ("learned", "sinusoidal") else "none"
        self.embed = embedding_layer(vocab_size, width, max_seq_length=config.longest,
                                     positional=absolute, rng=rng)
        self.rotary = rotary_embedding(width, base=config.rotary_base) if scheme == "rotary" else None

        def matrix(rows, cols):
            values = rng.standard_normal((rows, cols)) / math.sqrt(rows)
            return Tensor(values.astype(np.float32), requires_grad=True)

        self.w_query, self.w_key = matrix(width, width), matrix(width, width)
        self.w_value, self.w_out = matrix(width, width), matrix(width, vocab_size)
        self.b_query = Tensor(np.zeros(width, dtype=np.float32), requires_grad=True)
        self.b_key = Tensor(np.zeros(width, dtype=np.float32), requires_grad=True)

    def forward(self, token_ids):
        seq_len = token_ids.shape[1]
        x = self.embed(token_ids)                                            # (B, T) -> (B, T, D)
        q, k, v = x @ self.w_query + self.b_query, x @ self.w_key + self.b_key, x @ self.w_value
        if self.rotary is not None:
            q, k = self.rotary(q), self.rotary(k)
        future = np.triu(np.full((seq_len, seq_len), -1e9, dtype=np.float32), k=1)
        scores = q @ k.transpose(0, 2, 1) * (1 / math.sqrt(q.shape[-1])) + future   # (B, T, T)
        return (scores.softmax(axis=-1) @ v) @ self.w_out                    # (B, T, vocab_size)


def copy_back_loss(model, token_ids, offset):
    """Cross-entropy of the predictions at positions offset.. against the tokens offset back."""
    vocab_size = model.w_out.shape[1]
    logits = model(token_ids)[:, offset:].reshape(-1, vocab_size)           # positions with an answer
    return cross_entropy(logits, token_ids[:, :-offset].reshape(-1))


def train_copy_back(scheme, seed, config, embedding_layer, rotary_embedding):
    """Train one model with Adam; return it and its position table before training (learned only)."""
    model = CopyBackModel(scheme, seed, config, embedding_layer, rotary_embedding)
    params = model.parameters()
    initial_table = model.embed.position.weight.data.copy() if scheme == "learned" else None
    data_rng = np.random.default_rng(1000 + seed)

    def batch_loss():
        token_ids = data_rng.integers(0, config.vocab_size, (config.batch_size, config.train_length))
        return copy_back_loss(model, token_ids, config.offset)

    train_with_adam(params, batch_loss, config.steps, config.learning_rate)
    return model, initial_table


def evaluation_sequences(seq_len, config):
    """The test set for one length, (eval_sequences, seq_len): the same sequences for every model."""
    return np.random.default_rng(seq_len).integers(0, config.vocab_size, (config.eval_sequences, seq_len))


def accuracy_by_position(predictions, token_ids, offset):
    """Fraction of correct answers at positions offset..seq_len-1, averaged over the sequences."""
    return (predictions[:, offset:] == token_ids[:, :-offset]).mean(axis=0)


def most_frequent_so_far(token_ids, vocab_size):
    """An order-blind guess: at each position, the token seen most often up to there."""
    counts = np.cumsum(np.eye(vocab_size, dtype=np.int64)[token_ids], axis=1)  # (N, T, V)
    return counts.argmax(axis=-1)


@dataclass
class LabResults:
    """What `run_lab` measured.

    accuracy[scheme][length]: array (num_seeds, length - offset), the fraction of test sequences
    answered correctly at positions offset..length-1, one row per seed.
    table_change: array (num_seeds, longest), the largest change of an entry of each row of the
    learned position table during training; no rows when "learned" is not among the schemes.
    seconds: wall-clock time of training and testing.
    """

    config: LabConfig
    accuracy: dict
    table_change: np.ndarray
    seconds: float


def run_lab(config=None, embedding_layer=None, rotary_embedding=None):
    """Train and test one model per scheme and seed of `config` (default `LabConfig()`).

    The models are built from the classes `embedding_layer` and `rotary_embedding`: by default the
    package's `EmbeddingLayer` and `RotaryEmbedding`; the notebook passes the ones written in it.
    """
    config = LabConfig() if config is None else config
    embedding_layer = embedding_layer or package_embeddings.EmbeddingLayer
    rotary_embedding = rotary_embedding or package_embeddings.RotaryEmbedding
    start = time.perf_counter()
    accuracy = {scheme: {length: [] for length in config.eval_lengths} for scheme in config.schemes}
    table_change = []
    for scheme in config.schemes:
        for seed in config.seeds:
            model, initial_table = train_copy_back(scheme, seed, config, embedding_layer, rotary_embedding)
            for length in config.eval_lengths:
                token_ids = evaluation_sequences(length, config)
                predictions = model(token_ids).data.argmax(axis=-1)
                accuracy[scheme][length].append(accuracy_by_position(predictions, token_ids, config.offset))
            if scheme == "learned":
                table_change.append(np.abs(model.embed.position.weight.data - initial_table).max(axis=1))
    accuracy = {scheme: {n: np.array(rows) for n, rows in by_length.items()} for scheme, by_length in accuracy.items()}
    table_change = np.array(table_change).reshape(-1, config.longest)
    return LabResults(config, accuracy, table_change, time.perf_counter() - start)


def describe(config):
    """One paragraph saying how the lab is trained and tested, and what "seen" and "unseen" mean."""
    seeds = len(config.seeds)
    lengths = ", ".join(map(str, config.eval_lengths[:-1])) + f" and {config.eval_lengths[-1]}"
    return (f"Training: sequences of length {config.train_length}, batches of {config.batch_size}, "
            f"{config.steps} Adam steps (learning rate {config.learning_rate:g}), {seeds} "
            f"seed{'s' if seeds != 1 else ''} per scheme. Test: {config.eval_sequences} fresh sequences "
            f"of each length {lengths}, scored position by position. \"seen\" is the accuracy on "
            f"sequences of the training length, {config.train_length}; \"unseen\" is the accuracy at "
            f"positions {config.train_length} to {config.longest - 1} of length-{config.longest} "
            "sequences, which no model met in training.")

# %% [markdown]
# Before you run it, predict: which schemes will stay accurate beyond position 15, and why?

# %%
config = LabConfig()
print(describe(config))
results = run_lab(config, embedding_layer=EmbeddingLayer, rotary_embedding=RotaryEmbedding)  # your classes
print(f"trained {len(config.schemes) * len(config.seeds)} models in {results.seconds:.1f} s")

# %% [markdown]
# The measurements, as a table and a picture. Each number is the mean over the seeds, with the
# range of the unseen accuracy over the seeds.

# %%
#| export analysis.extrapolation
_STYLES = {"none": ("#999999", ":"), "learned": ("#E69F00", "--"),     # Okabe-Ito colours,
           "sinusoidal": ("#0072B2", "-."), "rotary": ("#009E73", "-")}  # safe for colour blindness


def summarize(results):
    """The lab's numbers: per scheme the mean accuracy at the training length ("seen"), at the unseen
    positions of the longest sequences ("unseen", with its range over the seeds) and per length;
    the order-blind baseline at the unseen positions; the largest change of the learned table's
    unseen rows (None without a learned table)."""
    config = results.config
    train_length, longest, offset = config.train_length, config.longest, config.offset
    schemes = {}
    for scheme, by_length in results.accuracy.items():
        per_seed_unseen = by_length[longest][:, train_length - offset:].mean(axis=1)
        schemes[scheme] = dict(seen=float(by_length[train_length].mean()), unseen=float(per_seed_unseen.mean()),
                               unseen_range=(float(per_seed_unseen.min()), float(per_seed_unseen.max())),
                               by_length={n: float(a.mean()) for n, a in by_length.items()})
    token_ids = evaluation_sequences(longest, config)
    blind = accuracy_by_position(most_frequent_so_far(token_ids, config.vocab_size), token_ids, offset)
    unseen_rows = results.table_change.mean(axis=0)[train_length:] if len(results.table_change) else None
    return dict(train_length=train_length, longest=longest, vocab_size=config.vocab_size,
                num_seeds=len(config.seeds), schemes=schemes,
                order_blind=float(blind[train_length - offset:].mean()),
                learned_unseen_row_change=None if unseen_rows is None else float(unseen_rows.max()))


def format_summary(summary):
    """The summary as a plain-text table, one row per scheme."""
    lengths = list(next(iter(summary["schemes"].values()))["by_length"])
    header = "".join(f"  length {n:>2}" for n in lengths)
    lines = [f"{'scheme':<11}{header}   seen   unseen (range over seeds)"]
    for scheme, row in summary["schemes"].items():
        by_length = "".join(f"  {row['by_length'][n]:9.3f}" for n in lengths)
        low, high = row["unseen_range"]
        lines.append(f"{scheme:<11}{by_length}  {row['seen']:5.3f}  {row['unseen']:5.3f} ({low:.3f} to {high:.3f})")
    return "\n".join(lines)


def plot_lab(results):
    """Figure of two stacked panels: accuracy by position on the longest sequences (top), and how far
    each row of the learned table moved in training (bottom); positions never seen in training are
    shaded. Imports matplotlib only when called."""
    import matplotlib.pyplot as plt

    config = results.config
    train_length, longest = config.train_length, config.longest
    width, height = plt.rcParams["figure.figsize"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(width, 2 * height), layout="constrained")
    positions = np.arange(config.offset, longest)
    for scheme, accuracy in results.accuracy.items():
        color, style = _STYLES[scheme]
        top.plot(positions, accuracy[longest].mean(axis=0), color=color, linestyle=style, linewidth=2, label=scheme)
    top.set(xlabel=f"position (length {longest})", ylabel="accuracy", ylim=(0, 1.05), yticks=np.linspace(0, 1, 6))
    top.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncols=2)
    if len(results.table_change):
        bottom.plot(results.table_change.mean(axis=0), color=_STYLES["learned"][0], linewidth=2)
    bottom.set(xlabel="row of the learned table", ylabel="largest change")
    for axis in (top, bottom):
        axis.axvspan(train_length - 0.5, longest - 0.5, color="0.93", zorder=0)
    return fig

# %%
summary = summarize(results)
print(format_summary(summary))
figure = plot_lab(results)

# %% [markdown]
# ### What the measurements say
#
# The text below is computed from the numbers above, so it stays true if you change the experiment
# (try `offset`, `train_length` or `steps` in `LabConfig`).

# %%
#| export analysis.extrapolation
def _verdict(row):
    if row["seen"] < 0.9:
        return f"did not learn the task even at the training length (accuracy {row['seen']:.2f})"
    kept = row["unseen"] / row["seen"]
    how = "kept it" if kept >= 0.97 else "kept most of it" if kept >= 0.8 else "kept part of it" if kept >= 0.5 else "lost it"
    return f"learned the task ({row['seen']:.2f}) and {how} at unseen positions ({row['unseen']:.2f})"


def conclusions(summary):
    """The lab's conclusions, one sentence each, computed from the numbers of `summarize`."""
    rows, train_length, longest = summary["schemes"], summary["train_length"], summary["longest"]
    none = rows.get("none")
    sentences = [f"{scheme}: {_verdict(row)}." for scheme, row in rows.items()]
    blind = (f"An order-blind strategy, guessing the token seen most often so far, scores "
             f"{summary['order_blind']:.2f} at positions {train_length} to {longest - 1} (chance is "
             f"{1 / summary['vocab_size']:.2f})")
    if none:
        blind += f"; the model without position information scores {none['unseen']:.2f}"
    sentences.append(blind + ".")
    if "learned" in rows:
        change = summary["learned_unseen_row_change"]
        exactly = " (exactly zero: they never received a gradient)" if change == 0 else ""
        learned = (f"The learned table's rows {train_length} to {longest - 1} changed by at most {change:.1e} in "
                   f"training{exactly}; at those positions it scores {rows['learned']['unseen']:.2f}")
        if none:
            learned += f", against {none['unseen']:.2f} with no position information at all"
        sentences.append(learned + ".")
    absolute_schemes = [s for s in ("learned", "sinusoidal") if s in rows]
    if "rotary" in rows and absolute_schemes:
        best_absolute = max(absolute_schemes, key=lambda s: rows[s]["unseen"])
        rotary, absolute = rows["rotary"]["unseen"], rows[best_absolute]["unseen"]
        if rotary > absolute + 0.05:
            sentences.append(f"Relative beats absolute here: rotary scores {rotary:.2f} at unseen positions, "
                             f"the best absolute scheme ({best_absolute}) {absolute:.2f}.")
        else:
            sentences.append(f"The expected advantage of relative position did not show: rotary scores "
                             f"{rotary:.2f} at unseen positions, {best_absolute} {absolute:.2f}.")
    if "rotary" in rows:
        low, high = rows["rotary"]["unseen_range"]
        if high - low > 0.1:
            sentences.append(f"Rotary depends on the seed: from {low:.2f} to {high:.2f} at unseen positions.")
        elif high < 0.9 * rows["rotary"]["seen"]:
            sentences.append(f"Rotary loses accuracy beyond the training length in every seed "
                             f"({low:.2f} to {high:.2f}).")
    return sentences

# %%
for sentence in conclusions(summary):
    print(f"- {sentence}")

# %% [markdown]
# Why it comes out this way:
#
# - **No position information.** Attention can only compare contents, and contents are random, so
#   the model cannot find "three back". What it can do is blur over the tokens so far and bet on a
#   frequent one; the answer is one of those tokens, so that beats $1/16$, most of all at early
#   positions where few tokens compete. The order-blind guess above is that strategy, measured.
# - **Learned table.** It can fit the positions it trained on, and knows nothing of the others:
#   their rows keep their random initial values, so the queries and keys there are noise. This is
#   the wall of section 4, seen from the inside.
# - **Sinusoidal.** Every position has a well-defined vector, and an offset is a fixed rotation of
#   it (section 2), so a *perfect* solution would extrapolate. But training only constrains the
#   network on the 16 vectors it sees; at new positions the slow dimensions take values never seen
#   before, and the learned query and key maps need not handle them.
# - **Rotary.** The score of a query at $m$ and a key at $n$ depends only on $n - m$, so the rule
#   "attend three back" is the same rule at every position. What training does not fix is the score
#   of offsets larger than 15, which never occur in a length-16 sequence: they are sums of cosines
#   $\sum_i a_i \cos((n - m)\theta_i + \varphi_i)$ evaluated where nobody looked, and in a long
#   sequence some far offset can come close to the score of offset 3. How often that happens depends
#   on the seed. Language models see the same effect, which is why long-context models rescale the
#   rotary frequencies or raise the base (Llama 3 uses 500,000 instead of 10,000).
# - **ALiBi** is not in this lab: its bias $-m_h(i - j)$ decreases with distance, so it prefers the
#   nearest tokens and cannot by itself single out "exactly three back"; it needs several heads and
#   layers. Adding it as a fifth scheme, with four heads, is a good exercise.
#
# ## Summary
#
# - A lookup table is order-blind; position information is what makes a sequence a sequence.
# - The sinusoidal table encodes position $p$ as $d/2$ clocks at geometric speeds; an offset is a
#   rotation, so similarity depends on distance. Compute it in float64, once.
# - A learned table is simple and fits what it sees, but has a hard wall at `max_seq_length` and a
#   soft one at the longest training sequence: its gradient is a batch sum over the positions used.
# - Rotary embeddings rotate queries and keys, so attention scores depend on relative position only;
#   they have no table and no wall, and their extrapolation is good but not guaranteed.
# - ALiBi adds a distance penalty per head, with geometric slopes $2^{-8/n}, 2^{-16/n}, \dots$
#
# ## Exercises
#
# 1. Run the lab with `LabConfig(offset=1)` and `LabConfig(offset=8)`. Which scheme suffers most,
#    and why?
# 2. Train on length 32 instead of 16 and evaluate on 64 (`LabConfig(train_length=32,
#    eval_lengths=(32, 64))`). Does the gap between seen and unseen positions shrink for the
#    sinusoidal model?
# 3. Add ALiBi to `CopyBackModel` with 4 heads of width 8 (`alibi_bias(4, T)` added to the scores).
#    Predict the result first; then measure it.
# 4. Use Llama 3's rotary base, `LabConfig(rotary_base=500000.0)`. What happens at unseen positions?
