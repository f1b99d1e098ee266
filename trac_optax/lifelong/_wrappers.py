"""Task wrappers: a gymnax environment whose params define the task."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.wrappers.purerl import GymnaxWrapper


@struct.dataclass
class ShiftParams:
  """Params of :class:`ShiftObservations`: the inner params and the offset."""

  env_params: Any
  offset: jax.Array


class ShiftObservations(GymnaxWrapper):
  """Adds a fixed offset, read from the params, to every observation.

  The offset reaches the observation returned by ``reset``, every observation
  returned by ``step`` (including the first one of a new episode after
  gymnax's automatic reset), and ``info["final_observation"]``. Because the
  offset lives in the params rather than in the wrapper, switching the task
  is passing other params: nothing is traced or compiled again.

  Args:
    env: a gymnax environment with flat (vector) observations.
  """

  @property
  def default_params(self) -> ShiftParams:
    """The inner default params with a zero offset."""
    inner = self._env.default_params
    shape = self._env.observation_space(inner).shape
    return ShiftParams(env_params=inner, offset=jnp.zeros(shape, jnp.float32))

  def reset(self, key: jax.Array, params: ShiftParams) -> tuple[jax.Array, Any]:
    """Resets the inner environment and shifts its first observation."""
    obs, state = self._env.reset(key, params.env_params)
    return obs + params.offset, state

  def step(
      self, key: jax.Array, state: Any, action: jax.Array, params: ShiftParams
  ) -> tuple[jax.Array, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
    """Steps the inner environment (auto-reset included) and shifts."""
    obs, state, reward, terminated, truncated, info = self._env.step(
        key, state, action, params.env_params)
    info = dict(info)
    if "final_observation" in info:
      info["final_observation"] = info["final_observation"] + params.offset
    return obs + params.offset, state, reward, terminated, truncated, info
