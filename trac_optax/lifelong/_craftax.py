"""The Procgen-like suite: one fixed Craftax-Classic world per task.

As in the TRAC paper's Procgen protocol (``num_levels=1`` and a new
``start_level`` for each task), every task is one procedurally generated
level that the agent meets again at every episode, and the level changes at
each shift. Craftax-Classic (a JAX reimplementation of Crafter) generates
its worlds procedurally; generating one is costly, so each task's world is
generated once and cached in the task's params, and every episode restarts
from the cached world instead of generating it again.

Needs the ``craftax`` package (``pip install "trac-optax[craftax]"``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.wrappers.purerl import LogWrapper

from trac_optax.lifelong._config import checked_count
from trac_optax.lifelong._tasks import TaskSuite

CRAFTAX_ENV = "Craftax-Classic-Symbolic-v1"
"""The Craftax environment the suite plays (symbolic observations)."""


def _craftax_env():
  try:
    from craftax.craftax_classic.envs.craftax_symbolic_env import (
      CraftaxClassicSymbolicEnvNoAutoReset,
    )
  except ImportError as error:
    raise ImportError(
        "the Procgen-like suite needs the craftax package: "
        'pip install "trac-optax[craftax]"') from error
  return CraftaxClassicSymbolicEnvNoAutoReset()


@struct.dataclass
class LevelParams:
  """Params of :class:`FixedLevel`: the env params and the cached level."""

  env_params: Any
  level: Any
  """The level's initial state, generated once per task."""
  level_obs: jax.Array
  """The observation of ``level``."""


class FixedLevel:
  """A Craftax environment whose every episode starts from one cached level.

  ``reset`` and the automatic reset after an episode ends return the level
  in the params (with a fresh random key for the episode's events), so a
  world is never generated inside the training loop. An episode that reaches
  ``max_timesteps`` is truncated; one that ends by death is terminated.
  ``info["final_observation"]`` is the observation before an automatic reset.

  Args:
    env: a Craftax environment without automatic reset.
  """

  def __init__(self, env: Any):
    self.env = env

  def level(self, key: jax.Array, env_params: Any) -> LevelParams:
    """Generates the level of ``key`` (a new world) and caches it."""
    obs, state = self.env.reset_env(key, env_params)
    return LevelParams(env_params=env_params, level=state, level_obs=obs)

  def _start(self, key: jax.Array, params: LevelParams) -> Any:
    return params.level.replace(state_rng=key)

  def reset(self, key: jax.Array, params: LevelParams) -> tuple[jax.Array, Any]:
    """The cached level's first observation and state."""
    return params.level_obs, self._start(key, params)

  def step(self, key: jax.Array, state: Any, action: jax.Array,
           params: LevelParams):
    """One step; a finished episode restarts from the cached level."""
    step_key, reset_key = jax.random.split(key)
    obs, next_state, reward, done, _ = self.env.step_env(
        step_key, state, action, params.env_params)
    truncated = next_state.timestep >= params.env_params.max_timesteps
    terminated = jnp.logical_and(done, jnp.logical_not(truncated))
    start = self._start(reset_key, params)
    next_state = jax.tree.map(lambda a, b: jnp.where(done, a, b), start,
                              next_state)
    return (jnp.where(done, params.level_obs, obs), next_state,
            jnp.asarray(reward, jnp.float32), terminated,
            jnp.asarray(truncated, bool), {"final_observation": obs})


def craftax_suite(*, max_steps_in_episode: int = 1000) -> TaskSuite:
  """Craftax-Classic levels: task ``k`` of a seed is one fixed world.

  Each seed draws its own sequence of worlds, a pure function of its task key
  and ``k``; the world is the same for every episode of the task.

  Args:
    max_steps_in_episode: episode cap (Craftax's ``max_timesteps``).

  Returns:
    The :class:`~trac_optax.lifelong.TaskSuite`.

  Raises:
    ValueError: if ``max_steps_in_episode`` is not a positive integer.
  """
  max_steps_in_episode = checked_count("max_steps_in_episode",
                                       max_steps_in_episode)
  inner = _craftax_env()
  env_params = dataclasses.replace(inner.default_params,
                                   max_timesteps=max_steps_in_episode)
  fixed = FixedLevel(inner)

  def task_params(task_key: jax.Array, task: jax.Array) -> LevelParams:
    return fixed.level(jax.random.fold_in(task_key, task), env_params)

  return TaskSuite(name="Craftax-Classic, one world per task",
                   env=LogWrapper(fixed), task_params=task_params,
                   obs_shape=tuple(inner.observation_space(env_params).shape),
                   num_actions=int(inner.action_space(env_params).n))
