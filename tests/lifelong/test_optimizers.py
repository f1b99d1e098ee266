"""Named optimizers and reading their scale S."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import trac_optax
from trac_optax.lifelong import make_optimizer
from trac_optax.lifelong import optimizer_scale


def _state_after_steps(tx, steps=5):
  params = {"w": jnp.array([1.0, -2.0, 0.5])}
  state = tx.init(params)
  for _ in range(steps):
    grads = jax.grad(lambda p: jnp.sum((p["w"] - 3.0) ** 2))(params)
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
  return state


def test_trac_scale_is_the_package_scale():
  state = _state_after_steps(make_optimizer("trac", 0.01))
  assert float(optimizer_scale(state)) == float(trac_optax.scale(state))
  assert float(optimizer_scale(state)) > 0.0


def test_mechanic_scale_is_the_sum_of_its_s():
  state = _state_after_steps(make_optimizer("mechanic", 0.01))
  mech = optax.tree.get(state, "MechanicState")
  np.testing.assert_allclose(optimizer_scale(state), np.sum(np.asarray(mech.s)),
                             rtol=1e-6)


def test_other_optimizers_have_no_scale():
  assert np.isnan(optimizer_scale(_state_after_steps(make_optimizer("adam", 0.01))))


def test_unknown_name():
  with pytest.raises(ValueError, match="choose from adam, trac, mechanic"):
    make_optimizer("adamw", 0.01)
