"""Named optimizers and reading their scale S."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import trac_optax
from trac_optax.lifelong import PPO
from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import make_optimizer
from trac_optax.lifelong import make_suite
from trac_optax.lifelong import optimizer_scale
from trac_optax.lifelong import run_lifelong


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


def _two_network_state_after_steps(tx, steps=5):
  params = {"actor": {"w": jnp.array([1.0, -2.0, 0.5])},
            "critic": {"w": jnp.array([4.0, 0.0])}}
  # The two networks pull towards different targets at different rates, so
  # their scales differ.
  loss = lambda p: (jnp.sum((p["actor"]["w"] - 3.0) ** 2)
                    + 0.01 * jnp.sum((p["critic"]["w"] + 1.0) ** 2))
  state = tx.init(params)
  for _ in range(steps):
    updates, state = tx.update(jax.grad(loss)(params), state, params)
    params = optax.apply_updates(params, updates)
  return state


def test_trac_per_network_has_one_scale_per_network():
  state = _two_network_state_after_steps(make_optimizer("trac-per-network", 0.01))
  tracs = dict(optax.tree.get_all_with_path(state, "TracState"))
  assert len(tracs) == 2
  actor = trac_optax.scale(state.inner_states["actor"])
  critic = trac_optax.scale(state.inner_states["critic"])
  assert float(actor) > 0.0 and float(critic) > 0.0
  assert float(actor) != float(critic)
  # The harness reports the policy network's S.
  assert float(optimizer_scale(state)) == float(actor)


def test_trac_per_network_equals_one_trac_per_network_run_alone():
  params = {"actor": {"w": jnp.array([1.0, -2.0, 0.5])},
            "critic": {"w": jnp.array([4.0, 0.0])}}
  grads = {"actor": {"w": jnp.array([0.3, -0.1, 0.2])},
           "critic": {"w": jnp.array([-0.5, 0.4])}}
  tx = make_optimizer("trac-per-network", 0.01)
  single = trac_optax.trac(optax.adam(0.01))
  state = tx.init(params)
  alone = {k: single.init(params[k]) for k in params}
  for _ in range(4):
    updates, state = tx.update(grads, state, params)
    for k in params:
      want, alone[k] = single.update(grads[k], alone[k], params[k])
      np.testing.assert_array_equal(updates[k]["w"], want["w"])
    params = optax.apply_updates(params, updates)
    grads = jax.tree.map(lambda g: -0.9 * g, grads)


def test_unknown_name():
  with pytest.raises(ValueError, match="choose from adam, trac, mechanic"):
    make_optimizer("adamw", 0.01)


@pytest.mark.parametrize("optimizer,hint", [
    (optax.adam, "`adam` is a function, not a transform: call it first, e.g. "
     "run_lifelong(config, optax.adam(learning_rate=1e-3)) rather than "
     "run_lifelong(config, optax.adam)."),
    (3, "got int."),
    (None, "got NoneType."),
])
def test_run_lifelong_refuses_what_is_not_a_transform(optimizer, hint,
                                                      monkeypatch):
  def forbidden(*args, **kwargs):
    raise AssertionError("the run got as far as compiling")

  monkeypatch.setattr(jax, "jit", forbidden)
  with pytest.raises(TypeError) as error:
    run_lifelong(LifelongConfig(num_seeds=1, num_tasks=1), optimizer,
                 progress=False)
  message = str(error.value)
  assert message.startswith("run_lifelong expects optimizer to be a name from "
                            "trac_optax.lifelong.OPTIMIZERS or an "
                            "optax.GradientTransformation")
  assert message.endswith(hint)


def test_ppo_refuses_what_is_not_a_transform():
  config = LifelongConfig(num_seeds=1)
  with pytest.raises(TypeError, match=r"PPO expects optimizer to be an optax\."
                     r"GradientTransformation .*e\.g\. PPO\(config, suite, "
                     r"optax\.sgd\(learning_rate=1e-3\)\)"):
    PPO(config, make_suite(config), optax.sgd)


@pytest.mark.parametrize("rate", [0.0, -1e-3, float("nan"), float("inf"),
                                  "0.01", None])
def test_make_optimizer_refuses_a_bad_learning_rate(rate):
  with pytest.raises(ValueError, match="learning_rate must be a finite number "
                     "> 0, got"):
    make_optimizer("trac", rate)


def test_make_optimizer_passes_a_schedule_on():
  schedule = optax.linear_schedule(1e-2, 1e-3, 10)
  tx = make_optimizer("adam", schedule)
  params = {"w": jnp.ones(2)}
  state = tx.init(params)
  updates, _ = tx.update({"w": jnp.ones(2)}, state, params)
  np.testing.assert_allclose(updates["w"], -1e-2, rtol=1e-5)
