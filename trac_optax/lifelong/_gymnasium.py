"""Any Gymnasium environment behind the harness's functional env interface.

:class:`GymnasiumEnv` looks like a gymnax environment (``reset(key, params)``
and ``step(key, state, action, params)``, pure functions of arrays), so the
suites' wrappers, the jitted PPO and the report use it unchanged. Its
``reset`` and ``step`` reach the host through ``jax.pure_callback``: under
the harness's two ``vmap`` (seeds, then environments) one callback receives
the whole ``[seeds, envs]`` batch, and each seed's row is one
``gymnasium.vector.SyncVectorEnv`` that steps its environments on the host.
The policy and the update stay jitted.

Episodes end as gymnax's do: the vector envs reset in the same step
(``AutoresetMode.SAME_STEP``), return the first observation of the new
episode, and report the last one as ``info["final_observation"]``.

The host's envs are seeded from the reset keys, so a run is a function of its
seed. Each call advances a counter that the env state carries back, and the
host refuses a state it did not just return (a stale, duplicated or
reordered call), rather than step the wrong environments silently.

Needs ``gymnasium`` (``pip install "trac-optax[gym]"``; ``box2d`` too for
LunarLander); only this module imports it, and only when an env is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from trac_optax.lifelong._config import checked_count
from trac_optax.lifelong._tasks import TaskSuite
from trac_optax.lifelong._tasks import shifted_suite


@struct.dataclass
class GymnasiumParams:
  """Params of :class:`GymnasiumEnv`: none (the host env owns its settings)."""


@struct.dataclass
class GymnasiumState:
  """Where one environment lives on the host, and the call it answers."""

  row: jax.Array
  """Index of the host vector env (the seed)."""
  lane: jax.Array
  """Index of the environment inside that vector env."""
  call: jax.Array
  """The host's call counter when it returned this state."""


def _import_gymnasium():
  try:
    import gymnasium
  except ImportError as error:
    raise ImportError(
        "the Gymnasium backend needs gymnasium: pip install "
        "\"trac-optax[gym]\" (box2d as well for LunarLander)") from error
  return gymnasium


