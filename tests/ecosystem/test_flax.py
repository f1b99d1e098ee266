"""TRAC as the ``tx`` of Flax training loops (linen TrainState and nnx.Optimizer).

Each loop trains a small MLP on ``sin(2x)`` to a lower loss, and matches a
plain Optax loop with the same transform step for step, which shows that
Flax hands TRAC the params it needs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from flax import nnx
from flax.training import train_state

import trac_optax
from tests.ecosystem import helpers

STEPS = 300


def _data():
  x = np.linspace(-2.0, 2.0, 64, dtype=np.float32)[:, None]
  return jnp.asarray(x), jnp.asarray(np.sin(2.0 * x))


def _tx():
  return trac_optax.trac(optax.adam(1e-2))  # the paper's defaults otherwise


def _plain_optax_loop(apply_fn, params, steps):
  """The reference: the same transform driven by hand."""
  tx = _tx()
  x, y = _data()
  state = tx.init(params)

  @jax.jit
  def step(params, state):
    grads = jax.grad(lambda p: jnp.mean((apply_fn(p, x) - y) ** 2))(params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  for _ in range(steps):
    params, state = step(params, state)
  return params, state


class LinenMLP(nn.Module):

  @nn.compact
  def __call__(self, x):
    return nn.Dense(1)(nn.relu(nn.Dense(32)(x)))


def test_linen_train_state_loop():
  x, y = _data()
  model = LinenMLP()
  params = model.init(jax.random.key(0), x)["params"]
  apply_fn = lambda p, x: model.apply({"params": p}, x)
  loss_fn = lambda p: jnp.mean((apply_fn(p, x) - y) ** 2)
  state = train_state.TrainState.create(
      apply_fn=model.apply, params=params, tx=_tx())

  @jax.jit
  def train_step(state):
    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), loss

  losses = []
  for _ in range(STEPS):
    state, loss = train_step(state)
    losses.append(float(loss))

  assert losses[-1] < 0.3 * losses[0]
  assert int(state.step) == STEPS
  assert float(trac_optax.scale(state.opt_state)) > 0
  want_params, want_state = _plain_optax_loop(apply_fn, params, STEPS)
  helpers.assert_trees_close(state.params, want_params, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(float(trac_optax.scale(state.opt_state)),
                             float(trac_optax.scale(want_state)), rtol=1e-5)


class NnxMLP(nnx.Module):

  def __init__(self, rngs: nnx.Rngs):
    self.hidden = nnx.Linear(1, 32, rngs=rngs)
    self.out = nnx.Linear(32, 1, rngs=rngs)

  def __call__(self, x):
    return self.out(nnx.relu(self.hidden(x)))


def test_nnx_optimizer_loop():
  x, y = _data()
  model = NnxMLP(nnx.Rngs(0))
  graphdef, params0 = nnx.split(model, nnx.Param)
  params0 = nnx.as_pure(params0)
  optimizer = nnx.Optimizer(model, _tx(), wrt=nnx.Param)

  @nnx.jit
  def train_step(model, optimizer):
    loss_fn = lambda model: jnp.mean((model(x) - y) ** 2)
    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss

  losses = [float(train_step(model, optimizer)) for _ in range(STEPS)]

  assert losses[-1] < 0.3 * losses[0]
  assert int(optimizer.step[...]) == STEPS
  assert float(trac_optax.scale(optimizer.opt_state)) > 0
  assert int(trac_optax.trac_state(optimizer.opt_state).count[...]) == STEPS

  apply_fn = lambda p, x: nnx.merge(graphdef, p)(x)
  want_params, want_state = _plain_optax_loop(apply_fn, params0, STEPS)
  got_params = nnx.as_pure(nnx.state(model, nnx.Param))
  helpers.assert_trees_close(got_params, want_params, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(float(trac_optax.scale(optimizer.opt_state)),
                             float(trac_optax.scale(want_state)), rtol=1e-5)
