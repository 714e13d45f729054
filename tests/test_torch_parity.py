"""EmbeddingBag and RotaryEmbedding against PyTorch: outputs and gradients on the cases of
tests/torch_parity_cases.py, compared with torch itself where it is installed and with its stored
answers (tests/data/torch_parity.npz) everywhere."""
from pathlib import Path

import numpy as np
import pytest

from tinytorch_lite.core.embedding_systems import EmbeddingBag
from tinytorch_lite.core.tensor import Tensor
from helpers import HAS_TORCH, needs_torch
from torch_parity_cases import CASES, ours, theirs

STORED = np.load(Path(__file__).parent / "data" / "torch_parity.npz")
NAMES = [case["name"] for case in CASES]


def _assert_same(got, expected, what):
    assert set(got) == set(expected), f"{what}: ours gives {sorted(got)}, torch {sorted(expected)}"
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-10, atol=1e-12, err_msg=f"{what}: {key}")


@pytest.mark.parametrize("case", CASES, ids=NAMES)
def test_matches_the_stored_torch_answers(case):
    stored = {key.split("/", 1)[1]: STORED[key] for key in STORED.files if key.startswith(case["name"] + "/")}
    _assert_same(ours(case), stored, f"{case['name']} (stored, torch {STORED['torch_version']})")


@needs_torch
@pytest.mark.parametrize("case", CASES, ids=NAMES)
def test_matches_torch(case):
    _assert_same(ours(case), theirs(case), case["name"])


@needs_torch
def test_the_stored_answers_are_torch_s_answers():
    import torch

    assert str(STORED["torch_version"]) == torch.__version__, "rerun tests/data/make_torch_parity.py"
    for case in CASES:
        for key, value in theirs(case).items():
            np.testing.assert_array_equal(STORED[f"{case['name']}/{key}"], value, err_msg=f"{case['name']}/{key}")


# per_sample_weights of the wrong dtype or shape: torch's messages, never a silent cast or reshape

PSW_ERRORS = [
    ("dtype", np.ones(3, np.float64), TypeError,
     "Expected tensor for argument #1 'weight' to have the same type as tensor for argument #1 'per_sample_weights'"),
    ("length", np.ones(4, np.float32), ValueError,
     r"embedding_bag: If per_sample_weights \(\(4,\)\) is not None, then it must have the same shape as the input"),
    ("shape", np.ones((1, 3), np.float32), ValueError, r"per_sample_weights \(\(1, 3\)\).*same shape as the input \(\(3,\)\)"),
]


@pytest.mark.parametrize("what, psw, error, message", PSW_ERRORS, ids=[e[0] for e in PSW_ERRORS])
def test_per_sample_weights_of_the_wrong_dtype_or_shape_raise(what, psw, error, message):
    bag = EmbeddingBag(5, 3, mode="sum", rng=0)
    with pytest.raises(error, match=message):
        bag(np.array([0, 1, 2]), np.array([0, 2]), per_sample_weights=Tensor(psw))
    if HAS_TORCH:
        import torch

        reference = torch.nn.EmbeddingBag(5, 3, mode="sum")
        torch_message = message.split(" 'per_sample_weights'")[0].split(r" \(")[0]
        with pytest.raises((RuntimeError, ValueError), match=torch_message):
            reference(torch.tensor([0, 1, 2]), torch.tensor([0, 2]), per_sample_weights=torch.tensor(psw))


def test_options_torch_refuses_for_max_mode_are_refused():
    for option in ("sparse", "scale_grad_by_freq"):
        with pytest.raises(ValueError, match="mode='max'"):
            EmbeddingBag(5, 3, mode="max", **{option: True})


def test_scale_grad_by_freq_divides_each_row_by_its_own_count():
    """Where torch 2.13's CPU EmbeddingBag does not (see the EmbeddingBag docstring): ids [0, 0, 1, 0]
    in bags [0, 0] | [1, 0] give rows 0 and 1 the gradient 1 each, as torch.nn.Embedding would."""
    bag = EmbeddingBag.from_pretrained(np.ones((3, 2), np.float32), mode="sum", freeze=False, scale_grad_by_freq=True)
    bag(np.array([0, 0, 1, 0]), np.array([0, 2])).sum().backward()
    np.testing.assert_array_equal(bag.weight.grad, [[1, 1], [1, 1], [0, 0]])


def test_sparse_gradients_accumulate_and_feed_sparse_sgd():
    from tinytorch_lite.core.embedding_systems import sparse_sgd_update

    weights = np.arange(20, dtype=np.float64).reshape(10, 2)
    dense = EmbeddingBag.from_pretrained(weights.copy(), mode="mean", freeze=False)
    sparse = EmbeddingBag.from_pretrained(weights.copy(), mode="mean", freeze=False, sparse=True)
    for ids in ([[1, 2], [2, 7]], [[7, 7], [9, 1]]):
        dense(np.array(ids)).sum().backward()
        sparse(np.array(ids)).sum().backward()
    rows, values = sparse.sparse_grad
    assert sparse.weight.grad is None and rows.tolist() == [1, 2, 7, 9]
    np.testing.assert_array_equal(values, dense.weight.grad[rows])
    sparse_sgd_update(sparse.weight, rows, values, 0.5)
    np.testing.assert_array_equal(sparse.weight.data, weights - 0.5 * dense.weight.grad)
    sparse.zero_grad()
    assert sparse.sparse_grad is None


def test_include_last_offset_needs_the_last_offset_to_end_the_ids():
    """torch documents offsets[-1] == len(token_ids) (CSR) but on CPU answers differently with and
    without gradients when it is smaller; we refuse it (see the EmbeddingBag docstring)."""
    bag = EmbeddingBag(5, 3, mode="sum", include_last_offset=True, rng=0)
    for offsets in ([0, 2, 2], [0], []):
        with pytest.raises(ValueError, match="include_last_offset=True the last offset"):
            bag(np.array([0, 1, 2]), np.array(offsets, dtype=np.int64))
    assert bag(np.array([0, 1, 2]), np.array([0, 2, 3])).shape == (2, 3)
