"""Other correct ways students write the Module 12 part 3 (embedding systems) solution regions; each must
keep full marks."""
from functools import partial

from implementation_catalogue import rewrite

NOTEBOOK = "solutions/12_embeddings/03_embedding_systems.py"
_alternative = partial(rewrite, NOTEBOOK)

ALTERNATIVE_IMPLEMENTATIONS = [
    _alternative("format_bytes", "format_bytes_integer_powers", "compares the whole number of bytes with powers of 1024", """
        while unit + 1 < len(BYTE_UNITS) and num_bytes >= 1024 ** (unit + 1):
            unit += 1
        value = num_bytes / 1024 ** unit
        """),
    _alternative("format_bytes", "format_bytes_largest_first", "tries the units from the largest down", """
        for unit in range(len(BYTE_UNITS) - 1, -1, -1):
            if num_bytes >= 1024 ** unit:
                break
        value = num_bytes / 1024 ** unit
        """),
    _alternative("format_bytes", "format_bytes_bit_length", "the unit from the number's bit length", """
        unit = min((int(num_bytes).bit_length() - 1) // 10, len(BYTE_UNITS) - 1) if num_bytes >= 1 else 0
        value = num_bytes / 2 ** (10 * unit)
        """),
    _alternative("embedding_memory", "memory_tuple_unpacking", "a bool subtracted from 2, a tuple for the training terms", """
        num_tables = 2 - bool(tied)
        params = vocab_size * embedding_dim * num_tables
        weight_bytes = itemsize * params
        grad_bytes, optimizer_bytes = (weight_bytes, states * weight_bytes) if training else (0, 0)
        """),
    _alternative("embedding_memory", "memory_if_blocks", "if/else blocks", """
        if tied:
            num_tables = 1
        else:
            num_tables = 2
        params = num_tables * vocab_size * embedding_dim
        weight_bytes = params * itemsize
        if training:
            grad_bytes = weight_bytes
            optimizer_bytes = weight_bytes * states
        else:
            grad_bytes = optimizer_bytes = 0
        """),
    _alternative("embedding_memory", "memory_numpy_product", "np.prod in int64, training as a 0/1 factor", """
        num_tables = 1 if tied else 2
        params = int(np.prod([num_tables, vocab_size, embedding_dim], dtype=np.int64))
        weight_bytes = params * int(itemsize)
        grad_bytes = int(training) * weight_bytes
        optimizer_bytes = int(training) * states * weight_bytes
        """),
    _alternative("lookup_bytes", "lookup_reads_plus_writes", "reads and writes counted apart", """
        row_bytes = embedding_dim * itemsize
        reads = num_ids * row_bytes * (1 if direction == "forward" else 2)
        writes = num_ids * row_bytes
        return reads + writes
        """),
    _alternative("lookup_bytes", "lookup_dict_of_passes", "the number of passes from a dict", """
        return num_ids * embedding_dim * itemsize * {"forward": 2, "backward": 3}[direction]
        """),
    _alternative("lookup_bytes", "lookup_two_returns", "one return per direction", """
        if direction == "forward":
            return 2 * num_ids * embedding_dim * itemsize
        return 3 * num_ids * embedding_dim * itemsize
        """),
    _alternative("achieved_bandwidth", "bandwidth_one_division", "divides by seconds * 1e9 at once", """
        gbps = num_bytes / (seconds * 1e9)
        return gbps, gbps / copy_gbps
        """),
    _alternative("achieved_bandwidth", "bandwidth_bytes_per_second", "bytes per second first, the fraction from bytes", """
        bytes_per_second = num_bytes / seconds
        return bytes_per_second / 1e9, bytes_per_second / (copy_gbps * 1e9)
        """),
    _alternative("achieved_bandwidth", "bandwidth_integer_giga", "GB as 10**9, the fraction computed apart", """
        gbps = (num_bytes / 10**9) / seconds
        fraction = num_bytes / seconds / 1e9 / copy_gbps
        return gbps, fraction
        """),
    _alternative("quantize_rows", "quantize_float64", "float64 arithmetic, np.where for constant rows, float32 results", """
        w = weights.astype(np.float64)
        lo, hi = w.min(axis=1), w.max(axis=1)
        levels = 2**bits - 1
        scale = np.where(hi > lo, (hi - lo) / levels, 1.0)
        codes = np.round((w - lo[:, None]) / scale[:, None]).clip(0, levels).astype(np.uint8)
        return codes, scale.astype(np.float32), lo.astype(np.float32)
        """),
    _alternative("quantize_rows", "quantize_ptp_round_half_up", "np.ptp for the range, rounding half up with floor(x + 0.5)", """
        lo = weights.min(axis=1)
        scale = np.ptp(weights, axis=1) / (2**bits - 1)
        scale[scale == 0] = 1
        codes = np.floor((weights - lo[:, None]) / scale[:, None] + 0.5)
        return np.clip(codes, 0, 2**bits - 1).astype(np.uint8), scale, lo
        """),
    _alternative("quantize_rows", "quantize_row_loop", "a loop over the rows", """
        codes = np.empty(weights.shape, dtype=np.uint8)
        scale = np.empty(len(weights), dtype=np.float32)
        offset = np.empty(len(weights), dtype=np.float32)
        for i, row in enumerate(weights):
            offset[i] = row.min()
            step = (row.max() - row.min()) / (2**bits - 1)
            scale[i] = step if step > 0 else 1.0
            codes[i] = np.clip(np.rint((row - offset[i]) / scale[i]), 0, 2**bits - 1)
        return codes, scale, offset
        """),
    _alternative("dequantize_rows", "dequantize_astype_expression", "codes cast to float32, one expression", """
        return codes.astype(np.float32) * scale[..., None] + offset[..., None]
        """),
    _alternative("dequantize_rows", "dequantize_float64_cast", "float64 arithmetic, cast to float32 at the end", """
        return (codes * scale[..., None].astype(np.float64) + offset[..., None]).astype(np.float32)
        """),
    _alternative("dequantize_rows", "dequantize_ufuncs_expand_dims", "np.multiply and np.add with np.expand_dims", """
        return np.add(np.multiply(codes, np.expand_dims(scale, -1)), np.expand_dims(offset, -1), dtype=np.float32)
        """),
    _alternative("QuantizedEmbedding.forward", "quantized_fancy_indexing", "fancy indexing for codes, scale and offset", """
        rows = self.codes[ids]
        if self.scale is None:
            return Tensor(rows.astype(np.float32))
        return Tensor(dequantize_rows(rows, self.scale[ids], self.offset[ids]))
        """),
    _alternative("QuantizedEmbedding.forward", "quantized_take_everything", "np.take for codes, scale and offset", """
        rows = np.take(self.codes, ids, axis=0)
        if self.scale is not None:
            return Tensor(dequantize_rows(rows, np.take(self.scale, ids), np.take(self.offset, ids)))
        return Tensor(np.asarray(rows, dtype=np.float32))
        """),
    _alternative("QuantizedEmbedding.forward", "quantized_flat_reshape", "looks up the flat ids, reshapes at the end", """
        flat = ids.reshape(-1)
        if self.scale is None:
            values = self.codes[flat].astype(np.float32)
        else:
            values = dequantize_rows(self.codes[flat], self.scale[flat], self.offset[flat])
        return Tensor(values.reshape(ids.shape + (self.embedding_dim,)))
        """),
    _alternative("sparse_embedding_backward", "sparse_add_at", "np.add.at into the compact rows", """
        rows, compact_ids = np.unique(ids, return_inverse=True)
        values = np.zeros((len(rows), grad_output.shape[1]), dtype=grad_output.dtype)
        np.add.at(values, compact_ids.reshape(-1), grad_output)
        """),
    _alternative("sparse_embedding_backward", "sparse_dense_float64_rows", "the dense gradient in float64, then its non-empty rows", """
        dense = embedding_backward(ids, grad_output.astype(np.float64), vocab_size)
        rows = np.flatnonzero(np.bincount(ids, minlength=vocab_size))
        values = dense[rows]
        """),
    _alternative("sparse_embedding_backward", "sparse_sort_reduceat", "sort and sum each run with np.add.reduceat", """
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        rows = sorted_ids[starts]
        values = np.add.reduceat(grad_output[order], starts, axis=0)
        """),
    _alternative("sparse_sgd_update", "sgd_subtract_at", "np.subtract.at", """
        np.subtract.at(table, rows, lr * values)
        """),
    _alternative("sparse_sgd_update", "sgd_not_in_place_expression", "a fancy-index assignment, the product written the other way", """
        table[rows] = table[rows] - values * lr
        """),
    _alternative("sparse_sgd_update", "sgd_float64_step", "the step in float64, cast back to the table's dtype", """
        table[rows] = (table[rows].astype(np.float64) - np.float64(lr) * values).astype(table.dtype)
        """),
    _alternative("sparse_sgd_update", "sgd_row_loop", "a loop over the rows", """
        for k, row in enumerate(rows):
            table[row] -= lr * values[k]
        """),
    _alternative("reduce_bags", "bags_loop", "a loop over the non-empty bags", """
        bounds = np.append(offsets, len(rows))
        for b in np.flatnonzero(full):
            bag = rows[bounds[b]:bounds[b + 1]]
            if mode == "max":
                out[b] = bag.max(axis=0)
            elif mode == "sum":
                out[b] = bag.sum(axis=0)
            else:
                out[b] = bag.mean(axis=0)
        """),
    _alternative("reduce_bags", "bags_prefix_sums", "prefix sums for sum and mean, np.maximum.reduceat for max", """
        if mode == "max":
            out[full] = np.maximum.reduceat(rows, offsets[full], axis=0)
        else:
            running = np.concatenate([np.zeros((1, rows.shape[1]), rows.dtype), np.cumsum(rows, axis=0)])
            out[full] = running[(offsets + lengths)[full]] - running[offsets[full]]
            if mode == "mean":
                out[full] *= 1.0 / lengths[full, None]
        """),
    _alternative("reduce_bags", "bags_split", "np.split at the offsets, a dict of reductions", """
        reductions = {"sum": np.sum, "mean": np.mean, "max": np.max}
        for b, bag in enumerate(np.split(rows, offsets[1:])):
            if len(bag):
                out[b] = reductions[mode](bag, axis=0)
        """),
    _alternative("route_to_shards", "route_math_ceil_modulo", "math.ceil and the modulo", """
        import math
        rows_per_shard = math.ceil(vocab_size / num_shards)
        return token_ids // rows_per_shard, token_ids % rows_per_shard
        """),
    _alternative("route_to_shards", "route_divmod", "np.divmod with the rounded-up block size", """
        rows_per_shard = (vocab_size + num_shards - 1) // num_shards
        shard, local = np.divmod(token_ids, rows_per_shard)
        return shard, local
        """),
    _alternative("route_to_shards", "route_searchsorted", "np.searchsorted over the blocks' first rows", """
        rows_per_shard = -(-vocab_size // num_shards)
        starts = np.arange(0, vocab_size, rows_per_shard)
        shard = np.searchsorted(starts, token_ids, side="right") - 1
        return shard, token_ids - starts[shard]
        """),
]
