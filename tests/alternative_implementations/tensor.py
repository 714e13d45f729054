"""Other correct ways students write the Tensor module's solution regions; each must keep full marks."""
from functools import partial

from implementation_catalogue import rewrite

NOTEBOOK = "solutions/02_tensor/tensor.py"
_alternative = partial(rewrite, NOTEBOOK)

ALTERNATIVE_IMPLEMENTATIONS = [
    _alternative("unbroadcast", "unbroadcast_loops", "sums one axis at a time in loops", """
        while grad.ndim > len(shape):
            grad = grad.sum(axis=0)
        for axis, size in enumerate(shape):
            if size == 1 and grad.shape[axis] != 1:
                grad = grad.sum(axis=axis, keepdims=True)
        """),
    _alternative("unbroadcast", "unbroadcast_one_sum_reshape",
                 "one sum over all axes with keepdims, then a reshape to the operand's shape", """
        extra = grad.ndim - len(shape)
        axes = tuple(range(extra)) + tuple(
            extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
        if axes:
            grad = grad.sum(axis=axes, keepdims=True).reshape(shape)
        """),
    _alternative("unbroadcast", "unbroadcast_add_reduce", "np.add.reduce, axis by axis", """
        for _ in range(grad.ndim - len(shape)):
            grad = np.add.reduce(grad, axis=0)
        for axis in [i for i, n in enumerate(shape) if n == 1 and grad.shape[i] > 1]:
            grad = np.add.reduce(grad, axis=axis, keepdims=True)
        """),
    _alternative("Tensor._accumulate_grad", "accumulate_if_else", "an if/else instead of a conditional expression", """
        if self.grad is None:
            self.grad = grad
        else:
            self.grad = self.grad + grad
        """),
    _alternative("Tensor._accumulate_grad", "accumulate_np_add", "np.add for the later contributions", """
        self.grad = grad if self.grad is None else np.add(self.grad, grad)
        """),
    _alternative("Tensor._accumulate_grad", "accumulate_early_return", "returns early on the first contribution", """
        if self.grad is None:
            self.grad = grad
            return
        self.grad = self.grad + grad
        """),
    _alternative("Tensor.backward", "backward_reversed_slice", "walks topo[::-1]", """
        for node in topo[::-1]:
            node._backward(node.grad)
        """),
    _alternative("Tensor.backward", "backward_index_loop", "counts the index down", """
        for i in range(len(topo) - 1, -1, -1):
            topo[i]._backward(topo[i].grad)
        """),
    _alternative("Tensor.backward", "backward_pop", "pops nodes off the end of the list", """
        while topo:
            node = topo.pop()
            node._backward(node.grad)
        """),
    _alternative("Tensor._topological_order.visit", "topo_early_return", "returns early for a visited node", """
        if node in visited:
            return
        visited.add(node)
        for child in node._prev:
            if child.requires_grad:
                visit(child)
        topo.append(node)
        """),
    _alternative("Tensor._topological_order.visit", "topo_check_before_recursing", "checks children before recursing into them", """
        visited.add(node)
        for child in node._prev:
            if child.requires_grad and child not in visited:
                visit(child)
        topo.append(node)
        """),
    _alternative("Tensor._topological_order.visit", "topo_iterative_stack", "an explicit stack instead of recursion", """
        stack = [(node, False)]
        while stack:
            current, expanded = stack.pop()
            if expanded:
                topo.append(current)
            elif current not in visited:
                visited.add(current)
                stack.append((current, True))
                stack.extend((child, False) for child in current._prev if child.requires_grad)
        """),
    _alternative("Tensor.__add__._backward", "add_backward_loop", "one loop over both inputs", """
        for operand in (self, other):
            operand._accumulate_grad(unbroadcast(grad, operand.shape))
        """),
    _alternative("Tensor.__add__._backward", "add_backward_other_first", "the other input first, both gradients named", """
        grad_other = unbroadcast(grad, other.shape)
        grad_self = unbroadcast(grad, self.shape)
        other._accumulate_grad(grad_other)
        self._accumulate_grad(grad_self)
        """),
    _alternative("Tensor.__add__._backward", "add_backward_copies", "hands each input its own copy", """
        self._accumulate_grad(unbroadcast(np.array(grad), self.shape))
        other._accumulate_grad(unbroadcast(np.array(grad), other.shape))
        """),
    _alternative("Tensor.__mul__._backward", "mul_backward_operands_swapped", "data times grad instead of grad times data", """
        self._accumulate_grad(unbroadcast(other.data * grad, self.shape))
        other._accumulate_grad(unbroadcast(self.data * grad, other.shape))
        """),
    _alternative("Tensor.__mul__._backward", "mul_backward_np_multiply", "np.multiply, gradients computed first", """
        grad_self = np.multiply(grad, other.data)
        grad_other = np.multiply(grad, self.data)
        self._accumulate_grad(unbroadcast(grad_self, self.shape))
        other._accumulate_grad(unbroadcast(grad_other, other.shape))
        """),
    _alternative("Tensor.__mul__._backward", "mul_backward_pairs", "one loop over (input, the other input's data)", """
        for operand, factor in ((self, other.data), (other, self.data)):
            operand._accumulate_grad(unbroadcast(grad * factor, operand.shape))
        """),
    _alternative("Tensor.__matmul__._backward", "matmul_backward_method_swapaxes", "the ndarray.swapaxes method", """
        self._accumulate_grad(unbroadcast(grad @ other.data.swapaxes(-1, -2), self.shape))
        other._accumulate_grad(unbroadcast(self.data.swapaxes(-1, -2) @ grad, other.shape))
        """),
    _alternative("Tensor.__matmul__._backward", "matmul_backward_einsum", "np.einsum with broadcast batch axes", """
        self._accumulate_grad(unbroadcast(np.einsum("...ij,...kj->...ik", grad, other.data), self.shape))
        other._accumulate_grad(unbroadcast(np.einsum("...ji,...jk->...ik", self.data, grad), other.shape))
        """),
    _alternative("Tensor.__matmul__._backward", "matmul_backward_moveaxis", "np.matmul and np.moveaxis", """
        a_t = np.moveaxis(self.data, -1, -2)
        b_t = np.moveaxis(other.data, -1, -2)
        self._accumulate_grad(unbroadcast(np.matmul(grad, b_t), self.shape))
        other._accumulate_grad(unbroadcast(np.matmul(a_t, grad), other.shape))
        """),
    _alternative("Tensor.log._backward", "log_backward_reciprocal_multiply", "multiplies by 1 / x", """
        self._accumulate_grad(grad * (1.0 / self.data))
        """),
    _alternative("Tensor.log._backward", "log_backward_np_divide", "np.divide", """
        self._accumulate_grad(np.divide(grad, self.data))
        """),
    _alternative("Tensor.log._backward", "log_backward_np_reciprocal", "np.reciprocal", """
        self._accumulate_grad(grad * np.reciprocal(self.data))
        """),
    _alternative("check_token_ids", "validate_issubdtype_flat_index",
                 "np.issubdtype for the dtype; the error names the flat index, in other words", """
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"expected whole-number token ids, not {ids.dtype}")
        bad = (ids < 0) | (ids >= vocab_size)
        if bad.any():
            flat = int(np.argmax(bad.reshape(-1)))
            raise TokenIdError(f"id {ids.reshape(-1)[flat]} at flat index {flat} is outside [0, {vocab_size}) "
                             f"(vocab_size {vocab_size})")
        """),
    _alternative("check_token_ids", "validate_argwhere_numpy_position",
                 "np.argwhere; the position is printed as numpy 2 shows it, (np.int64(1), np.int64(2))", """
        if ids.dtype == bool or ids.dtype.kind not in "iu":
            raise TypeError(f"{ids.dtype} ids are not allowed: use int ids")
        if ids.size:
            outside = np.argwhere((ids < 0) | (ids >= vocab_size))
            if len(outside):
                position = tuple(outside[0])
                raise TokenIdError(f"vocab_size is {vocab_size}, so {ids[position]} at {position} is not a valid id")
        """),
    _alternative("check_token_ids", "validate_ndindex_loop",
                 "a vectorised range check, then a loop over np.ndindex to find the position (as a list)", """
        if ids.dtype.kind not in ("i", "u"):
            raise TypeError("token ids have dtype " + str(ids.dtype) + ", need an integer dtype")
        if ids.size and not ((ids >= 0) & (ids < vocab_size)).all():
            for position in np.ndindex(ids.shape):
                if not 0 <= ids[position] < vocab_size:
                    raise TokenIdError(f"bad token id {ids[position]} at {list(position)}; vocab_size={vocab_size}")
        """),
    _alternative("cross_entropy", "cross_entropy_logsumexp", "log-sum-exp written out, np.mean of the picked entries", """
        row_max = logits.data.max(axis=1, keepdims=True)
        log_sum_exp = row_max + np.log(np.exp(logits.data - row_max).sum(axis=1, keepdims=True))
        log_probs = logits.data - log_sum_exp
        loss = -np.mean(log_probs[rows, targets])
        """),
    _alternative("cross_entropy", "cross_entropy_float64", "float64 intermediates, a sum divided by N", """
        z = logits.data.astype(np.float64)
        shifted = z - np.max(z, axis=1)[:, None]
        log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1))[:, None]
        loss = -np.sum(log_probs[rows, targets]) / n
        """),
    _alternative("cross_entropy", "cross_entropy_take_along_axis", "np.take_along_axis picks the targets", """
        shifted = logits.data - logits.data.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        loss = -np.take_along_axis(log_probs, targets[:, None], axis=1).mean()
        """),
    _alternative("cross_entropy._backward", "cross_entropy_backward_one_hot", "softmax minus a one-hot matrix", """
        softmax = np.exp(log_probs)
        one_hot = np.zeros_like(softmax)
        one_hot[rows, targets] = 1
        logits._accumulate_grad((softmax - one_hot) * grad / n)
        """),
    _alternative("cross_entropy._backward", "cross_entropy_backward_eye", "one-hot rows from np.eye", """
        logits._accumulate_grad(grad * (np.exp(log_probs) - np.eye(classes)[targets]) / n)
        """),
    _alternative("cross_entropy._backward", "cross_entropy_backward_subtract_at", "np.subtract.at", """
        probs = np.exp(log_probs)
        np.subtract.at(probs, (rows, targets), 1.0)
        logits._accumulate_grad(probs * grad / n)
        """),
]
