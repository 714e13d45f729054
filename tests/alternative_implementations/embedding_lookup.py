"""Other correct ways students write the Module 12 part 1 (embedding lookup) solution regions; each must
keep full marks."""
from functools import partial

from implementation_catalogue import rewrite

NOTEBOOK = "solutions/12_embeddings/01_embedding_lookup.py"
_alternative = partial(rewrite, NOTEBOOK)

ALTERNATIVE_IMPLEMENTATIONS = [
    _alternative("Embedding.__init__#1", "init_normal_float64_cast", "rng.normal in float64, cast to dtype", """
        weight = rng.normal(0.0, 1.0, size=shape).astype(dtype)
        """),
    _alternative("Embedding.__init__#1", "init_standard_normal_float64", "rng.standard_normal (float64) for every dtype", """
        weight = rng.standard_normal(shape).astype(dtype)
        """),
    _alternative("Embedding.__init__#1", "init_flat_reshape", "one flat draw reshaped to the table", """
        weight = np.asarray(rng.standard_normal(self.vocab_size * self.embedding_dim), dtype=dtype).reshape(shape)
        """),
    _alternative("Embedding.__init__#2", "padding_row_slice", "assigns 0.0 to the row's full slice", """
        weight[self.padding_idx, :] = 0.0
        """),
    _alternative("Embedding.__init__#2", "padding_row_times_zero", "multiplies the row by zero", """
        weight[self.padding_idx] *= 0
        """),
    _alternative("Embedding.__init__#2", "padding_row_fill", "fills the row view with zeros", """
        weight[self.padding_idx].fill(0)
        """),
    _alternative("Embedding.forward", "forward_fancy_indexing", "fancy indexing W[ids], no output buffer", """
        values = self.weight.data[ids]
        out = Tensor(values, _children=(self.weight,), _op="embedding")

        def _backward(grad):
            self.weight._accumulate_grad(embedding_backward(
                ids, grad, self.vocab_size, self.padding_idx, self.scale_grad_by_freq))
        out._backward = _backward
        """),
    _alternative("Embedding.forward", "forward_take_flat_lambda", "np.take of the flat ids, reshaped; a lambda closure", """
        flat = self.weight.data.take(ids.reshape(-1), axis=0)
        out = Tensor(flat.reshape(ids.shape + (self.embedding_dim,)), _children=(self.weight,), _op="embedding")
        out._backward = lambda grad: self.weight._accumulate_grad(embedding_backward(
            ids, grad, self.vocab_size, padding_idx=self.padding_idx, scale_grad_by_freq=self.scale_grad_by_freq))
        """),
    _alternative("Embedding.forward", "forward_copyto_buffer", "fancy indexing copied into the buffer; keyword arguments", """
        np.copyto(buffer, self.weight.data[ids])
        out = Tensor(buffer, _children=(self.weight,), _op="embedding")

        def _backward(grad):
            table_grad = embedding_backward(token_ids=ids, grad_output=grad, vocab_size=self.vocab_size,
                                            padding_idx=self.padding_idx,
                                            scale_grad_by_freq=self.scale_grad_by_freq)
            self.weight._accumulate_grad(table_grad)
        out._backward = _backward
        """),
    _alternative("Embedding._renormalize", "renormalize_loop_p_norm", "the p-norm written out, a loop over the rows", """
        W = self.weight.data
        norms = np.sum(np.abs(W[rows]) ** self.norm_type, axis=1) ** (1.0 / self.norm_type)
        for row, norm in zip(rows, norms):
            if norm > self.max_norm:
                W[row] = W[row] * (self.max_norm / (norm + 1e-7))
        """),
    _alternative("Embedding._renormalize", "renormalize_where", "np.where picks the scale, 1 for short rows", """
        norms = np.linalg.norm(self.weight.data[rows], ord=self.norm_type, axis=1, keepdims=True)
        scale = np.where(norms > self.max_norm, self.max_norm / (norms + 1e-7), 1.0)
        self.weight.data[rows] = self.weight.data[rows] * scale
        """),
    _alternative("Embedding._renormalize", "renormalize_float64_no_margin", "float64 rows, exactly max_norm (no margin)", """
        values = self.weight.data[rows].astype(np.float64)
        norms = np.linalg.norm(values, ord=self.norm_type, axis=1)
        too_long = norms > self.max_norm
        self.weight.data[rows[too_long]] = values[too_long] * (self.max_norm / norms[too_long])[:, None]
        """),
    _alternative("embedding_backward#1", "backward_add_at", "np.add.at, as part 1 calls correct", """
        np.add.at(grad, ids, grad_rows)
        unique_ids, counts = np.unique(ids, return_counts=True)
        """),
    _alternative("embedding_backward#1", "backward_bincount_float64",
                 "np.bincount per column: a new float64 gradient whatever grad_output's dtype", """
        grad = np.stack([np.bincount(ids, weights=grad_rows[:, j], minlength=vocab_size)
                         for j in range(grad_rows.shape[1])], axis=1)
        counts = np.bincount(ids, minlength=vocab_size)
        unique_ids = np.flatnonzero(counts)
        counts = counts[unique_ids]
        """),
    _alternative("embedding_backward#1", "backward_sort_reduceat", "sort, then np.add.reduceat over the runs", """
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        unique_ids = sorted_ids[starts]
        counts = np.diff(np.r_[starts, ids.size])
        grad[unique_ids] = np.add.reduceat(grad_rows[order], starts, axis=0)
        """),
    _alternative("embedding_backward#1", "backward_python_loop", "a Python loop over the positions", """
        for position, token in enumerate(ids):
            grad[token] += grad_rows[position]
        unique_ids, counts = np.unique(ids, return_counts=True)
        """),
    _alternative("embedding_backward#1", "backward_float64_accumulator", "np.add.at into a float64 accumulator, copied back", """
        total = np.zeros(grad.shape, dtype=np.float64)
        np.add.at(total, ids, grad_rows)
        grad[:] = total
        unique_ids, counts = np.unique(ids, return_counts=True)
        """),
    _alternative("embedding_backward#2", "scale_bincount_maximum", "divides every row by max(count, 1) from np.bincount", """
        grad /= np.maximum(np.bincount(ids, minlength=vocab_size), 1)[:, None]
        """),
    _alternative("embedding_backward#2", "scale_fancy_division", "a division that is not in place", """
        grad[unique_ids] = grad[unique_ids] / counts[:, None]
        """),
    _alternative("embedding_backward#2", "scale_loop", "a loop over the distinct ids", """
        for token, count in zip(unique_ids, counts):
            grad[token] /= count
        """),
    _alternative("embedding_backward#3", "padding_grad_slice", "assigns 0.0 to the full row slice", """
        grad[padding_idx, :] = 0.0
        """),
    _alternative("embedding_backward#3", "padding_grad_times_zero", "multiplies the row by zero", """
        grad[padding_idx] *= 0
        """),
    _alternative("embedding_backward#3", "padding_grad_fill", "fills the row view with zeros", """
        grad[padding_idx].fill(0)
        """),
]
