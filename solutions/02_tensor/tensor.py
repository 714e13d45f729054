# %% [markdown]
# # Module 02: Tensor
#
# Every model in this course, from a bigram table to a transformer's embedding layer, is a chain of
# array operations whose parameters we nudge downhill. This module builds the one object all of that
# rests on: a **tensor** that remembers how it was computed, so that a single call to `backward()`
# fills in the gradient of a loss with respect to every parameter.
#
# You will write the ideas, not the plumbing:
#
# 1. `unbroadcast`: summing a gradient back to the shape of an operand that numpy broadcast;
# 2. the local backward rules of `+`, `*`, `@` and `log`;
# 3. `_accumulate_grad`: why gradients add up;
# 4. `backward`: walking the graph in topological order;
# 5. `check_token_ids`: the one check every layer runs on token ids;
# 6. `cross_entropy`: the loss of a language model, and its famous gradient.
#
# Everything else (the other ops, the error messages, the bookkeeping) is given, written in the same
# pattern, so you can read it as worked examples. The code you write here is compiled into the package
# `tinytorch_lite.core.tensor`, which the embeddings module imports.

# %%
#| default_exp core.tensor

# %%
#| export
import sys

import numpy as np

# %% [markdown]
# ## 1. What a tensor is
#
# A tensor here is a numpy array plus three things:
#
# | attribute | meaning |
# |---|---|
# | `data` | the values, a numpy array of any shape |
# | `grad` | $\partial L / \partial\,\text{data}$ for the loss $L$ we last called `backward()` on; `None` before that |
# | `_prev`, `_backward` | the tensors this one was computed from, and a small function that receives $\partial L / \partial\,\text{data}$ and sends the gradient back to them |
#
# The **dtype** matters. Token ids are integers: `Tensor([5, 17, 2])` stays `int64`, and it must,
# because ids index rows of an embedding table and a float id is meaningless. Learnable values are
# floats: `Tensor([0.5, -1.0])` becomes `float32`, the precision models train in. A gradient only
# makes sense for a floating tensor (you cannot move an id by $10^{-3}$), so
# `Tensor([1, 2], requires_grad=True)` is an error, and an op whose result is an integer array never
# requires grad.
#
# ## 2. Broadcasting, forwards and backwards
#
# numpy lets you add a bias of shape `(3,)` to a batch of shape `(2, 3)`: it pretends the bias was
# copied into every row. The rule, applied to the shapes aligned on the right:
#
# - missing leading axes are added with size 1;
# - an axis of size 1 is stretched to match the other operand.
#
# ```
# x     (2, 3)        x     (4, 2, 3)
# b        (3,)       b        (2, 1)
# x + b (2, 3)        x + b (4, 2, 3)
# ```
#
# Now run it backwards. If $y = x + b$ with $b$ copied into each of the 2 rows, then each copy of
# $b_j$ influences the loss through its own row, and the contributions add up:
#
# $$\frac{\partial L}{\partial b_j} = \sum_i \frac{\partial L}{\partial y_{ij}}.$$
#
# So the gradient that arrives with the output's shape `(2, 3)` must be **summed** over every axis
# that broadcasting created or stretched, giving back the operand's shape `(3,)`. That is
# `unbroadcast(grad, shape)`: sum away the extra leading axes, then sum (keeping the axis) over every
# axis where `shape` has size 1 but `grad` does not.

# %% nbgrader={"grade": false, "grade_id": "tensor_unbroadcast", "locked": false, "schema_version": 3, "solution": true}
#| export
def unbroadcast(grad, shape):
    """Sum `grad` down to `shape`, undoing numpy broadcasting.

    `grad` has the broadcast result's shape; `shape` is the shape of one operand. Sum over the
    leading axes broadcasting added, then over the axes where `shape` has size 1 (keeping them),
    so that the result has exactly `shape`. Returns `grad` itself when the shapes already match.

    >>> unbroadcast(np.ones((2, 3)), (3,))
    array([2., 2., 2.])
    >>> unbroadcast(np.ones((2, 3)), (2, 1))
    array([[3.],
           [3.]])
    """
    shape = tuple(shape)
    ### BEGIN SOLUTION
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    ### END SOLUTION
    return grad


# %% nbgrader={"grade": true, "grade_id": "test_tensor_unbroadcast", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that unbroadcast sums a gradient back to an operand's shape."""
g = np.arange(6.0).reshape(2, 3)
got = unbroadcast(g, (3,))
assert got.shape == (3,), f"unbroadcast to (3,) should give shape (3,), got {got.shape}; hint: sum over the leading axes"
assert np.allclose(got, [3.0, 5.0, 7.0]), f"expected the column sums [3, 5, 7], got {got}"
got = unbroadcast(g, (2, 1))
assert got.shape == (2, 1), f"unbroadcast to (2, 1) should give shape (2, 1), got {got.shape}; hint: keepdims=True"
assert np.allclose(got, [[3.0], [12.0]]), f"expected the row sums [[3], [12]], got {got}"
got = unbroadcast(g, (2, 3))
assert np.array_equal(got, g), "when the shapes already match, unbroadcast should return grad unchanged"  # exact: nothing to sum
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(0)
g = rng.normal(size=(4, 2, 3))
for shape, expected in [
    ((1, 3), g.sum(axis=(0, 1)).reshape(1, 3)),
    ((2, 1), g.sum(axis=(0, 2)).reshape(2, 1)),
    ((4, 1, 3), g.sum(axis=1, keepdims=True)),
    ((), g.sum()),
    ((1, 1, 1), g.sum().reshape(1, 1, 1)),
]:
    got = np.asarray(unbroadcast(g, shape))
    assert got.shape == shape, f"unbroadcast to {shape} gave shape {got.shape}"
    assert np.allclose(got, expected), f"unbroadcast to {shape}: expected {expected}, got {got}"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The computational graph and the chain rule
