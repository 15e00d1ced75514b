import numpy as np
import pytest

from distill.results import stats


def _pairs(b, c, same=50):
    """Correctness of two models on b + c + same images: b only the first gets right, c only the second."""
    first = np.array([True] * b + [False] * c + [True] * same)
    second = np.array([False] * b + [True] * c + [True] * same)
    return first[None], second[None]


def test_exact_mcnemar_matches_a_hand_computed_p_value():
    # 9 vs 1 discordant images: two-sided exact p = 2 * P(X >= 9 | n=10, 1/2) = 2 * 11 / 1024
    t = stats.mcnemar(*_pairs(9, 1))
    assert (t.b, t.c) == (9, 1)
    assert t.p_value == pytest.approx(22 / 1024, abs=1e-12)
    assert stats.verdict(t) == stats.KD_BETTER
    assert stats.verdict(stats.mcnemar(*_pairs(1, 9))) == stats.HARD_BETTER
    # concordant images never count: only the discordant ones carry evidence
    assert stats.mcnemar(*_pairs(9, 1, same=5000)).p_value == t.p_value


def test_no_discordant_images_is_no_difference():
    t = stats.mcnemar(*_pairs(0, 0))
    assert t.p_value == 1.0 and stats.verdict(t) == stats.NO_DIFFERENCE


def test_seed_pairs_pool_their_discordant_images():
    # two seed pairs of 5 vs 0 each: pooled 10 vs 0, p = 2 / 1024; each alone (p = 1/16) is not significant
    one_first, one_second = _pairs(5, 0)
    both = stats.mcnemar(np.vstack([one_first, one_first]), np.vstack([one_second, one_second]))
    assert (both.b, both.c) == (10, 0) and both.p_value == pytest.approx(2 / 1024)
    assert stats.verdict(stats.mcnemar(one_first, one_second)) == stats.NO_DIFFERENCE
    assert stats.verdict(both) == stats.KD_BETTER


def test_shapes_must_pair():
    with pytest.raises(ValueError, match="differ in shape"):
        stats.mcnemar(np.ones((2, 5), bool), np.ones((3, 5), bool))
