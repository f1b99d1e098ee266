"""trac_optax.trac against the independent float64 NumPy reference (reference.py)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import trac_optax
from tests import reference

PERIOD = 100  # steps between jumps of the quadratic's minimum
LR = 0.02
DIM = 17


def _template(dtype):
  return {"b": jnp.zeros((5,), dtype), "w": jnp.zeros((3, 4), dtype)}


BASES = {
    "sgd": (lambda: optax.sgd(LR), lambda: reference.Sgd(LR)),
    "adam": (lambda: optax.adam(LR), lambda: reference.Adam(LR)),
    "adamw": (
        lambda: optax.adamw(LR, weight_decay=0.1),
        lambda: reference.Adam(LR, weight_decay=0.1),
    ),
}


def _theta0():
  return np.random.default_rng(1).normal(0.0, 1.0, DIM)


def _make_step(tx, unravel):
  @jax.jit
  def step(flat_params, state, flat_grads):
    params, grads = unravel(flat_params), unravel(flat_grads)
    updates, state = tx.update(grads, state, params)
    new_params = optax.apply_updates(params, updates)
    return ravel_pytree(new_params)[0], state, trac_optax.scale(state)
  return step


def _lockstep(base_name, steps, dtype):
  """Runs package and reference side by side, each on its own trajectory."""
  make_tx, make_base = BASES[base_name]
  problem = reference.JumpingQuadratic(DIM, PERIOD)
  theta0 = _theta0()
  _, unravel = ravel_pytree(_template(dtype))
  tx = trac_optax.trac(make_tx())
  params = jnp.asarray(theta0, dtype)
  state = tx.init(unravel(params))
  step = _make_step(tx, unravel)
  ref = reference.Trac(theta0, make_base())
  got_params, got_scale, want_params, want_scale = [], [], [], []
  for t in range(steps):
    grads = jnp.asarray(problem.grad(np.asarray(params, np.float64), t), dtype)
    params, state, scale = step(params, state, grads)
    want = ref.step(problem.grad(ref.params, t))
    got_params.append(np.asarray(params, np.float64))
    got_scale.append(float(scale))
    want_params.append(want.copy())
    want_scale.append(ref.scale)
  return (np.array(got_params), np.array(got_scale), np.array(want_params),
          np.array(want_scale))


def _rel(got, want):
  """Normwise relative error, max over rows (steps) when 2-D."""
  got, want = np.atleast_2d(got), np.atleast_2d(want)
  scale = np.maximum(np.max(np.abs(want), axis=1), np.finfo(np.float64).tiny)
  err = np.max(np.abs(got - want), axis=1) / scale
  assert not np.any(np.isnan(err)), "NaN in a compared value"
  return np.max(err)


def _scale_rel(got, want):
  return np.max(np.abs(got / want - 1))


@pytest.mark.parametrize("base_name", sorted(BASES))
def test_float64_matches_reference_before_first_jump(base_name):
  with jax.enable_x64(True):
    got_p, got_s, want_p, want_s = _lockstep(base_name, PERIOD, jnp.float64)
  # S starts at exactly zero for one step, then both are nonzero.
  assert got_s[0] == want_s[0] == 0.0
  assert np.all(want_s[1:] > 0)
  assert _rel(got_p, want_p) < 1e-10
  assert _scale_rel(got_s[1:], want_s[1:]) < 1e-10
  # The run is not trivial: S and the params moved.
  assert want_s.max() > 100 * want_s[1]
  assert np.max(np.abs(want_p[-1] - want_p[0])) > 0.1


def _state_from_reference(state, ref, unravel, base_name):
  """The package's state with every field overwritten from the reference."""
  tree = lambda x: unravel(jnp.asarray(x))
  state = state._replace(
      count=jnp.asarray(state.count),
      delta=tree(ref.delta),
      v=jnp.asarray(ref.v),
      sigma=jnp.asarray(ref.sigma),
      tuner_scales=jnp.asarray(ref.s),
  )
  if base_name != "sgd" and ref.base.m is not None:
    adam_state = state.base_optimizer_state[0]
    adam_state = adam_state._replace(
        count=jnp.asarray(ref.base.t, jnp.int32),
        mu=tree(ref.base.m),
        nu=tree(ref.base.v))
    state = state._replace(base_optimizer_state=(adam_state,) +
                           tuple(state.base_optimizer_state[1:]))
  return state