#
# Every op creates a new tensor and records where it came from. Computing
# `loss = ((x * w) + b).sum()` builds this graph:
#
# ```
# x ---.
#       (*) -- t ---.
# w ---'             (+) -- u -- (sum) -- loss
# b ----------------'
# ```
#
# The **chain rule** says that to know how `loss` depends on `x`, multiply the local derivatives
# along the path: $\frac{\partial L}{\partial x} = \frac{\partial L}{\partial t}\,\frac{\partial t}{\partial x}$.
# So each op only needs to know its **local** rule: given the gradient of the loss with respect to
# its output, send the right gradient to each input. Following micrograd, each op defines that rule
# as a small closure `_backward`, stored on its output `out`. **The closure receives dL/d(out)** as
# its argument `grad` (an array of `out`'s shape); `backward()` calls it as `out._backward(out.grad)`:
#
# | op | forward | `_backward(grad)`: what each input receives |
# |---|---|---|
# | `a + b` | $a + b$ | `a` gets `grad`, `b` gets `grad` (each unbroadcast) |
# | `a * b` | $a \odot b$ | `a` gets `grad * b`, `b` gets `grad * a` (each unbroadcast) |
# | `A @ B` | $AB$ | `A` gets `grad @ B.T`, `B` gets `A.T @ grad` |
# | `log(x)` | $\log x$ | `x` gets `grad / x` |
# | `exp(x)` | $e^x$ | `x` gets `grad * exp(x)` |
#
# Why an argument, and not `out.grad` read inside the closure? A closure that mentions `out` keeps
# `out` alive, and `out` keeps the closure alive: a reference cycle. Python's reference counting
# cannot free a cycle; only the slower cyclic garbage collector can, some time later. Every op result
# (often a large array) would then linger after you drop it. So a closure uses its inputs and the
# values it computed, never `out` itself.
#
# The matmul rule is the one people get wrong. Check it with shapes: if `A` is `(n, k)` and `B` is
# `(k, m)`, then `grad` is `(n, m)`; the only way to get an `(n, k)` gradient for `A` from
# `grad` and `B` is `(n, m) @ (m, k)`, that is `grad @ B.T`. For batched inputs
# (`(..., n, k) @ (..., k, m)`) transpose only the last two axes (`np.swapaxes(B, -1, -2)`), and
# `unbroadcast` the result, because the batch axes broadcast like any other op.
#
# ### Why gradients add up
#
# A tensor can be used more than once: in `y = x * x`, or when one embedding row is looked up for two
# tokens. The multivariable chain rule says its gradient is the **sum** over all uses. So an input
# never overwrites `.grad`; it adds to it through `_accumulate_grad(g)`, which allocates `.grad` on the
# first contribution. The same rule makes a parameter's gradient accumulate across two `backward()`
# calls until you call `zero_grad()`, as in PyTorch. An intermediate result's gradient, on the other
# hand, belongs to one pass: `backward()` resets it before the walk (that part is given).
#
# ### Topological order
#
# `backward()` on the loss must call every node's `_backward` exactly once, and only after **all** of
# the gradient flowing into that node has arrived, that is after every node that uses it has run. An
# ordering where each node comes after its inputs is a *topological order*; build it with a
# depth-first search that appends a node after visiting its children, then walk it **in reverse**:
#
# ```
# visit(node):
#     if node was visited before: stop
#     mark it visited; visit each of its inputs (node._prev); then append node to topo
# ```
#
# After `visit(loss)`, `topo` lists every tensor after all of its inputs, the loss last. Seed the
# loss's gradient with 1 and walk `topo` from the end back to the start, running each `_backward`.
#
# A naive recursion that calls `_backward` and then recurses into the children is wrong as soon as a
# node is used twice (a "diamond"): it runs that node before its second use has delivered its
# gradient, or runs it twice. Only tensors with `requires_grad` need visiting: an input that does not
# require grad has no gradient to collect, and neither do any of its own inputs.
#
# ### The class
#
# The cell below is the whole `Tensor`. Read the given ops first (`__truediv__`, `sum`, `exp`,
# `__getitem__` ...): they all follow the same pattern. Your parts are the lines that raise
# `NotImplementedError` (each names its method), under a comment saying what they compute. A good
# order, with the test that checks each step:
#
# | write | then run |
# |---|---|
# | `_accumulate_grad`, the closures of `__add__` and `__mul__` | `test_tensor_add_mul_backward` |
# | `backward` and `_topological_order` | `test_tensor_backward_topological` |
# | the closure of `__matmul__` | `test_tensor_matmul_backward` |
# | the closure of `log` | `test_tensor_log_backward` |
#
# Re-run the class cell after each change. You can test a local rule by hand, exactly as `backward()`
# will call it: `out._backward(grad)`, with `grad` an array of `out`'s shape.

# %% nbgrader={"grade": false, "grade_id": "tensor_class", "locked": false, "schema_version": 3, "solution": true}
#| export
def _is_float(dtype):
    return np.issubdtype(dtype, np.floating)


