"""Per-iteration diagnostics: TRAC's skipped steps, |delta|, h, policy entropy."""

from __future__ import annotations

import dataclasses
import re
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import trac_optax
from trac_optax.lifelong import PPO
from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import read_results
from trac_optax.lifelong import run_lifelong
from trac_optax.lifelong import write_results
from trac_optax.lifelong._diagnostics import DIAGNOSTICS
from trac_optax.lifelong._diagnostics import summarise_steps
from trac_optax.lifelong._diagnostics import trac_inner_product
from trac_optax.lifelong._suites import make_suite

# One optimizer step per iteration: a batch of 2 x 16 = one minibatch of 32.
ONE_STEP = LifelongConfig(num_seeds=1, num_tasks=2, iterations_per_task=3,
                          num_steps=16, hidden=8, layers=1, epochs=1,
                          protocol="fixed")


class _CountState(NamedTuple):
  count: jax.Array


def _poison_odd_steps() -> optax.GradientTransformation:
  """Replaces the gradients of every odd-numbered step (0-based) with NaN."""

  def update(updates, state, params=None):
    del params
    poisoned = state.count % 2 == 1
    updates = jax.tree.map(lambda g: jnp.where(poisoned, jnp.nan, g), updates)
    return updates, _CountState(state.count + 1)

  return optax.GradientTransformation(
      lambda params: _CountState(jnp.zeros((), jnp.int32)), update)


def test_skipped_counts_the_steps_given_non_finite_gradients():
  tx = optax.chain(_poison_odd_steps(), trac_optax.trac(optax.adam(1e-2)))
  run = run_lifelong(ONE_STEP, tx, progress=False)
  # Step k (0-based) runs in iteration k + 1; steps 1, 3, 5 are poisoned.
  np.testing.assert_array_equal(run.diagnostics["skipped"][0],
                                [0, 1, 1, 2, 2, 3])
  # The harness's h comes from the loss gradients, before the poisoning.
  assert np.all(np.isfinite(run.diagnostics["h_last"]))


def test_optimizers_without_trac_give_nan():
  run = run_lifelong(ONE_STEP, "adam", progress=False)
  for name in ("skipped", "delta_norm", "h_last", "h_mean", "h_max_abs"):
    assert np.all(np.isnan(run.diagnostics[name])), name
  assert np.all(np.isfinite(run.diagnostics["entropy"]))


def _to_zero() -> optax.GradientTransformation:
  """Moves every param to 0 in one step, whatever the gradient."""
  return optax.GradientTransformation(
      lambda params: optax.EmptyState(),
      lambda updates, state, params: (jax.tree.map(jnp.negative, params),
                                      state))


# Acrobot's random policy completes no episode in 3 short iterations: the
# progress bar's mean return is NaN, with no warning.
@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("env,num_actions", [("CartPole-v1", 2),
                                             ("Acrobot-v1", 3)])
def test_entropy_of_a_uniform_policy_is_log_num_actions(env, num_actions):
  config = LifelongConfig(env=env, num_seeds=2, num_tasks=1,
                          iterations_per_task=3, num_steps=16, hidden=8,
                          layers=1, epochs=1, protocol="fixed")
  run = run_lifelong(config, _to_zero(), progress=False)
  entropy = run.diagnostics["entropy"]
  # Iteration 1 uses the random initial policy; from then on every weight is
  # 0, the logits are 0 and the policy is uniform.
  assert np.all(entropy[:, 0] > 0.0)
  assert np.all(entropy[:, 0] < np.log(num_actions) - 1e-6)
  np.testing.assert_allclose(entropy[:, 1:], np.log(num_actions), rtol=1e-6)


def _train_one_task(config, tx):
  ppo = PPO(config, make_suite(config), tx)
  agents = ppo.init(jax.random.split(jax.random.key(3), config.num_seeds))
  return jax.jit(ppo.train_task)(agents, jnp.int32(0))