@pytest.mark.parametrize("base_name", sorted(BASES))
def test_float64_one_step_at_a_time_across_jumps(base_name):
  """Across 1,200 steps and eleven jumps, each step starts from the reference state.

  Over long runs the jumps amplify round-off between any two exact float64
  implementations, so trajectories are compared one step at a time: before
  every step the package's state is overwritten with the reference's, and the
  single step that follows must agree to 1e-10 relative.
  """
  make_tx, make_base = BASES[base_name]
  problem = reference.JumpingQuadratic(DIM, PERIOD)
  theta0 = _theta0()
  with jax.enable_x64(True):
    _, unravel = ravel_pytree(_template(jnp.float64))
    tx = trac_optax.trac(make_tx())
    state = tx.init(unravel(jnp.asarray(theta0)))
    step = _make_step(tx, unravel)
    ref = reference.Trac(theta0, make_base())
    worst_params, worst_scale, worst_sigma = 0.0, 0.0, 0.0
    for t in range(12 * PERIOD):
      state = _state_from_reference(state, ref, unravel, base_name)
      params = jnp.asarray(ref.params)
      grads = problem.grad(ref.params, t)
      new_params, state, scale = step(params, state, jnp.asarray(grads))
      want = ref.step(grads)
      worst_params = max(worst_params, _rel(np.asarray(new_params), want))
      if ref.scale > 0:
        worst_scale = max(worst_scale, abs(float(scale) / ref.scale - 1))
      worst_sigma = max(worst_sigma, _rel(np.asarray(state.sigma), ref.sigma))
  assert worst_params < 1e-10
  assert worst_scale < 1e-10
  assert worst_sigma < 1e-10


@pytest.mark.parametrize("base_name", sorted(BASES))
def test_float64_whole_run_follows_reference_loosely(base_name):
  """Independent trajectories over 1,200 steps: the same dynamics, loosely.

  After each jump, round-off differences grow (up to ~1e-1 in the params for
  Adam here), so only per-stretch statistics are compared: the mean S and
  the mean distance to the moving minimum of each 100-step stretch.
  """
  with jax.enable_x64(True):
    got_p, got_s, want_p, want_s = _lockstep(base_name, 12 * PERIOD,
                                             jnp.float64)
  problem = reference.JumpingQuadratic(DIM, PERIOD)
  centers = np.array([problem.center(t) for t in range(12 * PERIOD)])
  stretch = lambda x: x.reshape(12, PERIOD, *x.shape[1:]).mean(axis=1)
  got_gap = stretch(np.linalg.norm(got_p - centers, axis=1))
  want_gap = stretch(np.linalg.norm(want_p - centers, axis=1))
  np.testing.assert_allclose(stretch(got_s), stretch(want_s), rtol=0.05)
  np.testing.assert_allclose(got_gap, want_gap, rtol=0.05)
  # Before the first jump the trajectories are still the same to round-off.
  assert _rel(got_p[:PERIOD], want_p[:PERIOD]) < 1e-10


@pytest.mark.parametrize("base_name", sorted(BASES))
def test_float32_matches_reference_to_float32_accuracy(base_name):
  """float32 against float64 over the first stretch: ~1e-4 after 100 steps."""
  got_p, got_s, want_p, want_s = _lockstep(base_name, PERIOD, jnp.float32)
  assert _rel(got_p, want_p) < 1e-3
  assert _scale_rel(got_s[1:], want_s[1:]) < 1e-3
