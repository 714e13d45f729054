"""Other correct ways students write the Module 12 part 2 (positional encoding) solution regions; each
must keep full marks."""
from functools import partial

from implementation_catalogue import rewrite

NOTEBOOK = "solutions/12_embeddings/02_positional_encoding.py"
_alternative = partial(rewrite, NOTEBOOK)

ALTERNATIVE_IMPLEMENTATIONS = [
    _alternative("sinusoidal_table", "sinusoidal_exp_log", "frequencies exp(-log(base) * 2i / d), as many codebases write them", """
        angles = positions * np.exp(-np.log(base) * pair_index / embedding_dim)
        table[:, 0::2] = np.sin(angles)
        table[:, 1::2] = np.cos(angles)[:, : embedding_dim // 2]
        """),
    _alternative("sinusoidal_table", "sinusoidal_outer_column_loop", "base**(-2i/d) with np.outer, a loop over the pairs", """
        inverse_frequency = np.power(base, -pair_index / embedding_dim)
        angles = np.outer(positions[:, 0], inverse_frequency)
        for i in range(angles.shape[1]):
            table[:, 2 * i] = np.sin(angles[:, i])
            if 2 * i + 1 < embedding_dim:
                table[:, 2 * i + 1] = np.cos(angles[:, i])
        """),
    _alternative("sinusoidal_table", "sinusoidal_stack_interleave", "sines and cosines stacked, interleaved by a reshape, cropped", """
        angles = positions / np.power(base, pair_index / embedding_dim)
        interleaved = np.stack([np.sin(angles), np.cos(angles)], axis=-1).reshape(len(positions), -1)
        table[:] = interleaved[:, :embedding_dim]
        """),
    _alternative("PositionalEncoding.forward", "positional_add_tensor", "wraps the rows in a Tensor first", """
        return x + Tensor(self.table[:seq_len])
        """),
    _alternative("PositionalEncoding.forward", "positional_rows_arange", "picks the rows with np.arange", """
        rows = self.table[np.arange(seq_len)]
        return x + rows
        """),
    _alternative("PositionalEncoding.forward", "positional_table_first", "the table on the left of the sum", """
        return Tensor(self.table[:seq_len]) + x
        """),
    _alternative("LearnedPositionalEmbedding.forward._backward", "learned_sum_if_batched", "sums axis 0 only when there is a batch axis", """
        grad_table[:seq_len] = grad.sum(axis=0) if grad.ndim == 3 else grad
        """),
    _alternative("LearnedPositionalEmbedding.forward._backward", "learned_add_reduce", "np.add.reduce over every leading axis, added in place", """
        grad_table[:seq_len] += np.add.reduce(grad.reshape((-1,) + grad.shape[-2:]), axis=0)
        """),
    _alternative("LearnedPositionalEmbedding.forward._backward", "learned_loop", "a loop over the sequences of the batch", """
        for sequence_grad in grad.reshape(-1, seq_len, self.embedding_dim):
            grad_table[:seq_len] += sequence_grad
        """),
    _alternative("RotaryEmbedding._rotate_pairs", "rotary_complex", "complex numbers: (x1 + i x2) * exp(i angle)", """
        turned = (x1 + 1j * x2) * np.exp(1j * angles)
        y1, y2 = turned.real, turned.imag
        """),
    _alternative("RotaryEmbedding._rotate_pairs", "rotary_matrix_einsum", "2 x 2 rotation matrices applied with np.einsum", """
        rotation = np.stack([np.stack([cos, -sin], axis=-1), np.stack([sin, cos], axis=-1)], axis=-2)  # (T, half, 2, 2)
        turned = np.einsum("...ij,...j->...i", rotation, np.stack([x1, x2], axis=-1))
        y1, y2 = turned[..., 0], turned[..., 1]
        """),
    _alternative("RotaryEmbedding._rotate_pairs", "rotary_ufuncs_reordered", "numpy ufuncs, terms in another order", """
        y1 = np.subtract(np.multiply(x1, cos), np.multiply(x2, sin))
        y2 = np.add(x2 * cos, x1 * sin)
        """),
    _alternative("_alibi_slopes", "alibi_one_power", "one power of two per head", """
        return 2.0 ** (-8.0 * np.arange(1, num_heads + 1) / num_heads)
        """),
    _alternative("_alibi_slopes", "alibi_cumprod", "a cumulative product of the ratio", """
        return np.cumprod(np.full(num_heads, 2 ** (-8 / num_heads)))
        """),
    _alternative("_alibi_slopes", "alibi_exp2_list", "np.exp2 in a list comprehension", """
        return np.array([np.exp2(-8.0 * (head + 1) / num_heads) for head in range(num_heads)])
        """),
]