def test_h_is_the_inner_product_trac_sees():
  # One step per iteration. Step 1 has delta = 0, so h_1 = 0; after step 2
  # each tuner's sigma is beta * (-h_1) - h_2 = -h_2, with h_2 computed by
  # TRAC itself.
  config = dataclasses.replace(ONE_STEP, num_seeds=2, num_tasks=1,
                               iterations_per_task=2)
  agents, metrics = _train_one_task(config, trac_optax.trac(optax.adam(1e-2)))
  h = np.asarray(metrics["h_last"])
  np.testing.assert_array_equal(h[:, 0], 0.0)
  assert np.all(h[:, 1] != 0.0)
  sigma = np.asarray(trac_optax.trac_state(agents.opt_state).sigma)
  np.testing.assert_allclose(sigma, -h[:, 1:2] * np.ones_like(sigma),
                             rtol=1e-5)
  # One step per iteration: last, mean and largest |h| agree.
  np.testing.assert_array_equal(metrics["h_mean"], h)
  np.testing.assert_array_equal(metrics["h_max_abs"], np.abs(h))


def _reductions_in_step(with_h: bool) -> int:
  """Reduce ops in the compiled step: gradients, h (optional), TRAC update."""
  tx = trac_optax.trac(optax.adam(1e-2))
  params = {f"w{i}": jnp.ones((i + 3, 5)) for i in range(4)}
  params["big"] = jnp.ones((100, 100))  # reduced on its own, not concatenated

  def step(params, state):
    grads = jax.grad(lambda p: sum(jnp.sum(jnp.sin(x)) for x in
                                   jax.tree.leaves(p)))(params)
    h = trac_inner_product(grads, state) if with_h else jnp.zeros(())
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state, h

  hlo = jax.jit(step).lower(params, tx.init(params)).compile().as_text()
  return len(re.findall(r" reduce\(", hlo))


def test_logging_h_adds_no_reduction_to_the_step():
  # The harness's h is TRAC's own computation, which XLA merges with it.
  assert _reductions_in_step(with_h=True) == _reductions_in_step(with_h=False)


def test_delta_norm_matches_a_float64_norm_of_the_offset():
  config = dataclasses.replace(ONE_STEP, num_seeds=2, num_tasks=1, epochs=2)
  agents, metrics = _train_one_task(config, trac_optax.trac(optax.adam(1e-2)))
  delta = trac_optax.trac_state(agents.opt_state).delta
  expected = np.sqrt(sum(
      np.sum(np.asarray(d, np.float64).reshape(2, -1) ** 2, axis=1)
      for d in jax.tree.leaves(delta)))
  np.testing.assert_allclose(metrics["delta_norm"][:, -1], expected,
                             rtol=1e-5)
  assert np.all(np.diff(metrics["delta_norm"], axis=1) != 0.0)


def test_summaries_leave_out_the_steps_that_did_not_run():
  h = jnp.array([1.0, -4.0, 2.0, jnp.nan], jnp.float32)
  entropy = jnp.array([0.5, 0.25, 0.75, 9.0], jnp.float32)
  ran = jnp.array([True, True, True, False])
  out = summarise_steps(h, entropy, ran)
  assert float(out["h_last"]) == 2.0
  assert float(out["h_mean"]) == pytest.approx(-1.0 / 3.0)
  assert float(out["h_max_abs"]) == 4.0
  assert float(out["entropy"]) == 0.5
  # A non-finite h that ran shows in every h summary.
  out = summarise_steps(h, entropy, jnp.ones(4, bool))
  assert all(np.isnan(float(out[k])) for k in ("h_last", "h_mean",
                                                 "h_max_abs"))
  # Nothing ran: NaN.
  out = summarise_steps(h, entropy, jnp.zeros(4, bool))
  assert all(np.isnan(float(v)) for v in out.values())


def test_diagnostics_survive_the_results_folder(tmp_path):
  runs = [run_lifelong(ONE_STEP, name, progress=False)
          for name in ("adam", "trac")]
  write_results(tmp_path, runs, plots=False)
  for run, back in zip(runs, read_results(tmp_path)):
    assert set(back.diagnostics) == set(DIAGNOSTICS)
    for name in DIAGNOSTICS:
      np.testing.assert_allclose(back.diagnostics[name],
                                 run.diagnostics[name], rtol=1e-5)
  np.testing.assert_array_equal(read_results(tmp_path)[1].diagnostics[
      "skipped"], 0.0)
