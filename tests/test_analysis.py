"""Tests of tinytorch_lite.analysis: cited reference data, profiling and plots of Module 12, part 3."""

import numpy as np
import pytest

from tinytorch_lite.analysis.profiling import measure_memory_bandwidth, profile_lookup, sample_token_ids
from tinytorch_lite.analysis.reference import MODEL_EMBEDDINGS


def test_model_embeddings_carry_sources_and_shares():
    names = {m.name for m in MODEL_EMBEDDINGS}
    for required in ("GPT-2 small", "BERT-base", "T5-base", "Llama 2 7B", "Llama 3 8B", "Gemma 2B"):
        assert required in names
    assert any(name.startswith("DLRM") for name in names)
    assert all(m.source for m in MODEL_EMBEDDINGS)
    by_name = {m.name: m for m in MODEL_EMBEDDINGS}
    assert by_name["GPT-2 small"].embedding_params == 50257 * 768
    assert by_name["Llama 3 8B"].embedding_params == 2 * 128256 * 4096  # untied: input and output tables
    assert by_name["GPT-2 small"].embedding_share == pytest.approx(0.311, abs=0.001)
    assert 0.99 < next(m for m in MODEL_EMBEDDINGS if m.tied is None).embedding_share < 1.01


def test_plot_helpers_draw_on_given_axes():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tinytorch_lite.analysis.plots import (plot_embedding_share, plot_memory_scaling, plot_profile,
                                               plot_training_memory)
    fig, axes = plt.subplots(1, 5)
    assert len(plot_memory_scaling(ax=axes[0]).lines) == 6
    assert len(plot_embedding_share(ax=axes[1]).patches) >= len(MODEL_EMBEDDINGS)
    assert plot_training_memory(ax=axes[2]).patches
    records = profile_lookup(vocab_sizes=(64, 256), num_ids=(32,), embedding_dim=8, repeats=1, copy_gbps=10.0)
    plot_profile(records, cache_mib=1.0, axes=axes[3:], l2_mib=0.5)
    assert len(axes[3].lines) == 6  # three distributions, the prediction and the two cache lines
    predicted = axes[3].lines[3].get_ydata()
    assert list(predicted) == [1e3 * r["forward_predicted_s"] for r in records if r["distribution"] == "sequential"]
    plt.close(fig)


def test_measure_memory_bandwidth_is_a_plausible_number():
    gbps = measure_memory_bandwidth(num_bytes=8 * 2**20, repeats=2)
    assert 0.1 < gbps < 10_000


def test_profile_lookup_records():
    records = profile_lookup(vocab_sizes=(50, 500), num_ids=(16, 64), embedding_dim=8, repeats=1, copy_gbps=20.0)
    assert len(records) == 2 * 2 * 3
    for r in records:
        assert r["forward_s"] > 0 and r["backward_s"] > 0 and r["layer_s"] > 0
        assert r["tokens_per_s"] == pytest.approx(r["num_ids"] / r["forward_s"])
        assert r["forward_predicted_s"] == pytest.approx(2 * r["num_ids"] * 8 * 4 / 20e9)  # read + write a row, 20 GB/s
        assert r["forward_gbps"] == pytest.approx(2 * r["num_ids"] * 8 * 4 / r["forward_s"] / 1e9)
        assert r["forward_fraction"] == pytest.approx(r["forward_gbps"] / 20.0)
        assert r["table_mib"] == pytest.approx(r["vocab_size"] * 8 * 4 / 2**20)


@pytest.mark.parametrize("distribution", ["sequential", "uniform", "zipf"])
def test_sample_token_ids_stay_in_range(distribution):
    ids = sample_token_ids(distribution, 5000, 100, rng=0)
    assert ids.shape == (5000,) and ids.min() >= 0 and ids.max() < 100
    if distribution == "zipf":  # rank 1 is about twice as frequent as rank 2
        counts = np.bincount(ids, minlength=100)
        assert counts[0] > 1.5 * counts[1] > 0


def test_sample_token_ids_rejects_unknown_distribution():
    with pytest.raises(ValueError, match="zipf"):
        sample_token_ids("gaussian", 10, 10)
