# %% [markdown]
# # Module 12, part 1: the embedding lookup table
#
# A language model reads token ids: `CharTokenizer().encode("Hello")` is a list of small integers.
# An id is a name, not a quantity: token 42 is not "twice" token 21. The first layer of every
# language model therefore turns each id into a learnable vector of `embedding_dim` numbers, and it
# does so with the simplest data structure there is, a table with one row per token.
#
# In this part you build that table, `Embedding`, and its gradient:
#
# 1. why multiplying a one-hot vector by a matrix is a row lookup, and what doing it the slow way costs;
# 2. checking token ids, because numpy will happily look up the wrong row;
# 3. the table as a learnable parameter, and the forward lookup;
# 4. the gradient as a scatter-add, and the repeated-id trap;
# 5. padding, the optional extras users know from PyTorch (`scale_grad_by_freq`, `max_norm`), and
#    weight tying.
#
# The code you write is compiled into `tinytorch_lite.core.embeddings`, and the attention and
# transformer modules import it from there, so it has to be correct and fast. Each speed choice is
# explained where it is made.

# %%
#| default_exp core.embeddings

# %%
#| export
import sys

import numpy as np

from tinytorch_lite.core.module import Module
from tinytorch_lite.core.tensor import Tensor, check_token_ids

# %% [markdown]
# ## 1. A one-hot product is a lookup
#
# Write token $t$ of a vocabulary of size $V$ as a one-hot row vector $\mathbf{x}_t \in \{0, 1\}^V$:
# all zeros except a 1 in column $t$. A linear layer without bias, $W \in \mathbb{R}^{V \times D}$,
# maps it to
#
# $$\mathbf{x}_t W = \sum_{v=0}^{V-1} x_{t,v}\, W_{v,:} = W_{t,:},$$
#
# because every term but one is multiplied by zero. For a batch of $N$ ids stacked into a one-hot
# matrix $X \in \{0,1\}^{N \times V}$, $XW$ is the $N$ rows of $W$ named by the ids. So an embedding
# layer *is* a linear layer on one-hot inputs; we just never build the one-hot matrix.
#
# The difference is cost. The product does $N \cdot V \cdot D$ multiply-adds, almost all by zero, and
# reads the whole table; the lookup copies $N \cdot D$ numbers. For GPT-2 ($V = 50{,}257$,
# $D = 768$) and $N = 8{,}192$ ids that is $3.2 \cdot 10^{11}$ multiply-adds against
# $6.3 \cdot 10^{6}$ copied numbers, a factor $V$ apart. The cell below checks the equivalence on a
# small table and times both.

# %% [markdown]
# Timing on a shared machine: a single run can be slowed by whatever else runs. Taking the fastest of
# a few runs, after a warm-up, measures the code rather than the neighbours. The whole module uses
# this one timer.

# %%
#| export analysis.timing
import time


