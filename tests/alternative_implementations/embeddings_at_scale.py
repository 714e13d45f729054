"""Other correct ways students write the Module 12 part 4 (embeddings at LLM scale) solution regions; each
must keep full marks."""
from functools import partial

from implementation_catalogue import rewrite

NOTEBOOK = "solutions/12_embeddings/04_embeddings_at_scale.py"
_alternative = partial(rewrite, NOTEBOOK)

ALTERNATIVE_IMPLEMENTATIONS = [
    _alternative("rotate_pairs", "rotate_pairs_stack", "stacks (-x2, x1) on a new axis and flattens it back", """
        if pairing == "adjacent":
            x1, x2 = x[..., 0::2], x[..., 1::2]
            return np.stack([-x2, x1], axis=-1).reshape(x.shape)
        x1, x2 = np.split(x, 2, axis=-1)
        return np.concatenate([-x2, x1], axis=-1)
        """),
    _alternative("rotate_pairs", "rotate_pairs_permutation", "an index permutation and a sign vector", """
        d = x.shape[-1]
        if pairing == "adjacent":
            index = np.arange(d) ^ 1
            sign = np.where(np.arange(d) % 2 == 0, -1.0, 1.0)
        else:
            index = np.roll(np.arange(d), d // 2)
            sign = np.where(np.arange(d) < d // 2, -1.0, 1.0)
        return (x[..., index] * sign).astype(x.dtype)
        """),
    _alternative("rotate_pairs", "rotate_pairs_matrix", "multiplies by the quarter-turn matrix of each pair", """
        d = x.shape[-1]
        quarter = np.zeros((d, d))
        for i in range(d // 2):
            a, b = (2 * i, 2 * i + 1) if pairing == "adjacent" else (i, i + d // 2)
            quarter[b, a], quarter[a, b] = -1.0, 1.0      # out[a] = -x[b], out[b] = x[a]
        return (x @ quarter).astype(x.dtype)
        """),
    _alternative("apply_rotary", "apply_rotary_explicit_parts", "names the cosine and sine arrays first", """
        cos, sin = np.cos(angles), np.sin(angles)
        rotated = cos * x + sin * rotate_pairs(x, pairing)
        """),
    _alternative("apply_rotary", "apply_rotary_complex", "complex numbers for the adjacent pairs, rotate_pairs for the half ones", """
        if pairing == "adjacent":
            pairs = (x[..., 0::2] + 1j * x[..., 1::2]) * np.exp(1j * angles[..., 0::2])
            rotated = np.stack([pairs.real, pairs.imag], axis=-1).reshape(np.shape(x))
        else:
            rotated = x * np.cos(angles) + rotate_pairs(x, pairing) * np.sin(angles)
        """),
    _alternative("apply_rotary", "apply_rotary_float64", "computes in float64 and lets the given cast restore the dtype", """
        x64 = np.asarray(x, dtype=np.float64)
        rotated = x64 * np.cos(angles) + rotate_pairs(x64, pairing) * np.sin(angles)
        """),
    _alternative("position_interpolation", "pi_multiply_inverse", "multiplies by 1 / factor", """
        return np.asarray(inv_freq, dtype=np.float64) * (1.0 / factor)
        """),
    _alternative("position_interpolation", "pi_through_blend", "the blend with keep = 0", """
        return _blend(np.asarray(inv_freq), factor, 0.0)
        """),
    _alternative("position_interpolation", "pi_divide", "np.divide", """
        return np.divide(inv_freq, factor)
        """),
    _alternative("ntk_aware_inv_freq", "ntk_formula_inline", "writes the frequencies of the new base out", """
        new_base = base * factor ** (head_dim / (head_dim - 2))
        return new_base ** (-np.arange(0, head_dim, 2) / head_dim)
        """),
    _alternative("ntk_aware_inv_freq", "ntk_log_space", "in log space", """
        log_base = np.log(base) + head_dim / (head_dim - 2) * np.log(factor)
        return np.exp(-np.arange(0, head_dim, 2) / head_dim * log_base)
        """),
    _alternative("ntk_aware_inv_freq", "ntk_scale_exponent", "scales each frequency by factor**(-2i/(d-2))", """
        exponents = np.arange(0, head_dim, 2) / head_dim
        return rotary_inv_freq(head_dim, base) * factor ** (-exponents * head_dim / (head_dim - 2))
        """),
    _alternative("llama31_inv_freq", "llama31_branches", "the three cases with np.where, as Meta's apply_scaling", """
        inv_freq = np.asarray(inv_freq, dtype=np.float64)
        smooth = (original_length / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor)
        blended = (1 - smooth) * inv_freq / factor + smooth * inv_freq
        return np.where(wavelength < original_length / high_freq_factor, inv_freq,
                        np.where(wavelength > original_length / low_freq_factor, inv_freq / factor, blended))
        """),
    _alternative("llama31_inv_freq", "llama31_loop", "a loop over the frequencies", """
        out = []
        for theta, length in zip(np.asarray(inv_freq, dtype=np.float64), wavelength):
            if length < original_length / high_freq_factor:
                out.append(theta)
            elif length > original_length / low_freq_factor:
                out.append(theta / factor)
            else:
                keep = (original_length / length - low_freq_factor) / (high_freq_factor - low_freq_factor)
                out.append(keep * theta + (1 - keep) * theta / factor)
        return np.array(out)
        """),
    _alternative("llama31_inv_freq", "llama31_minimum_maximum", "clips with np.minimum and np.maximum", """
        ratio = original_length / wavelength
        keep = np.minimum(1.0, np.maximum(0.0, (ratio - low_freq_factor) / (high_freq_factor - low_freq_factor)))
        return np.asarray(inv_freq) * (keep + (1 - keep) / factor)
        """),
    _alternative("alibi_slopes", "alibi_slopes_ratio_power", "start and ratio 2**(-8/p), odd slopes from the 2p sequence", """
        start = 2.0 ** (-8.0 / power)
        slopes = start ** np.arange(1, power + 1)
        finer = (2.0 ** (-4.0 / power)) ** np.arange(1, 2 * power + 1)
        return np.concatenate([slopes, finer[0::2][:num_heads - power]])
        """),
    _alternative("alibi_slopes", "alibi_slopes_list", "a list comprehension", """
        slopes = [2 ** (-8 * h / power) for h in range(1, power + 1)]
        slopes += [2 ** (-8 * (2 * k - 1) / (2 * power)) for k in range(1, num_heads - power + 1)]
        return np.array(slopes)
        """),
    _alternative("alibi_slopes", "alibi_slopes_exp2", "np.exp2 of the exponents", """
        exponents = -8.0 * np.arange(1, power + 1) / power
        extra = -4.0 * (2 * np.arange(num_heads - power) + 1) / power
        return np.exp2(np.concatenate([exponents, extra]))
        """),
    _alternative("causal_alibi_bias", "causal_alibi_triu", "the bias from alibi_bias, -inf set with np.triu's mask", """
        bias = alibi_bias(num_heads, seq_len).astype(np.float64)
        bias[:, np.triu(np.ones((seq_len, seq_len), dtype=bool), k=1)] = -np.inf
        return bias
        """),
    _alternative("causal_alibi_bias", "causal_alibi_full_then_fill", "fills -inf first, then the lower triangle", """
        slopes = alibi_slopes(num_heads)
        bias = np.full((len(slopes), seq_len, seq_len), -np.inf)
        rows, cols = np.tril_indices(seq_len)
        bias[:, rows, cols] = -slopes[:, None] * (rows - cols)
        return bias
        """),
    _alternative("causal_alibi_bias", "causal_alibi_add_mask", "adds a 0 / -inf mask to the distances", """
        distance = (i - j).astype(np.float64)
        mask = np.where(j > i, -np.inf, 0.0)
        return -alibi_slopes(num_heads)[:, None, None] * np.maximum(distance, 0) + mask
        """),
    _alternative("lm_head_cost", "head_cost_itemsize_first", "the bytes per number first", """
        itemsize = DTYPE_BYTES[dtype]
        logits_bytes = itemsize * vocab_size * num_tokens
        flops = num_tokens * vocab_size * (2 * embedding_dim)
        """),
    _alternative("lm_head_cost", "head_cost_numpy_ints", "np.int64 products", """
        logits_bytes = int(np.int64(num_tokens) * vocab_size * DTYPE_BYTES[dtype])
        flops = int(np.prod([2, num_tokens, embedding_dim, vocab_size], dtype=np.int64))
        """),
    _alternative("lm_head_cost", "head_cost_multiply_add", "counts multiplies and adds separately", """
        multiplies = adds = num_tokens * embedding_dim * vocab_size
        flops = multiplies + adds
        logits_bytes = num_tokens * vocab_size * DTYPE_BYTES[dtype]
        """),
    _alternative("padded_vocab_size", "padding_math_ceil", "math.ceil", """
        import math

        return math.ceil(vocab_size / multiple) * multiple
        """),
    _alternative("padded_vocab_size", "padding_remainder", "adds what the remainder lacks", """
        remainder = vocab_size % multiple
        return vocab_size if remainder == 0 else vocab_size + multiple - remainder
        """),
    _alternative("padded_vocab_size", "padding_floor_shift", "floor division of vocab_size + multiple - 1", """
        return (vocab_size + multiple - 1) // multiple * multiple
        """),
    _alternative("mixed_precision_bytes", "mixed_precision_table", "a table of bytes per parameter", """
        per_param = {"bf16 weights": 2, "bf16 gradients": 2, "fp32 master weights": 4, "fp32 Adam moments": 8}
        return {name: size * num_params for name, size in per_param.items()}
        """),
    _alternative("mixed_precision_bytes", "mixed_precision_dtype_bytes", "from DTYPE_BYTES", """
        return {"bf16 weights": DTYPE_BYTES["bfloat16"] * num_params,
                "bf16 gradients": DTYPE_BYTES["bfloat16"] * num_params,
                "fp32 master weights": DTYPE_BYTES["float32"] * num_params,
                "fp32 Adam moments": 2 * DTYPE_BYTES["float32"] * num_params}
        """),
    _alternative("mixed_precision_bytes", "mixed_precision_dict_build", "builds the dict key by key", """
        parts = dict()
        parts["bf16 weights"] = parts["bf16 gradients"] = 2 * num_params
        parts["fp32 master weights"] = 4 * num_params
        parts["fp32 Adam moments"] = 4 * num_params + 4 * num_params
        return parts
        """),
    _alternative("sorted_scatter_add", "scatter_add_at_sorted", "np.add.at on the sorted ids", """
        np.add.at(out, sorted_ids, grad_rows[order])
        """),
    _alternative("sorted_scatter_add", "scatter_unique_reduceat", "np.unique's counts give the runs", """
        unique_ids, counts = np.unique(sorted_ids, return_counts=True)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        out[unique_ids] = np.add.reduceat(grad_rows[order], starts, axis=0)
        """),
    _alternative("sorted_scatter_add", "scatter_loop_over_runs", "a loop over the runs of equal ids", """
        sorted_rows = grad_rows[order]
        start = 0
        for k in range(1, len(sorted_ids) + 1):
            if k == len(sorted_ids) or sorted_ids[k] != sorted_ids[start]:
                out[sorted_ids[start]] = sorted_rows[start:k].sum(axis=0)
                start = k
        """),
    _alternative("masked_shard_lookup", "masked_lookup_multiply", "clipped local ids, rows multiplied by the mask", """
        local = np.clip(ids - start, 0, len(shard) - 1)
        inside = (ids >= start) & (ids < start + len(shard))
        return shard[local] * inside[..., None]
        """),
    _alternative("masked_shard_lookup", "masked_lookup_zeros_then_fill", "a zero array filled at the owned positions", """
        owned = (ids >= start) & (ids < start + len(shard))
        rows = np.zeros(ids.shape + shard.shape[1:], dtype=shard.dtype)
        rows[owned] = shard[ids[owned] - start]
        return rows
        """),
    _alternative("masked_shard_lookup", "masked_lookup_where", "np.where over the looked-up rows", """
        local = ids - start
        inside = (local >= 0) & (local < len(shard))
        looked_up = np.take(shard, np.where(inside, local, 0), axis=0)
        return np.where(inside[..., None], looked_up, 0)
        """),
    _alternative("vocab_parallel_cross_entropy", "ce_loop_over_shards", "a loop that collects the three local parts", """
        maxima, sums, picked = [], [], []
        for shard in logit_shards:
            maxima.append(shard.max(axis=1))
        global_max = all_reduce(maxima, op="max")
        for shard, start in zip(logit_shards, starts):
            sums.append(np.exp(shard - global_max[:, None]).sum(axis=1))
            local = targets - start
            owned = (local >= 0) & (local < shard.shape[1])
            picked.append(np.where(owned, shard[np.arange(len(targets)), np.clip(local, 0, shard.shape[1] - 1)], 0.0))
        return np.log(all_reduce(sums)) - (all_reduce(picked) - global_max)
        """),
    _alternative("vocab_parallel_cross_entropy", "ce_one_hot_masks", "one-hot masks for the target logits", """
        global_max = all_reduce([np.max(shard, axis=1) for shard in logit_shards], op="max")
        log_sum = np.log(all_reduce([np.exp(shard - global_max[:, None]).sum(axis=1) for shard in logit_shards]))
        targets_logit = all_reduce([(shard * (np.arange(shard.shape[1]) + start == targets[:, None])).sum(axis=1)
                                    for shard, start in zip(logit_shards, starts)])
        return log_sum + global_max - targets_logit
        """),
    _alternative("vocab_parallel_cross_entropy", "ce_shifted_logits", "shifts the logits by the global maximum first", """
        global_max = all_reduce([shard.max(axis=1) for shard in logit_shards], op="max")
        shifted = [shard - global_max[:, None] for shard in logit_shards]
        sum_exp = all_reduce([np.exp(part).sum(axis=1) for part in shifted])
        target_shifted = all_reduce([_owned_logit(part, targets - start) for part, start in zip(shifted, starts)])
        return np.log(sum_exp) - target_shifted
        """),
    _alternative("row_wise_adagrad_step", "adagrad_named_steps", "the new state and the step under names", """
        new_state = state[rows] + np.mean(np.square(grad_rows), axis=1)
        state[rows] = new_state
        step = lr / (np.sqrt(new_state) + eps)
        weight[rows] = weight[rows] - step[:, None] * grad_rows
        """),
    _alternative("row_wise_adagrad_step", "adagrad_loop", "a loop over the touched rows", """
        for k, r in enumerate(rows):
            state[r] += float(np.dot(grad_rows[k], grad_rows[k])) / grad_rows.shape[1]
            weight[r] -= lr * grad_rows[k] / (np.sqrt(state[r]) + eps)
        """),
    _alternative("row_wise_adagrad_step", "adagrad_sum_over_width", "the squared norm divided by the width", """
        state[rows] += np.einsum("kd,kd->k", grad_rows, grad_rows) / weight.shape[1]
        weight[rows] -= lr * grad_rows / (state[rows][:, None] ** 0.5 + eps)
        """),
    _alternative("pages_touched", "pages_divmod", "np.floor_divide of the byte offsets", """
        start_byte = rows * row_bytes
        first = np.floor_divide(start_byte, page_bytes)
        last = np.floor_divide(start_byte + row_bytes - 1, page_bytes)
        """),
    _alternative("pages_touched", "pages_last_from_first", "the last page from the first and the in-page offset", """
        first = rows * row_bytes // page_bytes
        offset = rows * row_bytes % page_bytes
        last = first + (offset + row_bytes - 1) // page_bytes
        """),
    _alternative("pages_touched", "pages_end_exclusive", "the page of the end (exclusive) minus one byte, in two steps", """
        end = (rows + 1) * row_bytes
        first = (end - row_bytes) // page_bytes
        last = (end - 1) // page_bytes
        """),
]
