"""A small regression problem, the base optimizers and loops the ecosystem tests share.

The problem is linear least squares on a fixed random data set with a
two-leaf parameter tree ``{"w": (4, 2), "b": (2,)}``: cheap to compile, with
gradients that depend on the params, so that any change in how TRAC is
composed shows up in the trajectory.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import trac_optax

#: Base optimizers every composition is run with: name -> factory.
BASES: dict[str, Callable[[], optax.GradientTransformation]] = {
    "sgd": lambda: optax.sgd(0.05),
    "adam": lambda: optax.adam(0.05),
    "adamw": lambda: optax.adamw(0.05, weight_decay=0.1),
    "lion": lambda: optax.lion(0.01),
    "chain": lambda: optax.chain(
        optax.scale_by_adam(), optax.add_decayed_weights(0.01),
        optax.scale(-0.05)),
}

#: A larger initial scale than the paper's 1e-8, so that the params leave the
#: reference point within a few steps and every composition error is visible.
S_INIT = 1e-4

NUM_ROWS = 32


def data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """Inputs ``(32, 4)`` and targets ``(32, 2)`` of a noisy linear map."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(NUM_ROWS, 4)).astype(np.float32)
  w = rng.normal(size=(4, 2))
  y = (x @ w + 1.0 + 0.1 * rng.normal(size=(NUM_ROWS, 2))).astype(np.float32)
  return x, y


def init_params(dtype: Any = jnp.float32) -> dict[str, jax.Array]:
  rng = np.random.default_rng(1)
  return {
      "w": jnp.asarray(0.1 * rng.normal(size=(4, 2)), dtype),
      "b": jnp.zeros((2,), dtype),
  }


def loss(params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
  pred = x @ params["w"].astype(jnp.float32) + params["b"].astype(jnp.float32)
  return jnp.mean((pred - y) ** 2)


def make_trac(base: optax.GradientTransformation,
              **kwargs: Any) -> optax.GradientTransformation:
  return trac_optax.trac(base, **{"s_init": S_INIT, **kwargs})


def make_step(
    tx: optax.GradientTransformation,
    grad_transform: Callable[[Any], Any] = lambda g: g,
) -> Callable[..., tuple[Any, Any, Any]]:
  """A jitted training step ``(params, state, x, y) -> (params, state, updates)``.

  ``grad_transform`` is applied to the gradients before ``tx`` sees them:
  the hand-written counterpart of a transform composed in front of TRAC.
  """

  @jax.jit
  def step(params, state, x, y):
    grads = grad_transform(jax.grad(loss)(params, x, y))
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state, updates

  return step


def run(
    tx: optax.GradientTransformation,
    steps: int,
    grad_transform: Callable[[Any], Any] = lambda g: g,
    params: Any = None,
) -> tuple[list[Any], list[Any]]:
  """Trains on the full batch; returns the params and states after each step."""
  x, y = data()
  params = init_params() if params is None else params
  state = tx.init(params)
  step = make_step(tx, grad_transform)
  params_seq, state_seq = [], []
  for _ in range(steps):
    params, state, _ = step(params, state, x, y)
    params_seq.append(params)
    state_seq.append(state)
  return params_seq, state_seq


def run_on_gradients(tx: optax.GradientTransformation, params: Any,
                     gradients: Sequence[Any]) -> list[tuple[Any, Any]]:
  """Jitted steps on the given gradients, one per step (whatever the params);
  returns the params and state after each step."""
  step = jax.jit(tx.update)
  state = tx.init(params)
  history = []
  for grads in gradients:
    updates, state = step(grads, state, params)
    params = optax.apply_updates(params, updates)
    history.append((params, state))
  return history


def pmean_gradients(axis: str) -> optax.GradientTransformation:
  """A base transform that averages the gradients over the named ``axis``."""

  def update(updates, state, params=None):
    del params
    return jax.tree.map(lambda g: jax.lax.pmean(g, axis), updates), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def base_with_a_key() -> optax.GradientTransformation:
  """A base whose state holds a typed PRNG key, split at every step, and the
  sum of the gradients it has seen; its update is ``-0.1 * g``."""

  def init(params):
    return {"key": jax.random.key(0), "seen": jnp.zeros_like(params)}

  def update(updates, state, params=None):
    del params
    key, _ = jax.random.split(state["key"])
    return (jax.tree.map(lambda g: -0.1 * g, updates),
            {"key": key, "seen": state["seen"] + updates})

  return optax.GradientTransformation(init, update)


def scales(states: Sequence[Any]) -> np.ndarray:
  return np.array([float(trac_optax.scale(s)) for s in states])


def assert_trees_equal(a: Any, b: Any) -> None:
  """Same structure, dtypes and bits."""
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert jnp.asarray(x).dtype == jnp.asarray(y).dtype
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def assert_trees_close(a: Any, b: Any, rtol: float = 2e-5,
                       atol: float = 1e-6) -> None:
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(
        np.asarray(x, np.float64), np.asarray(y, np.float64),
        rtol=rtol, atol=atol)


def max_abs_diff(a: Any, b: Any) -> float:
  return max(
      float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
      for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
