"""The cases on which EmbeddingBag and RotaryEmbedding must agree with PyTorch, outputs and gradients.

They are modelled on PyTorch's own tests (test/nn/test_embedding.py: from_pretrained, padding_idx,
include_last_offset, max_norm with norm_type, per_sample_weights, sparse gradients, empty bags) and
on Hugging Face's rotary code (rotate_half with per-sequence position_ids). Each case is built from a
seeded generator, so `ours(case)` and `theirs(case)` (torch) see the same numbers; the stored answers
of `theirs` (tests/data/torch_parity.npz, written by tests/data/make_torch_parity.py) stand in for
torch where it is not installed.
"""
from __future__ import annotations

import numpy as np

from tinytorch_lite.core.embedding_systems import EmbeddingBag
from tinytorch_lite.core.embeddings import RotaryEmbedding
from tinytorch_lite.core.tensor import Tensor


def _bag(name, ids, offsets=None, vocab_size=12, dim=4, psw=False, psw_grad=False, **options):
    return {"kind": "bag", "name": name, "ids": ids, "offsets": offsets, "vocab_size": vocab_size, "dim": dim,
            "psw": psw, "psw_grad": psw_grad, "options": options}


IDS = [3, 3, 7, 1, 0, 3, 11, 5, 5, 2]
OFFSETS = [0, 3, 3, 5, 9]  # bags of 3, 0, 2, 4 and 1 ids

BAG_CASES = [
    *[_bag(f"{mode}_offsets_with_empty_bag", IDS, OFFSETS, mode=mode) for mode in ("sum", "mean", "max")],
    *[_bag(f"{mode}_2d_input", [[1, 3, 2], [0, 2, 1]], mode=mode) for mode in ("sum", "mean", "max")],
    _bag("mean_from_pretrained_one_bag", [[0, 1]], vocab_size=2, dim=3, mode="mean"),
    *[_bag(f"{mode}_padding_idx", [0, 2, 2, 5, 2, 2, 1], [0, 3, 4, 6], padding_idx=2, mode=mode)
      for mode in ("sum", "mean", "max")],
    _bag("mean_negative_padding_idx", [11, 4, 11, 11, 6], [0, 2], padding_idx=-1, mode="mean"),
    _bag("sum_include_last_offset", [0, 1, 2, 3], [0, 3, 4], include_last_offset=True, mode="sum"),
    _bag("mean_include_last_offset_padding", [0, 1, 2, 3], [0, 3, 4], include_last_offset=True,
         padding_idx=1, mode="mean"),
    _bag("sum_include_last_offset_empty_last_bag", [0, 1, 2], [0, 3, 3], include_last_offset=True, mode="sum"),
    *[_bag(f"{mode}_max_norm_{norm}", IDS, OFFSETS, max_norm=1.0, norm_type=norm, mode=mode)
      for mode, norm in (("sum", 2.0), ("mean", 1.0), ("max", 0.5))],
    # every id occurs equally often: torch 2.13's CPU EmbeddingBag scales by the right count only then
    _bag("sum_scale_grad_by_freq", [4, 4, 9, 9, 1, 1], [0, 1, 4], scale_grad_by_freq=True, mode="sum"),
    _bag("mean_scale_grad_by_freq", [[4, 9], [9, 4]], scale_grad_by_freq=True, mode="mean"),
    *[_bag(f"{mode}_sparse", IDS, OFFSETS, sparse=True, mode=mode) for mode in ("sum", "mean")],
    _bag("sum_sparse_padding", [0, 2, 2, 5, 2], [0, 3], sparse=True, padding_idx=2, mode="sum"),
    _bag("sum_per_sample_weights", IDS, OFFSETS, psw=True, mode="sum"),
    _bag("sum_per_sample_weights_grad", IDS, OFFSETS, psw=True, psw_grad=True, mode="sum"),
    _bag("sum_per_sample_weights_grad_2d", [[1, 3, 2], [0, 2, 1]], psw=True, psw_grad=True, mode="sum"),
    _bag("sum_per_sample_weights_grad_padding", [0, 1, 1, 2, 4, 4], [0, 2, 4], psw=True, psw_grad=True,
         padding_idx=4, mode="sum"),
    _bag("max_ties_first_wins", [0, 1, 2], [0], vocab_size=3, dim=2, mode="max"),
]

