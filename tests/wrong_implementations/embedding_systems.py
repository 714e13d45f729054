"""Plausible wrong implementations of the Module 12 part 3 (embedding systems) solution regions.

Each one must lose points when autograded; see tests/wrong_implementations/__init__.py.
"""

NOTEBOOK = "solutions/12_embeddings/03_embedding_systems.py"


def _wrong(id, description, find, replace):
    return {"id": id, "notebook": NOTEBOOK, "description": description, "find": find, "replace": replace}


WRONG_IMPLEMENTATIONS = [
    _wrong(
        "systems_mib_with_1000",
        "divides by 1000 per unit, so a 154,389,504-byte table prints as 154.4 'MiB' instead of 147.2 MiB",
        "while value >= 1024 and unit < len(BYTE_UNITS) - 1:\n        value /= 1024\n",
        "while value >= 1000 and unit < len(BYTE_UNITS) - 1:\n        value /= 1000\n",
    ),
    _wrong(
        "systems_optimizer_state_forgotten",
        "counts weights and gradients in training but forgets Adam's two moment buffers",
        "optimizer_bytes = states * weight_bytes if training else 0",
        "optimizer_bytes = 0",
    ),
    _wrong(
        "systems_untied_counts_one_table",
        "ignores `tied`: an untied model's output projection is not counted",
        "    num_tables = 1 if tied else 2\n",
        "    num_tables = 1\n",
    ),
    _wrong(
        "systems_gradient_only_with_optimizer_state",
        "counts the gradient as part of the optimizer state, so plain SGD training needs no gradient memory",
        "grad_bytes = weight_bytes if training else 0",
        "grad_bytes = weight_bytes if training and states else 0",
    ),
    _wrong(
        "systems_bandwidth_counts_only_reads",
        "counts only the bytes read (one pass forward, two backward), halving the reported bandwidth",
        "passes = 2 if direction == \"forward\" else 3",
        "passes = 1 if direction == \"forward\" else 2",
    ),
    _wrong(
        "systems_bandwidth_binary_gigabytes",
        "reports bandwidth in GiB/s (2**30) while the copy bandwidth and the cited figures are GB/s (10**9)",
        "gbps = num_bytes / seconds / 1e9",
        "gbps = num_bytes / seconds / 2**30",
    ),
    _wrong(
        "systems_quantize_scale_per_table",
        "uses one minimum and maximum for the whole table, so small rows get a huge step and large errors",
        "lo = weights.min(axis=1, keepdims=True)\n    hi = weights.max(axis=1, keepdims=True)\n",
        "lo = np.full((len(weights), 1), weights.min())\n    hi = np.full((len(weights), 1), weights.max())\n",
    ),
    _wrong(
        "systems_quantize_truncates",
        "truncates instead of rounding to the nearest code, so the error reaches a whole step, not half",
        "codes = np.clip(np.rint((weights - lo) / scale), 0, 2**bits - 1).astype(np.uint8)",
        "codes = np.clip((weights - lo) / scale, 0, 2**bits - 1).astype(np.uint8)",
    ),
    _wrong(
        "systems_quantize_levels_off_by_one",
        "divides the row range by 2**bits levels instead of 2**bits - 1 steps, so the row maximum maps to 254.x",
        "scale = (hi - lo) / (2**bits - 1)",
        "scale = (hi - lo) / 2**bits",
    ),
    _wrong(
        "systems_dequantize_forgets_offset",
        "dequantizes with the scale only, dropping each row's offset (its minimum)",
        "    values += offset[..., None]\n",
        "",
    ),
    _wrong(
        "systems_quantized_lookup_first_rows_scale",
        "gathers the codes but takes the scale and offset of rows 0..n-1 instead of the looked-up rows",
        "return Tensor(dequantize_rows(rows, self.scale[ids], self.offset[ids]))",
        "return Tensor(dequantize_rows(rows, self.scale[:ids.size].reshape(ids.shape), "
        "self.offset[:ids.size].reshape(ids.shape)))",
    ),
    _wrong(
        "systems_sparse_gradient_loses_repeats",
        "keeps the gradient of each id's first occurrence only, losing repeated ids' contributions",
        "rows, compact_ids = np.unique(ids, return_inverse=True)\n"
        "    values = embedding_backward(compact_ids, grad_output, len(rows))\n",
        "rows, first = np.unique(ids, return_index=True)\n"
        "    values = grad_output[first]\n",
    ),
    _wrong(
        "systems_sparse_update_overwrites_rows",
        "assigns -lr * gradient to the touched rows instead of subtracting it from their weights",
        "table[rows] -= lr * values",
        "table[rows] = -lr * values",
    ),
    _wrong(
        "systems_bag_mean_wrong_axis",
        "divides each bag's sum by embedding_dim (averaging over the feature axis) instead of the bag's length",
        "out[full] /= lengths[full, None]",
        "out[full] /= rows.shape[1]",
    ),
    _wrong(
        "systems_bag_empty_bags_not_skipped",
        "passes every offset to reduceat, which returns the next row for an empty bag instead of zeros",
        "out[full] = reduce.reduceat(rows, offsets[full], axis=0)",
        "out[full] = reduce.reduceat(rows, offsets, axis=0)[full]",
    ),
    _wrong(
        "systems_bag_max_reduced_as_sum",
        "treats every mode other than mean as a sum, so max bags return sums",
        "reduce = np.maximum if mode == \"max\" else np.add",
        "reduce = np.add",
    ),
    _wrong(
        "systems_shard_routing_modulo",
        "routes id to shard id % num_shards (interleaved) while the shards hold contiguous row blocks",
        "shard = token_ids // rows_per_shard\n    return shard, token_ids - shard * rows_per_shard\n",
        "shard = token_ids % num_shards\n    return shard, token_ids // num_shards\n",
    ),
    _wrong(
        "systems_shard_rows_floor",
        "rounds rows_per_shard down, so the last ids route to a shard that does not exist or to the wrong row",
        "rows_per_shard = -(-vocab_size // num_shards)",
        "rows_per_shard = vocab_size // num_shards",
    ),
]