def best_seconds(function, repeats=5, warmup=2):
    """Fastest of `repeats` timed calls of `function()` after `warmup` untimed ones, in seconds."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)

# %%
rng = np.random.default_rng(0)
V_demo, D_demo, N_demo = 4_000, 64, 512
W_demo = rng.standard_normal((V_demo, D_demo), dtype=np.float32)
ids_demo = rng.integers(0, V_demo, size=N_demo)

one_hot = np.zeros((N_demo, V_demo), dtype=np.float32)
one_hot[np.arange(N_demo), ids_demo] = 1.0

assert np.array_equal(one_hot @ W_demo, W_demo[ids_demo])
t_product = best_seconds(lambda: one_hot @ W_demo)
t_lookup = best_seconds(lambda: np.take(W_demo, ids_demo, axis=0))
print(f"one-hot product: {t_product * 1e3:.3f} ms, lookup: {t_lookup * 1e3:.3f} ms, "
      f"lookup is {t_product / t_lookup:.0f}x faster on a {V_demo} x {D_demo} table")

# %% [markdown]
# ## 2. Checking token ids
#
# A lookup trusts its ids, and numpy trusts them even more than it should: `W[[-1]]` returns the
# last row, `W[[True, False]]` treats the ids as a mask. Module 02 wrote the one rule for the whole
# package, `check_token_ids(token_ids, vocab_size)` in `tinytorch_lite.core.tensor`: ids are
# integers in $[0, V)$, anything else raises a `TypeError` (not integers) or a `TokenIdError` (out
# of range; an `IndexError`, as numpy's own, and a `ValueError`) that names the id, its position and
# `vocab_size`. The tokenizer, the loss and every layer here call it, so a bad id gives the same
# error wherever it enters. It costs one pass for the minimum and maximum, a small fraction of
# copying $N \cdot D$ floats.

# %%
from tinytorch_lite.core.tensor import TokenIdError

try:
    check_token_ids([[0, 1, 2], [3, -1, 1]], vocab_size=5)
except TokenIdError as error:
    print(f"{type(error).__name__}: {error}")

# %% [markdown]
# ## 3. The table as a parameter
#
# The embedding table is a `Tensor` of shape `(vocab_size, embedding_dim)` with
# `requires_grad=True`: training moves its rows. Like `torch.nn.Embedding` we start every entry at
# an independent sample of $\mathcal{N}(0, 1)$, and take the random generator as an argument (`rng`,
# a seed or a `np.random.Generator`) so that a model can be rebuilt exactly.
#
# The forward pass maps ids of any shape `(*)` to vectors of shape `(*, embedding_dim)`:
#
# ```python
# embedding = Embedding(vocab_size=65, embedding_dim=16)
# embedding([[5, 17, 2], [1, 1, 0]]).shape  # (2, 3) -> (2, 3, 16)
# ```
#
# **Why `np.take(..., mode="clip")`.** Three numpy spellings give the same rows at different speeds
# (measured on a GPT-2 table, see `benchmarks/embedding_lookup.py`):
#
# - `W[ids]` handles every indexing case numpy knows (masks, slices, broadcasting), and that
#   generality costs time on each call;
# - `np.take(W, ids, axis=0)` with the default `mode="raise"` checks every id while copying; given
#   an `out=` buffer it even gathers into a temporary first (so that a bad id found half-way leaves
#   `out` untouched) and then copies everything a second time;
# - `np.take(W, ids, axis=0, mode="clip")` copies each row once. Clipping would silently replace a
#   bad id by the nearest valid one, which is exactly why we validated the ids first.
#
# With `mode="clip"` the gather runs at a large fraction of the machine's memory copy bandwidth: it
# reads $N \cdot D$ numbers and writes as many, and no lookup can do with less.
#
# The output is a `Tensor` that remembers the weight it came from (`_children=(weight,)`) and
# carries a `_backward` closure, as in the Tensor module. The closure receives dL/d(out) as its
# argument `grad`, turns it into a gradient for the table (section 4) and hands that to
# `weight._accumulate_grad`. It never mentions `out` itself, so the output is freed as soon as you
# drop it.
#
# **Your tasks.** In `Embedding.__init__` draw the table; in `forward` do the lookup and attach the
# backward closure. (The padding and `max_norm` regions come in section 5; leave them
# for now.)
#
# Every layer of the package, this one first, shares one small base class, `Module` (as
# micrograd's `nn.Module` and minitorch's `module.py`): a layer defines `forward`, calling the layer
# calls `forward`, `parameters()` lists the Tensors it holds (those of layers it holds included) and
# `zero_grad()` clears their gradients. It lives in `tinytorch_lite.core.module`.
#
# The two helpers after it, given, check the constructor's arguments.

# %%
#| export core.module
from tinytorch_lite.core.tensor import Tensor


class Module:
    """The base of every layer: `forward` computes, calling the layer calls `forward`.

    `parameters()` returns the Tensors the layer holds in its public attributes, directly, in lists
    or tuples, or inside layers it holds, each once and in attribute order; `zero_grad()` clears
    their gradients.
    """

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def parameters(self):
        found = {}
        for name, value in vars(self).items():
            if name.startswith("_"):
                continue
            for item in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(item, Tensor):
                    found.setdefault(id(item), item)
                elif isinstance(item, Module):
                    for parameter in item.parameters():
                        found.setdefault(id(parameter), parameter)
        return list(found.values())

    def zero_grad(self):
        for parameter in self.parameters():
            parameter.zero_grad()


# %%
#| export
def _check_size(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r} of type {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return int(value)


def _check_padding_idx(padding_idx, vocab_size):
    """Return padding_idx as a row number in [0, vocab_size), or None; negative counts from the end."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise TypeError(f"padding_idx must be an int or None, got {padding_idx!r}")
    if not -vocab_size <= padding_idx < vocab_size:
        raise ValueError(f"padding_idx={padding_idx} is out of range for vocab_size={vocab_size}: "
                         f"it must lie in [{-vocab_size}, {vocab_size - 1}] (negative counts from the end)")
    return int(padding_idx) % vocab_size