ROTARY_CASES = [
    {"kind": "rotary", "name": f"rotary_{pairing}_{where}", "pairing": pairing, "shape": shape, "positions": where}
    for pairing in ("half", "adjacent")
    for where, shape in (("shared", (2, 3, 5, 8)), ("per_sequence_heads", (2, 3, 5, 8)),
                         ("per_sequence_3d", (2, 5, 8)))
]

CASES = BAG_CASES + ROTARY_CASES


def inputs(case):
    """The numbers of a case: a float64 table or input, an upstream gradient, weights, positions."""
    rng = np.random.default_rng(sum(map(ord, case["name"])))
    if case["kind"] == "rotary":
        x = rng.standard_normal(case["shape"])
        batch, seq_len = case["shape"][0], case["shape"][-2]
        positions = (np.arange(seq_len) if case["positions"] == "shared"
                     else rng.integers(0, 50, size=(batch, seq_len)))
        return {"x": x, "positions": positions, "grad": rng.standard_normal(case["shape"])}
    ids = np.array(case["ids"])
    weight = rng.standard_normal((case["vocab_size"], case["dim"]))
    if case["name"] == "max_ties_first_wins":
        weight = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 5.0]])
    num_bags = len(ids) if ids.ndim == 2 else len(case["offsets"]) - case["options"].get("include_last_offset", 0)
    result = {"weight": weight, "ids": ids, "grad": rng.standard_normal((num_bags, case["dim"]))}
    if case["psw"]:
        result["psw"] = rng.standard_normal(ids.shape)
    return result


def ours(case):
    data = inputs(case)
    if case["kind"] == "rotary":
        x = Tensor(data["x"], requires_grad=True)
        out = RotaryEmbedding(data["x"].shape[-1], pairing=case["pairing"])(x, positions=data["positions"])
        out.backward(data["grad"])
        return {"output": out.data, "grad_x": x.grad}
    options = dict(case["options"])
    bag = EmbeddingBag.from_pretrained(data["weight"].copy(), mode=options.pop("mode"), freeze=False, **options)
    psw = Tensor(data["psw"], requires_grad=case["psw_grad"]) if case["psw"] else None
    offsets = None if case["offsets"] is None else np.array(case["offsets"])
    out = bag(data["ids"], offsets, per_sample_weights=psw)
    out.backward(data["grad"])
    result = {"output": out.data, "weight_after": bag.weight.data}
    if bag.sparse:
        rows, values = bag.sparse_grad
        result["grad_weight"] = np.zeros_like(bag.weight.data)
        result["grad_weight"][rows] = values
    else:
        result["grad_weight"] = bag.weight.grad
    if case["psw_grad"]:
        result["grad_psw"] = psw.grad
    return result


def theirs(case):
    """The same computation in PyTorch (needs torch); rotary as Hugging Face's rotate_half or, for
    adjacent pairs, as complex multiplication (Meta's Llama code)."""
    import torch

    data = inputs(case)
    if case["kind"] == "rotary":
        x = torch.tensor(data["x"], requires_grad=True)
        half = x.shape[-1] // 2
        inv_freq = 10000.0 ** (-torch.arange(0, x.shape[-1], 2, dtype=torch.float64) / x.shape[-1])
        angles = torch.tensor(data["positions"], dtype=torch.float64)[..., None] * inv_freq  # (..., T, half)
        if angles.ndim == 3 and x.ndim == 4:
            angles = angles[:, None]  # shared by the heads, as unsqueeze(1) in Hugging Face's code
        if case["pairing"] == "half":
            cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
            rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
            out = x * cos + rotated * sin
        else:
            pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], half, 2).contiguous())
            out = torch.view_as_real(pairs * torch.polar(torch.ones_like(angles), angles)).flatten(-2)
        out.backward(torch.tensor(data["grad"]))
        return {"output": out.detach().numpy(), "grad_x": x.grad.numpy()}
    options = dict(case["options"])
    bag = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(data["weight"]), freeze=False, **options)
    psw = torch.tensor(data["psw"], requires_grad=case["psw_grad"]) if case["psw"] else None
    offsets = None if case["offsets"] is None else torch.tensor(case["offsets"])
    out = bag(torch.tensor(data["ids"]), offsets, per_sample_weights=psw)
    out.backward(torch.tensor(data["grad"]))
    grad = bag.weight.grad.to_dense() if bag.weight.grad.is_sparse else bag.weight.grad
    result = {"output": out.detach().numpy(), "weight_after": bag.weight.detach().numpy(), "grad_weight": grad.numpy()}
    if case["psw_grad"]:
        result["grad_psw"] = psw.grad.numpy()
    return result
