"""The plasticity score against hand-computed ratios and a NumPy bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong._plasticity_score import plasticity_row
from trac_optax.lifelong._plasticity_score import plasticity_scores
from trac_optax.lifelong._plasticity_score import return_floor

RETURNS = {
    # seeds x tasks; task 1 never counts.
    "adam": np.array([[100.0, 10.0, 30.0], [500.0, 20.0, 40.0]]),
    "reset": np.array([[100.0, 100.0, 60.0], [100.0, 50.0, 90.0]]),
    "trac": np.array([[0.0, 75.0, 75.0], [0.0, np.nan, 75.0]]),
}


def test_ratio_of_later_task_means():
  scores = plasticity_scores(RETURNS)
  # reset: per-seed means over tasks 2-3 are 80 and 70 -> 75.
  # adam: 20 and 30 -> 25, score 1/3; trac: 75 and 75 (NaN task left out).
  assert scores["adam"].mean == pytest.approx(25.0 / 75.0)
  assert scores["trac"].mean == pytest.approx(1.0)
  assert tuple(scores["reset"]) == (1.0, 1.0, 1.0)


def test_interval_matches_a_numpy_bootstrap():
  scores = plasticity_scores(RETURNS, n_resamples=20_000, seed=5)
  rng = np.random.default_rng(11)
  adam = np.array([20.0, 30.0])[rng.integers(0, 2, (20_000, 2))].mean(1)
  reset = np.array([80.0, 70.0])[rng.integers(0, 2, (20_000, 2))].mean(1)
  low, high = np.quantile(adam / reset, [0.025, 0.975])
  # With two seeds per run the resampled ratios take few values; the
  # quantiles agree exactly or within one of those values' gaps.
  assert scores["adam"].low == pytest.approx(low, abs=0.03)
  assert scores["adam"].high == pytest.approx(high, abs=0.03)
  assert scores["adam"].low <= scores["adam"].mean <= scores["adam"].high


def test_floor_for_negative_returns():
  # Acrobot: -1 per step, cap 400. reset at -100, adam at -400 (the floor).
  returns = {"adam": np.full((2, 3), -400.0), "reset": np.full((2, 3), -100.0),
             "trac": np.full((2, 3), -250.0)}
  floor = return_floor(LifelongConfig(env="Acrobot-v1"))
  assert floor == -400.0
  scores = plasticity_scores(returns, floor=floor)
  assert scores["adam"].mean == pytest.approx(0.0)
  assert scores["trac"].mean == pytest.approx(0.5)
  assert return_floor(LifelongConfig(env="CartPole-v1")) == 0.0


def test_row_reads_na_without_reset_or_with_one_task():
  assert plasticity_row({"adam": RETURNS["adam"]}) == (
      "| plasticity vs reset, tasks 2+ | n/a |")
  one_task = {k: v[:, :1] for k, v in RETURNS.items()}
  assert plasticity_scores(one_task) is None
  row = plasticity_row(RETURNS)
  cells = [c.strip() for c in row.split("|")[2:-1]]
  assert cells[1] == "1.00 [1.00, 1.00]"
  assert cells[0].startswith("0.33 [")
