"""A NaN or inf gradient must not poison a lifelong run.

TRAC's own policy: the step changes nothing (zero update; params, base state
and tuner state kept), ``skipped`` counts it, and the run then goes on
bit for bit as if the step had never come.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import trac_optax
from tests import reference
from tests.ecosystem import helpers

POISONS = {
    "nan-one-entry": (np.nan, (1, 0)),
    "inf-one-entry": (np.inf, (3, 1)),
    "minus-inf-all": (-np.inf, None),
}


def _poison_grid(value, where):
  grid = np.zeros((4, 2), np.float32)
  if where is None:
    grid[:] = value
  else:
    grid[where] = value
  return grid


@functools.cache
def _make_step(base_name):
  tx = helpers.make_trac(helpers.BASES[base_name]())
  x, y = helpers.data()

  @jax.jit
  def step(params, state, poison):
    grads = jax.grad(helpers.loss)(params, x, y)
    grads = {"w": grads["w"] + poison, "b": grads["b"]}
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state, updates

  return tx, step


@pytest.mark.parametrize("poison", list(POISONS))
@pytest.mark.parametrize("base_name", ["adam", "adamw", "chain"])
@pytest.mark.parametrize("bad_step", [0, 5], ids=["at-step-1", "at-step-6"])
def test_bad_step_is_skipped_exactly(base_name, poison, bad_step):
  tx, step = _make_step(base_name)
  clean = jnp.zeros((4, 2), jnp.float32)
  bad = jnp.asarray(_poison_grid(*POISONS[poison]))
  steps = 10

  params = helpers.init_params()
  state = tx.init(params)
  seen = []
  for t in range(steps):
    if t == bad_step:
      new_params, new_state, updates = step(params, state, bad)
      for u in jax.tree.leaves(updates):
        assert not np.any(np.asarray(u)), "a skipped step returns zero updates"
      helpers.assert_trees_equal(new_params, params)
      helpers.assert_trees_equal(
          new_state._replace(skipped=state.skipped,
                             consecutive_skips=state.consecutive_skips), state)
      assert int(trac_optax.trac_state(new_state).skipped) == 1
      assert int(new_state.consecutive_skips) == 1
      params, state = new_params, new_state
    params, state, _ = step(params, state, clean)
    seen.append((params, state))

  params = helpers.init_params()
  state = tx.init(params)
  for t in range(steps):
    params, state, _ = step(params, state, clean)
    got_params, got_state = seen[t]
    helpers.assert_trees_equal(got_params, params)
    helpers.assert_trees_equal(got_state._replace(skipped=state.skipped), state)
  assert int(got_state.skipped) == 1 and int(state.skipped) == 0
  assert int(got_state.recoveries) == 0
  assert int(got_state.count) == steps
  assert float(trac_optax.scale(state)) > 0


def test_skipped_steps_are_counted_through_nesting():
  tx = optax.chain(optax.clip_by_global_norm(1.0),
                   helpers.make_trac(optax.sgd(0.1)))
  params = {"w": jnp.ones((3,))}
  state = tx.init(params)
  update = jax.jit(tx.update)
  for g in [1.0, np.nan, 2.0, np.inf, np.inf, -1.0]:
    updates, state = update({"w": jnp.full((3,), g, jnp.float32)}, state, params)
    params = optax.apply_updates(params, updates)
    assert all(np.all(np.isfinite(np.asarray(p))) for p in jax.tree.leaves(params))
  inner = trac_optax.trac_state(state)
  assert int(inner.skipped) == 3
  assert int(inner.count) == 3


def test_gradient_spike_whose_square_overflows_keeps_s_bounded():
  """|h| = 1e29: h**2 overflows float32, yet S equals the float64 value.

  The first spike moves the base iterate by 1e14; the second meets that
  offset, h = <g, delta> = -3e29. Clipping v at the
  float32 maximum without touching sigma would send the tuner's ratio to
  ~4e9 and S (and with it the params) to overflow.
  """
  betas = (0.9, 0.999999)
  tx = trac_optax.trac(optax.sgd(0.1), betas=betas)
  ref = reference.Trac(np.ones(3), reference.Sgd(lr=0.1), betas=betas)
  params = {"w": jnp.ones((3,), jnp.float32)}
  state = tx.init(params)
  update = jax.jit(tx.update)
  for t, g in enumerate([1.0, -1e15, -1e15, 1.0]):
    grads = {"w": jnp.full((3,), g, jnp.float32)}
    updates, state = update(grads, state, params)
    params = optax.apply_updates(params, updates)
    want = ref.step(np.full(3, g, np.float64))
    assert np.all(np.isfinite(np.asarray(params["w"])))
    assert np.all(np.isfinite(np.asarray(state.v)))
    if t == 2:  # the overflow step: the tuner keeps the float64 ratio
      np.testing.assert_allclose(float(trac_optax.scale(state)), ref.scale,
                                 rtol=1e-5)
      np.testing.assert_allclose(np.asarray(params["w"]), want, rtol=1e-5)
    assert float(trac_optax.scale(state)) < 1e-6
  assert int(state.skipped) == 0


def test_a_base_update_that_overflows_moves_no_param_to_nan():
  """Finite gradients, but the base's update overflows float32 (1e10 x
  1e30): the offset becomes -inf. At S = 0, ``0 * inf`` made every param
  NaN; the overflowed offset now counts as 0, so the params stay at the
  reference point, and the steps after it are skipped (its ``h`` is not
  finite) and counted, recoveries too."""
  params = {"w": jnp.array([1.0, -2.0, 3.0])}
  grads = {"w": jnp.full((3,), 1e10)}
  tx = trac_optax.trac(optax.sgd(1e30), recover_after=3)
  history = helpers.run_on_gradients(tx, params, [grads] * 7)
  assert np.all(np.isneginf(np.asarray(history[0][1].delta["w"])))
  for got, _ in history:
    np.testing.assert_array_equal(np.asarray(got["w"]), params["w"])
  last = history[-1][1]
  assert int(last.skipped) == 6 and int(last.recoveries) == 2


def _nan_at_step(nan_step):
  """SGD(0.1) whose update of the first entry is NaN at step ``nan_step``."""

  def init(params):
    del params
    return jnp.zeros((), jnp.int32)

  def update(updates, count, params=None):
    del params
    bad = count == nan_step
    updates = jax.tree.map(
        lambda g: (-0.1 * g).at[0].set(jnp.where(bad, jnp.nan, -0.1 * g[0])),
        updates)
    return updates, count + 1

  return optax.GradientTransformation(init, update)


def test_a_nan_base_update_leaves_that_param_at_the_reference_point():
  """A base that returns NaN for one entry on finite gradients, once S > 0:
  that param goes to the reference point (its offset counts as 0), every
  other param keeps the value the step gave it, nothing becomes NaN, and
  the next steps are skipped."""
  params = {"w": jnp.array([1.0, -2.0, 3.0])}
  grads = {"w": jnp.array([0.5, -1.0, 2.0])}
  tx = trac_optax.trac(_nan_at_step(4), s_init=1e-2)
  history = helpers.run_on_gradients(tx, params, [grads] * 7)
  before, at_nan = history[3][0]["w"], history[4][0]["w"]
  state = history[4][1]
  assert float(trac_optax.scale(history[3][1])) > 0
  assert np.isnan(np.asarray(state.delta["w"])[0])
  assert float(at_nan[0]) == float(params["w"][0])
  # The other entries: theta_ref + S * delta, in float64 from the state.
  want = (np.asarray(params["w"], np.float64)
          + float(trac_optax.scale(state)) * np.asarray(state.delta["w"],
                                                        np.float64))
  np.testing.assert_allclose(np.asarray(at_nan)[1:], want[1:], rtol=1e-6)
  assert not np.array_equal(np.asarray(at_nan)[1:], np.asarray(before)[1:])
  for got, _ in history:
    assert np.all(np.isfinite(np.asarray(got["w"])))
  assert int(history[-1][1].skipped) == 2
