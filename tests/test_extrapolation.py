"""Tests of tinytorch_lite.analysis.extrapolation, the extrapolation lab of Module 12 part 2.

The lab runs here with a tiny configuration (a few Adam steps, one seed), so these tests check the
machinery, not the experiment's outcome: shapes, determinism, the learned table's untrained rows,
and that the conclusions follow the numbers they are given.
"""

import copy
from dataclasses import replace

import numpy as np
import pytest

from tinytorch_lite.analysis.extrapolation import (
    SCHEMES,
    LabConfig,
    LabResults,
    accuracy_by_position,
    conclusions,
    describe,
    format_summary,
    most_frequent_so_far,
    plot_lab,
    run_lab,
    summarize,
)

TINY = LabConfig(vocab_size=5, embedding_dim=8, offset=2, train_length=6, eval_lengths=(6, 10), steps=3,
                 batch_size=4, seeds=(0,), eval_sequences=5)


@pytest.fixture(scope="module")
def tiny_results():
    return run_lab(TINY)


def test_results_have_one_row_per_seed_and_one_column_per_scored_position(tiny_results):
    """Check the shapes of run_lab's accuracies and table changes, and that it reports its time."""
    assert set(tiny_results.accuracy) == set(SCHEMES)
    for scheme, by_length in tiny_results.accuracy.items():
        assert set(by_length) == {6, 10}
        for length, accuracy in by_length.items():
            assert accuracy.shape == (1, length - TINY.offset), f"{scheme}, length {length}: {accuracy.shape}"
            assert ((accuracy >= 0) & (accuracy <= 1)).all()
            assert np.allclose(accuracy * TINY.eval_sequences, np.round(accuracy * TINY.eval_sequences)), \
                "each accuracy is a count of correct answers over eval_sequences"
    assert tiny_results.table_change.shape == (1, 10)
    assert tiny_results.seconds > 0


def test_a_fixed_seed_gives_the_same_results(tiny_results):
    again = run_lab(TINY)
    for scheme in SCHEMES:
        for length in TINY.eval_lengths:
            assert np.array_equal(again.accuracy[scheme][length], tiny_results.accuracy[scheme][length])
    assert np.array_equal(again.table_change, tiny_results.table_change)
    other_seed = run_lab(replace(TINY, seeds=(1,), schemes=("learned",)))
    assert not np.array_equal(other_seed.table_change, tiny_results.table_change), "the seed changes the model"


def test_the_learned_tables_untrained_rows_do_not_move(tiny_results):
    """Check rows beyond train_length get no gradient (change exactly 0) and trained rows do move."""
    change = tiny_results.table_change
    assert (change[:, TINY.train_length:] == 0).all(), f"untrained rows moved: {change[:, TINY.train_length:]}"
    assert (change[:, :TINY.train_length] > 0).all(), f"trained rows did not move: {change[:, :TINY.train_length]}"
    assert summarize(tiny_results)["learned_unseen_row_change"] == 0


def test_summarize_averages_the_right_positions():
    """Check seen, unseen and its range against a hand-made results object with two seeds."""
    config = LabConfig(vocab_size=4, offset=1, train_length=3, eval_lengths=(3, 5), seeds=(0, 1),
                       schemes=("rotary",), eval_sequences=4)
    seen = np.array([[1.0, 0.5], [0.5, 0.0]])                              # positions 1, 2
    longest = np.array([[1.0, 1.0, 0.5, 0.0], [0.0, 0.0, 1.0, 1.0]])       # positions 1..4; 3, 4 unseen
    results = LabResults(config, {"rotary": {3: seen, 5: longest}}, np.zeros((0, 5)), 0.1)
    summary = summarize(results)
    row = summary["schemes"]["rotary"]
    assert row["seen"] == pytest.approx(0.5)
    assert row["unseen"] == pytest.approx(0.625)          # seed 0: (0.5 + 0) / 2, seed 1: (1 + 1) / 2
    assert row["unseen_range"] == pytest.approx((0.25, 1.0))
    assert row["by_length"] == pytest.approx({3: 0.5, 5: 0.5625})
    assert summary["learned_unseen_row_change"] is None
    assert (summary["train_length"], summary["longest"], summary["vocab_size"]) == (3, 5, 4)
    assert "rotary" in format_summary(summary) and "length  5" in format_summary(summary)


def test_accuracy_and_the_order_blind_guess_on_a_small_example():
    token_ids = np.array([[1, 2, 1, 1, 2], [0, 0, 3, 3, 3]])
    assert np.array_equal(most_frequent_so_far(token_ids, vocab_size=4), [[1, 1, 1, 1, 1], [0, 0, 0, 0, 3]])
    predictions = np.array([[9, 9, 1, 0, 1], [9, 9, 0, 0, 3]])            # answers: tokens 2 back
    assert np.array_equal(accuracy_by_position(predictions, token_ids, offset=2), [1.0, 0.5, 1.0])