class Tensor:
    """A numpy array with reverse-mode automatic differentiation.

    `Tensor(data, requires_grad=False, dtype=None)`. Python floats and float lists become float32,
    Python ints int64, bools bool; numpy arrays keep their dtype and are not copied; `dtype=` forces
    a dtype. Only floating tensors can require gradients.

    Extension point for new ops (later modules use it): compute the values with numpy, wrap them in
    a Tensor that names its inputs, and attach a closure that receives dL/d(out) and sends the
    gradient back to the inputs. For example, y = 3 x:

        out = Tensor(3.0 * x.data, _children=(x,), _op="times3")
        def _backward(grad):                      # grad is dL/d(out), shape of out
            x._accumulate_grad(3.0 * grad)        # dL/dx = 3 dL/dy
        out._backward = _backward

    `backward()` calls `out._backward(out.grad)`. The closure must not refer to `out`: that would
    make a reference cycle, and `out` would only be freed by the cyclic garbage collector.
    """

    __array_ufunc__ = None  # make numpy defer to Tensor's reflected ops: np_array + tensor -> Tensor

    def __init__(self, data, requires_grad=False, dtype=None, _children=(), _op=""):
        if isinstance(data, Tensor):
            data = data.data
        from_numpy = isinstance(data, (np.ndarray, np.generic))
        data = np.asarray(data, dtype=dtype)
        if dtype is None and not from_numpy and data.dtype == np.float64:
            data = data.astype(np.float32)  # Python floats: float32, as models train in
        if data.dtype.kind not in "biuf":
            raise TypeError(f"Tensor data must be numeric (bool, int or float), got dtype {data.dtype}")
        if requires_grad and not _is_float(data.dtype):
            raise TypeError(
                f"requires_grad=True needs a floating tensor, but this one has dtype {data.dtype}: "
                "token ids are integers; only floating tensors can require gradients "
                "(use dtype=np.float32 for learnable values)")
        self.data = data
        self.grad = None
        self._prev = tuple(_children)
        self._op = _op
        self._backward = lambda grad: None
        self.requires_grad = bool(requires_grad) or (
            _is_float(data.dtype) and any(c.requires_grad for c in self._prev))

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor; use .item() to read its value")
        return len(self.data)

    def numpy(self):
        return self.data

    def item(self):
        return self.data.item()

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{grad})"

    def zero_grad(self):
        self.grad = None

    def detach(self):
        """The same values, cut from the graph."""
        return Tensor(self.data)

    def _lift(self, other):
        """Wrap a Python scalar or an array as a Tensor (scalars take this tensor's float dtype)."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float, np.number)) and _is_float(self.dtype):
            return Tensor(other, dtype=self.dtype)
        return Tensor(other)

    def _check_broadcast(self, other, op):
        try:
            np.broadcast_shapes(self.shape, other.shape)
        except ValueError:
            raise ValueError(
                f"shape mismatch for '{op}': {self.shape} and {other.shape} do not broadcast "
                "(aligned on the right, each pair of sizes must be equal or one of them 1)") from None

    def _accumulate_grad(self, grad):
        """Add `grad` (a numpy array of this tensor's shape) into `.grad`.

        Does nothing when this tensor does not require grad. On the first contribution `.grad`
        takes `grad` itself, without a copy; later ones are added without modifying any array in
        place, so gradient arrays may be shared: copy `.grad` before changing it in place.
        """
        if not self.requires_grad:
            return
        grad = np.asarray(grad, dtype=self.dtype)
        if grad.shape != self.shape:
            raise ValueError(
                f"gradient of shape {grad.shape} for a tensor of shape {self.shape}; if the op "
                "broadcast this tensor, sum the gradient back with unbroadcast(grad, shape)")
        # the first contribution becomes .grad; later ones are added to it
        ### BEGIN SOLUTION
        self.grad = grad if self.grad is None else self.grad + grad
        ### END SOLUTION

    def backward(self, grad=None):
        """Fill `.grad` of every tensor this one depends on (that requires grad).

        `grad` is dL/d(self); it defaults to 1 for a single-element tensor. Gradients accumulate
        across calls; call `zero_grad()` on the parameters to start over.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad: create the inputs "
                               "you want gradients for with requires_grad=True")
        if grad is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward() without grad needs a single-element tensor, but this one has shape "
                    f"{self.shape}: reduce it to a scalar loss first (e.g. .sum() or .mean()), or pass "
                    f"grad, an array of shape {self.shape}")
            grad = np.ones(self.shape, dtype=self.dtype)
        grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
        if grad.shape != self.shape:
            raise ValueError(f"backward(grad): grad has shape {grad.shape} but the tensor has shape "
                             f"{self.shape}; they must match")
        try:
            topo = self._topological_order()
        except RecursionError:
            raise RecursionError("the graph is deeper than Python's recursion limit (a chain of about "
                                 f"{sys.getrecursionlimit()} ops); raise it with sys.setrecursionlimit") from None
        for node in topo:
            if node._prev:  # an intermediate result's gradient belongs to one backward pass
                node.grad = None
        self._accumulate_grad(grad)
        # run each node's rule once, after every node that uses it
        ### BEGIN SOLUTION
        for node in reversed(topo):
            node._backward(node.grad)
        ### END SOLUTION

    def _topological_order(self):
        """The tensors this one depends on (requiring grad), each listed after all of its inputs."""
        topo, visited = [], set()

        def visit(node):
            # depth-first: visit the inputs that require grad, then append node
            ### BEGIN SOLUTION
            if node not in visited:
                visited.add(node)
                for child in node._prev:
                    if child.requires_grad:
                        visit(child)
                topo.append(node)
            ### END SOLUTION

        visit(self)
        del visit  # visit refers to itself: break that cycle, so the graph is freed once dropped
        return topo

    def __add__(self, other):
        other = self._lift(other)
        self._check_broadcast(other, "+")
        out = Tensor(self.data + other.data, _children=(self, other), _op="+")
        def _backward(grad):
            # d(a+b)/da = d(a+b)/db = 1; unbroadcast to each input's shape
            ### BEGIN SOLUTION
            self._accumulate_grad(unbroadcast(grad, self.shape))
            other._accumulate_grad(unbroadcast(grad, other.shape))
            ### END SOLUTION
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = self._lift(other)
        self._check_broadcast(other, "*")
        out = Tensor(self.data * other.data, _children=(self, other), _op="*")
        def _backward(grad):
            # d(a*b)/da = b, d(a*b)/db = a; times grad, unbroadcast to each input's shape
            ### BEGIN SOLUTION
            self._accumulate_grad(unbroadcast(grad * other.data, self.shape))
            other._accumulate_grad(unbroadcast(grad * self.data, other.shape))
            ### END SOLUTION
        out._backward = _backward
        return out

    def __truediv__(self, other):
        other = self._lift(other)
        self._check_broadcast(other, "/")
        out = Tensor(self.data / other.data, _children=(self, other), _op="/")
        def _backward(grad):
            self._accumulate_grad(unbroadcast(grad / other.data, self.shape))
            other._accumulate_grad(unbroadcast(-grad * self.data / other.data ** 2, other.shape))
        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-self._lift(other))

    def __radd__(self, other):
        return self._lift(other) + self

    def __rsub__(self, other):
        return self._lift(other) - self

    def __rmul__(self, other):
        return self._lift(other) * self

    def __rtruediv__(self, other):
        return self._lift(other) / self

    def __pow__(self, exponent):
        if not isinstance(exponent, (int, float)):
            raise TypeError(f"only a Python int or float exponent is supported, got {type(exponent).__name__}")
        out = Tensor(self.data ** exponent, _children=(self,), _op=f"**{exponent}")
        def _backward(grad):
            self._accumulate_grad(grad * exponent * self.data ** (exponent - 1))
        out._backward = _backward
        return out

    def __matmul__(self, other):
        other = self._lift(other)
        if self.ndim == 0 or other.ndim == 0:
            raise ValueError(f"matmul needs at least 1-D operands, got {self.shape} @ {other.shape}; "
                             "use * to multiply by a scalar")
        if self.ndim == 1 or other.ndim == 1:  # as numpy: treat a vector as a 1-row / 1-column matrix
            a = self.reshape(1, -1) if self.ndim == 1 else self
            b = other.reshape(-1, 1) if other.ndim == 1 else other
            out = a @ b
            keep = out.shape[:-2] + out.shape[-2:-1] * (self.ndim > 1) + out.shape[-1:] * (other.ndim > 1)
            return out.reshape(keep)
        try:
            np.broadcast_shapes(self.shape[:-2], other.shape[:-2])
            if self.shape[-1] != other.shape[-2]:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"shape mismatch for matmul: {self.shape} @ {other.shape}; the last axis of the left "
                "operand must equal the second-to-last axis of the right one") from None
        out = Tensor(self.data @ other.data, _children=(self, other), _op="@")
        def _backward(grad):
            # dA = dOut @ B^T, dB = A^T @ dOut (last two axes transposed), each unbroadcast
            ### BEGIN SOLUTION
            self._accumulate_grad(unbroadcast(grad @ np.swapaxes(other.data, -1, -2), self.shape))
            other._accumulate_grad(unbroadcast(np.swapaxes(self.data, -1, -2) @ grad, other.shape))
            ### END SOLUTION
        out._backward = _backward
        return out

    def __rmatmul__(self, other):
        return self._lift(other) @ self

    def _axes(self, axis):
        if axis is None:
            return tuple(range(self.ndim))
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        return tuple(sorted(a % self.ndim for a in axes))

    def sum(self, axis=None, keepdims=False):
        axes = self._axes(axis)
        out = Tensor(self.data.sum(axis=axes, keepdims=keepdims), _children=(self,), _op="sum")
        def _backward(grad):
            g = grad if keepdims else np.expand_dims(grad, axes)
            self._accumulate_grad(np.broadcast_to(g, self.shape).copy())
        out._backward = _backward
        return out

    def mean(self, axis=None, keepdims=False):
        count = int(np.prod([self.shape[a] for a in self._axes(axis)]))
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / count)

    def max(self, axis=None, keepdims=False):
        axes = self._axes(axis)
        values = self.data.max(axis=axes, keepdims=True)
        out = Tensor(values if keepdims else values.squeeze(axes), _children=(self,), _op="max")
        def _backward(grad):
            winners = self.data == values  # ties share the gradient equally
            g = grad if keepdims else np.expand_dims(grad, axes)
            self._accumulate_grad(g * winners / winners.sum(axis=axes, keepdims=True))
        out._backward = _backward
        return out

    def reshape(self, *shape):
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        out = Tensor(self.data.reshape(shape), _children=(self,), _op="reshape")
        def _backward(grad):
            self._accumulate_grad(grad.reshape(self.shape))
        out._backward = _backward
        return out

    def transpose(self, *axes):
        axes = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        axes = axes or tuple(reversed(range(self.ndim)))
        out = Tensor(self.data.transpose(axes), _children=(self,), _op="transpose")
        def _backward(grad):
            self._accumulate_grad(grad.transpose(np.argsort(axes)))
        out._backward = _backward
        return out

    T = property(lambda self: self.transpose())

    def __getitem__(self, key):
        key = key.data if isinstance(key, Tensor) else key
        if isinstance(key, tuple):
            key = tuple(k.data if isinstance(k, Tensor) else k for k in key)
        out = Tensor(self.data[key], _children=(self,), _op="getitem")
        def _backward(grad):
            full = np.zeros(self.shape, dtype=self.dtype)
            parts = key if isinstance(key, tuple) else (key,)
            if all(k is None or k is Ellipsis or isinstance(k, (int, np.integer, slice)) for k in parts):
                full[key] = grad  # basic indexing: every element selected at most once
            else:
                np.add.at(full, key, grad)  # an index may repeat: add, do not overwrite
            self._accumulate_grad(full)
        out._backward = _backward
        return out

    def exp(self):
        values = np.exp(self.data)
        out = Tensor(values, _children=(self,), _op="exp")
        def _backward(grad):
            self._accumulate_grad(grad * values)
        out._backward = _backward
        return out

    def log(self):
        out = Tensor(np.log(self.data), _children=(self,), _op="log")
        def _backward(grad):
            # d(log x)/dx = 1/x, times grad
            ### BEGIN SOLUTION
            self._accumulate_grad(grad / self.data)
            ### END SOLUTION
        out._backward = _backward
        return out

    def relu(self):
        out = Tensor(np.maximum(self.data, 0), _children=(self,), _op="relu")
        def _backward(grad):
            self._accumulate_grad(grad * (self.data > 0))
        out._backward = _backward
        return out

    def tanh(self):
        values = np.tanh(self.data)
        out = Tensor(values, _children=(self,), _op="tanh")
        def _backward(grad):
            self._accumulate_grad(grad * (1 - values ** 2))
        out._backward = _backward
        return out

    def softmax(self, axis=-1):
        shifted = np.exp(self.data - self.data.max(axis=axis, keepdims=True))
        s = shifted / shifted.sum(axis=axis, keepdims=True)
        out = Tensor(s, _children=(self,), _op="softmax")
        def _backward(grad):
            self._accumulate_grad(s * (grad - (grad * s).sum(axis=axis, keepdims=True)))
        out._backward = _backward
        return out

    def log_softmax(self, axis=-1):
        shifted = self.data - self.data.max(axis=axis, keepdims=True)
        values = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        out = Tensor(values, _children=(self,), _op="log_softmax")
        def _backward(grad):
            softmax = np.exp(values)
            self._accumulate_grad(grad - softmax * grad.sum(axis=axis, keepdims=True))
        out._backward = _backward
        return out


