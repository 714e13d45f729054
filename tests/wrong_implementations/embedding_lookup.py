"""Plausible wrong implementations of the Module 12 part 1 (embedding lookup) solution regions.

Each one must lose points when autograded; see tests/wrong_implementations/__init__.py.
"""

NOTEBOOK = "solutions/12_embeddings/01_embedding_lookup.py"


def _wrong(id, description, find, replace):
    return {"id": id, "notebook": NOTEBOOK, "description": description, "find": find, "replace": replace}


_SCATTER = """\
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    counts = np.diff(np.r_[starts, ids.size])
    unique_ids = sorted_ids[starts]
    grad[unique_ids] = grad_rows[order[starts]]  # first occurrences: distinct targets
"""

WRONG_IMPLEMENTATIONS = [
    _wrong(
        "embedding_init_uniform",
        "initialises the table from U(0, 1) instead of N(0, 1)",
        "rng.standard_normal(shape, dtype=sample_dtype)",
        "rng.random(shape, dtype=sample_dtype)",
    ),
    _wrong(
        "embedding_init_ignores_rng",
        "draws the table from a fresh unseeded generator, so the rng argument has no effect",
        "weight = rng.standard_normal(shape, dtype=sample_dtype).astype(dtype, copy=False)",
        "weight = np.random.default_rng().standard_normal(shape, dtype=sample_dtype).astype(dtype, copy=False)",
    ),
    _wrong(
        "embedding_forward_off_by_one_row",
        "looks up row id - 1 (as if ids were 1-based)",
        "values = np.take(self.weight.data, ids, axis=0, mode=\"clip\", out=buffer)",
        "values = np.take(self.weight.data, ids - 1, axis=0, mode=\"clip\", out=buffer)",
    ),
    _wrong(
        "embedding_forward_transposed_table",
        "gathers columns of the table (axis=1) instead of rows",
        "values = np.take(self.weight.data, ids, axis=0, mode=\"clip\", out=buffer)",
        "values = np.take(self.weight.data, ids, axis=1, mode=\"clip\")",
    ),
    _wrong(
        "embedding_forward_flattened",
        "flattens the ids, so a (B, T) batch gives (B*T, D) instead of (B, T, D)",
        "values = np.take(self.weight.data, ids, axis=0, mode=\"clip\", out=buffer)",
        "values = np.take(self.weight.data, ids.reshape(-1), axis=0, mode=\"clip\")",
    ),
    _wrong(
        "embedding_forward_detached",
        "wraps the rows in a Tensor without naming the weight as its child: no gradient reaches it",
        "out = Tensor(values, _children=(self.weight,), _op=\"embedding\")",
        "out = Tensor(values)",
    ),
    _wrong(
        "embedding_backward_overwrites_grad",
        "assigns weight.grad instead of accumulating, so a tied weight loses the other use's gradient",
        "self.weight._accumulate_grad(embedding_backward(\n"
        "                ids, grad, self.vocab_size, self.padding_idx, self.scale_grad_by_freq))",
        "self.weight.grad = embedding_backward(\n"
        "                ids, grad, self.vocab_size, self.padding_idx, self.scale_grad_by_freq)",
    ),
    _wrong(
        "embedding_backward_lost_repeated_ids",
        "the classic grad[ids] += g: with a repeated id only one occurrence's gradient survives",
        _SCATTER,
        "    unique_ids, counts = np.unique(ids, return_counts=True)\n"
        "    grad[ids] += grad_rows\n",
    ),
    _wrong(
        "embedding_backward_forgets_frequent_ids",
        "stops after the vectorised passes and never adds the rest of the few most frequent ids",
        "        grad[unique_ids[i]] += grad_rows[run].sum(axis=0)\n",
        "        pass\n",
    ),
    _wrong(
        "embedding_backward_run_counts_first_twice",
        "starts the remaining run one occurrence too early, adding an occurrence twice",
        "run = order[starts[i] + occurrence:starts[i] + counts[i]]",
        "run = order[starts[i] + occurrence - 1:starts[i] + counts[i]]",
    ),
    _wrong(
        "embedding_backward_pass_assigns",
        "assigns instead of adding in the per-occurrence passes, so only the last occurrence counts",
        "grad[unique_ids[repeated]] += grad_rows[order[starts[repeated] + occurrence]]",
        "grad[unique_ids[repeated]] = grad_rows[order[starts[repeated] + occurrence]]",
    ),
    _wrong(
        "embedding_scale_grad_ignored",
        "accepts scale_grad_by_freq but never scales the gradient",
        "        grad[unique_ids] /= counts[:, None].astype(grad.dtype)\n",
        "        pass\n",
    ),
    _wrong(
        "embedding_backward_padding_row_updated",
        "relies on the padding row starting at zero and lets it receive a gradient",
        "        grad[padding_idx] = 0\n",
        "        pass\n",
    ),
    _wrong(
        "embedding_backward_padding_column_zeroed",
        "zeroes column padding_idx of the gradient instead of row padding_idx",
        "        grad[padding_idx] = 0\n",
        "        grad[:, padding_idx % grad.shape[1]] = 0\n",
    ),
    _wrong(
        "embedding_init_padding_row_random",
        "forgets to zero the padding row when creating the table",
        "            weight[self.padding_idx] = 0\n",
        "            pass\n",
    ),
    _wrong(
        "embedding_scale_grad_multiplies",
        "multiplies each row's gradient by its count instead of dividing",
        "grad[unique_ids] /= counts[:, None].astype(grad.dtype)",
        "grad[unique_ids] *= counts[:, None].astype(grad.dtype)",
    ),
    _wrong(
        "embedding_scale_grad_by_batch_size",
        "divides the whole gradient by the number of ids instead of each row by its own count",
        "grad[unique_ids] /= counts[:, None].astype(grad.dtype)",
        "grad /= ids.size",
    ),
    _wrong(
        "embedding_max_norm_not_in_place",
        "rescales a copy of the rows (fancy indexing returns a copy), so the table never changes",
        "self.weight.data[rows] *= scale[:, None].astype(self.weight.dtype)",
        "selected = self.weight.data[rows]\n        selected *= scale[:, None].astype(self.weight.dtype)",
    ),
    _wrong(
        "embedding_max_norm_all_rows",
        "rescales every looked-up row to max_norm, short ones included",
        "        rows, norms = rows[too_long], norms[too_long]\n",
        "",
    ),
    _wrong(
        "embedding_max_norm_ignores_norm_type",
        "always uses the L2 norm, whatever norm_type says",
        "np.linalg.norm(self.weight.data[rows], ord=self.norm_type, axis=1)",
        "np.linalg.norm(self.weight.data[rows], axis=1)",
    ),
]
