"""Plausible wrong implementations of the Module 12 part 4 (embeddings at LLM scale) solution regions.

Each one must lose points when autograded; see tests/wrong_implementations/__init__.py.
"""

NOTEBOOK = "solutions/12_embeddings/04_embeddings_at_scale.py"


def _wrong(id, description, find, replace):
    return {"id": id, "notebook": NOTEBOOK, "description": description, "find": find, "replace": replace}


WRONG_IMPLEMENTATIONS = [
    _wrong(
        "scale_rotate_without_minus",
        "swaps the two coordinates of each pair but forgets the minus sign: a reflection, not a rotation",
        "out[..., 0::2], out[..., 1::2] = -x[..., 1::2], x[..., 0::2]",
        "out[..., 0::2], out[..., 1::2] = x[..., 1::2], x[..., 0::2]",
    ),
    _wrong(
        "scale_rotate_half_swapped_sign",
        "half pairing: puts the minus sign on the first half, turning the pairs clockwise",
        "return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)",
        "return np.concatenate([x[..., half:], -x[..., :half]], axis=-1)",
    ),
    _wrong(
        "scale_rotary_sin_on_x",
        "multiplies x, not rotate(x), by the sines",
        "rotated = x * np.cos(angles) + rotate_pairs(x, pairing) * np.sin(angles)",
        "rotated = x * np.cos(angles) + x * np.sin(angles)",
    ),
    _wrong(
        "scale_pi_multiplies",
        "position interpolation multiplies the frequencies by the factor (extrapolates instead of interpolating)",
        "return np.asarray(inv_freq) / factor",
        "return np.asarray(inv_freq) * factor",
    ),
    _wrong(
        "scale_ntk_base_times_factor",
        "NTK-aware scaling multiplies the base by the factor, without the exponent d / (d - 2)",
        "return rotary_inv_freq(head_dim, base * factor ** (head_dim / (head_dim - 2)))",
        "return rotary_inv_freq(head_dim, base * factor)",
    ),
    _wrong(
        "scale_llama31_unclipped",
        "forgets to clip the blend weight to [0, 1], so short wavelengths are extrapolated and long ones flipped",
        "return _blend(inv_freq, factor, np.clip(keep, 0.0, 1.0))",
        "return _blend(inv_freq, factor, keep)",
    ),
    _wrong(
        "scale_llama31_keep_inverted",
        "uses the ramp the wrong way round: keeps the slow pairs and interpolates the fast ones",
        "keep = (original_length / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor)\n    return",
        "keep = 1 - (original_length / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor)\n    return",
    ),
    _wrong(
        "scale_alibi_extra_slopes_even",
        "fills the missing heads with the even-numbered slopes of 2p heads, which repeat the p slopes",
        "extra = 2.0 ** (-8.0 * (2 * np.arange(1, num_heads - power + 1) - 1) / (2 * power))",
        "extra = 2.0 ** (-8.0 * (2 * np.arange(1, num_heads - power + 1)) / (2 * power))",
    ),
    _wrong(
        "scale_alibi_slopes_over_num_heads",
        "uses 2**(-8h/n) with the real head count n, not the power of two p, for every head",
        "slopes = 2.0 ** (-8.0 * np.arange(1, power + 1) / power)",
        "slopes = 2.0 ** (-8.0 * np.arange(1, power + 1) / num_heads)",
    ),
    _wrong(
        "scale_alibi_causal_mask_past",
        "masks the past instead of the future",
        "return np.where(j <= i, bias, -np.inf)",
        "return np.where(j >= i, bias, -np.inf)",
    ),
    _wrong(
        "scale_logits_forget_dtype",
        "counts the logits, not their bytes",
        "    logits_bytes = num_tokens * vocab_size * DTYPE_BYTES[dtype]\n",
        "    logits_bytes = num_tokens * vocab_size\n",
    ),
    _wrong(
        "scale_head_flops_without_two",
        "counts one FLOP per multiply-add instead of two",
        "    flops = 2 * num_tokens * embedding_dim * vocab_size\n",
        "    flops = num_tokens * embedding_dim * vocab_size\n",
    ),
    _wrong(
        "scale_padding_always_adds",
        "adds a whole multiple even when the vocabulary is already aligned",
        "return -(-vocab_size // multiple) * multiple",
        "return (vocab_size // multiple + 1) * multiple",
    ),
    _wrong(
        "scale_mixed_precision_one_moment",
        "keeps one fp32 moment instead of Adam's two",
        '"fp32 master weights": 4 * num_params, "fp32 Adam moments": 8 * num_params}',
        '"fp32 master weights": 4 * num_params, "fp32 Adam moments": 4 * num_params}',
    ),
    _wrong(
        "scale_mixed_precision_no_master",
        "forgets the fp32 master copy of the weights",
        '"fp32 master weights": 4 * num_params, "fp32 Adam moments": 8 * num_params}',
        '"fp32 master weights": 0, "fp32 Adam moments": 8 * num_params}',
    ),
    _wrong(
        "scale_scatter_assigns_last",
        "writes each id's last gradient row instead of summing its rows",
        "out[sorted_ids[run_starts]] = np.add.reduceat(grad_rows[order], run_starts, axis=0)",
        "out[sorted_ids] = grad_rows[order]",
    ),
    _wrong(
        "scale_scatter_unsorted_rows",
        "sums the rows in their original order while the run starts come from the sorted ids",
        "out[sorted_ids[run_starts]] = np.add.reduceat(grad_rows[order], run_starts, axis=0)",
        "out[sorted_ids[run_starts]] = np.add.reduceat(grad_rows, run_starts, axis=0)",
    ),
    _wrong(
        "scale_vocab_parallel_no_zeroing",
        "shifts and clamps the ids outside the shard but forgets to zero their rows, so the all-reduce adds row 0 of every shard",
        "    rows[outside] = 0\n    return rows\n",
        "    return rows\n",
    ),
    _wrong(
        "scale_vocab_parallel_no_shift",
        "looks up the global id in the shard instead of id - start",
        "rows = np.take(shard, np.where(outside, 0, ids - start), axis=0)",
        "rows = np.take(shard, np.where(outside, 0, ids), axis=0, mode=\"clip\")",
    ),
    _wrong(
        "scale_cross_entropy_local_max",
        "subtracts each shard's own maximum but adds back the global one, so the local sums are on different scales",
        "sum_exp = all_reduce([np.exp(shard - global_max[:, None]).sum(axis=1) for shard in logit_shards])",
        "sum_exp = all_reduce([np.exp(shard - shard.max(axis=1, keepdims=True)).sum(axis=1) for shard in logit_shards])",
    ),
    _wrong(
        "scale_cross_entropy_sign",
        "adds the target logit instead of subtracting it",
        "return np.log(sum_exp) + global_max - target_logit",
        "return np.log(sum_exp) + global_max + target_logit",
    ),
    _wrong(
        "scale_adagrad_old_state",
        "divides by the accumulator before adding this step's squared gradient",
        "    state[rows] += (grad_rows ** 2).mean(axis=1)\n"
        "    weight[rows] -= lr * grad_rows / (np.sqrt(state[rows])[:, None] + eps)\n",
        "    weight[rows] -= lr * grad_rows / (np.sqrt(state[rows])[:, None] + eps)\n"
        "    state[rows] += (grad_rows ** 2).mean(axis=1)\n",
    ),
    _wrong(
        "scale_adagrad_sum_not_mean",
        "accumulates the sum of the squared row gradient instead of its mean",
        "state[rows] += (grad_rows ** 2).mean(axis=1)",
        "state[rows] += (grad_rows ** 2).sum(axis=1)",
    ),
    _wrong(
        "scale_pages_one_per_row",
        "counts one page per row, as if no row crossed a page boundary",
        "last = ((rows + 1) * row_bytes - 1) // page_bytes",
        "last = first",
    ),
    _wrong(
        "scale_pages_end_exclusive_off_by_one",
        "takes the page of the first byte after the row as its last page",
        "last = ((rows + 1) * row_bytes - 1) // page_bytes",
        "last = (rows + 1) * row_bytes // page_bytes",
    ),
]