# %% [markdown]
# ### Trying it out
#
# Forward values need none of your code yet. Note the dtypes: the ids stay integers, the float list
# becomes float32, and the result of an op on a tensor that requires grad requires grad too.

# %%
token_ids = Tensor([5, 17, 2])
weights = Tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True)
print(token_ids.dtype, weights.dtype, (weights * 2).requires_grad, (token_ids + 1).requires_grad)
print(weights @ weights.T)

# %% [markdown]
# ### Checking gradients numerically
#
# How do we know a backward rule is right? Compare it with the definition of the derivative. For
# each entry $x_i$, nudge it by a small $\varepsilon$ both ways and measure the change of the loss:
#
# $$\frac{\partial L}{\partial x_i} \approx \frac{L(x + \varepsilon e_i) - L(x - \varepsilon e_i)}{2\varepsilon}.$$
#
# This central difference has error $O(\varepsilon^2)$. It costs two forward passes per entry, far
# too slow for training, but perfect for testing on small inputs in float64. The hidden tests use
# this helper, and so can you.

# %%
def numerical_grad(loss_fn, x, eps=1e-6):
    """Central-difference estimate of d loss_fn(x) / dx for a float64 array x (loss_fn returns a float)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        upper = loss_fn(x)
        x[i] = old - eps
        lower = loss_fn(x)
        x[i] = old
        grad[i] = (upper - lower) / (2 * eps)
    return grad


def check_grad(fn, *arrays, atol=1e-6):
    """Compare Tensor.backward() with numerical_grad for the scalar function fn(*tensors)."""
    tensors = [Tensor(a, requires_grad=True, dtype=np.float64) for a in arrays]
    fn(*tensors).backward()
    for k, t in enumerate(tensors):
        def loss_k(xk):
            inputs = [Tensor(xk if j == k else a, dtype=np.float64) for j, a in enumerate(arrays)]
            return fn(*inputs).item()
        expected = numerical_grad(loss_k, arrays[k])
        assert t.grad is not None, f"input {k} of shape {t.shape} got no gradient"
        error = np.abs(t.grad - expected).max()
        assert error < atol, f"input {k}: backward gives\n{t.grad}\nbut finite differences give\n{expected}"

# %% [markdown]
# ### The local rules of `+` and `*`
#
# The first test calls a local rule by hand, as `backward()` will: `out._backward(grad_out)`, where
# `grad_out` plays dL/d(out). It needs `_accumulate_grad`, `__add__`'s and `__mul__`'s closures, and
# `unbroadcast`.

# %% nbgrader={"grade": true, "grade_id": "test_tensor_add_mul_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false}
"""Check that + and * send the right gradients to both inputs, summing over broadcast axes."""
x = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
b = Tensor([10.0, 20.0, 30.0], requires_grad=True)
out = x + b
grad_out = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=np.float32)
out._backward(grad_out)
assert x.grad is not None and x.grad.shape == (2, 3), f"x.grad should have shape (2, 3), got {None if x.grad is None else x.grad.shape}"
assert np.allclose(x.grad, grad_out), f"d(x + b)/dx passes grad through unchanged: expected {grad_out}, got {x.grad}"
assert b.grad.shape == (3,), f"b was broadcast over the rows, so its gradient must be summed back to (3,), got shape {b.grad.shape}"
assert np.allclose(b.grad, [5.0, 7.0, 9.0]), f"b.grad should be the column sums of grad [5, 7, 9], got {b.grad}"

x.zero_grad()
b.zero_grad()
out = x * b
out._backward(np.ones((2, 3), dtype=np.float32))
assert np.allclose(x.grad, [[10.0, 20.0, 30.0]] * 2), f"d(x * b)/dx is b (times grad): expected rows of [10, 20, 30], got {x.grad}"
assert np.allclose(b.grad, [5.0, 7.0, 9.0]), f"d(x * b)/db is x, summed over the broadcast rows: expected [5, 7, 9], got {b.grad}"

y = Tensor([3.0, -2.0], requires_grad=True)
square = y * y
square._backward(np.ones(2, dtype=np.float32))
assert np.allclose(y.grad, [6.0, -4.0]), f"y * y uses y twice, so both contributions must add up to 2y = [6, -4], got {y.grad}; hint: _accumulate_grad"
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(1)
a, c = rng.normal(size=(3, 4)), rng.normal(size=(4,))
d = rng.normal(size=(3, 1)) + 3.0
check_grad(lambda a, c: (a * c + c).sum(), a, c)
check_grad(lambda a, c, d: ((a - c) * (a + d) / d).sum(), a, c, d)
check_grad(lambda a, c: (2.0 * a * a - c * 3 + 1.5 - a / 4.0).mean(), a, c)
check_grad(lambda c, d: (-(c * d) ** 2).sum(), c, d)
x = Tensor(np.ones((2, 3)), requires_grad=True)
(x + 1.0).sum().backward()
assert x.grad.shape == (2, 3) and np.allclose(x.grad, 1.0), f"x + scalar: expected ones, got {x.grad}"
### END HIDDEN TESTS

# %% [markdown]
# ### The whole graph: `backward()`
#
# Now the topological walk. In $y = 3x$, $z = y \cdot y + y$ the node $y$ feeds two ops, a diamond.
# Its gradient is $\partial z/\partial y = 2y + 1$, so $\partial z/\partial x = 3(2y + 1)$. The walk
# must run $y$'s rule once, after both uses have delivered their share.

# %% nbgrader={"grade": true, "grade_id": "test_tensor_backward_topological", "locked": true, "points": 3, "schema_version": 3, "solution": false}
"""Check that backward() visits the graph in topological order and accumulates gradients."""
x = Tensor([1.0, -2.0], requires_grad=True)
y = x * 3.0
z = (y * y + y).sum()
z.backward()
expected = 3.0 * (2.0 * np.array([3.0, -6.0]) + 1.0)
assert x.grad is not None, "x.grad is None after z.backward(); hint: walk the graph from z back to x"
assert np.allclose(x.grad, expected), f"expected dz/dx = 3 (2y + 1) = {expected}, got {x.grad}; hint: run each node once, in reverse topological order"
assert np.allclose(z.grad, 1.0), f"backward() on a scalar starts from dz/dz = 1, got {z.grad}"

z.backward()
assert np.allclose(x.grad, 2 * expected), f"a second backward() must add to x.grad (expected {2 * expected}), got {x.grad}"
x.zero_grad()
assert x.grad is None, "zero_grad() should reset .grad to None"
### BEGIN HIDDEN TESTS
a = Tensor([2.0], requires_grad=True)
b = a * a        # 4
c = b * a + b    # a^3 + a^2
d = c * b + c    # (a^3 + a^2)(a^2 + 1)
d.sum().backward()
av = 2.0
expected = (3 * av**2 + 2 * av) * (av**2 + 1) + (av**3 + av**2) * 2 * av
assert np.allclose(a.grad, expected), f"nested diamonds: expected {expected}, got {a.grad}"

frozen = Tensor([1.0, 2.0])
w = Tensor([0.5, 0.5], requires_grad=True)
(w * frozen).sum().backward()
assert frozen.grad is None, "a tensor without requires_grad must not receive a gradient"
assert np.allclose(w.grad, [1.0, 2.0]), f"expected w.grad = [1, 2], got {w.grad}"

v = Tensor([1.0, 2.0], requires_grad=True)
try:
    (v * 2.0).backward()
except RuntimeError:
    pass
else:
    raise AssertionError("backward() on a non-scalar without grad should raise RuntimeError")
(v * 2.0).backward(np.array([1.0, -1.0]))
assert np.allclose(v.grad, [2.0, -2.0]), f"backward(grad) should use the given gradient, got {v.grad}"

calls = []
p = Tensor([1.0], requires_grad=True)
q = p * 2.0
r = q * q + q * 3.0
original = q._backward
q._backward = lambda grad: (calls.append(1), original(grad))
r.sum().backward()
assert len(calls) == 1, f"each node's _backward must run exactly once per backward(), q's ran {len(calls)} times"
assert np.allclose(p.grad, 2.0 * (2.0 * 2.0 + 3.0)), f"expected p.grad = 14, got {p.grad}"
### END HIDDEN TESTS

# %% [markdown]
# ### Matrix products
#
# A linear layer is `x @ W + b`. Check the matmul rule on a square product first, where a transpose
# in the wrong place still gives the right shapes but wrong numbers.

# %% nbgrader={"grade": true, "grade_id": "test_tensor_matmul_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false}
"""Check that @ sends grad @ B.T to A and A.T @ grad to B."""
rng = np.random.default_rng(2)
A = Tensor(rng.normal(size=(3, 3)), requires_grad=True)
B = Tensor(rng.normal(size=(3, 3)), requires_grad=True)
out = A @ B
grad_out = rng.normal(size=(3, 3))
out._backward(grad_out)
assert A.grad is not None and B.grad is not None, "A @ B should give gradients to both A and B"
assert np.allclose(A.grad, grad_out @ B.data.T), f"A.grad should be grad @ B.T,\n{grad_out @ B.data.T}\ngot\n{A.grad}"
assert np.allclose(B.grad, A.data.T @ grad_out), f"B.grad should be A.T @ grad,\n{A.data.T @ grad_out}\ngot\n{B.grad}"

X = Tensor(rng.normal(size=(2, 3)), requires_grad=True)
W = Tensor(rng.normal(size=(3, 4)), requires_grad=True)
(X @ W).sum().backward()
assert X.grad.shape == (2, 3) and W.grad.shape == (3, 4), f"gradients must have the inputs' shapes (2, 3) and (3, 4), got {X.grad.shape} and {W.grad.shape}"
assert np.allclose(W.grad, X.data.T @ np.ones((2, 4))), f"W.grad should be X.T @ ones((2, 4)), got {W.grad}"
### BEGIN HIDDEN TESTS
x, w = rng.normal(size=(2, 2, 2)), rng.normal(size=(2, 2, 2))
check_grad(lambda x, w: ((x @ w) ** 2).sum(), x, w)
x, w = rng.normal(size=(5, 2, 3)), rng.normal(size=(3, 4))
check_grad(lambda x, w: ((x @ w) ** 2).sum(), x, w)
x, w = rng.normal(size=(2, 1, 2, 3)), rng.normal(size=(3, 3, 2))
check_grad(lambda x, w: ((x @ w) * (x @ w)).mean(), x, w)
u, m = rng.normal(size=(3,)), rng.normal(size=(3, 2))
check_grad(lambda u, m: ((u @ m) ** 2).sum(), u, m)
check_grad(lambda u, m: ((m.T @ u) ** 2).sum(), u, m)
check_grad(lambda u: u @ u, u)
assert (Tensor(u) @ Tensor(u)).shape == (), "vector @ vector is a scalar"
check_grad(lambda x, w, b: (x @ w + b).tanh().sum(), rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=(2,)))
### END HIDDEN TESTS

# %% [markdown]
# ### `log` and `exp`
#
# `exp` is given; `log` is yours. The test below feeds `log` an upstream gradient that is not all
# ones: forgetting to multiply by `grad` is the classic chain-rule slip.

# %% nbgrader={"grade": true, "grade_id": "test_tensor_log_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that log sends grad / x back to x."""
x = Tensor([0.5, 1.0, 4.0], requires_grad=True)
out = x.log()
assert np.allclose(out.data, np.log([0.5, 1.0, 4.0])), f"log forward is wrong: {out.data}"
out._backward(np.array([1.0, 2.0, 3.0], dtype=np.float32))
assert np.allclose(x.grad, [2.0, 2.0, 0.75]), f"x.grad should be grad / x = [2, 2, 0.75], got {x.grad}; hint: chain rule, multiply by grad"
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(3)
p = rng.uniform(0.5, 2.0, size=(3, 4))
check_grad(lambda p: (p.log() * p).sum(), p)
check_grad(lambda p: (p.exp() + 1.0).log().mean(), p)
check_grad(lambda p: (p.softmax(axis=1).log() * Tensor(np.arange(12.0).reshape(3, 4))).sum(), p)
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Token ids: one check for the whole package
#
# A token id picks a row: of an embedding table, of a tokenizer's vocabulary, of the logits a loss
# compares against. numpy picks rows too, and trusts the ids more than it should:
#
# | ids | what `W[ids]` does |
# |---|---|
# | `[-1]` | returns the **last** row (negative indices count from the end): a silent bug |
# | `[V]` | raises `IndexError: index 50257 is out of bounds for axis 0 with size 50257` |
# | `[1.0]` | raises `IndexError: arrays used as indices must be of integer (or boolean) type` |
# | `[True, False]` | treats the ids as a **mask** and returns the rows where it is True |
#
# We want one rule, stated in every error: token ids are integers in $[0, V)$. Every layer of the
# package calls the same `check_token_ids`, so an out-of-range id always raises the same
# `TokenIdError`. It is both an `IndexError` (what numpy raises for a row that does not exist) and a
# `ValueError` (what Python raises for a bad argument value), so code written to catch either keeps
# working. The check must also be cheap, because it runs on every forward pass: checking the dtype
# costs nothing, and one pass for the minimum and maximum is a tiny fraction of copying $N \cdot D$
# floats. Only when that pass finds a bad id do we spend time locating it, so that the error can name
# the value and its position.
#
# **Your task.** Complete `check_token_ids`: reject non-integer ids with a `TypeError` and ids
# outside $[0, V)$ with a `TokenIdError` that names the offending id, its position and `vocab_size`.

