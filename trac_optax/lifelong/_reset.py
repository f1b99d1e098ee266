"""The ``reset`` baselines: fresh networks and optimizer at every task shift.

A privileged reference, not an agent: it is told when the task changes,
which no lifelong learner is. ``reset`` resets Adam and ``reset-<name>`` the
named optimizer (``reset-trac``: fresh networks and a fresh TRAC). Their
returns on the tasks after the first are the denominators of the plasticity
scores.
"""

from __future__ import annotations

import jax

from trac_optax.lifelong._optimizers import RESET
from trac_optax.lifelong._optimizers import reset_base
from trac_optax.lifelong._ppo import PPO
from trac_optax.lifelong._ppo import AgentState

__all__ = ("RESET", "is_reset", "reinitialise")


def is_reset(optimizer: object) -> bool:
  """Whether ``optimizer`` names a reset baseline (``reset``, ``reset-trac``)."""
  return isinstance(optimizer, str) and reset_base(optimizer) is not None


def reinitialise(ppo: PPO, agents: AgentState, task: jax.Array) -> AgentState:
  """New initial params and optimizer state for every seed, for ``task``.

  The new params are drawn from each seed's key folded with ``task`` (so
  every task starts from different weights), the optimizer state is
  initialised on them, and the seeds' rollout and task keys are kept.

  Args:
    ppo: the learner, whose ``init`` draws the params.
    agents: the states of all seeds (batched).
    task: int32 scalar, the task about to start.

  Returns:
    ``agents`` with new ``params`` and ``opt_state``.
  """
  keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(agents.key, task)
  fresh = ppo.init(keys)
  return agents._replace(params=fresh.params, opt_state=fresh.opt_state)