def synthetic_summary():
    row = lambda seen, unseen, low, high: dict(seen=seen, unseen=unseen, unseen_range=(low, high),  # noqa: E731
                                               by_length={16: seen, 64: unseen})
    return dict(train_length=16, longest=64, vocab_size=16, num_seeds=3, order_blind=0.16,
                learned_unseen_row_change=0.0,
                schemes={"none": row(0.26, 0.15, 0.14, 0.16), "learned": row(1.0, 0.07, 0.06, 0.08),
                         "sinusoidal": row(1.0, 0.22, 0.17, 0.25), "rotary": row(1.0, 0.91, 0.83, 0.98)})


def test_conclusions_follow_the_numbers():
    """Check that each sentence of the conclusions changes when the numbers behind it change."""
    summary = synthetic_summary()
    text = conclusions(summary)
    assert text[0] == "none: did not learn the task even at the training length (accuracy 0.26)."
    assert text[1] == "learned: learned the task (1.00) and lost it at unseen positions (0.07)."
    assert text[3] == "rotary: learned the task (1.00) and kept most of it at unseen positions (0.91)."
    assert "scores 0.16 at positions 16 to 63 (chance is 0.06)" in text[4] and "scores 0.15" in text[4]
    assert "(exactly zero: they never received a gradient)" in text[5]
    assert text[6].startswith("Relative beats absolute here: rotary scores 0.91") and "(sinusoidal) 0.22" in text[6]
    assert text[7] == "Rotary depends on the seed: from 0.83 to 0.98 at unseen positions."

    changed = copy.deepcopy(summary)
    changed["schemes"]["rotary"].update(unseen=0.2, unseen_range=(0.18, 0.22))
    changed["schemes"]["learned"].update(unseen=0.99)
    changed["learned_unseen_row_change"] = 3e-4
    text = conclusions(changed)
    assert text[1] == "learned: learned the task (1.00) and kept it at unseen positions (0.99)."
    assert "at most 3.0e-04 in training;" in text[5] and "exactly zero" not in text[5]
    assert text[6] == ("The expected advantage of relative position did not show: rotary scores 0.20 at "
                       "unseen positions, learned 0.99.")
    assert text[7] == "Rotary loses accuracy beyond the training length in every seed (0.18 to 0.22)."

    steady = copy.deepcopy(summary)
    steady["schemes"]["rotary"].update(unseen=0.99, unseen_range=(0.98, 1.0))
    assert len(conclusions(steady)) == 7, "a steady, accurate rotary gets no sentence about its seeds"


def test_conclusions_skip_schemes_that_did_not_run():
    summary = synthetic_summary()
    del summary["schemes"]["none"], summary["schemes"]["learned"]
    summary["learned_unseen_row_change"] = None
    text = conclusions(summary)
    assert [s.split(":")[0] for s in text[:2]] == ["sinusoidal", "rotary"]
    assert not any("learned table" in s or "without position information" in s for s in text)


def test_describe_states_the_configuration():
    text = describe(LabConfig(seeds=(4, 5), steps=7))
    assert "7 Adam steps" in text and "2 seeds per scheme" in text
    assert "positions 16 to 63 of length-64 sequences" in text
    assert "1 seed per scheme" in describe(TINY)


@pytest.mark.parametrize("changes, words", [
    (dict(offset=16), "offset must be between 1 and train_length - 1 = 15"),
    (dict(offset=0), "offset must be between 1"),
    (dict(eval_lengths=(32, 64)), "must contain train_length=16"),
    (dict(eval_lengths=(8, 16)), "a longer length"),
    (dict(schemes=("alibi",)), "schemes must be a non-empty selection"),
    (dict(schemes=()), "schemes must be a non-empty selection"),
    (dict(seeds=()), "seeds is empty"),
    (dict(eval_lengths=(2, 16, 64)), "every eval length must exceed offset=3"),
])
def test_bad_configurations_raise_a_clear_error(changes, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        LabConfig(**changes)


def test_plot_lab_draws_one_line_per_scheme_and_the_table_change(tiny_results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plot_lab(tiny_results)
    try:
        left, right = fig.axes
        assert [line.get_label() for line in left.get_lines()] == list(SCHEMES)
        assert np.allclose(left.get_lines()[3].get_ydata(), tiny_results.accuracy["rotary"][10].mean(axis=0))
        assert len({line.get_color() for line in left.get_lines()}) == 4
        assert np.allclose(right.get_lines()[0].get_ydata(), tiny_results.table_change.mean(axis=0))
        assert left.get_position().y0 > right.get_position().y1, "the panels are stacked: accuracy on top"
    finally:
        plt.close(fig)
