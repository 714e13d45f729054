"""Plausible wrong implementations of the Module 12 part 2 (position information) solution regions.

Each one must lose points when autograded; see tests/wrong_implementations/__init__.py.
"""

NOTEBOOK = "solutions/12_embeddings/02_positional_encoding.py"


def _wrong(id, description, find, replace):
    return {"id": id, "notebook": NOTEBOOK, "description": description, "find": find, "replace": replace}


_ANGLES = "angles = positions / base ** (pair_index / embedding_dim)"
_SIN_COS = """\
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, : embedding_dim // 2])
"""
_ADD = "return x + self.table[:seq_len]"
_TABLE_GRAD = "grad_table[:seq_len] = grad.reshape(-1, seq_len, self.embedding_dim).sum(axis=0)"
_ROTATION = """\
        y1 = x1 * cos - x2 * sin
        y2 = x1 * sin + x2 * cos
"""
_SLOPES = """\
    start = 2.0 ** (-8.0 / num_heads)
    return start ** np.arange(1, num_heads + 1)
"""

WRONG_IMPLEMENTATIONS = [
    _wrong(
        "sinusoidal_base_100",
        "uses base 100 instead of the base argument (10000 by default)",
        _ANGLES,
        "angles = positions / 100.0 ** (pair_index / embedding_dim)",
    ),
    _wrong(
        "sinusoidal_exponent_i_over_d",
        "uses the pair number i instead of 2i in the exponent: base**(i/d) (the same table as base 100)",
        _ANGLES,
        "angles = positions / base ** ((pair_index / 2) / embedding_dim)",
    ),
    _wrong(
        "sinusoidal_sin_cos_swapped",
        "puts the cosine in the even columns and the sine in the odd ones",
        _SIN_COS,
        "    table[:, 0::2] = np.cos(angles)\n    table[:, 1::2] = np.sin(angles[:, : embedding_dim // 2])\n",
    ),
    _wrong(
        "sinusoidal_blocks_not_interleaved",
        "writes all sines in the first half and all cosines in the second half (a valid encoding, "
        "but not the specified table)",
        _SIN_COS,
        "    table[:, : angles.shape[1]] = np.sin(angles)\n"
        "    table[:, angles.shape[1]:] = np.cos(angles[:, : embedding_dim // 2])\n",
    ),
    _wrong(
        "sinusoidal_multiplies_by_frequency_wrongly",
        "multiplies the position by base**(2i/d) instead of dividing",
        _ANGLES,
        "angles = positions * base ** (pair_index / embedding_dim)",
    ),
    _wrong(
        "positional_encoding_added_twice",
        "uses the position twice: adds the table once more on top of the encoded input",
        _ADD,
        "return x + self.table[:seq_len] + self.table[:seq_len]",
    ),
    _wrong(
        "positional_encoding_not_added",
        "computes the encoding but returns the input without adding it",
        _ADD,
        "encoding = self.table[:seq_len]\n        return x",
    ),
    _wrong(
        "positional_encoding_positions_from_one",
        "counts positions from 1, adding rows 1..T instead of 0..T-1",
        _ADD,
        "return x + self.table[1:seq_len + 1]",
    ),
    _wrong(
        "positional_encoding_detached",
        "adds the table to a copy of the values, so no gradient reaches the input",
        _ADD,
        "return Tensor(x.data + self.table[:seq_len])",
    ),
    _wrong(
        "learned_grad_mean_over_batch",
        "averages the output gradient over the batch instead of summing it",
        _TABLE_GRAD,
        "grad_table[:seq_len] = grad.reshape(-1, seq_len, self.embedding_dim).mean(axis=0)",
    ),
    _wrong(
        "learned_grad_first_sequence_only",
        "takes the gradient of the first sequence of the batch only",
        _TABLE_GRAD,
        "grad_table[:seq_len] = grad.reshape(-1, seq_len, self.embedding_dim)[0]",
    ),
    _wrong(
        "learned_grad_into_last_rows",
        "writes the position gradient into the last T rows of the table instead of the first T",
        _TABLE_GRAD,
        "grad_table[-seq_len:] = grad.reshape(-1, seq_len, self.embedding_dim).sum(axis=0)",
    ),
    _wrong(
        "rotary_sign_flipped",
        "rotates clockwise (by -m*theta): the relative property still holds, the values are wrong",
        _ROTATION,
        "        y1 = x1 * cos + x2 * sin\n        y2 = -x1 * sin + x2 * cos\n",
    ),
    _wrong(
        "rotary_second_coordinate_unrotated",
        "rotates only the first coordinate of each pair and leaves the second as it was",
        _ROTATION,
        "        y1 = x1 * cos - x2 * sin\n        y2 = x2\n",
    ),
    _wrong(
        "alibi_slopes_start_at_one",
        "starts the geometric sequence at 2**0 = 1 instead of 2**(-8/n): 1, 1/2, ..., 1/128 for 8 heads",
        _SLOPES,
        "    start = 2.0 ** (-8.0 / num_heads)\n    return start ** np.arange(num_heads)\n",
    ),
    _wrong(
        "alibi_slopes_halving",
        "halves the slope from head to head whatever the number of heads (right for 8 heads only)",
        _SLOPES,
        "    return 0.5 ** np.arange(1, num_heads + 1)\n",
    ),
]