# %% nbgrader={"grade": false, "grade_id": "embedding_class", "locked": false, "schema_version": 3, "solution": true}
#| export
class Embedding(Module):
    """A learnable lookup table mapping token ids to vectors, like `torch.nn.Embedding`.

    `Embedding(vocab_size, embedding_dim)` holds `.weight`, a Tensor of shape
    `(vocab_size, embedding_dim)` initialised from N(0, 1). Calling it on token ids of shape `(*)`
    returns their rows, shape `(*, embedding_dim)`, and the gradient flows back to `.weight`.

    - `padding_idx`: this row starts at zero and never receives a gradient.
    - `max_norm`: rows looked up whose `norm_type`-norm exceeds `max_norm` are rescaled to norm
      `max_norm`, in place in `.weight`, before the lookup.
    - `scale_grad_by_freq`: each row's gradient is divided by how often its id occurs in the batch.
    - `dtype`: a floating numpy dtype for the table; `rng`: a seed or `np.random.Generator`.
    """

    def __init__(self, vocab_size, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, dtype=np.float32, rng=None, _weight=None, _freeze=False):
        self.vocab_size = _check_size("vocab_size", vocab_size)
        self.embedding_dim = _check_size("embedding_dim", embedding_dim)
        self.padding_idx = _check_padding_idx(padding_idx, self.vocab_size)
        if max_norm is not None and not max_norm > 0:
            raise ValueError(f"max_norm must be positive or None, got {max_norm}")
        self.max_norm, self.norm_type = max_norm, float(norm_type)
        self.scale_grad_by_freq = bool(scale_grad_by_freq)
        self._spare, self._spare_refs = None, 0  # the last output array, for _output_buffer
        if _weight is not None:  # from_pretrained: use the given table as it is
            self.weight = Tensor(_weight, requires_grad=not _freeze)
            return
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"dtype must be a floating dtype such as np.float32, got {dtype}")
        rng = np.random.default_rng(rng)
        shape = (self.vocab_size, self.embedding_dim)
        # weight: a numpy array of this shape and dtype, each entry drawn from N(0, 1) with rng
        ### BEGIN SOLUTION
        sample_dtype = np.float64 if dtype == np.float64 else np.float32
        weight = rng.standard_normal(shape, dtype=sample_dtype).astype(dtype, copy=False)
        ### END SOLUTION
        if self.padding_idx is not None:
            ### BEGIN SOLUTION
            weight[self.padding_idx] = 0
            ### END SOLUTION
        self.weight = Tensor(weight, requires_grad=True)

    @classmethod
    def from_pretrained(cls, weights, freeze=True, padding_idx=None, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False):
        """An Embedding whose table is `weights` (2-D array or Tensor, used without a copy).

        `freeze=True` keeps the table fixed (`weight.requires_grad` is False). As in PyTorch, the
        `padding_idx` row keeps its pretrained values; it just never receives a gradient.
        """
        data = Tensor(weights).data
        if data.ndim != 2:
            raise ValueError(f"pretrained weights must be 2-D (vocab_size, embedding_dim), "
                             f"got shape {data.shape}")
        if data.dtype.kind != "f":
            raise TypeError(f"pretrained weights must be floating, got dtype {data.dtype}")
        return cls(data.shape[0], data.shape[1], padding_idx=padding_idx, max_norm=max_norm,
                   norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq,
                   _weight=data, _freeze=freeze)

    def forward(self, token_ids):
        """Look up `token_ids` of shape (*): returns a Tensor of shape (*, embedding_dim)."""
        ids = check_token_ids(token_ids, self.vocab_size)
        if self.max_norm is not None:
            self._renormalize(ids)
        buffer = self._output_buffer(ids.shape)  # (*, D), empty: write the rows into it
        ### BEGIN SOLUTION
        values = np.take(self.weight.data, ids, axis=0, mode="clip", out=buffer)  # (*) -> (*, D); ids checked
        out = Tensor(values, _children=(self.weight,), _op="embedding")

        def _backward(grad):  # grad is dL/d(out), shape (*, D)
            self.weight._accumulate_grad(embedding_backward(
                ids, grad, self.vocab_size, self.padding_idx, self.scale_grad_by_freq))
        out._backward = _backward
        ### END SOLUTION
        return out

    def _output_buffer(self, ids_shape):
        """An uninitialised (*ids_shape, embedding_dim) array for a lookup to write into.

        A fresh array this large costs page faults (the operating system hands out new pages and
        zeroes them) that can take longer than the gather itself. So the layer keeps its last output
        and hands it out again once nothing refers to it any more, which the reference count tells
        exactly: a tiny caching allocator, like the one PyTorch keeps for GPU memory.
        """
        shape, spare = (*ids_shape, self.embedding_dim), self._spare
        if (spare is not None and spare.shape == shape and spare.dtype == self.weight.dtype
                and sys.getrefcount(spare) == self._spare_refs):
            return spare
        self._spare = spare = np.empty(shape, dtype=self.weight.dtype)
        self._spare_refs = sys.getrefcount(spare)  # measured the same way: nobody else holds it yet
        return spare

    def _renormalize(self, ids):
        """Rescale, in place, the rows named by `ids` whose norm exceeds `max_norm`."""
        rows = np.unique(ids)
        ### BEGIN SOLUTION
        norms = np.linalg.norm(self.weight.data[rows], ord=self.norm_type, axis=1)
        too_long = norms > self.max_norm
        rows, norms = rows[too_long], norms[too_long]
        scale = self.max_norm / (norms + 1e-7)  # the same small margin as PyTorch
        self.weight.data[rows] *= scale[:, None].astype(self.weight.dtype)
        ### END SOLUTION

    def __repr__(self):
        extras = "".join(f", {name}={value}" for name, value in (
            ("padding_idx", self.padding_idx), ("max_norm", self.max_norm),
            ("scale_grad_by_freq", self.scale_grad_by_freq or None)) if value is not None)
        frozen = "" if self.weight.requires_grad else ", frozen"
        return f"Embedding({self.vocab_size}, {self.embedding_dim}{extras}, dtype={self.weight.dtype}{frozen})"


# %% nbgrader={"grade": true, "grade_id": "test_embedding_parameter", "locked": true, "points": 1, "schema_version": 3, "solution": false}
"""Check that the table is a float32 Tensor of shape (vocab_size, embedding_dim) drawn from N(0, 1)."""
embedding = Embedding(vocab_size=300, embedding_dim=40, rng=0)
weight = embedding.weight
assert isinstance(weight, Tensor), f"weight should be a Tensor, got {type(weight).__name__}"
assert weight.shape == (300, 40), f"weight should have shape (300, 40), got {weight.shape}"
assert weight.requires_grad, "weight must have requires_grad=True, or training cannot move it"
assert weight.dtype == np.float32, f"weight should default to float32, got {weight.dtype}"
assert abs(weight.data.mean()) < 0.05 and abs(weight.data.std() - 1) < 0.05, \
    f"entries should be N(0, 1): got mean {weight.data.mean():.3f}, std {weight.data.std():.3f}"
