"""The percentile-bootstrap interval against exact enumeration and scipy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.stats

from trac_optax.lifelong import bootstrap_ci
from trac_optax.lifelong import summary_table
from trac_optax.lifelong._stats import nan_mean


def _exact_percentile_interval(values, confidence):
  """All n**n equally likely resamples, enumerated; exact quantiles."""
  n = len(values)
  means = np.sort([np.mean(c) for c in itertools.product(values, repeat=n)])
  alpha = (1.0 - confidence) / 2.0
  cdf = np.arange(1, means.size + 1) / means.size
  low = means[np.searchsorted(cdf, alpha)]
  high = means[np.searchsorted(cdf, 1.0 - alpha)]
  return means.mean(), low, high


def test_matches_exact_enumeration():
  values = [0.0, 1.0, 3.0, 10.0, 4.0]  # 3125 resamples, means on a 0.2 grid
  mean, low, high = _exact_percentile_interval(values, 0.95)
  got = bootstrap_ci(values, n_resamples=200_000, seed=1)
  assert got.mean == pytest.approx(np.mean(values))
  assert mean == pytest.approx(np.mean(values))
  # The Monte Carlo quantile lands within one grid step of the exact one.
  assert got.low == pytest.approx(low, abs=0.2)
  assert got.high == pytest.approx(high, abs=0.2)


def test_agrees_with_scipy_percentile_bootstrap():
  rng = np.random.default_rng(0)
  values = rng.normal(100.0, 30.0, size=8)
  ours = bootstrap_ci(values, n_resamples=50_000, seed=2)
  ref = scipy.stats.bootstrap((values,), np.mean, confidence_level=0.95,
                              n_resamples=50_000, method="percentile",
                              random_state=3).confidence_interval
  width = ref.high - ref.low
  assert ours.low == pytest.approx(ref.low, abs=0.03 * width)
  assert ours.high == pytest.approx(ref.high, abs=0.03 * width)


def test_degenerate_and_missing_values():
  assert tuple(bootstrap_ci([7.0, 7.0, 7.0])) == (7.0, 7.0, 7.0)
  assert tuple(bootstrap_ci([5.0])) == (5.0, 5.0, 5.0)
  # A seed with no completed episode (NaN) is left out, not propagated.
  assert bootstrap_ci([1.0, np.nan, 1.0]).mean == 1.0
  assert all(np.isnan(bootstrap_ci([np.nan, np.nan])))
  with pytest.raises(ValueError, match="confidence"):
    bootstrap_ci([1.0, 2.0], confidence=95)


def test_summary_table_rows():
  returns = {"adam": np.array([[10.0, 2.0, 4.0], [20.0, 4.0, 8.0]]),
             "trac": np.array([[10.0, 9.0, 9.0], [10.0, 9.0, 9.0]])}
  lines = summary_table(returns).splitlines()
  assert lines[0] == "| task | adam | trac |"
  assert [line.split("|")[1].strip() for line in lines[2:]] == [
      "1", "2", "3", "all", "2-3"]
  # adam over the run: per-seed means 16/3 and 32/3, mean 8.0; tasks 2-3:
  # per-seed 3 and 6, mean 4.5.
  assert lines[5].split("|")[2].strip().startswith("8.0 [")
  assert lines[6].split("|")[2].strip().startswith("4.5 [3.0, 6.0]")
  assert lines[6].split("|")[3].strip() == "9.0 [9.0, 9.0]"


@pytest.mark.parametrize("task_returns,message", [
    ({}, "at least one optimizer"),
    ({"adam": np.ones((2, 3)), "trac": np.ones((2, 4))}, "'trac': (2, 4)"),
    ({"adam": np.ones((2, 3)), "trac": np.ones(3)}, "same number of tasks"),
])
def test_summary_table_refuses_returns_it_cannot_lay_out(task_returns,
                                                         message):
  with pytest.raises(ValueError) as error:
    summary_table(task_returns)
  assert message in str(error.value)


def test_summary_table_takes_other_numbers_of_seeds():
  table = summary_table({"adam": np.ones((2, 3)), "trac": np.full((5, 3), 2.0)})
  assert "| all | 1.0 [1.0, 1.0] | 2.0 [2.0, 2.0] |" in table


@pytest.mark.parametrize("values,options,message", [
    (np.ones((3, 4)), {}, "one number per seed (a 1-D array), got shape (3, 4)"),
    (2.0, {}, "got shape ()"),
    ([1.0, 2.0], {"n_resamples": 0}, "n_resamples must be a positive int"),
    ([1.0, 2.0], {"n_resamples": 1e4}, "n_resamples must be a positive int"),
    ([1.0, 2.0], {"confidence": 1.0}, "confidence must be in (0, 1)"),
])
def test_bootstrap_ci_refuses_what_it_would_pool_or_cannot_resample(
    values, options, message):
  with pytest.raises(ValueError) as error:
    bootstrap_ci(values, **options)
  assert message in str(error.value)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_nan_mean_skips_nan_and_is_nan_where_a_slice_has_no_value():
  values = np.array([[1.0, np.nan, np.nan], [3.0, 4.0, np.nan]])
  got = nan_mean(values, axis=0)
  np.testing.assert_array_equal(got, [2.0, 4.0, np.nan])
  np.testing.assert_array_equal(nan_mean(values, axis=1), [1.0, 3.5])
  assert nan_mean(values) == pytest.approx(8.0 / 3.0)
  assert np.isnan(nan_mean(np.full(4, np.nan)))
  # The table of a run in which one seed completed no episode in task 2.
  table = summary_table({"trac": np.array([[1.0, np.nan], [2.0, 3.0]])})
  assert "trac" in table