# %% nbgrader={"grade": false, "grade_id": "tensor_check_token_ids", "locked": false, "schema_version": 3, "solution": true}
#| export
class TokenIdError(IndexError, ValueError):
    """A token id outside [0, vocab_size): both an IndexError and a ValueError."""


def check_token_ids(token_ids, vocab_size):
    """Return `token_ids` as an integer numpy array, checked to lie in [0, vocab_size).

    Accepts a list, a numpy array of any integer dtype or an integer `Tensor`, of any shape.
    Raises TypeError for non-integer ids (float, bool, strings) and TokenIdError, naming the value,
    its position and `vocab_size`, for ids outside [0, vocab_size). Negative ids are errors, not
    positions counted from the end.
    """
    if isinstance(token_ids, Tensor):
        token_ids = token_ids.data
    try:
        ids = np.asarray(token_ids)
    except ValueError:
        raise ValueError("token ids must form a rectangular array (every sequence in a batch the "
                         "same length); pad shorter sequences, e.g. with padding_idx") from None
    if ids.size == 0 and not isinstance(token_ids, np.ndarray):
        ids = ids.astype(np.intp)  # np.asarray([]) is float64, but an empty list of ids is fine
    ### BEGIN SOLUTION
    if ids.dtype.kind not in "iu":
        raise TypeError(
            f"token ids must be integers, got dtype {ids.dtype}; pass the ids a tokenizer's encode() "
            "returns (a list or integer array), not embeddings, masks or strings")
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        bad = np.flatnonzero((ids < 0) | (ids >= vocab_size))[0]
        position = tuple(int(i) for i in np.unravel_index(bad, ids.shape))
        value = int(ids.reshape(-1)[bad])
        raise TokenIdError(
            f"token id {value} at position {position} is out of range for vocab_size={vocab_size}: "
            f"ids must lie in [0, {vocab_size - 1}] (negative ids do not count from the end here)")
    ### END SOLUTION
    return ids.astype(np.intp, copy=False)