assert embedding.parameters() == [weight], "parameters() should return [weight]"
### BEGIN HIDDEN TESTS
again = Embedding(vocab_size=300, embedding_dim=40, rng=0)
assert np.array_equal(again.weight.data, weight.data), "the same seed must give the same table"  # exact: same seed, same draws
other = Embedding(vocab_size=300, embedding_dim=40, rng=1)
assert not np.array_equal(other.weight.data, weight.data), "a different seed should give another table"  # exact: any difference
assert Embedding(5, 3, dtype=np.float64).weight.dtype == np.float64, "dtype=np.float64 must be honoured"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_embedding_forward_rows", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that the forward pass returns the weight rows named by the ids."""
embedding = Embedding(vocab_size=10, embedding_dim=4, rng=0)
W = embedding.weight.data
out = embedding([3, 0, 9])
assert isinstance(out, Tensor), f"forward should return a Tensor, got {type(out).__name__}"
assert out.shape == (3, 4), f"3 ids with embedding_dim=4 should give shape (3, 4), got {out.shape}"
for position, token in enumerate([3, 0, 9]):
    assert np.array_equal(out.data[position], W[token]), \
        f"row {position} should be weight[{token}]; hint: look up rows (axis 0), not columns"  # exact: a lookup copies rows
assert out.requires_grad, "the output must require grad so the gradient reaches the weight"
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(1)
ids = rng.integers(0, 10, size=50)
one_hot = np.eye(10, dtype=np.float64)[ids]
assert np.allclose(embedding(ids).data, one_hot @ W.astype(np.float64), atol=1e-6), \
    "the lookup should equal the one-hot product"
twice = embedding([4, 4, 7, 4]).data
assert np.array_equal(twice[0], twice[1]) and np.array_equal(twice[0], twice[3]), "same id, same row"  # exact: a lookup copies rows
assert np.array_equal(embedding(Tensor(np.array([2, 5]))).data, W[[2, 5]]), "integer Tensor ids"  # exact: a lookup copies rows
assert np.array_equal(embedding(np.array([1, 8], dtype=np.int16)).data, W[[1, 8]]), "int16 ids"  # exact: a lookup copies rows
try:
    embedding([1, -1])
except IndexError:
    pass
else:
    raise AssertionError("forward must reject id -1 instead of returning the last row")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_embedding_forward_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false}
"""Check that ids of shape (*) give embeddings of shape (*, embedding_dim)."""
embedding = Embedding(vocab_size=20, embedding_dim=6, rng=0)
batch = np.array([[5, 17, 2], [1, 1, 0]])
out = embedding(batch)
assert out.shape == (2, 3, 6), f"ids of shape (2, 3) should give (2, 3, 6), got {out.shape}; hint: do not flatten"
assert np.array_equal(out.data[1, 2], embedding.weight.data[0]), "out[1, 2] should be weight[0]"  # exact: a lookup copies rows
### BEGIN HIDDEN TESTS
assert embedding(np.zeros((2, 3, 4), dtype=np.int64)).shape == (2, 3, 4, 6), "ids (2, 3, 4)"
assert embedding(np.array(7)).shape == (6,), "a single id of shape () gives shape (6,)"
assert embedding([]).shape == (0, 6), "an empty list of ids gives shape (0, 6)"
assert embedding(np.zeros((3, 1), dtype=np.int32)).shape == (3, 1, 6), "ids (3, 1)"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The gradient is a scatter-add
#
# Let the forward pass produce $Y_i = W_{t_i}$ for positions $i = 1 \dots N$, and let the gradient
# $G_Y = \partial L / \partial Y$ arrive from the layers above, one row per position. Row $v$ of the
# table influences every output position that looked it up, so by the chain rule
#
# $$\frac{\partial L}{\partial W_v} = \sum_{i\,:\,t_i = v} \frac{\partial L}{\partial Y_i},$$
#
# and rows that were not looked up get zero. In the one-hot picture this is $X^\top G_Y$: the
# gradient of a linear layer with respect to its weight. We compute it without $X$: start from a
# zero matrix of the table's shape and **add** each row of $G_Y$ into the row of its id.
#
# **The repeated-id trap.** The obvious numpy line is wrong:
#
# ```python
# grad = np.zeros((V, D))
# grad[ids] += grad_output      # ids = [4, 4, 7]: row 4 receives ONE of its two rows, not the sum
# ```
#
# `grad[ids] += g` means `grad[ids] = grad[ids] + g`: numpy reads the old rows, adds, and writes
# them back, so when an id appears twice the second write overwrites the first. Real text repeats
# tokens all the time (spaces, "the", "e"), so this bug silently drops most of the gradient of the
# most frequent tokens. `np.add.at(grad, ids, grad_output)` is correct, but on a 2-D array it
# handles one element at a time: on a GPT-2 table it is about 4x slower than the scatter below.
#
# **A fast and exact scatter.** Sort the ids (a stable `argsort`), so that the occurrences of each
# id become neighbours, each run of equal ids starting at `starts` with length `counts`. Then:
#
# 1. write the first occurrence of every distinct id: `grad[unique_ids] = grad_output[first rows]`;
#    the targets are distinct, so plain fancy-index assignment is safe;
# 2. add the second occurrence of every id that has one, then the third, and so on: within each
#    pass the targets are again distinct;
# 3. stop the passes when only a few very frequent ids remain (Zipf-distributed text has a handful
#    of tokens that occur thousands of times), and add the rest of each of their runs with one
#    `.sum(axis=0)` per id.
#
# Every pass is one vectorised gather and scatter that adds the occurrences in their original order,
# as `np.add.at` does (only the per-id sums of step 3 may round differently). Most of the remaining
# cost is allocating and zeroing the `(V, D)` gradient itself: for GPT-2 that is 154 MB, against
# 25 MB of `grad_output`.
#
# **Your task.** Complete `embedding_backward`, the scatter-add (its `padding_idx` and
# `scale_grad_by_freq` regions come in section 5).

