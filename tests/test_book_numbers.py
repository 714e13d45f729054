"""Every number the website states in its own words, recomputed.

Numbers that come from a measurement or from the page's data are computed in the page while it is
built (printed, or glued into the text with myst-nb's `glue`). What remains written out in a page is
arithmetic on published or defined quantities, or a description of a figure (alt text cannot be
computed). Each case names the exact text of the page, so an edit of the sentence makes its case fail
until the number is checked again, and recomputes the number from the library or from first principles.
"""
from __future__ import annotations

import math
import string

import numpy as np
import pytest

from coursekit.sources import ROOT
from tinytorch_lite.analysis.reference import MODEL_EMBEDDINGS
from tinytorch_lite.core.embedding_systems import embedding_memory
from tinytorch_lite.core.embeddings import alibi_bias
from tinytorch_lite.core.tensor import Tensor, cross_entropy

GPT2_VOCAB, GPT2_WIDTH = 50257, 768
LLAMA3_VOCAB, LLAMA3_WIDTH = 128256, 4096
MIB, GIB = 2**20, 2**30


def page(name: str) -> str:
    return (ROOT / "book" / f"{name}.md").read_text()


def _pydoc_text() -> str:
    from pydoc_data.topics import topics

    return "\n".join(topics[name] for name in sorted(topics))


def _distinct_characters(text: str) -> int:
    from tinytorch_lite.core.tokenization import CharTokenizer

    return CharTokenizer.from_corpus([text]).vocab_size - 4  # less the four special tokens


def _gradcheck_errors(dtype) -> tuple[np.ndarray, np.ndarray]:
    """The central-difference errors of the figure in 02_tensor (same seed, sizes and steps)."""
    generator = np.random.default_rng(0)
    logits64 = generator.standard_normal((4, 6))
    targets = generator.integers(0, 6, size=4)
    steps = np.logspace(-10, -1, 28)
    exact = Tensor(logits64.astype(dtype), requires_grad=True)
    cross_entropy(exact, targets).backward()

    def loss_of(values):
        return cross_entropy(Tensor(values.astype(dtype)), targets).item()

    errors = []
    for eps in steps:
        numeric = np.zeros_like(logits64)
        for index in np.ndindex(*logits64.shape):
            bump = np.zeros_like(logits64)
            bump[index] = eps
            numeric[index] = (loss_of(logits64 + bump) - loss_of(logits64 - bump)) / (2 * eps)
        errors.append(np.abs(numeric - exact.grad).max())
    return steps, np.array(errors)


def _int8_shrink(vocab_size: int, width: int) -> float:
    """How many times smaller the uint8 QuantizedEmbedding of a float32 table is."""
    from tinytorch_lite.core.embedding_systems import QuantizedEmbedding
    from tinytorch_lite.core.embeddings import Embedding

    table = Embedding(vocab_size, width, rng=0)
    return table.weight.data.nbytes / QuantizedEmbedding.from_embedding(table, bits=8).nbytes


def _decade(value: float) -> int:
    return round(math.log10(value))