# %% nbgrader={"grade": true, "grade_id": "test_token_ids_dtype", "locked": true, "points": 1, "schema_version": 3, "solution": false}
"""Check that token ids of any integer dtype are accepted and non-integer ids raise TypeError."""
for ids in ([3, 0, 2], np.array([3, 0, 2], dtype=np.int32), np.array([3, 0, 2], dtype=np.uint8)):
    got = check_token_ids(ids, vocab_size=4)
    assert np.array_equal(got, [3, 0, 2]), f"expected the ids [3, 0, 2] back, got {got}"
for bad in (np.array([1.0, 2.0]), [0.5], np.array([True, False])):
    try:
        check_token_ids(bad, vocab_size=4)
    except TypeError:
        pass
    else:
        raise AssertionError(f"ids {bad!r} should raise TypeError; hint: check ids.dtype.kind")
### BEGIN HIDDEN TESTS
got = check_token_ids(Tensor(np.array([[1, 2], [3, 0]])), vocab_size=4)
assert got.shape == (2, 2) and np.array_equal(got, [[1, 2], [3, 0]]), f"integer Tensor ids: got {got}"
got = check_token_ids(np.array([7], dtype=np.uint64), vocab_size=8)
assert np.array_equal(got, [7]), f"uint64 ids should be accepted, got {got}"
assert check_token_ids([], vocab_size=4).shape == (0,), "an empty list of ids is valid"
for bad in (["a", "b"], Tensor([0.0, 1.0]), np.array([1.0], dtype=np.float16)):
    try:
        check_token_ids(bad, vocab_size=4)
    except TypeError:
        pass
    else:
        raise AssertionError(f"ids {bad!r} should raise TypeError")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_token_ids_range", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that out-of-range ids, negative ones included, raise a TokenIdError that names them."""