# %% nbgrader={"grade": false, "grade_id": "embedding_backward", "locked": false, "schema_version": 3, "solution": true}
#| export
_FEW_IDS = 32  # below this many repeated ids, sum each remaining run directly instead of a pass


def embedding_backward(token_ids, grad_output, vocab_size, padding_idx=None,
                       scale_grad_by_freq=False):
    """The gradient of an embedding lookup with respect to its table: a scatter-add.

    `token_ids` has shape (*), `grad_output` = dL/d(output) has shape (*, D). Returns `grad`, a
    new array of shape (vocab_size, D) with grad[v] = sum of grad_output[i] over positions i whose
    id is v; zero for ids that do not occur and for `padding_idx`. With `scale_grad_by_freq`, row v
    is divided by the number of times v occurs.
    """
    vocab_size = _check_size("vocab_size", vocab_size)
    ids = check_token_ids(token_ids, vocab_size)
    padding_idx = _check_padding_idx(padding_idx, vocab_size)
    grad_output = grad_output.data if isinstance(grad_output, Tensor) else np.asarray(grad_output)
    if grad_output.ndim != ids.ndim + 1 or grad_output.shape[:-1] != ids.shape:
        raise ValueError(f"grad_output has shape {grad_output.shape}, but token ids of shape "
                         f"{ids.shape} need shape {ids.shape + ('embedding_dim',)}")
    if grad_output.dtype.kind != "f":
        raise TypeError(f"grad_output must be a floating array, got dtype {grad_output.dtype}")
    ids = ids.reshape(-1)
    grad_rows = grad_output.reshape(ids.size, grad_output.shape[-1])  # (*, D) -> (N, D)
    grad = np.zeros((vocab_size, grad_output.shape[-1]), dtype=grad_output.dtype)
    if ids.size == 0:
        return grad
    ### BEGIN SOLUTION
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    counts = np.diff(np.r_[starts, ids.size])
    unique_ids = sorted_ids[starts]
    grad[unique_ids] = grad_rows[order[starts]]  # first occurrences: distinct targets
    occurrence = 1
    repeated = np.flatnonzero(counts > occurrence)
    while repeated.size > _FEW_IDS:  # one pass per occurrence number, distinct targets again
        grad[unique_ids[repeated]] += grad_rows[order[starts[repeated] + occurrence]]
        occurrence += 1
        repeated = repeated[counts[repeated] > occurrence]
    for i in repeated:  # a few frequent ids: sum the rest of each run at once
        run = order[starts[i] + occurrence:starts[i] + counts[i]]
        grad[unique_ids[i]] += grad_rows[run].sum(axis=0)
    ### END SOLUTION
    if scale_grad_by_freq:
        ### BEGIN SOLUTION
        grad[unique_ids] /= counts[:, None].astype(grad.dtype)
        ### END SOLUTION
    if padding_idx is not None:
        ### BEGIN SOLUTION
        grad[padding_idx] = 0
        ### END SOLUTION
    return grad


# %% nbgrader={"grade": true, "grade_id": "test_embedding_backward_repeated_ids", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that embedding_backward adds up the gradient of every occurrence of an id."""
grad_output = np.array([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]])
got = embedding_backward([4, 4, 1], grad_output, vocab_size=6)
assert got.shape == (6, 2), f"the gradient should have the table's shape (6, 2), got {got.shape}"
assert np.allclose(got[4], [11.0, 22.0]), \
    f"id 4 occurs twice: expected [11, 22], got {got[4]}; hint: grad[ids] += g keeps only one occurrence"
assert np.allclose(got[1], [100.0, 200.0]), f"expected grad[1] = [100, 200], got {got[1]}"
assert np.allclose(got[[0, 2, 3, 5]], 0), "rows of ids that do not occur must stay zero"
### BEGIN HIDDEN TESTS
def reference_backward(ids, g, vocab_size):
    ids = np.asarray(ids).reshape(-1)
    expected = np.zeros((vocab_size, g.shape[-1]))
    np.add.at(expected, ids, g.reshape(ids.size, -1).astype(np.float64))
    return expected

