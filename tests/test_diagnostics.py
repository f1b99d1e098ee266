"""trac_optax.scale and trac_optax.trac_state through nested Optax states."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import trac_optax

PARAMS = {"policy": jnp.ones(3), "value": jnp.ones(2)}


def _train(tx, steps=4):
  """A few jitted steps; returns the state and the S read inside the jit."""
  params, state = PARAMS, tx.init(PARAMS)

  @jax.jit
  def step(params, state, sign):
    grads = jax.tree.map(lambda p: sign * jnp.ones_like(p), params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state, trac_optax.scale(state)

  for _ in range(steps):
    params, state, inside = step(params, state, 1.0)
  return state, inside


def _direct_scale(state):
  return max(float(np.sum(np.asarray(state.tuner_scales))), 0.0)


WRAPPERS = {
    "bare": lambda t: t,
    "chain": lambda t: optax.chain(optax.clip_by_global_norm(1.0), t),
    "masked": lambda t: optax.masked(t, {"policy": True, "value": False}),
    "multisteps": lambda t: optax.MultiSteps(t, every_k_schedule=2),
    "inject": lambda t: optax.inject_hyperparams(trac_optax.trac)(
        optax.adam(1e-2), s_init=1e-8),
}


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_scale_is_found_through_nesting(wrapper):
  tx = WRAPPERS[wrapper](trac_optax.trac(optax.adam(1e-2)))
  state, inside = _train(tx)
  found = trac_optax.trac_state(state)
  assert isinstance(found, trac_optax.TracState)
  assert int(found.count) >= 1
  s = float(trac_optax.scale(state))
  assert s == _direct_scale(found) == float(inside)
  assert s > 0
  assert found is optax.tree.get(state, "TracState") or wrapper == "bare"


def test_no_trac_state_is_a_clear_error():
  state = optax.adam(1e-3).init(PARAMS)
  with pytest.raises(ValueError, match="no TracState"):
    trac_optax.scale(state)


def test_two_trac_states_is_a_clear_error_naming_paths():
  tx = optax.partition(
      {"p": trac_optax.trac(optax.adam(1e-2)),
       "v": trac_optax.trac(optax.sgd(1e-2))},
      {"policy": "p", "value": "v"})
  state = tx.init(PARAMS)
  with pytest.raises(ValueError, match="2 TracStates") as error:
    trac_optax.scale(state)
  assert "inner_states" in str(error.value)
  # The call the message suggests works as written.
  suggestion = str(error.value).rsplit("e.g. ", 1)[1].rstrip(".")
  assert suggestion.startswith("trac_optax.scale(opt_state.inner_states[")
  namespace = {"trac_optax": trac_optax, "opt_state": state}
  assert float(eval(suggestion, namespace)) == 0.0  # noqa: S307
  # Each group's S is readable from its own sub-state.
  for group in ("p", "v"):
    assert float(trac_optax.scale(state.inner_states[group])) == 0.0


def test_batched_states_give_one_scale_per_seed():
  """vmapped seeds: S per seed, leading axes kept, never a sum over seeds."""
  tx = trac_optax.trac(optax.adam(1e-2), s_init=1e-3)
  params = {"w": jnp.ones((2, 3, 4))}  # 2 x 3 seeds
  init = jax.vmap(jax.vmap(tx.init))
  update = jax.jit(jax.vmap(jax.vmap(tx.update)))
  state = init(params)
  signs = jnp.array([[1.0, -1.0, 2.0], [0.5, -3.0, 1.0]])[..., None]
  for _ in range(5):
    grads = {"w": signs * jnp.ones((2, 3, 4))}
    updates, state = update(grads, state, params)
    params = optax.apply_updates(params, updates)
  for opt_state in (state, (optax.EmptyState(), state)):
    s = np.asarray(trac_optax.scale(opt_state))
    assert s.shape == (2, 3)
    assert trac_optax.trac_state(opt_state).tuner_scales.shape == (2, 3, 6)
    for i in range(2):
      for j in range(3):
        one = jax.tree.map(lambda x, i=i, j=j: x[i, j], state)
        assert s[i, j] == float(trac_optax.scale(one)) == _direct_scale(one)
  assert np.all(s > 0)


def test_scale_of_mixed_sign_seeds_is_not_their_sum():
  """Two seeds whose tuners have opposite signs: S is per seed (one of them
  positive), where the sum over seeds would be 0."""
  tuners = jnp.array([[1.0, 2.0], [-1.0, -2.0]])
  state = trac_optax.trac(optax.sgd(0.1), betas=(0.9, 0.99)).init(
      jnp.zeros(1))
  state = jax.tree.map(lambda x: jnp.stack([x, x]), state)._replace(
      tuner_scales=tuners)
  np.testing.assert_array_equal(np.asarray(trac_optax.scale(state)), [3.0, 0.0])