# (page, text as written in the page, the number recomputed and formatted as the text writes it)
CASES = [
    # 02_tensor
    ("02_tensor", "in float32 it overflows from $z \\approx 89$",
     lambda: f"in float32 it overflows from $z \\approx {math.log(np.finfo(np.float32).max):.0f}$"),
    ("02_tensor", "($1.2\\times10^{-7}$)", lambda: f"(${np.finfo(np.float32).eps * 1e7:.1f}\\times10^{{-7}}$)"),
    ("02_tensor", "($2.2\\times10^{-16}$)", lambda: f"(${np.finfo(np.float64).eps * 1e16:.1f}\\times10^{{-16}}$)"),
    ("02_tensor", "near log(8), about 2.08", lambda: f"near log(8), about {math.log(8):.2f}"),
    # 11_tokenization
    ("11_tokenization", "small: about 100 printable ASCII characters",
     lambda: f"small: about {len(string.printable)} printable ASCII characters"),
    ("11_tokenization", "rises slowly from about 50 to about 100",
     lambda: "rises slowly from about {} to about {}".format(
         round(_distinct_characters(_pydoc_text()[:1000]), -1), round(_distinct_characters(_pydoc_text()), -2))),
    # 12_embedding_lookup
    ("12_embedding_lookup", "38.6 million for GPT-2", lambda: f"{GPT2_VOCAB * GPT2_WIDTH / 1e6:.1f} million for GPT-2"),
    ("12_embedding_lookup", "$N \\cdot V \\cdot D \\approx 3.2 \\times 10^{11}$",
     lambda: f"$N \\cdot V \\cdot D \\approx {8192 * GPT2_VOCAB * GPT2_WIDTH / 1e11:.1f} \\times 10^{{11}}$"),
    ("12_embedding_lookup", "$N \\cdot D \\approx 6.3 \\times 10^6$",
     lambda: f"$N \\cdot D \\approx {8192 * GPT2_WIDTH / 1e6:.1f} \\times 10^6$"),
    # 12_positional_encoding
    ("12_positional_encoding", "$\\tfrac12, \\tfrac14, \\dots, \\tfrac1{256}$ for $H = 8$ heads",
     lambda: "$\\tfrac1%d, \\tfrac1%d, \\dots, \\tfrac1{%d}$ for $H = 8$ heads" % tuple(
         round(1 / s) for s in (-alibi_bias(8, 2)[[0, 1, 7], 0, 1]))),
    # 12_embedding_systems
    ("12_embedding_systems", "reaches about 16,000 MiB",
     lambda: f"reaches about {round(embedding_memory(1_000_000, 4096, 'float32', tied=True).total_bytes / MIB, -3):,.0f} MiB"),
    ("12_embedding_systems", "about 1.96 GiB in bfloat16",
     lambda: f"about {embedding_memory(LLAMA3_VOCAB, LLAMA3_WIDTH, 'bfloat16', tied=False).total_bytes / GIB:.2f} GiB in bfloat16"),
    ("12_embedding_systems", "15.7 GiB: a factor of 8",
     lambda: "{:.1f} GiB: a factor of {:.0f}".format(
         embedding_memory(LLAMA3_VOCAB, LLAMA3_WIDTH, "float32", tied=False, training=True).total_bytes / GIB,
         embedding_memory(LLAMA3_VOCAB, LLAMA3_WIDTH, "float32", tied=False, training=True).total_bytes
         / embedding_memory(LLAMA3_VOCAB, LLAMA3_WIDTH, "bfloat16", tied=False).total_bytes)),
    ("12_embedding_systems", "need the most, about 16 GiB",
     lambda: "need the most, about {:.0f} GiB".format(max(
         embedding_memory(m.vocab_size, m.hidden_size, "float32", m.tied, True, "adam").total_bytes
         for m in MODEL_EMBEDDINGS if m.tied is not None) / GIB)),
    ("12_embedding_systems", "cuts the memory of GPT-2's table 3.96 times",
     lambda: "cuts the memory of GPT-2's table {:.2f} times".format(_int8_shrink(GPT2_VOCAB, GPT2_WIDTH))),
    ("12_embedding_systems", "$4 \\times 4 = 16$ bytes per parameter",
     lambda: "$4 \\times 4 = {}$ bytes per parameter".format(
         embedding_memory(1, 1, "float32", tied=True, training=True).total_bytes)),
]


@pytest.mark.parametrize("name, stated, recompute", CASES, ids=[f"{c[0]}: {c[1][:40]}" for c in CASES])
def test_stated_number_is_what_it_computes_to(name, stated, recompute):
    assert stated in page(name), f"book/{name}.md no longer says {stated!r}: update or drop this case"
    assert recompute() == stated, f"book/{name}.md says {stated!r}; recomputed: {recompute()!r}"


def test_the_gradient_check_figure_is_described_truly():
    """Check the alt text of fig-gradcheck: where each curve has its minimum and how large it is."""
    text = page("02_tensor")
    steps, errors64 = _gradcheck_errors(np.float64)
    _, errors32 = _gradcheck_errors(np.float32)
    best64, best32 = errors64.argmin(), errors32.argmin()
    assert f"minimum, about 1e{_decade(errors64[best64])}, near epsilon 1e{_decade(steps[best64])}" in text, (
        f"float64: minimum {errors64[best64]:.1e} at epsilon {steps[best64]:.1e}")
    assert f"falls to its minimum, about 1e{_decade(errors32[best32])}, near epsilon 1e{_decade(steps[best32])}" in text, (
        f"float32: minimum {errors32[best32]:.1e} at epsilon {steps[best32]:.1e}")
    flat = errors32[steps < 1e-8]
    assert "stays flat near 0.2 for steps below 1e-8" in text
    assert np.all((flat > 0.1) & (flat < 0.4)), f"float32 errors below epsilon 1e-8: {flat}"


def test_the_published_model_shares_are_shown_as_at_most_100_percent():
    """A table cannot hold more than all of a model's parameters; a published total is rounded."""
    from tinytorch_lite.analysis.plots import plot_embedding_share

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plot_embedding_share()
    widths = [patch.get_width() for patch in ax.patches]
    plt.close(ax.figure)
    assert max(widths) <= 100, f"bars longer than 100 %: {max(widths)}"
    assert any(m.embedding_share > 1 for m in MODEL_EMBEDDINGS), "no rounded total left: drop the cap and this test"