rng = np.random.default_rng(2)
for vocab_size, ids in (
    (50, rng.integers(0, 50, size=(4, 30))),                       # many light repeats
    (1000, np.minimum(rng.zipf(1.3, size=3000) - 1, 999)),        # a few very frequent ids
    (300, np.repeat(np.arange(100), rng.integers(1, 60, 100))),   # > 32 ids with long runs
    (7, np.array([3])),
):
    g = rng.standard_normal(ids.shape + (5,))
    got = embedding_backward(ids, g, vocab_size)
    assert got.shape == (vocab_size, 5), f"expected shape {(vocab_size, 5)}, got {got.shape}"
    assert np.allclose(got, reference_backward(ids, g, vocab_size)), \
        f"gradient differs from np.add.at for ids of shape {ids.shape}"
assert embedding_backward(np.zeros((0,), dtype=np.int64), np.zeros((0, 3)), 4).shape == (4, 3)
import re

g32 = rng.standard_normal((6, 3)).astype(np.float32)
ids32 = [1, 2, 2, 0, 1, 1]
# a float32 sum of up to 3 terms rounds by at most 3 eps times the sum of their sizes, in any order
size = reference_backward(ids32, np.abs(g32), 3)
assert np.all(np.abs(embedding_backward(ids32, g32, 3) - reference_backward(ids32, g32, 3))
              <= 3 * np.finfo(np.float32).eps * size), "float32 gradients should add up too"
for bad_shape in ((3, 4), (2,), (2, 2, 4)):
    try:
        embedding_backward([1, 2], np.zeros(bad_shape), vocab_size=5)
    except ValueError as error:
        numbers = [int(n) for n in re.findall(r"(?<![\w.])\d+", str(error))]
        named = any(numbers[i:i + len(bad_shape)] == list(bad_shape) for i in range(len(numbers)))
        assert named, f"the error should name the shape {bad_shape} of grad_output: {error}"
    else:
        raise AssertionError(f"grad_output of shape {bad_shape} for 2 ids should raise ValueError")
### END HIDDEN TESTS

# %% [markdown]
# ### Checking the gradient numerically
#
# The test below compares the gradient that flows through `Embedding` with a finite difference,
# $\frac{\partial L}{\partial W_{vj}} \approx \frac{L(W + \epsilon E_{vj}) - L(W - \epsilon E_{vj})}{2\epsilon}$,
# for a loss that is not linear in the table, in float64 so that the difference quotient is
# accurate. It checks your lookup, your closure and your scatter-add together.

# %% nbgrader={"grade": true, "grade_id": "test_embedding_gradient_finite_difference", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that the gradient reaching Embedding.weight matches finite differences."""
def finite_difference_check(embedding, ids, rows, eps=1e-6):
    target = np.random.default_rng(3).standard_normal(np.shape(ids) + (embedding.embedding_dim,))

    def loss_value():
        return float((np.tanh(embedding.weight.data[np.asarray(ids)]) * target).sum())

    embedding.weight.zero_grad()
    (embedding(ids).tanh() * Tensor(target)).sum().backward()
    assert embedding.weight.grad is not None, "backward() left weight.grad at None; hint: call _accumulate_grad"
    W = embedding.weight.data
    for v in rows:
        for j in range(embedding.embedding_dim):
            saved = W[v, j]
            W[v, j] = saved + eps
            up = loss_value()
            W[v, j] = saved - eps
            down = loss_value()
            W[v, j] = saved
            numeric = (up - down) / (2 * eps)
            analytic = embedding.weight.grad[v, j]
            assert abs(numeric - analytic) < 1e-5, \
                f"dL/dW[{v}, {j}]: finite difference {numeric:.6f}, backward gave {analytic:.6f}"

embedding = Embedding(vocab_size=8, embedding_dim=3, dtype=np.float64, rng=0)
finite_difference_check(embedding, [2, 5, 2, 7], rows=range(8))
### BEGIN HIDDEN TESTS
embedding = Embedding(vocab_size=6, embedding_dim=2, dtype=np.float64, rng=1)
finite_difference_check(embedding, np.array([[0, 0, 0], [5, 1, 0]]), rows=range(6))
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Padding, frequency scaling, max_norm
#
# **Padding.** Sentences in a batch have different lengths; we pad the short ones with a special id
# so that the batch is a rectangle. That id should contribute nothing. With `padding_idx=p` the row
# `W[p]` starts at zero and its gradient is always zero, so it stays zero through training and
# padded positions embed to the zero vector. Two small edits: zero the row when the table is
# created, and zero `grad[padding_idx]` in `embedding_backward`.
#
# **`scale_grad_by_freq`.** A token that appears 300 times in a batch gets 300 gradient
# contributions; a rare one gets one. Dividing each row's gradient by its count in the batch evens
# out the step sizes (PyTorch's option of the same name). How you count the ids is up to you.
#
# **`max_norm`.** Some models keep embedding vectors inside a ball: before each lookup, every looked-up
# row whose norm exceeds `max_norm` is rescaled to norm `max_norm`. PyTorch does this *in place* in
# the table (it modifies the weight), under no gradient, and so do we: writing to a copy of the rows
# would leave the table unchanged.
#
# **Your tasks.** Complete the three padding and scaling regions in `Embedding.__init__` and
# `embedding_backward`, and `Embedding._renormalize`.

