"""Task suites: one environment and a rule giving its params for each task."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import NamedTuple

import gymnax
import jax
import jax.numpy as jnp
from gymnax.wrappers.purerl import LogWrapper

from trac_optax.lifelong._config import checked_count
from trac_optax.lifelong._config import checked_real
from trac_optax.lifelong._wrappers import ShiftObservations
from trac_optax.lifelong._wrappers import ShiftParams

CONTROL_ENVS = ("CartPole-v1", "Acrobot-v1")
"""Environments of the paper's Gym Control protocol available in gymnax."""


class TaskSuite(NamedTuple):
  """A lifelong-RL task sequence over one gymnax-style environment.

  The agent sees ``env``; task ``k`` of a seed is ``env`` run with
  ``task_params(task_key, k)``. Both arguments are arrays, so a jitted
  training function serves every task and every seed without recompiling.
  ``env`` must log episodes like ``gymnax.wrappers.LogWrapper`` (info keys
  ``returned_episode`` and ``returned_episode_returns``, undiscounted and
  unscaled) and report ``info["final_observation"]``.
  """

  name: str
  env: Any
  task_params: Callable[[jax.Array, jax.Array], Any]
  obs_shape: tuple[int, ...]
  num_actions: int


def control_suite(env_name: str, *, max_steps_in_episode: int = 400,
                  offset_std: float = 2.0) -> TaskSuite:
  """The paper's Gym Control suite: a new observation offset per task.

  Task 0 is the unshifted environment. Task ``k >= 1`` adds to every
  observation an offset drawn once per dimension from
  ``N(0, offset_std**2)``, a pure function of ``(task_key, k)``.

  Args:
    env_name: one of :data:`CONTROL_ENVS`.
    max_steps_in_episode: episode cap, set through the gymnax env params.
    offset_std: standard deviation of the offsets.

  Returns:
    The :class:`TaskSuite`.

  Raises:
    ValueError: for an unknown environment name, an episode cap that is not
      a positive integer, or an ``offset_std`` that is not finite and >= 0.
  """
  if env_name not in CONTROL_ENVS:
    raise ValueError(f"unknown control environment {env_name!r}; choose one "
                     f"of {', '.join(CONTROL_ENVS)}")
  max_steps_in_episode = checked_count("max_steps_in_episode",
                                       max_steps_in_episode)
  inner, inner_params = gymnax.make(env_name)
  inner_params = inner_params.replace(max_steps_in_episode=max_steps_in_episode)
  return shifted_suite(env_name, inner, inner_params, offset_std=offset_std)


def shifted_suite(name: str, inner: Any, inner_params: Any, *,
                  offset_std: float = 2.0) -> TaskSuite:
  """A suite over ``inner`` whose task ``k >= 1`` shifts its observations.

  The rule of :func:`control_suite` for any environment with gymnax's
  interface and flat observations (a gymnax env, or a
  :class:`~trac_optax.lifelong.GymnasiumEnv`): task 0 unshifted, task
  ``k`` offset by ``offset_std`` times a normal draw of ``(task_key, k)``.
  """
  offset_std = checked_real("offset_std", offset_std)
  obs_shape = tuple(inner.observation_space(inner_params).shape)
  env = LogWrapper(ShiftObservations(inner))

  def task_params(task_key: jax.Array, task: jax.Array) -> ShiftParams:
    noise = jax.random.normal(jax.random.fold_in(task_key, task), obs_shape)
    offset = jnp.where(task > 0, offset_std * noise, 0.0).astype(jnp.float32)
    return ShiftParams(env_params=inner_params, offset=offset)

  return TaskSuite(name=name, env=env, task_params=task_params,
                   obs_shape=obs_shape,
                   num_actions=int(inner.action_space(inner_params).n))