for ids, value in (([0, 1, 4], 4), ([2, -1, 0], -1)):
    try:
        check_token_ids(ids, vocab_size=4)
    except TokenIdError as error:
        message = str(error)
        assert str(value) in message, f"the error should name the bad id {value}, got: {message}"
        assert "4" in message, f"the error should name vocab_size=4, got: {message}"
    else:
        raise AssertionError(f"ids {ids} with vocab_size=4 should raise TokenIdError; "
                             "hint: numpy wraps negative ids silently, so check the minimum too")
### BEGIN HIDDEN TESTS
import re

try:
    check_token_ids(np.array([[0, 1, 2, 3], [3, 0, 9, 1]]), vocab_size=5)
except TokenIdError as error:
    # the facts, in any wording: the value 9, its position (1, 2) or flat index 6, and vocab_size 5
    numbers = [int(n) for n in re.findall(r"(?<![\w.])-?\d+", str(error))]  # skips the 64 of np.int64(1)
    position_named = 6 in numbers or any(numbers[i:i + 2] == [1, 2] for i in range(len(numbers)))
    assert 9 in numbers and 5 in numbers and position_named, \
        f"the error should name id 9, its position (1, 2) (or flat index 6) and vocab_size=5: {error}"
else:
    raise AssertionError("id 9 with vocab_size=5 should raise TokenIdError")
try:
    check_token_ids(np.array([0, -3], dtype=np.int8), vocab_size=5)
except TokenIdError as error:
    assert "-3" in str(error), f"should name id -3: {error}"
else:
    raise AssertionError("id -3 should raise TokenIdError")
edge = check_token_ids(np.array([0, 4]), vocab_size=5)
assert np.array_equal(edge, [0, 4]), "ids 0 and vocab_size - 1 are valid"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Cross-entropy: the loss of a language model
#
# A language model outputs, for each of $N$ positions, a vector of $C$ **logits** $z$ (one per token
# in the vocabulary). Softmax turns them into probabilities, and the loss is the average negative log
# probability of the correct next token $t_n$:
#
# $$L = -\frac{1}{N}\sum_{n} \log \operatorname{softmax}(z_n)_{t_n}, \qquad
# \log \operatorname{softmax}(z)_c = z_c - \log \sum_j e^{z_j}.$$
#
# **Numerical stability.** $e^{1000}$ overflows to `inf` in float32 already at $z \approx 89$. Since
# softmax does not change when the same constant is subtracted from every logit, subtract the row
# maximum $m$ first: $\log\sum_j e^{z_j} = m + \log\sum_j e^{z_j - m}$. Every exponent is now
# $\le 0$ and at least one term is $e^0 = 1$, so nothing overflows and the log never sees 0.
#
# **The gradient.** Composing `log_softmax`, indexing and `mean` would work, but the fused gradient
# is simple and worth knowing by heart:
#
# $$\frac{\partial L}{\partial z_{n c}} = \frac{1}{N}\left(\operatorname{softmax}(z_n)_c - [c = t_n]\right).$$
#
# Predicted probabilities minus the one-hot target, divided by the batch size. Multiply by the
# closure's argument `grad`, dL/d(out) (it is 1 when the loss is the last node, but need not be).

# %% nbgrader={"grade": false, "grade_id": "tensor_cross_entropy", "locked": false, "schema_version": 3, "solution": true}
#| export
def cross_entropy(logits, targets):
    """Mean softmax cross-entropy of `logits` (N, C) against integer class ids `targets` (N,).

    Returns a scalar Tensor. Numerically stable for large logits; its backward sends
    (softmax(logits) - one_hot(targets)) / N, times the upstream gradient, to `logits`.
    """
    logits = logits if isinstance(logits, Tensor) else Tensor(logits)
    if logits.ndim != 2 or not _is_float(logits.dtype):
        raise ValueError(f"logits must be a floating (N, C) tensor, got shape {logits.shape} and dtype {logits.dtype}")
    n, classes = logits.shape
    targets = check_token_ids(targets, classes)  # class ids are token ids: integers in [0, C)
    if targets.shape != (n,):
        raise ValueError(f"shape mismatch: logits {logits.shape} need targets of shape ({n},), got {targets.shape}")
    if n == 0:
        raise ValueError("cross_entropy of an empty batch (N = 0) is undefined")
    rows = np.arange(n)
    # log_probs: log-softmax of each row, stabilized by subtracting the row maximum
    ### BEGIN SOLUTION
    shifted = logits.data - logits.data.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, targets].mean()
    ### END SOLUTION
    out = Tensor(loss, _children=(logits,), _op="cross_entropy")

    def _backward(grad):
        # dL/dlogits = (softmax - one_hot(targets)) / N, times grad (dL/d(out), a scalar)
        ### BEGIN SOLUTION
        probs = np.exp(log_probs)
        probs[rows, targets] -= 1.0
        logits._accumulate_grad(probs * (grad / n))
        ### END SOLUTION
    out._backward = _backward
    return out