# %% nbgrader={"grade": true, "grade_id": "test_embedding_padding", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that the padding row starts at zero and never receives a gradient."""
embedding = Embedding(vocab_size=5, embedding_dim=3, padding_idx=0, rng=0)
assert np.array_equal(embedding.weight.data[0], np.zeros(3)), \
    f"weight[padding_idx] should start at zero, got {embedding.weight.data[0]}"  # exact: the task says zero
out = embedding([[1, 0, 0], [2, 3, 0]])
assert np.array_equal(out.data[0, 1], np.zeros(3)), "a padded position should embed to zeros"  # exact: a lookup copies rows
out.sum().backward()
grad = embedding.weight.grad
assert np.array_equal(grad[0], np.zeros(3)), f"the padding row must get zero gradient, got {grad[0]}"  # exact: the task says zero
assert np.allclose(grad[[1, 2, 3]], 1.0) and np.allclose(grad[4], 0.0), \
    f"the other rows should get their usual gradient, got {grad}"
### BEGIN HIDDEN TESTS
g = np.arange(12.0).reshape(4, 3)
got = embedding_backward([2, 4, 4, 1], g, vocab_size=5, padding_idx=4)
assert np.allclose(got[4], 0) and np.allclose(got[2], g[0]) and np.allclose(got[1], g[3]), \
    f"embedding_backward(padding_idx=4) is wrong: {got}"
last = Embedding(vocab_size=5, embedding_dim=3, padding_idx=-1, rng=0)
assert last.padding_idx == 4 and np.array_equal(last.weight.data[4], np.zeros(3)), \
    "padding_idx=-1 means the last row"  # exact: the task says zero
assert np.count_nonzero(last.weight.data[:4]) == 12, "only the padding row is zero"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_embedding_scale_grad_by_freq", "locked": true, "points": 1, "schema_version": 3, "solution": false}
"""Check that scale_grad_by_freq divides each row's gradient by the id's count in the batch."""
g = np.ones((5, 2))
got = embedding_backward([3, 3, 3, 0, 1], g, vocab_size=4, scale_grad_by_freq=True)
assert np.allclose(got[3], 1.0), f"id 3 occurs 3 times: expected 3 / 3 = 1, got {got[3]}"
assert np.allclose(got[0], 1.0) and np.allclose(got[2], 0.0), f"got {got}"
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(4)
ids = rng.integers(0, 6, size=40)
g = rng.standard_normal((40, 3))
expected = np.zeros((6, 3))
np.add.at(expected, ids, g / np.bincount(ids, minlength=6)[ids][:, None])
got = embedding_backward(ids, g, vocab_size=6, scale_grad_by_freq=True)
assert np.allclose(got, expected), "each occurrence should be divided by its id's count"
layer = Embedding(6, 3, scale_grad_by_freq=True, rng=0)
layer(ids).backward(g)
assert np.allclose(layer.weight.grad, expected, atol=1e-5), "the layer should pass scale_grad_by_freq on"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_embedding_max_norm", "locked": true, "points": 1, "schema_version": 3, "solution": false}
"""Check that max_norm rescales the looked-up rows in place, and only rows that are too long."""
embedding = Embedding(vocab_size=4, embedding_dim=2, max_norm=1.0, rng=0)
embedding.weight.data[:] = [[3.0, 4.0], [0.3, 0.4], [6.0, 8.0], [0.0, 2.0]]
out = embedding([0, 1, 0])
assert np.allclose(out.data[0], [0.6, 0.8], atol=1e-6), f"row 0 has norm 5: expected [0.6, 0.8], got {out.data[0]}"
assert np.allclose(embedding.weight.data[0], [0.6, 0.8], atol=1e-6), \
    "max_norm must rescale the row in the table itself; hint: write back into weight.data[rows]"
assert np.allclose(embedding.weight.data[1], [0.3, 0.4]), "a row shorter than max_norm stays as it is"
assert np.allclose(embedding.weight.data[2], [6.0, 8.0]), "rows that were not looked up stay as they are"
### BEGIN HIDDEN TESTS
l1 = Embedding(vocab_size=3, embedding_dim=2, max_norm=2.0, norm_type=1.0, rng=0)
l1.weight.data[:] = [[3.0, -1.0], [1.0, 0.5], [0.0, 0.0]]
l1(np.array([[0, 1], [2, 0]]))
assert np.allclose(l1.weight.data[0], [1.5, -0.5], atol=1e-6), f"L1 norm 4 -> 2: got {l1.weight.data[0]}"
assert np.allclose(l1.weight.data[1], [1.0, 0.5]), "L1 norm 1.5 < 2: unchanged"
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Weight tying
#
# A language model ends where it began: its last layer maps a hidden vector $h \in \mathbb{R}^D$ to
# one score per token, $\text{logits} = h W_{\text{out}}$ with $W_{\text{out}} \in \mathbb{R}^{D \times V}$.
# That matrix has the same shape as the embedding table turned on its side, and GPT-2 and many
# others simply use the table for both: $\text{logits} = h\, W^\top$ (Press and Wolf, 2017,
# "Using the Output Embedding to Improve Language Models"). For GPT-2 that saves
# $50{,}257 \times 768 \approx 38.6$ million parameters.
#
# Nothing new is needed: `embedding.weight` is one Tensor used twice, so `backward()` calls
# `weight._accumulate_grad` once from the lookup and once from the matmul, and the two
# contributions add. The test trains a tiny tied bigram model and checks both.
#
# **Pretrained tables.** `Embedding.from_pretrained(weights, freeze=True)` wraps an existing table
# (for example vectors trained by another model) without copying it; with `freeze=True` its
# `requires_grad` is False, so `backward()` never even computes the scatter-add for it.

