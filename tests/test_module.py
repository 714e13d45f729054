"""One shape for the package: every layer is a core.module.Module, and every way a token id enters
the package checks it with core.tensor.check_token_ids, raising the one TokenIdError."""

import numpy as np
import pytest

from tinytorch_lite.core.embedding_systems import (
    EmbeddingBag, MemmapEmbedding, QuantizedEmbedding, ShardedEmbedding, sparse_embedding_backward, sparse_sgd_update)
from tinytorch_lite.core.embeddings import (
    Embedding, EmbeddingLayer, LearnedPositionalEmbedding, PositionalEncoding, RotaryEmbedding, embedding_backward)
from tinytorch_lite.core.module import Module
from tinytorch_lite.core.tensor import Tensor, TokenIdError, check_token_ids, cross_entropy
from tinytorch_lite.core.tokenization import CharTokenizer


def test_token_id_error_is_both_an_index_error_and_a_value_error():
    assert issubclass(TokenIdError, IndexError) and issubclass(TokenIdError, ValueError)
    with pytest.raises(TokenIdError, match=r"token id 7 at position \(1, 0\) is out of range for vocab_size=5"):
        check_token_ids([[0, 1], [7, 2]], 5)


def _entry_points(tmp_path):
    table = np.arange(20, dtype=np.float32).reshape(5, 4)
    np.save(tmp_path / "table.npy", table)
    grad = np.ones((2, 4), np.float32)
    return {
        "tokenizer decode": lambda ids: CharTokenizer(vocab="a").decode(ids),
        "cross_entropy": lambda ids: cross_entropy(Tensor(np.zeros((2, 5), np.float32)), ids),
        "Embedding": lambda ids: Embedding(5, 4, rng=0)(ids),
        "embedding_backward": lambda ids: embedding_backward(ids, grad, 5),
        "QuantizedEmbedding": lambda ids: QuantizedEmbedding.from_embedding(table)(ids),
        "MemmapEmbedding": lambda ids: MemmapEmbedding(tmp_path / "table.npy")(ids),
        "EmbeddingBag": lambda ids: EmbeddingBag(5, 4, rng=0)(ids, offsets=np.array([0])),
        "ShardedEmbedding": lambda ids: ShardedEmbedding(5, 4, 2, weight=table)(ids),
        "sparse_embedding_backward": lambda ids: sparse_embedding_backward(ids, grad, 5),
        "sparse_sgd_update": lambda ids: sparse_sgd_update(table.copy(), ids, grad, 0.1),
    }


@pytest.mark.parametrize("bad_id", [-1, 5, 9])
def test_every_entry_point_raises_the_same_error_for_an_id_out_of_range(tmp_path, bad_id):
    for name, call in _entry_points(tmp_path).items():
        ids = np.array([1, bad_id])
        with pytest.raises(TokenIdError, match=f"token id {bad_id} at position"):
            call(ids)


def test_every_entry_point_refuses_float_ids(tmp_path):
    for name, call in _entry_points(tmp_path).items():
        with pytest.raises(TypeError, match="integer"):
            call(np.array([1.0, 2.0]))


LAYERS = {
    "Embedding": lambda: Embedding(6, 4, rng=0),
    "PositionalEncoding": lambda: PositionalEncoding(4, 8),
    "LearnedPositionalEmbedding": lambda: LearnedPositionalEmbedding(8, 4, rng=0),
    "RotaryEmbedding": lambda: RotaryEmbedding(4),
    "EmbeddingLayer": lambda: EmbeddingLayer(6, 4, max_seq_length=8, positional="learned", rng=0),
    "QuantizedEmbedding": lambda: QuantizedEmbedding.from_embedding(Embedding(6, 4, rng=0)),
    "EmbeddingBag": lambda: EmbeddingBag(6, 4, mode="sum", rng=0),
    "ShardedEmbedding": lambda: ShardedEmbedding(6, 4, 3, rng=0),
}


@pytest.mark.parametrize("name", LAYERS)
def test_every_layer_is_a_module_whose_call_is_its_forward(name):
    layer = LAYERS[name]()
    assert isinstance(layer, Module)
    assert "__call__" not in vars(type(layer)), f"{name} should inherit __call__ from Module"
    assert "forward" in vars(type(layer)), f"{name} should define forward"


def test_parameters_walk_attributes_lists_and_sublayers_once_each():
    layer = EmbeddingLayer(6, 4, max_seq_length=8, positional="learned", rng=0)
    assert layer.parameters() == [layer.token_embedding.weight, layer.position.weight]
    sharded = ShardedEmbedding(6, 4, 3, rng=0)
    assert sharded.parameters() == sharded.shards
    assert PositionalEncoding(4, 8).parameters() == [] and RotaryEmbedding(4).parameters() == []

    class Tied(Module):
        def __init__(self):
            self.embedding = Embedding(6, 4, rng=0)
            self.output = self.embedding.weight  # the same Tensor twice: listed once
    tied = Tied()
    assert tied.parameters() == [tied.embedding.weight]
    with pytest.raises(NotImplementedError, match="Tied must define forward"):
        tied(np.array([1]))


def test_zero_grad_clears_every_parameter():
    layer = EmbeddingLayer(6, 4, max_seq_length=8, positional="learned", rng=0)
    layer(np.array([[1, 2, 3]])).sum().backward()
    assert all(p.grad is not None for p in layer.parameters())
    layer.zero_grad()
    assert all(p.grad is None for p in layer.parameters())
    sharded = ShardedEmbedding(6, 4, 2, rng=0)
    sharded(np.array([0, 5])).sum().backward()
    sharded.zero_grad()
    assert all(shard.grad is None for shard in sharded.shards)