# %% nbgrader={"grade": true, "grade_id": "test_tensor_cross_entropy_value", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that cross_entropy matches the textbook formula and stays finite for large logits."""
logits = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
targets = np.array([0, 2])
probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
expected = -np.mean(np.log(probs[[0, 1], targets]))
loss = cross_entropy(Tensor(logits), targets)
assert loss.shape == (), f"the loss should be a scalar tensor, got shape {loss.shape}"
assert np.isclose(loss.item(), expected, rtol=1e-5), f"expected the mean negative log probability {expected:.6f}, got {loss.item():.6f}"
big = cross_entropy(Tensor([[1000.0, 0.0], [0.0, 1000.0]]), np.array([0, 0]))
assert np.isfinite(big.item()), f"loss for logits of 1000 is {big.item()}; hint: subtract the row maximum before exp"
assert np.isclose(big.item(), 500.0, rtol=1e-5), f"expected (0 + 1000) / 2 = 500, got {big.item()}"
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(4)
z = rng.normal(size=(6, 5)) * 3
t = rng.integers(0, 5, size=6)
reference = -(z - np.log(np.exp(z).sum(axis=1, keepdims=True)))[np.arange(6), t].mean()
assert np.isclose(cross_entropy(Tensor(z), Tensor(t)).item(), reference, rtol=1e-5), "cross_entropy disagrees with the reference"
uniform = cross_entropy(Tensor(np.zeros((3, 7))), np.array([0, 3, 6]))
assert np.isclose(uniform.item(), np.log(7)), f"uniform logits give log(C) = {np.log(7):.5f}, got {uniform.item()}"
small = cross_entropy(Tensor([[-1000.0, 0.0]]), np.array([1]))
assert np.isclose(small.item(), 0.0, atol=1e-6), f"very negative logits must not produce nan, got {small.item()}"
try:
    cross_entropy(Tensor(z), np.array([0, 1, 2, 3, 4, 5]))
except ValueError as error:
    assert "5" in str(error), f"the error should name the bad target: {error}"
else:
    raise AssertionError("a target id >= C should raise ValueError")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_tensor_cross_entropy_backward", "locked": true, "points": 3, "schema_version": 3, "solution": false}
"""Check that the cross-entropy gradient is (softmax - one_hot) / N times the upstream gradient."""
logits = Tensor([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]], requires_grad=True)
targets = np.array([0, 2])
cross_entropy(logits, targets).backward()
probs = np.exp(logits.data) / np.exp(logits.data).sum(axis=1, keepdims=True)
expected = probs.copy()
expected[[0, 1], targets] -= 1.0
expected /= 2
assert logits.grad is not None and logits.grad.shape == (2, 3), f"logits.grad should have shape (2, 3), got {None if logits.grad is None else logits.grad.shape}"
assert np.allclose(logits.grad, expected, atol=1e-6), f"expected (softmax - one_hot) / N =\n{expected}\ngot\n{logits.grad}"
assert np.allclose(logits.grad.sum(axis=1), 0.0, atol=1e-6), "each row of the gradient should sum to 0 (probabilities sum to 1)"
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(5)
z = rng.normal(size=(4, 6))
t = rng.integers(0, 6, size=4)
t[1] = t[2]
check_grad(lambda z: cross_entropy(z, t), z)
check_grad(lambda z: cross_entropy(z, t) * 3.0, z)
check_grad(lambda z: cross_entropy(z * z, t) + cross_entropy(z, t[::-1].copy()), z)
### END HIDDEN TESTS

# %% [markdown]
# ## 6. A language model's training step
#
# Put it together: a **bigram model** predicts the next token from the current one with a table
# `W` of shape `(vocab_size, vocab_size)`: row `W[i]` holds the logits for whatever follows token `i`.
# Looking up rows by integer ids (`W[token_ids]`) is an embedding lookup; a token that appears twice
# receives the sum of both gradients, the same accumulation rule as before. One training step:
#
# ```python
# loss = cross_entropy(W[inputs], next_tokens)   # forward
# W.zero_grad(); loss.backward()                 # gradients
# W.data -= learning_rate * W.grad               # step downhill
# ```

# %% nbgrader={"grade": true, "grade_id": "test_tensor_bigram_training", "locked": true, "points": 2, "schema_version": 3, "solution": false}
"""Check that a bigram model trained with cross_entropy and backward() learns its training text."""
text = "abcabcabcabd"
vocab = sorted(set(text))
ids = Tensor([vocab.index(ch) for ch in text])
assert ids.dtype == np.int64, f"token ids must stay integers, got {ids.dtype}"
inputs, next_tokens = ids[:-1], ids[1:]
W = Tensor(np.zeros((len(vocab), len(vocab))), requires_grad=True, dtype=np.float32)
losses = []
for step in range(100):
    loss = cross_entropy(W[inputs], next_tokens)
    W.zero_grad()
    loss.backward()
    W.data -= 5.0 * W.grad
    losses.append(loss.item())
assert np.isclose(losses[0], np.log(len(vocab)), rtol=1e-5), f"with all-zero logits the first loss is log(V) = {np.log(len(vocab)):.4f}, got {losses[0]:.4f}"
assert losses[-1] < 0.35, f"after 100 steps the loss should fall below 0.35 (the text is almost deterministic), got {losses[-1]:.4f}"
assert W.data[vocab.index("a")].argmax() == vocab.index("b"), "after training, 'a' should predict 'b'"
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(6)
table = rng.normal(size=(4, 4))
seq = np.array([0, 1, 1, 2, 1, 3])
check_grad(lambda table: cross_entropy(table[seq[:-1]], seq[1:]), table)
W = Tensor(np.zeros((4, 3)), requires_grad=True, dtype=np.float32)
picked = W[np.array([2, 2, 0])]
(picked * Tensor(np.arange(9.0).reshape(3, 3))).sum().backward()
assert np.allclose(W.grad[2], [3.0, 5.0, 7.0]) and np.allclose(W.grad[0], [6.0, 7.0, 8.0]), f"repeated ids must add their gradients, got {W.grad}"
assert not (ids + 1).requires_grad, "integer results never require grad"
try:
    Tensor(np.array([3, 4]), requires_grad=True)
except TypeError:
    pass
else:
    raise AssertionError("requires_grad=True on an integer tensor should raise TypeError")
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
#
# - A tensor is an array that remembers its inputs; each op defines a local `_backward` rule.
# - Broadcasting forwards means summing backwards (`unbroadcast`).
# - Gradients of a value used several times add up (`_accumulate_grad`).
# - `backward()` runs the local rules in reverse topological order, each exactly once.
# - Softmax cross-entropy is computed stably by subtracting the row maximum, and its gradient is
#   `(softmax - one_hot) / N`.
#
# The embeddings module builds on exactly this: an embedding lookup is `W[token_ids]` with its own
# faster backward, attached through the same `_backward` extension point.