# %% nbgrader={"grade": true, "grade_id": "test_embedding_weight_tying", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that a tied weight receives the gradient of both the lookup and the output projection."""
rng = np.random.default_rng(5)
embedding = Embedding(vocab_size=12, embedding_dim=8, dtype=np.float64, rng=0)
inputs = rng.integers(0, 12, size=20)
targets = (inputs + 1) % 12
target_one_hot = np.eye(12)[targets]

def tied_loss():
    h = embedding(inputs)                                  # (20,) -> (20, 8)
    logits = h @ embedding.weight.T                        # (20, 8) @ (8, 12) -> (20, 12)
    return -(logits.log_softmax(axis=-1) * Tensor(target_one_hot)).sum() / len(inputs)

loss = tied_loss()
loss.backward()
W = embedding.weight.data
G_out = (np.exp(W[inputs] @ W.T) / np.exp(W[inputs] @ W.T).sum(1, keepdims=True) - target_one_hot) / 20
expected = G_out.T @ W[inputs]                             # from logits = h @ W.T
np.add.at(expected, inputs, G_out @ W)                     # from the lookup h = W[inputs]
assert np.allclose(embedding.weight.grad, expected, atol=1e-8), \
    "weight.grad should be the sum of the lookup's and the projection's gradients"
first = loss.item()
for step in range(30):
    embedding.weight.zero_grad()
    loss = tied_loss()
    loss.backward()
    embedding.weight.data -= 0.5 * embedding.weight.grad
assert loss.item() < 0.5 * first, f"training a tied model should lower the loss: {first:.3f} -> {loss.item():.3f}"
### BEGIN HIDDEN TESTS
frozen = Embedding.from_pretrained(W.copy(), freeze=True)
assert not frozen.weight.requires_grad and np.array_equal(frozen(inputs).data, W[inputs])  # exact: a lookup copies rows
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# - An embedding layer is a linear layer on one-hot inputs, computed as a row lookup: $V$ times
#   less work, the same result.
# - Check ids before trusting them: integers in $[0, V)$, negative ones included. Then the fastest
#   gather, `np.take(..., mode="clip")`, is safe.
# - The gradient is a scatter-add of the output gradient into the rows of the ids. Repeated ids
#   must add up; `grad[ids] += g` silently loses them. Sorting the ids makes an exact and fast
#   scatter out of a few vectorised passes.
# - The padding row stays zero because its gradient is zero; `max_norm` edits the table in place;
#   tying one table to the input and the output makes the gradients of both uses add.
#
# **Speed on this machine.** The benchmark `benchmarks/embedding_lookup.py` (`make bench`) compares
# this code with plain numpy and with PyTorch 2.13 on one CPU thread, all timed in the same run.
# One run on 28 November 2026, on a quiet 2-vCPU AMD EPYC virtual machine (ratios of median thread
# CPU times; a ratio below 1 means ours is faster):
#
# | table, 8,192 ids | forward vs torch `index_select(out=)` | forward vs torch `F.embedding` | forward vs `W[ids]` | backward vs torch dense backward | backward vs `np.add.at` |
# |---|---|---|---|---|---|
# | GPT-2 50,257 x 768, uniform | 0.87 | 0.87 | 0.91 | 1.05 | 0.25 |
# | GPT-2 50,257 x 768, Zipf | 1.08 | 0.49 | 1.31 | 1.03 | 0.24 |
# | Llama 2 32,000 x 4,096, uniform | 0.91 | 0.54 | 0.53 | 1.03 | 0.19 |
# | Llama 2 32,000 x 4,096, Zipf | 0.80 | 0.47 | 0.45 | 1.18 | 0.16 |
#
# Checking the ids costs 0.5 to 1.7 % of the forward. The GPT-2 gather moves data at 66 % of this
# machine's copy bandwidth (24.7 GB/s in that run), torch's `index_select(out=)` at 57 %. Much of the
# forward's cost is not the gather but the memory it writes to: a new 134 MB array (the Llama
# output) must first be mapped and zeroed by the operating system. That is why `Embedding` keeps its
# last output and reuses it once nothing refers to it (`_output_buffer`), and why it beats `W[ids]`
# and `F.embedding`, which allocate every time, by up to 2x on the Llama table. With Zipf ids the
# few frequent rows stay in cache, so a lookup can even exceed the copy bandwidth, which streams
# from memory.
# Run the benchmark yourself: the numbers move with the machine and its load.
#
# **Exercises.** (1) Replace the sort-based scatter by `np.add.at` and time both on a GPT-2 table.
# (2) Why does a Zipf-distributed batch make the forward pass faster than uniform ids? (Hint: cache.)
# (3) With tying, the padding row's gradient from the output projection is not zero. What does
# PyTorch do, and does it matter?
