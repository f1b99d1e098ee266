"""Reset baselines of every optimizer, and scores against each one's own reset."""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import trac_optax
from trac_optax.lifelong import OPTIMIZERS
from trac_optax.lifelong import PPO
from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import LifelongRun
from trac_optax.lifelong import write_results
from trac_optax.lifelong._cli_options import optimizer_for
from trac_optax.lifelong._optimizers import reset_base
from trac_optax.lifelong._optimizers import reset_name
from trac_optax.lifelong._plasticity_score import OWN_ROW_LABEL
from trac_optax.lifelong._plasticity_score import ROW_LABEL
from trac_optax.lifelong._plasticity_score import own_reset_scores
from trac_optax.lifelong._reset import is_reset
from trac_optax.lifelong._reset import reinitialise
from trac_optax.lifelong._suites import make_suite

CONFIG = LifelongConfig(num_seeds=2, num_tasks=2, iterations_per_task=2,
                        num_steps=32, hidden=8, layers=1, epochs=1,
                        minibatch_size=16, protocol="fixed")
BASES = ("adam", "trac", "mechanic", "l2init", "shrink_perturb", "trac-per-network")


def test_every_optimizer_has_a_reset_of_the_same_transform():
  names = {reset_name(b) for b in BASES}
  assert names == {"reset", "reset-trac", "reset-mechanic", "reset-l2init",
                   "reset-shrink_perturb", "reset-trac-per-network"}
  assert set(OPTIMIZERS) == set(BASES) | names
  for base in BASES:
    assert OPTIMIZERS[reset_name(base)] is OPTIMIZERS[base]
    assert reset_base(reset_name(base)) == base
    assert is_reset(reset_name(base)) and not is_reset(base)
  assert reset_base("reset-sgd") is None and not is_reset(optax.adam(1.0))


def test_reinitialise_starts_a_fresh_trac():
  optimizer = trac_optax.trac(optax.adam(1e-2))
  ppo = PPO(CONFIG, make_suite(CONFIG), optimizer)
  agents = ppo.init(jax.random.split(jax.random.key(0), 2))
  trained, _ = jax.jit(ppo.train_task)(agents, jnp.int32(0))
  assert np.all(np.asarray(jax.vmap(trac_optax.scale)(trained.opt_state)) > 0)
  fresh = reinitialise(ppo, trained, jnp.int32(1))
  # Exactly TRAC's initial state on the new weights, seed by seed.
  for seed in range(2):
    pick = lambda tree, i=seed: jax.tree.map(lambda x: x[i], tree)
    want = optimizer.init(pick(fresh.params))
    jax.tree.map(np.testing.assert_array_equal, pick(fresh.opt_state), want)


def test_cli_builds_reset_baselines_with_their_options():
  args = argparse.Namespace(l2init_strength=0.5, shrink=0.5,
                            perturb_scale=0.0, perturb_every=1, seed=0)
  assert optimizer_for("reset-trac", 0.01, args) == "reset-trac"
  transform = optimizer_for("reset-l2init", 0.01, args)
  assert isinstance(transform, optax.GradientTransformation)
  # The strength reaches the transform: the pull 0.5 * (3 - 1) = 1 turns
  # the gradients (-0.5, -1.5) into (0.5, -0.5), so Adam's first step (the
  # sign, times the learning rate) is (-, +); the default strength would
  # leave it (+, +).
  params = {"w": jnp.ones(2)}
  state = transform.init(params)
  grads = {"w": jnp.array([-0.5, -1.5])}
  updates, _ = transform.update(grads, state, {"w": 3.0 * jnp.ones(2)})
  np.testing.assert_allclose(jax.tree.leaves(updates)[0], [-0.01, 0.01],
                             rtol=1e-5)


RETURNS = {
    # seeds x tasks; task 1 never counts. Later-task means per seed:
    "adam": np.array([[100.0, 10.0, 30.0], [100.0, 20.0, 40.0]]),  # 20, 30
    "trac": np.array([[50.0, 60.0, 60.0], [50.0, 30.0, 30.0]]),  # 60, 30
    "reset": np.array([[100.0, 40.0, 60.0], [100.0, 60.0, 40.0]]),  # 50, 50
    "reset-trac": np.array([[50.0, 90.0, 90.0], [50.0, np.nan, 90.0]]),  # 90
    "l2init": np.array([[1.0, 5.0, 5.0], [1.0, 5.0, 5.0]]),
}


def test_own_reset_scores_by_hand():
  scores = own_reset_scores(RETURNS, n_resamples=2_000)
  adam, trac = scores["adam"], scores["trac"]
  assert adam is not None and trac is not None
  assert adam.mean == pytest.approx(25.0 / 50.0)
  assert trac.mean == pytest.approx(45.0 / 90.0)
  assert scores["reset"] == scores["reset-trac"] == (1, 1, 1)
  assert scores["l2init"] is None  # reset-l2init did not run
  # Floor: Acrobot-like returns, floor -100.
  shifted = {k: v - 100.0 for k, v in RETURNS.items()}
  floored = own_reset_scores(shifted, floor=-100.0, n_resamples=2_000)
  assert getattr(floored["trac"], "mean", None) == pytest.approx(45.0 / 90.0)
  # The interval: trac's seeds resample to 60, 45 or 30, reset-trac's to 90.
  assert trac.low == pytest.approx(30.0 / 90.0)
  assert trac.high == pytest.approx(60.0 / 90.0)


def _run(name: str, returns: np.ndarray) -> LifelongRun:
  """A finished run with the given per-task returns (one iteration a task)."""
  config = LifelongConfig(num_seeds=returns.shape[0],
                          num_tasks=returns.shape[1], iterations_per_task=1)
  nan = np.full(returns.shape, np.nan)
  return LifelongRun(name=name, config=config, returns=returns,
                     episodes=np.ones(returns.shape, np.int64), scale=nan,
                     obs_mean=np.zeros(returns.shape + (0,)),
                     compile_seconds=1.0, train_seconds=1.0)


# A task with no completed episode is NaN in the summary, without a warning.
@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_summary_shows_both_scores(tmp_path):
  names = ("adam", "trac", "reset-trac")
  table = write_results(tmp_path, [_run(n, RETURNS[n]) for n in names],
                        plots=False)
  rows = {line.split("|")[1].strip(): line for line in table.splitlines()
          if line.startswith("|")}
  assert rows[ROW_LABEL].count("n/a") == 3  # no reset (Adam) run
  cells = [c.strip() for c in rows[OWN_ROW_LABEL].split("|")[2:-1]]
  assert cells[0] == "n/a"  # adam: its reset did not run
  assert cells[1].startswith("0.50 [0.33, 0.67]")
  assert cells[2] == "1.00 [1.00, 1.00]"
  saved = json.loads((tmp_path / "summary.json").read_text())
  own = [r for r in saved if r["task"] == OWN_ROW_LABEL]
  assert len(own) == 1 and own[0]["adam"] is None
  assert own[0]["trac"]["mean"] == pytest.approx(0.5)
  assert ROW_LABEL not in [r["task"] for r in saved]
