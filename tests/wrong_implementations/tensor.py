"""Plausible wrong implementations of the Module 02 Tensor solution regions.

Each one must lose points when autograded; see tests/wrong_implementations/__init__.py.
"""

NOTEBOOK = "solutions/02_tensor/tensor.py"


def _wrong(id, description, find, replace):
    return {"id": id, "notebook": NOTEBOOK, "description": description, "find": find, "replace": replace}


_TYPE_CHECK = """\
    if ids.dtype.kind not in "iu":
        raise TypeError(
            f"token ids must be integers, got dtype {ids.dtype}; pass the ids a tokenizer's encode() "
            "returns (a list or integer array), not embeddings, masks or strings")
"""

WRONG_IMPLEMENTATIONS = [
    _wrong(
        "token_ids_negative_wrapped",
        "checks only the upper bound, so numpy wraps negative ids to rows counted from the end",
        "if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):",
        "if ids.size and ids.max() >= vocab_size:",
    ),
    _wrong(
        "token_ids_upper_bound_off_by_one",
        "accepts id == vocab_size (> instead of >=); mode='clip' then silently returns the last row",
        "ids.max() >= vocab_size",
        "ids.max() > vocab_size",
    ),
    _wrong(
        "token_ids_bool_accepted",
        "treats bool as an integer dtype, so a mask is looked up as ids 0 and 1",
        'if ids.dtype.kind not in "iu":',
        'if ids.dtype.kind not in "biu":',
    ),
    _wrong(
        "token_ids_float_cast",
        "casts float ids to int instead of rejecting them (1.7 silently becomes 1)",
        _TYPE_CHECK,
        "    ids = ids.astype(np.int64)\n",
    ),
    _wrong(
        "tensor_unbroadcast_takes_first_slice",
        "drops the leading broadcast axes by indexing instead of summing them",
        "    if extra > 0:\n        grad = grad.sum(axis=tuple(range(extra)))\n",
        "    for _ in range(extra):\n        grad = grad[0]\n",
    ),
    _wrong(
        "tensor_unbroadcast_mean",
        "averages over the stretched size-1 axes instead of summing",
        "grad = grad.sum(axis=stretched, keepdims=True)",
        "grad = grad.mean(axis=stretched, keepdims=True)",
    ),
    _wrong(
        "tensor_grad_overwritten",
        "overwrites .grad instead of accumulating, so a tensor used twice keeps only one contribution",
        "self.grad = grad if self.grad is None else self.grad + grad",
        "self.grad = grad",
    ),
    _wrong(
        "tensor_backward_naive_recursion",
        "calls _backward and recurses into the inputs instead of walking a topological order",
        "        for node in reversed(topo):\n            node._backward(node.grad)\n",
        "        def propagate(node):\n"
        "            node._backward(node.grad)\n"
        "            for child in node._prev:\n"
        "                propagate(child)\n"
        "        propagate(self)\n",
    ),
    _wrong(
        "tensor_mul_own_value",
        "multiplies the upstream gradient by the input itself instead of by the other factor",
        "self._accumulate_grad(unbroadcast(grad * other.data, self.shape))",
        "self._accumulate_grad(unbroadcast(grad * self.data, self.shape))",
    ),
    _wrong(
        "tensor_matmul_grad_a_not_transposed",
        "forgets to transpose B in dA = dOut @ B^T",
        "grad @ np.swapaxes(other.data, -1, -2)",
        "grad @ other.data",
    ),
    _wrong(
        "tensor_matmul_grad_b_transposed",
        "computes dB as dOut^T @ A, the transpose of the right gradient",
        "np.swapaxes(self.data, -1, -2) @ grad",
        "np.swapaxes(grad, -1, -2) @ self.data",
    ),
    _wrong(
        "tensor_matmul_transposes_batch_axes",
        "uses .T, which reverses all axes, so batched products get the wrong gradient",
        "grad @ np.swapaxes(other.data, -1, -2)",
        "grad @ other.data.T",
    ),
    _wrong(
        "tensor_log_ignores_upstream",
        "returns the local derivative 1/x without multiplying by the upstream gradient",
        "self._accumulate_grad(grad / self.data)",
        "self._accumulate_grad(1.0 / self.data)",
    ),
    _wrong(
        "tensor_cross_entropy_unstable",
        "exponentiates the raw logits without subtracting the row maximum, so large logits overflow",
        "shifted = logits.data - logits.data.max(axis=1, keepdims=True)",
        "shifted = logits.data",
    ),
    _wrong(
        "tensor_cross_entropy_sum",
        "sums the per-example losses instead of averaging them",
        "loss = -log_probs[rows, targets].mean()",
        "loss = -log_probs[rows, targets].sum()",
    ),
    _wrong(
        "tensor_cross_entropy_grad_not_averaged",
        "forgets the 1/N of the mean in the gradient",
        "logits._accumulate_grad(probs * (grad / n))",
        "logits._accumulate_grad(probs * grad)",
    ),
    _wrong(
        "tensor_cross_entropy_one_hot_columns",
        "subtracts 1 from whole target columns (probs[:, targets]) instead of one entry per row",
        "probs[rows, targets] -= 1.0",
        "probs[:, targets] -= 1.0",
    ),
    _wrong(
        "tensor_cross_entropy_ignores_upstream",
        "drops the upstream gradient (the closure's argument), which is wrong when the loss is scaled or summed",
        "logits._accumulate_grad(probs * (grad / n))",
        "logits._accumulate_grad(probs / n)",
    ),
]
