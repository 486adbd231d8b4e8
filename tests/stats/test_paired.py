"""The promotion gate's paired tests: the squared-error t-test against scipy, its guards, the
paired bootstrap's p-value, spread and speed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score

from pipelines.stats.paired import paired_bootstrap_test, paired_squared_error_test


def _regression(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.normal(50, 10, n)
    champion = y + rng.normal(0, 5.0, n)
    candidate = y + rng.normal(0, 4.6, n)
    return y, champion, candidate


def test_squared_error_test_is_scipy_one_sided_paired_t() -> None:
    y, champion, candidate = _regression()
    result = paired_squared_error_test(y, champion, candidate)
    expected = stats.ttest_rel((candidate - y) ** 2, (champion - y) ** 2, alternative="less")
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.pvalue == pytest.approx(expected.pvalue)
    assert result.pvalue < 0.01
    assert "paired t-test" in result.detail
    assert "2,000" in result.detail
    assert "mean squared error" in result.detail


def test_squared_error_test_one_sided() -> None:
    y, champion, candidate = _regression(seed=1)
    worse = paired_squared_error_test(y, candidate, champion)  # roles swapped
    assert worse.pvalue > 0.99
    assert worse.statistic > 0


def test_squared_error_test_guards() -> None:
    y, champion, _ = _regression(n=50)
    same = paired_squared_error_test(y, champion, champion)
    assert (same.statistic, same.pvalue) == (0.0, 1.0)
    # every row better by the same amount: no variance, the candidate is better
    y = np.zeros(5)
    assert paired_squared_error_test(y, np.full(5, 2.0), np.ones(5)).pvalue == 0.0
    assert paired_squared_error_test(y, np.ones(5), np.full(5, 2.0)).pvalue == 1.0
    assert paired_squared_error_test(np.ones(1), np.zeros(1), np.ones(1)).pvalue == 1.0
    with pytest.raises(ValueError, match="equal length"):
        paired_squared_error_test(np.ones(3), np.ones(3), np.ones(2))


def _multiclass(n: int, boost: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    noise = rng.normal(0, 1, (n, 4))
    champion = noise.copy()
    champion[np.arange(n), y] += 1.0
    candidate = noise + rng.normal(0, 0.3, (n, 4))
    candidate[np.arange(n), y] += 1.0 + boost
    return y, _softmax(champion), _softmax(candidate)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_bootstrap_finds_a_better_candidate_and_not_a_worse_one() -> None:
    y, champion, candidate = _multiclass(3000, 0.4, seed=2)
    better = paired_bootstrap_test(y, champion, candidate, n_resamples=500)
    observed = (f1_score(y, candidate.argmax(1), average="macro")
                - f1_score(y, champion.argmax(1), average="macro"))
    assert better.statistic == pytest.approx(observed)
    assert better.pvalue == pytest.approx(1 / 501)
    assert "paired bootstrap" in better.detail
    assert "3,000" in better.detail
    worse = paired_bootstrap_test(y, candidate, champion, n_resamples=500)
    assert worse.pvalue > 0.99
    same = paired_bootstrap_test(y, champion, champion, n_resamples=200)
    assert same.pvalue == 1.0
    assert same.statistic == 0.0
    assert paired_bootstrap_test(y, champion, candidate, n_resamples=200, seed=5) == \
        paired_bootstrap_test(y, champion, candidate, n_resamples=200, seed=5)


def test_bootstrap_spread_matches_the_paired_standard_error() -> None:
    """For accuracy (a mean over rows) the bootstrap's p-value must agree with the normal
    approximation from the paired differences' standard error."""
    y, champion, candidate = _multiclass(4000, 0.05, seed=3)
    d = ((candidate.argmax(1) == y).astype(float) - (champion.argmax(1) == y))
    z = d.mean() / (d.std(ddof=1) / np.sqrt(d.size))
    result = paired_bootstrap_test(y, champion, candidate, metric="accuracy", n_resamples=2000,
                                   seed=1)
    assert result.statistic == pytest.approx(d.mean())
    assert result.pvalue == pytest.approx(stats.norm.sf(z), abs=0.03)


def test_bootstrap_is_fast_and_checks_its_input() -> None:
    y, champion, candidate = _multiclass(10_000, 0.1, seed=4)
    start = time.process_time()  # CPU time: wall time on a loaded machine says little
    paired_bootstrap_test(y, champion, candidate, n_resamples=1000)
    assert time.process_time() - start < 2.0  # about 0.3 s
    with pytest.raises(ValueError, match="metric"):
        paired_bootstrap_test(y, champion, candidate, metric="roc_auc")
    with pytest.raises(ValueError, match="columns"):
        paired_bootstrap_test(y, champion, candidate[:, :3])


def test_bootstrap_chunks_do_not_change_the_result() -> None:
    """Chunking only bounds memory: the resamples, hence the result, are the same."""
    y, champion, candidate = _multiclass(500, 0.1, seed=6)
    whole = paired_bootstrap_test(y, champion, candidate, n_resamples=300, chunk=300)
    pieces = paired_bootstrap_test(y, champion, candidate, n_resamples=300, chunk=7)
    assert whole == pieces
