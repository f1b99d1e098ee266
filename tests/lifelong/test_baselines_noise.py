"""shrink_perturb in the harness: each seed draws its own noise."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import trac_optax
from trac_optax.lifelong import PPO
from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import make_optimizer
from trac_optax.lifelong import make_suite
from trac_optax.lifelong._baselines import independent_noise

PARAMS = {"w": jnp.zeros(6)}


def _noise(tx, seed_keys):
  """The perturbation each seed applies at its first update, params all 0."""
  def one(seed_key):
    state = independent_noise(tx.init(PARAMS), seed_key)
    zeros = jax.tree.map(jnp.zeros_like, PARAMS)
    updates, _ = tx.update(zeros, state, PARAMS)
    return updates["w"]
  return jax.vmap(one)(seed_keys)


def test_vmapped_seeds_draw_different_noise_and_a_seed_the_same_again():
  tx = trac_optax.shrink_and_perturb(0.5, 1.0, every=1)
  keys = jax.random.split(jax.random.key(0), 3)
  noise = np.asarray(_noise(tx, keys))
  assert np.all(np.abs(noise) > 0)
  assert not np.allclose(noise[0], noise[1])
  assert not np.allclose(noise[1], noise[2])
  again = np.asarray(_noise(tx, keys[:1]))
  np.testing.assert_array_equal(again[0], noise[0])


def test_key_format_is_kept_and_other_states_pass_through():
  seed_key = jax.random.key(7)
  raw = trac_optax.shrink_and_perturb(0.5, 1.0, every=1, seed=3)
  typed = trac_optax.shrink_and_perturb(0.5, 1.0, every=1,
                                        key=jax.random.key(3))
  raw_state = independent_noise(raw.init(PARAMS), seed_key)
  assert raw_state.key.dtype == jnp.uint32 and raw_state.key.shape == (2,)
  typed_state = independent_noise(typed.init(PARAMS), seed_key)
  assert jax.dtypes.issubdtype(typed_state.key.dtype, jax.dtypes.prng_key)
  np.testing.assert_array_equal(jax.random.key_data(typed_state.key),
                                raw_state.key)
  adam_state = optax.adam(1e-3).init(PARAMS)
  passed = independent_noise(adam_state, seed_key)
  jax.tree.map(np.testing.assert_array_equal, passed, adam_state)


def test_harness_seeds_start_with_different_noise_keys():
  config = LifelongConfig(num_seeds=2, num_tasks=1, iterations_per_task=1,
                          num_steps=16, hidden=8, epochs=1, minibatch_size=16,
                          protocol="fixed")
  ppo = PPO(config, make_suite(config),
            make_optimizer("shrink_perturb", config.learning_rate))
  agents = ppo.init(jax.random.split(jax.random.key(0), 2))
  (state,) = [s for _, s in optax.tree.get_all_with_path(
      agents.opt_state, "ShrinkPerturbState")]
  keys = np.asarray(state.key)
  assert keys.shape == (2, 2)
  assert not np.array_equal(keys[0], keys[1])
