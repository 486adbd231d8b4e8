"""DeLong's paired test: the fast midrank version against the pairwise definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from pipelines.errors import DataError
from pipelines.stats.delong import delong_test


def _pairwise_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) from the definition: psi over every (positive, negative) pair."""
    def components(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos, neg = s[y == 1][:, None], s[y == 0][None, :]
        psi = (pos > neg) + 0.5 * (pos == neg)
        return psi.mean(axis=1), psi.mean(axis=0)  # V10 over positives, V01 over negatives

    (a10, a01), (b10, b01) = components(a), components(b)
    m, n = a10.size, a01.size
    var = (np.var(a10, ddof=1) + np.var(b10, ddof=1)
           - 2 * np.cov(a10, b10)[0, 1]) / m + (np.var(a01, ddof=1) + np.var(b01, ddof=1)
                                                - 2 * np.cov(a01, b01)[0, 1]) / n
    return b10.mean() - a10.mean(), math.sqrt(var)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_fast_delong_equals_the_pairwise_definition(seed: int, ties: bool) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(400) < 0.3).astype(int)
    a = y * 0.8 + rng.normal(0, 1, 400)
    b = y * 1.1 + 0.6 * a + rng.normal(0, 1, 400)  # correlated with a, better on average
    if ties:
        a, b = np.round(a, 1), np.round(b, 1)
    res = delong_test(y, a, b)
    diff, se = _pairwise_delong(y, a, b)
    assert res.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert res.auc_b == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    assert res.difference == pytest.approx(diff, abs=1e-12)
    assert res.std_error == pytest.approx(se, rel=1e-9)
    assert res.pvalue == pytest.approx(stats.norm.sf(diff / se), rel=1e-9)


def test_fixed_numbers() -> None:
    """A small table worked by hand: 3 positives, 3 negatives."""
    y = np.array([1, 1, 1, 0, 0, 0])
    a = np.array([0.9, 0.4, 0.6, 0.5, 0.2, 0.7])  # 6 of 9 pairs ordered: AUC 2/3
    b = np.array([0.9, 0.8, 0.6, 0.5, 0.2, 0.1])  # every pair ordered: AUC 1
    res = delong_test(y, a, b)
    assert res.auc_a == pytest.approx(6 / 9)
    assert res.auc_b == pytest.approx(1.0)
    # components of a: positives (1, 1/3, 2/3), negatives (2/3, 1, 1/3); b's are constant 1,
    # so var = var(a10)/3 + var(a01)/3 = (1/9)/3 + (1/9)/3
    assert res.std_error == pytest.approx(math.sqrt(2 / 27))
    assert res.pvalue == pytest.approx(stats.norm.sf((1 / 3) / math.sqrt(2 / 27)))


def test_a_much_better_model_is_significant_and_the_same_model_is_not() -> None:
    rng = np.random.default_rng(5)
    y = (rng.random(3000) < 0.3).astype(int)
    weak = y * 0.3 + rng.normal(0, 1, 3000)
    strong = y * 1.5 + rng.normal(0, 1, 3000)
    assert delong_test(y, weak, strong).pvalue < 1e-6
    assert delong_test(y, strong, weak).pvalue > 0.999
    same = delong_test(y, weak, weak)
    assert (same.difference, same.pvalue) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("y", "a", "b", "match"),
    [
        ([1, 1, 1, 0], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], "at least 2 rows of each"),
        ([1, 2, 0, 0], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], "labels must be 0/1"),
        ([1, 1, 0, 0], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4], "of one length"),
        ([1, 1, 0, 0], [0.1, np.nan, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], "must be finite"),
    ],
)
def test_bad_input_is_refused(y: list, a: list, b: list, match: str) -> None:
    with pytest.raises(DataError, match=match):
        delong_test(np.array(y), np.array(a), np.array(b))
