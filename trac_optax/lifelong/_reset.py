"""The ``reset`` baseline: fresh networks and optimizer at every task shift.

A privileged reference, not an agent: it is told when the task changes,
which no lifelong learner is. Its return on the tasks after the first is
the denominator of the plasticity score.
"""

from __future__ import annotations

import jax

from trac_optax.lifelong._ppo import PPO
from trac_optax.lifelong._ppo import AgentState

RESET = "reset"
"""The baseline's name among the harness's optimizers."""


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
