"""Episode-based collection with fixed shapes: the paper's control protocol.

Each iteration rolls every environment out for a fixed number of steps from a
fresh reset and keeps only its first episode; the rest of the rollout is
masked. These pieces turn such a rollout (time on axis 0) into learning
targets and minibatch orders that touch only the valid transitions.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

FIXED = "fixed"
"""Protocol: fixed-length rollouts that continue across iterations
(PureJaxRL-style); every iteration makes the same number of updates."""

PAPER = "paper"
"""Protocol: the authors' control notebook, whole episodes per iteration
(see :class:`~trac_optax.lifelong.LifelongConfig`)."""

PROTOCOLS = (FIXED, PAPER)
"""Values of ``LifelongConfig.protocol`` and ``--protocol``."""


def first_episode(done: jax.Array) -> jax.Array:
  """Whether each step belongs to its environment's first episode.

  Args:
    done: ``[T, ...]`` bool, whether step ``t`` ended an episode.

  Returns:
    ``[T, ...]`` bool: true up to and including the first ``done``.
  """
  ended_before = jnp.cumsum(done, axis=0) - done
  return ended_before == 0


def rewards_to_go(rewards: jax.Array, next_values: jax.Array,
                  terminated: jax.Array, done: jax.Array,
                  gamma: float) -> jax.Array:
  r"""Discounted rewards-to-go within each episode (time on axis 0).

  .. math::

     R_t = r_t + \gamma\,(1 - \mathrm{done}_t)\,R_{t+1}
       + \gamma\,\mathrm{done}_t\,(1 - \mathrm{term}_t)\,V'_t

  so an episode cut by its step cap (done, not terminated) bootstraps from
  the value of its last observation and a terminated one does not. The last
  step of the rollout bootstraps from :math:`V'` unless it terminated.

  Args:
    rewards, next_values: float ``[T, ...]``; ``next_values[t]`` is the value
      of the observation step ``t`` led to (before any automatic reset).
    terminated: whether step ``t`` ended its episode in a terminal state.
    done: whether step ``t`` ended its episode (terminated or truncated).
    gamma: discount.

  Returns:
    ``[T, ...]`` float, the value targets.
  """
  not_terminal = 1.0 - terminated.astype(rewards.dtype)
  not_done = 1.0 - done.astype(rewards.dtype)
  bootstrap = gamma * not_terminal * next_values
  last = rewards[-1] + bootstrap[-1]

  def backward(next_return, step):
    reward, boot, keep = step
    value = reward + keep * gamma * next_return + (1.0 - keep) * boot
    return value, value

  _, returns = jax.lax.scan(backward, last,
                            (rewards[:-1], bootstrap[:-1], not_done[:-1]),
                            reverse=True)
  return jnp.concatenate([returns, last[None]], axis=0)


def normalise(x: jax.Array, valid: jax.Array) -> jax.Array:
  """``(x - mean) / (std + 1e-8)`` over the valid entries; invalid ones 0."""
  count = jnp.maximum(valid.sum(), 1)
  mean = jnp.sum(jnp.where(valid, x, 0.0)) / count
  var = jnp.sum(jnp.where(valid, jnp.square(x - mean), 0.0)) / count
  return jnp.where(valid, (x - mean) / (jnp.sqrt(var) + 1e-8), 0.0)


def valid_first_order(key: jax.Array, valid: jax.Array) -> jax.Array:
  """A row order: the valid rows shuffled uniformly, then the invalid ones.

  Args:
    key: PRNG key of the shuffle.
    valid: ``[N]`` bool.

  Returns:
    ``[N]`` int32 indices, a permutation of ``range(N)``.
  """
  shuffled = jax.random.permutation(key, valid.shape[0])
  # A stable sort on validity keeps the shuffled order within each group.
  return shuffled[jnp.argsort(~valid[shuffled], stable=True)].astype(
      jnp.int32)
