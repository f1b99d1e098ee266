"""The reset baselines: their optimizer's first task, fresh weights at each shift."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from trac_optax.lifelong import PPO
from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import run_lifelong
from trac_optax.lifelong._reset import reinitialise
from trac_optax.lifelong._suites import make_suite

CONFIG = LifelongConfig(num_seeds=2, num_tasks=3, iterations_per_task=2,
                        num_steps=16, hidden=8, layers=1, epochs=1,
                        minibatch_size=16, protocol="fixed")


def test_reinitialise_draws_new_weights_and_a_new_optimizer():
  ppo = PPO(CONFIG, make_suite(CONFIG), optax.adam(1e-2))
  agents = ppo.init(jax.random.split(jax.random.key(0), 2))
  trained, _ = jax.jit(ppo.train_task)(agents, jnp.int32(0))
  fresh = reinitialise(ppo, trained, jnp.int32(1))
  # Keys kept: the next task's rollouts and offsets do not change.
  np.testing.assert_array_equal(jax.random.key_data(fresh.key),
                                jax.random.key_data(trained.key))
  np.testing.assert_array_equal(jax.random.key_data(fresh.task_key),
                                jax.random.key_data(trained.task_key))
  # Adam's state starts again: step count 0, moments 0.
  adam = fresh.opt_state[0]
  np.testing.assert_array_equal(adam.count, [0, 0])
  for leaf in jax.tree.leaves((adam.mu, adam.nu)):
    np.testing.assert_array_equal(leaf, 0.0)
  # New weights: as freshly initialised (LeCun-normal kernels, zero biases),
  # unlike the trained ones and unlike the task-0 initialisation.
  for before, init, new in zip(jax.tree.leaves(trained.params),
                               jax.tree.leaves(agents.params),
                               jax.tree.leaves(fresh.params)):
    if np.all(np.asarray(init) == 0.0):  # a bias
      np.testing.assert_array_equal(new, 0.0)
    else:
      assert not np.allclose(new, init) and not np.allclose(new, before)
      fan_in = new.shape[-2]
      assert np.std(np.asarray(new)) < 3.0 / np.sqrt(fan_in)


@pytest.fixture(scope="module", params=[("adam", "reset"),
                                        ("trac", "reset-trac")])
def optimizer_and_its_reset(request):
  return tuple(run_lifelong(CONFIG, name, progress=False)
               for name in request.param)


def test_reset_matches_its_optimizer_until_the_first_shift(
    optimizer_and_its_reset):
  plain, reset = optimizer_and_its_reset
  first = slice(0, CONFIG.iterations_per_task)
  np.testing.assert_array_equal(reset.returns[:, first], plain.returns[:, first])
  np.testing.assert_array_equal(reset.episodes[:, first],
                                plain.episodes[:, first])
  np.testing.assert_array_equal(reset.scale[:, first], plain.scale[:, first])
  # After the shift the runs part: fresh weights act differently.
  assert not np.array_equal(reset.episodes[:, 2:], plain.episodes[:, 2:])
