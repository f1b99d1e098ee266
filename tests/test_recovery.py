"""A run whose params land where the gradients are non-finite recovers.

The model: a linear loss plus a square-root barrier whose gradient is NaN
once the params are more than ``RADIUS`` away from the reference point. A
constant gradient direction makes TRAC's scale S run away (every step's
displacement correlates with the last), so within about 20 steps the params
cross the barrier. From there every gradient is non-finite: without the
recovery policy every later step is skipped and the run is frozen for good;
with it, the tuners are reset after ``recover_after`` consecutive skips, the
params return to the reference point, and training goes on.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import trac_optax

RADIUS = 10.0
DIRECTION = np.array([1.0, -2.0, 0.5], np.float32)
REFERENCE = {"w": jnp.array([0.3, -0.1, 0.2], jnp.float32)}
STEPS = 120


def _loss(params):
  dist2 = jnp.sum((params["w"] - REFERENCE["w"]) ** 2)
  # Finite gradient inside the ball, NaN outside (sqrt of a negative).
  return jnp.dot(DIRECTION, params["w"]) - 1e-3 * jnp.sqrt(RADIUS**2 - dist2)


@functools.cache
def _run(recover_after):
  tx = trac_optax.trac(optax.sgd(0.1), s_init=1e-3,
                       recover_after=recover_after)

  def body(carry, _):
    params, state = carry
    grads = jax.grad(_loss)(params)
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    return (params, state), (params, state, jnp.all(jnp.isfinite(grads["w"])))

  _, history = jax.jit(lambda p: jax.lax.scan(
      body, (p, tx.init(p)), None, length=STEPS))(REFERENCE)
  return jax.tree.map(np.asarray, history)


def test_without_recovery_the_run_freezes():
  params, state, finite_grads = _run(None)
  first_bad = int(np.argmin(finite_grads))
  assert 5 < first_bad < 60, "S should run away within a few dozen steps"
  assert not np.any(finite_grads[first_bad:])
  # Frozen: from the first non-finite gradient on nothing changes.
  np.testing.assert_array_equal(params["w"][first_bad:],
                                np.broadcast_to(params["w"][first_bad],
                                                params["w"][first_bad:].shape))
  assert np.all(state.count[first_bad:] == first_bad)
  assert state.skipped[-1] == STEPS - first_bad
  assert state.consecutive_skips[-1] == STEPS - first_bad
  assert np.all(state.recoveries == 0)
  assert np.linalg.norm(params["w"][-1] - REFERENCE["w"]) > RADIUS


@pytest.mark.parametrize("recover_after", [1, 5])
def test_with_recovery_the_run_goes_on(recover_after):
  params, state, finite_grads = _run(recover_after)
  first_bad = int(np.argmin(finite_grads))
  frozen = _run(None)
  # Identical to the run without the policy until the first bad step...
  np.testing.assert_array_equal(params["w"][:first_bad],
                                frozen[0]["w"][:first_bad])
  # ...then recover_after - 1 skipped steps, and a reset on the next one.
  reset = first_bad + recover_after - 1
  assert np.all(state.recoveries[:reset] == 0) and state.recoveries[reset] == 1
  assert np.all(state.consecutive_skips[first_bad:reset]
                == np.arange(1, recover_after))
  assert state.consecutive_skips[reset] == 0
  np.testing.assert_array_equal(state.v[reset], 0.0)
  np.testing.assert_array_equal(state.sigma[reset], 0.0)
  np.testing.assert_array_equal(state.tuner_scales[reset], 0.0)
  # S = 0: back at the reference point (up to the rounding of p + u), with
  # the base iterate's offset kept.
  np.testing.assert_allclose(params["w"][reset], REFERENCE["w"], atol=1e-5)
  np.testing.assert_array_equal(state.delta["w"][reset],
                                state.delta["w"][first_bad - 1])
  # Training goes on: gradients are finite again and steps are applied.
  assert finite_grads[reset + 1]
  assert state.count[-1] > state.count[reset] + 10
  assert np.all(np.isfinite(params["w"]))
  assert state.recoveries[-1] >= 1
  assert state.skipped[-1] + state.count[-1] == STEPS


def test_recovery_applies_per_seed_under_vmap():
  tx = trac_optax.trac(optax.sgd(0.1), recover_after=2)
  params = {"w": jnp.ones((2, 3))}
  state = jax.vmap(tx.init)(params)
  grads = {"w": jnp.array([[np.nan] * 3, [1.0] * 3])}
  update = jax.jit(jax.vmap(tx.update))
  for _ in range(2):
    updates, state = update(grads, state, params)
    params = optax.apply_updates(params, updates)
  np.testing.assert_array_equal(state.recoveries, [1, 0])
  np.testing.assert_array_equal(state.skipped, [2, 0])
  np.testing.assert_array_equal(state.count, [0, 2])


@pytest.mark.parametrize("bad", [0, -3, 1.5, True, "5", 2**31])
def test_recover_after_must_be_a_positive_int(bad):
  with pytest.raises(ValueError, match="recover_after"):
    trac_optax.trac(optax.sgd(0.1), recover_after=bad)