class _HostPool:
  """The host side: a grid of ``rows`` vector envs of ``lanes`` envs each."""

  def __init__(self, make_env: Callable[[], Any]):
    self._make_env = make_env
    self._envs: list[Any] = []
    self._lanes = 0
    self._call = 0

  def close(self) -> None:
    for env in self._envs:
      env.close()
    self._envs = []

  @staticmethod
  def _grid(batch_shape: tuple[int, ...]) -> tuple[int, int]:
    """Rows x lanes of a batch: the last axis is the envs of one seed."""
    if not batch_shape:
      return 1, 1
    return math.prod(batch_shape[:-1]), batch_shape[-1]

  def _state(self, batch_shape):
    rows, lanes = self._grid(batch_shape)
    row = np.broadcast_to(np.arange(rows, dtype=np.int32)[:, None],
                          (rows, lanes)).reshape(batch_shape)
    lane = np.broadcast_to(np.arange(lanes, dtype=np.int32)[None, :],
                           (rows, lanes)).reshape(batch_shape)
    call = np.full(batch_shape, self._call, np.int32)
    return row, lane, call

  def reset(self, key_data: np.ndarray):
    """Resets every env; row ``r`` is seeded from its first env's key."""
    gymnasium = _import_gymnasium()
    batch_shape = key_data.shape[:-1]
    rows, lanes = self._grid(batch_shape)
    if len(self._envs) != rows or self._lanes != lanes:
      self.close()
      mode = gymnasium.vector.AutoresetMode.SAME_STEP
      self._envs = [gymnasium.vector.SyncVectorEnv(
          [self._make_env] * lanes, autoreset_mode=mode) for _ in range(rows)]
      self._lanes = lanes
    keys = np.asarray(key_data, np.uint32).reshape(rows, lanes, -1)
    obs = []
    for env, row_keys in zip(self._envs, keys):
      seed = int.from_bytes(row_keys[0].tobytes(), "little")
      obs.append(env.reset(seed=seed)[0])
    self._call += 1
    obs = np.asarray(obs, np.float32).reshape(batch_shape + obs[0].shape[1:])
    return (obs, *self._state(batch_shape))

  def step(self, row: np.ndarray, lane: np.ndarray, call: np.ndarray,
           action: np.ndarray):
    """Steps every env with its action; same-step automatic reset."""
    batch_shape = action.shape
    rows, lanes = self._grid(batch_shape)
    if not self._envs:
      raise RuntimeError("GymnasiumEnv.step before reset: call reset first")
    expected = self._state(batch_shape)
    if (rows, lanes) != (len(self._envs), self._lanes) or not (
        np.array_equal(row, expected[0]) and np.array_equal(lane, expected[1])):
      raise RuntimeError(
          f"GymnasiumEnv.step got a batch of {rows} x {lanes} envs laid out "
          f"unlike its reset ({len(self._envs)} x {self._lanes}): vmap step "
          "over the same axes as reset, seeds outermost")
    if not np.all(call == self._call):
      raise RuntimeError(
          "GymnasiumEnv.step got a state the host did not just return (a "
          "stale, repeated or reordered call); thread each step's state "
          "into the next step")
    actions = np.asarray(action).reshape(rows, lanes)
    out = [env.step(a) for env, a in zip(self._envs, actions)]
    obs = np.stack([o[0] for o in out]).astype(np.float32)
    final = obs.copy()
    for r, (_, _, _, _, info) in enumerate(out):
      if "_final_obs" in info:
        for j in np.flatnonzero(info["_final_obs"]):
          final[r, j] = info["final_obs"][j]
    reward = np.stack([o[1] for o in out]).astype(np.float32)
    terminated = np.stack([o[2] for o in out]).astype(np.bool_)
    truncated = np.stack([o[3] for o in out]).astype(np.bool_)
    self._call += 1
    shape = lambda x: x.reshape(batch_shape + x.shape[2:])
    return (shape(obs), shape(reward), shape(terminated), shape(truncated),
            shape(final), *self._state(batch_shape))


