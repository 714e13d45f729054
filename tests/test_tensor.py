"""Tests of the compiled Tensor (tinytorch_lite.core.tensor) against numpy and finite differences."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinytorch_lite.core.tensor import Tensor, cross_entropy, unbroadcast

FAST = settings(max_examples=30, deadline=None)


def numerical_grad(loss_fn, x, eps=1e-6):
    """Central differences of the float loss_fn at the float64 array x."""
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


def assert_grads_match(fn, *arrays, atol=1e-6):
    """backward() of the scalar fn(*tensors) must agree with finite differences for every input."""
    tensors = [Tensor(a, requires_grad=True, dtype=np.float64) for a in arrays]
    fn(*tensors).backward()
    for k, tensor in enumerate(tensors):
        def loss_k(xk):
            inputs = [Tensor(xk if j == k else a, dtype=np.float64) for j, a in enumerate(arrays)]
            return fn(*inputs).item()
        expected = numerical_grad(loss_k, arrays[k])
        assert tensor.grad is not None, f"input {k} got no gradient"
        assert tensor.grad.shape == np.shape(arrays[k])
        np.testing.assert_allclose(tensor.grad, expected, atol=atol, err_msg=f"input {k}")


def weighted_sum(out):
    """A scalar that depends on every entry of out with a different weight."""
    weights = np.linspace(-1.0, 2.0, out.size).reshape(out.shape)
    return (out * Tensor(weights, dtype=np.float64)).sum()


rng = np.random.default_rng(0)


# ---- construction and dtypes ----------------------------------------------------------------

def test_python_floats_become_float32_and_ints_stay_integer():
    assert Tensor([0.5, 1.0]).dtype == np.float32
    assert Tensor(2.5).dtype == np.float32
    assert Tensor([5, 17, 2]).dtype == np.int64
    assert Tensor([True, False]).dtype == np.bool_


def test_numpy_arrays_keep_dtype_and_memory():
    array = np.arange(6.0).reshape(2, 3)
    tensor = Tensor(array)
    assert tensor.dtype == np.float64
    assert tensor.data is array or np.shares_memory(tensor.data, array)
    assert Tensor(np.arange(3, dtype=np.int32)).dtype == np.int32


def test_dtype_argument_forces_dtype():
    assert Tensor([1, 2], dtype=np.float32).dtype == np.float32
    assert Tensor([1.7, 2.2], dtype=np.int64).dtype == np.int64


def test_requires_grad_on_integer_tensor_is_a_type_error():
    with pytest.raises(TypeError, match="token ids are integers; only floating tensors can require gradients"):
        Tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(TypeError):
        Tensor([True], requires_grad=True)


def test_non_numeric_data_is_rejected():
    with pytest.raises(TypeError, match="numeric"):
        Tensor(["a", "b"])


def test_requires_grad_propagates_only_to_floating_results():
    w = Tensor([1.0, 2.0], requires_grad=True)
    ids = Tensor([0, 1])
    assert (w * 2).requires_grad
    assert not (Tensor([1.0, 2.0]) * 2).requires_grad
    assert not (ids + 1).requires_grad
    assert (ids + 1).dtype == np.int64
    assert w[ids].requires_grad


def test_scalar_operands_keep_float32():
    x = Tensor([1.0, 2.0], requires_grad=True)
    for y in (x * 2, x + 1, 2.0 - x, x / 3, 1 / x, x ** 2, -x, x.mean(), x * np.int64(3), x / np.float64(2)):
        assert y.dtype == np.float32, y
    (x * 3).sum().backward()
    assert x.grad.dtype == np.float32


def test_properties_and_repr():
    t = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert (t.shape, t.ndim, t.size, len(t)) == ((2, 3), 2, 6, 2)
    assert t.numpy() is t.data
    assert t.grad is None
    assert Tensor([[4.5]]).item() == 4.5
    assert "requires_grad=True" in repr(t) and "5." in repr(t)
    with pytest.raises(TypeError):
        len(Tensor(3.0))


def test_numpy_array_on_the_left_defers_to_tensor():
    x = Tensor([1.0, 2.0], requires_grad=True)
    for y in (np.ones(2) + x, np.ones(2) * x, np.ones(2) - x, np.ones(2) / x, np.eye(2) @ x):
        assert isinstance(y, Tensor) and y.requires_grad


# ---- forward values against numpy ---------------------------------------------------------

@pytest.mark.parametrize("name, op", [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("matmul", lambda a, b: a @ b.T),
])
def test_binary_forward_matches_numpy(name, op):
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)) + 3.0
    np.testing.assert_allclose(op(Tensor(a), Tensor(b)).data, op(a, b))


@pytest.mark.parametrize("name, op, ref", [
    ("exp", lambda t: t.exp(), np.exp),
    ("log", lambda t: t.log(), np.log),
    ("relu", lambda t: t.relu(), lambda x: np.maximum(x, 0)),
    ("tanh", lambda t: t.tanh(), np.tanh),
    ("sum", lambda t: t.sum(axis=0), lambda x: x.sum(axis=0)),
    ("mean", lambda t: t.mean(axis=(0, 1), keepdims=True), lambda x: x.mean(axis=(0, 1), keepdims=True)),
    ("max", lambda t: t.max(axis=-1), lambda x: x.max(axis=-1)),
    ("reshape", lambda t: t.reshape(4, 3), lambda x: x.reshape(4, 3)),
    ("transpose", lambda t: t.transpose(1, 0), lambda x: x.transpose(1, 0)),
    ("T", lambda t: t.T, lambda x: x.T),
    ("getitem", lambda t: t[1:, ::2], lambda x: x[1:, ::2]),
    ("softmax", lambda t: t.softmax(axis=0),
     lambda x: np.exp(x) / np.exp(x).sum(axis=0, keepdims=True)),
    ("log_softmax", lambda t: t.log_softmax(),
     lambda x: x - np.log(np.exp(x).sum(axis=-1, keepdims=True))),
])
def test_unary_forward_matches_numpy(name, op, ref):
    x = rng.uniform(0.1, 2.0, size=(3, 4))
    np.testing.assert_allclose(op(Tensor(x)).data, ref(x), rtol=1e-12)


@pytest.mark.parametrize("shape_a, shape_b", [
    ((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((4, 2, 3), (3,)), ((3,), (4, 3, 2)),
    ((4, 2, 3), (3, 5)), ((2, 1, 2, 3), (3, 3, 2)),
])
def test_matmul_shapes_and_values_match_numpy(shape_a, shape_b):
    a, b = rng.normal(size=shape_a), rng.normal(size=shape_b)
    out = Tensor(a) @ Tensor(b)
    assert out.shape == (a @ b).shape
    np.testing.assert_allclose(out.data, a @ b)
    assert_grads_match(lambda a, b: weighted_sum(a @ b), a, b)


# ---- shape errors -------------------------------------------------------------------------

def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) @ \(4, 5\)"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(2, 2, 3\) @ \(3, 3, 1\)"):
        Tensor(np.ones((2, 2, 3))) @ Tensor(np.ones((3, 3, 1)))
    with pytest.raises(ValueError, match="scalar"):
        Tensor(2.0) @ Tensor(np.ones(2))


@pytest.mark.parametrize("op", [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a / b, lambda a, b: a - b])
def test_elementwise_shape_mismatch_names_both_shapes(op):
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
        op(Tensor(np.ones((2, 3))), Tensor(np.ones(4)))


# ---- backward semantics -------------------------------------------------------------------

def test_backward_on_non_scalar_without_grad_says_to_pass_grad():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"pass\s+grad.*\(2, 3\)"):
        (x * 2).backward()
    (x * 2).backward(np.full((2, 3), 0.5))
    np.testing.assert_allclose(x.grad, np.ones((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        (x * 2).backward(np.ones(3))


def test_backward_without_requires_grad_is_an_error():
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        Tensor([1.0]).sum().backward()


def test_gradients_accumulate_across_calls_and_zero_grad_resets():
    x = Tensor([1.0, -2.0], requires_grad=True)
    y = x * 3.0
    z = (y * y + y).sum()
    z.backward()
    first = x.grad.copy()
    np.testing.assert_allclose(first, 3 * (2 * np.array([3.0, -6.0]) + 1))
    z.backward()
    np.testing.assert_allclose(x.grad, 2 * first)
    x.zero_grad()
    assert x.grad is None
    z.backward()
    np.testing.assert_allclose(x.grad, first)


def test_each_node_backward_runs_once():
    x = Tensor([2.0], requires_grad=True)
    h = x * x
    calls = []
    original = h._backward
    h._backward = lambda grad: (calls.append(1), original(grad))
    (h * h + h * 3.0 + h).sum().backward()
    assert len(calls) == 1
    np.testing.assert_allclose(x.grad, (2 * 4.0 + 3.0 + 1.0) * 2 * 2.0)


def test_inputs_without_requires_grad_get_no_gradient():
    frozen = Tensor([1.0, 2.0])
    w = Tensor([0.5, 0.5], requires_grad=True)
    (w * frozen + frozen).sum().backward()
    assert frozen.grad is None
    np.testing.assert_allclose(w.grad, [1.0, 2.0])


def test_accumulate_grad_takes_ownership_and_checks_shape():
    w = Tensor(np.zeros((3, 2), dtype=np.float32), requires_grad=True)
    g = np.ones((3, 2), dtype=np.float32)
    w._accumulate_grad(g)
    assert w.grad is g
    w._accumulate_grad(g)
    np.testing.assert_allclose(w.grad, 2.0)
    np.testing.assert_allclose(g, 1.0)  # the array handed over first is not modified in place
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\).*unbroadcast"):
        w._accumulate_grad(np.ones((2, 3)))
    frozen = Tensor(np.zeros(2))
    frozen._accumulate_grad(np.ones(2))
    assert frozen.grad is None


def test_extension_point_for_a_new_op():
    weight = Tensor(rng.normal(size=(5, 3)), requires_grad=True)
    token_ids = np.array([4, 0, 4])
    out = Tensor(weight.data[token_ids], _children=(weight,), _op="embedding")

    def _backward(grad):  # grad is dL/d(out)
        full = np.zeros_like(weight.data)
        np.add.at(full, token_ids, grad)
        weight._accumulate_grad(full)
    out._backward = _backward
    assert out.requires_grad
    out.sum().backward()
    np.testing.assert_allclose(weight.grad.sum(axis=1), [3.0, 0.0, 0.0, 0.0, 6.0])


def test_backward_passes_each_node_its_own_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    received = []
    original = h._backward
    h._backward = lambda grad: (received.append(np.array(grad)), original(grad))
    (h * Tensor([5.0, -1.0])).sum().backward()
    assert len(received) == 1
    np.testing.assert_allclose(received[0], [5.0, -1.0])  # dL/dh
    np.testing.assert_allclose(x.grad, [15.0, -3.0])


OP_RESULTS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "neg": lambda a, b: -a, "pow": lambda a, b: a ** 2,
    "matmul": lambda a, b: a @ b.T, "vector_matmul": lambda a, b: a[0] @ b.T,
    "sum": lambda a, b: a.sum(axis=0), "mean": lambda a, b: a.mean(),
    "max": lambda a, b: a.max(axis=1), "reshape": lambda a, b: a.reshape(-1),
    "transpose": lambda a, b: a.T, "getitem_basic": lambda a, b: a[1:],
    "getitem_array": lambda a, b: a[np.array([0, 0, 1])],
    "exp": lambda a, b: a.exp(), "log": lambda a, b: (a * a + 1.0).log(),
    "relu": lambda a, b: a.relu(), "tanh": lambda a, b: a.tanh(),
    "softmax": lambda a, b: a.softmax(), "log_softmax": lambda a, b: a.log_softmax(),
    "cross_entropy": lambda a, b: cross_entropy(a, np.array([0, 2])),
}


@pytest.mark.parametrize("name", sorted(OP_RESULTS))
@pytest.mark.parametrize("after_backward", [False, True], ids=["before_backward", "after_backward"])
def test_op_results_are_freed_without_the_cyclic_collector(name, after_backward):
    # a closure that refers to its own output makes a cycle that only gc.collect() would free
    a = Tensor(rng.normal(size=(2, 3)), requires_grad=True)
    b = Tensor(rng.normal(size=(2, 3)), requires_grad=True)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        out = OP_RESULTS[name](a, b)
        if after_backward:
            weighted_sum(out).backward()
            assert a.grad is not None
        result, closure = weakref.ref(out), weakref.ref(out._backward)
        del out
        assert result() is None, f"the result of {name} outlived its last reference: a reference cycle"
        assert closure() is None, f"the _backward closure of {name} outlived its tensor"
    finally:
        if was_enabled:
            gc.enable()


# ---- gradients against finite differences ---------------------------------------------------

@pytest.mark.parametrize("name, fn, shapes", [
    ("add", lambda a, b: weighted_sum(a + b), [(3, 4), (4,)]),
    ("sub", lambda a, b: weighted_sum(a - b), [(3, 1), (1, 4)]),
    ("mul", lambda a, b: weighted_sum(a * b), [(2, 3, 4), (3, 1)]),
    ("div", lambda a, b: weighted_sum(a / (b * b + 1.0)), [(3, 4), (4,)]),
    ("neg_pow", lambda a: weighted_sum((-a) ** 3), [(3, 4)]),
    ("scalar_ops", lambda a: weighted_sum(2.0 - a * 3 + 1 / (a * a + 1.0)), [(5,)]),
    ("matmul", lambda a, b: weighted_sum(a @ b), [(3, 4), (4, 2)]),
    ("batched_matmul", lambda a, b: weighted_sum(a @ b), [(2, 3, 4), (4, 2)]),
    ("sum_axis", lambda a: weighted_sum(a.sum(axis=1)), [(3, 4, 2)]),
    ("sum_keepdims", lambda a: weighted_sum(a.sum(axis=(0, 2), keepdims=True)), [(3, 4, 2)]),
    ("mean", lambda a: weighted_sum(a.mean(axis=-1)), [(3, 4)]),
    ("mean_all", lambda a: (a * a).mean(), [(3, 4)]),
    ("max", lambda a: weighted_sum(a.max(axis=0)), [(3, 4)]),
    ("reshape", lambda a: weighted_sum(a.reshape(2, 6)), [(3, 4)]),
    ("transpose", lambda a: weighted_sum(a.transpose(2, 0, 1)), [(2, 3, 4)]),
    ("T", lambda a: weighted_sum(a.T @ a), [(3, 2)]),
    ("getitem_slice", lambda a: weighted_sum(a[1:, ::2]), [(3, 4)]),
    ("getitem_int", lambda a: weighted_sum(a[1]), [(3, 4)]),
    ("getitem_repeated_ids", lambda a: weighted_sum(a[np.array([[2, 0], [2, 2]])]), [(3, 4)]),
    ("getitem_tuple", lambda a: weighted_sum(a[np.array([0, 0, 2]), np.array([1, 1, 3])]), [(3, 4)]),
    ("exp", lambda a: weighted_sum(a.exp()), [(3, 4)]),
    ("log", lambda a: weighted_sum((a * a + 0.5).log()), [(3, 4)]),
    ("relu", lambda a: weighted_sum(a.relu()), [(3, 4)]),
    ("tanh", lambda a: weighted_sum(a.tanh()), [(3, 4)]),
    ("softmax", lambda a: weighted_sum(a.softmax(axis=0)), [(3, 4)]),
    ("log_softmax", lambda a: weighted_sum(a.log_softmax()), [(3, 4)]),
    ("mlp", lambda x, w, b: weighted_sum((x @ w + b).tanh() @ w.T), [(4, 3), (3, 5), (5,)]),
])
def test_gradient_matches_finite_differences(name, fn, shapes):
    arrays = [rng.normal(size=shape) for shape in shapes]
    assert_grads_match(fn, *arrays)


def test_reused_intermediate_matches_finite_differences():
    assert_grads_match(lambda a: weighted_sum((a * a) * (a * a) + a * a), rng.normal(size=(2, 3)))


# ---- cross-entropy ------------------------------------------------------------------------

def reference_cross_entropy(logits, targets):
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(targets)), targets].mean()


def test_cross_entropy_value_and_gradient():
    logits = rng.normal(size=(5, 7)) * 2
    targets = np.array([0, 6, 3, 3, 1])
    loss = cross_entropy(Tensor(logits, requires_grad=True), targets)
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), reference_cross_entropy(logits, targets), rtol=1e-12)
    assert_grads_match(lambda z: cross_entropy(z, targets), logits)
    assert_grads_match(lambda z: cross_entropy(z, targets) * 2.5 + cross_entropy(z * z, targets), logits)


def test_cross_entropy_is_stable_for_large_logits():
    logits = Tensor(np.array([[1000.0, 0.0, -1000.0], [0.0, 1e4, 0.0]], dtype=np.float32), requires_grad=True)
    loss = cross_entropy(logits, np.array([2, 1]))
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), 1000.0, rtol=1e-6)
    loss.backward()
    assert np.all(np.isfinite(logits.grad))


def test_cross_entropy_accepts_integer_tensor_targets():
    logits = rng.normal(size=(3, 4))
    targets = Tensor([1, 0, 3])
    np.testing.assert_allclose(cross_entropy(Tensor(logits), targets).item(),
                               reference_cross_entropy(logits, targets.data))


@pytest.mark.parametrize("logits, targets, error, match", [
    (np.zeros((2, 3)), np.array([0, 3]), ValueError, r"token id 3 at position \(1,\) is out of range for vocab_size=3"),
    (np.zeros((2, 3)), np.array([-1, 0]), IndexError, r"token id -1 at position \(0,\) is out of range"),
    (np.zeros((2, 3)), np.array([0.0, 1.0]), TypeError, "integer"),
    (np.zeros((2, 3)), np.array([0, 1, 2]), ValueError, r"\(2, 3\).*\(2,\).*\(3,\)"),
    (np.zeros(3), np.array([0]), ValueError, r"\(N, C\)"),
    (np.zeros((0, 3)), np.zeros(0, dtype=np.int64), ValueError, "empty"),
])
def test_cross_entropy_errors_say_what_is_wrong(logits, targets, error, match):
    with pytest.raises(error, match=match):
        cross_entropy(Tensor(logits), targets)


def test_bigram_model_learns():
    text = np.array([0, 1, 2] * 5 + [0, 1, 3])
    W = Tensor(np.zeros((4, 4)), requires_grad=True, dtype=np.float32)
    losses = []
    for _ in range(60):
        loss = cross_entropy(W[text[:-1]], text[1:])
        W.zero_grad()
        loss.backward()
        W.data -= 5.0 * W.grad
        losses.append(loss.item())
    assert losses[0] == pytest.approx(np.log(4), rel=1e-6)
    assert losses[-1] < 0.4
    assert W.data[1].argmax() == 2


# ---- property tests -------------------------------------------------------------------------

broadcast_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


@FAST
@given(broadcast_pairs, st.integers(0, 2**32 - 1))
def test_unbroadcast_is_the_adjoint_of_broadcasting(shapes, seed):
    """<unbroadcast(g, s), v> == <g, broadcast_to(v, g.shape)> for every v of shape s."""
    gen = np.random.default_rng(seed)
    shape = shapes.input_shapes[0]
    grad = gen.normal(size=shapes.result_shape)
    v = gen.normal(size=shape)
    reduced = np.asarray(unbroadcast(grad, shape))
    assert reduced.shape == shape
    np.testing.assert_allclose(np.sum(reduced * v), np.sum(grad * np.broadcast_to(v, grad.shape)), atol=1e-9)


@FAST
@given(broadcast_pairs, st.sampled_from(["+", "-", "*", "/"]), st.integers(0, 2**32 - 1))
def test_broadcast_gradients_match_finite_differences(shapes, op, seed):
    gen = np.random.default_rng(seed)
    a, b = (gen.normal(size=s) for s in shapes.input_shapes)
    if op == "/":
        b = np.abs(b) + 1.0
    fn = {"+": lambda x, y: x + y, "-": lambda x, y: x - y,
          "*": lambda x, y: x * y, "/": lambda x, y: x / y}[op]
    assert_grads_match(lambda x, y: weighted_sum(fn(x, y)), a, b)


@FAST
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(0, 2), st.integers(0, 2**32 - 1))
def test_matmul_gradients_match_numpy_formulas(n, k, m, batch, seed):
    gen = np.random.default_rng(seed)
    a = gen.normal(size=(2,) * batch + (n, k))
    b = gen.normal(size=(k, m))
    A, B = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    out = A @ B
    upstream = gen.normal(size=out.shape)
    out.backward(upstream)
    np.testing.assert_allclose(A.grad, upstream @ b.T, atol=1e-10)
    np.testing.assert_allclose(B.grad, (np.swapaxes(a, -1, -2) @ upstream).reshape(-1, k, m).sum(axis=0), atol=1e-10)


@FAST
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=6),
                  elements=st.floats(-50, 50)),
       st.integers(0, 2**32 - 1))
def test_cross_entropy_gradient_is_softmax_minus_one_hot(logits, seed):
    n, classes = logits.shape
    targets = np.random.default_rng(seed).integers(0, classes, size=n)
    z = Tensor(logits, requires_grad=True)
    loss = cross_entropy(z, targets)
    np.testing.assert_allclose(loss.item(), reference_cross_entropy(logits - logits.max(axis=1, keepdims=True), targets),
                               rtol=1e-9, atol=1e-9)
    loss.backward()
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected = shifted / shifted.sum(axis=1, keepdims=True)
    expected[np.arange(n), targets] -= 1.0
    np.testing.assert_allclose(z.grad, expected / n, atol=1e-12)
    np.testing.assert_allclose(z.grad.sum(axis=1), 0.0, atol=1e-12)


def test_too_deep_graph_names_the_recursion_limit():
    x = Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(3000):
        y = y + 1.0
    with pytest.raises(RecursionError, match="setrecursionlimit"):
        y.sum().backward()