class GymnasiumEnv:
  """A Gymnasium environment with gymnax's functional interface.

  Discrete actions and flat (vector) observations only. ``reset`` and
  ``step`` may be jitted, scanned and vmapped (seeds outermost, the
  environments of one seed innermost, as the harness does); the envs step on
  the host.

  Args:
    env: a registered Gymnasium id (e.g. ``"LunarLander-v3"``) or a
      function returning a new ``gymnasium.Env``.
    max_steps_in_episode: episode cap (a ``TimeLimit``; for an id it replaces
      the registered cap).

  Raises:
    ValueError: when the action space is not discrete or the observation is
      not a flat box.
    TypeError: when ``env`` is neither an id nor a function.
    ImportError: without gymnasium (or the environment's own dependencies,
      such as box2d).
  """

  def __init__(self, env: str | Callable[[], Any], *,
               max_steps_in_episode: int = 400):
    max_steps_in_episode = checked_count("max_steps_in_episode",
                                         max_steps_in_episode)
    gymnasium = _import_gymnasium()
    if isinstance(env, str):
      env_id = env
      make_env = lambda: gymnasium.make(env_id,
                                        max_episode_steps=max_steps_in_episode)
      self.name = env_id
    elif callable(env):
      constructor = env
      make_env = lambda: gymnasium.wrappers.TimeLimit(
          constructor(), max_episode_steps=max_steps_in_episode)
      self.name = getattr(constructor, "__name__", "custom")
    else:
      raise TypeError(f"env must be a Gymnasium id or a function returning "
                       f"a gymnasium.Env, got {env!r}")
    try:
      probe = make_env()
    except gymnasium.error.DependencyNotInstalled as error:
      raise ImportError(f"{self.name} needs a package Gymnasium lacks: "
                        f"{error}; for Box2D environments such as "
                        "LunarLander, pip install \"trac-optax[gym]\"") from error
    obs_space, action_space = probe.observation_space, probe.action_space
    probe.close()
    if not isinstance(action_space, gymnasium.spaces.Discrete):
      raise ValueError(f"{self.name}: the harness needs a discrete action "
                       f"space, got {action_space}")
    if (not isinstance(obs_space, gymnasium.spaces.Box)
        or len(obs_space.shape) != 1):
      raise ValueError(f"{self.name}: the harness needs a flat Box "
                       f"observation, got {obs_space}; flatten it first "
                       "(gymnasium.wrappers.FlattenObservation)")
    self.obs_shape = tuple(obs_space.shape)
    self.num_actions = int(action_space.n)
    self.max_steps_in_episode = max_steps_in_episode
    self._host = _HostPool(make_env)

  def close(self) -> None:
    """Closes the host environments (a later ``reset`` makes new ones)."""
    self._host.close()

  @property
  def default_params(self) -> GymnasiumParams:
    return GymnasiumParams()

  def observation_space(self, params: Any = None) -> spaces.Box:
    del params
    return spaces.Box(-jnp.inf, jnp.inf, self.obs_shape, jnp.float32)

  def action_space(self, params: Any = None) -> spaces.Discrete:
    del params
    return spaces.Discrete(self.num_actions)

  def _state_shapes(self):
    scalar = jax.ShapeDtypeStruct((), jnp.int32)
    return (scalar, scalar, scalar)

  def reset(self, key: jax.Array,
            params: Any = None) -> tuple[jax.Array, GymnasiumState]:
    """Resets the host env; its seed comes from ``key``."""
    del params
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
      key = jax.random.key_data(key)
    obs = jax.ShapeDtypeStruct(self.obs_shape, jnp.float32)
    obs, *state = jax.pure_callback(
        self._host.reset, (obs, *self._state_shapes()), key,
        vmap_method="broadcast_all")
    return obs, GymnasiumState(*state)

  def step(self, key: jax.Array, state: GymnasiumState, action: jax.Array,
           params: Any = None):
    """One host step: ``(obs, state, reward, terminated, truncated, info)``.

    ``key`` is unused (the host env has its own generator, seeded at reset).
    """
    del key, params
    obs = jax.ShapeDtypeStruct(self.obs_shape, jnp.float32)
    flag = jax.ShapeDtypeStruct((), jnp.bool_)
    shapes = (obs, jax.ShapeDtypeStruct((), jnp.float32), flag, flag, obs,
              *self._state_shapes())
    obs, reward, terminated, truncated, final, *new_state = jax.pure_callback(
        self._host.step, shapes, state.row, state.lane, state.call,
        action.astype(jnp.int32), vmap_method="broadcast_all")
    info = {"final_observation": final}
    return (obs, GymnasiumState(*new_state), reward, terminated, truncated,
            info)


def gymnasium_suite(env: str | Callable[[], Any], *,
                    max_steps_in_episode: int = 400,
                    offset_std: float = 2.0) -> TaskSuite:
  """The control protocol over a Gymnasium environment: offsets per task.

  The same task rule as :func:`~trac_optax.lifelong.control_suite` (task 0
  unshifted, then a new observation offset per task), with the environment
  stepped on the host by :class:`GymnasiumEnv`.

  Args:
    env: a registered Gymnasium id or a function returning a new
      ``gymnasium.Env`` (discrete actions, flat observations).
    max_steps_in_episode: episode cap.
    offset_std: standard deviation of the offsets.

  Returns:
    The :class:`~trac_optax.lifelong.TaskSuite`; pass it to
    :func:`~trac_optax.lifelong.run_lifelong` as ``suite``.

  Examples:
    >>> suite = gymnasium_suite("CartPole-v1")
    >>> suite.obs_shape, suite.num_actions
    ((4,), 2)
  """
  inner = GymnasiumEnv(env, max_steps_in_episode=max_steps_in_episode)
  return shifted_suite(inner.name, inner, inner.default_params,
                       offset_std=offset_std)
