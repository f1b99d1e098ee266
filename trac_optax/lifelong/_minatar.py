"""The Atari-like suite: MinAtar games from gymnax, a new game every task.

One network plays every game: observations are padded with empty channels
to a common count, and every game takes MinAtar's full action set, in which
an action a game does not use does nothing (as in the ALE's full action set).
"""

from __future__ import annotations

from typing import Any

import gymnax
import jax
import jax.numpy as jnp
from flax import struct
from gymnax.wrappers.purerl import LogWrapper

from trac_optax.lifelong._config import checked_count
from trac_optax.lifelong._tasks import TaskSuite

MINATAR_GAMES = ("Breakout-MinAtar", "SpaceInvaders-MinAtar",
                 "Asterix-MinAtar", "Freeway-MinAtar", "Seaquest-MinAtar")
"""The MinAtar games in gymnax, in the suite's default order."""

FULL_ACTIONS = ("no-op", "left", "up", "right", "down", "fire")
"""MinAtar's full action set; action ``i`` of the suite is ``FULL_ACTIONS[i]``."""

GRID = (10, 10)
"""Height and width of every MinAtar observation."""


def pad_channels(obs: jax.Array, channels: int) -> jax.Array:
  """Appends empty (zero) channels to ``obs`` (channels last) up to ``channels``.

  Raises:
    ValueError: if ``obs`` already has more than ``channels`` channels.
  """
  extra = channels - obs.shape[-1]
  if extra < 0:
    raise ValueError(f"observation has {obs.shape[-1]} channels, more than "
                     f"the {channels} to pad to")
  widths = [(0, 0)] * (obs.ndim - 1) + [(0, extra)]
  return jnp.pad(obs.astype(jnp.float32), widths)


@struct.dataclass
class GameParams:
  """Params of :class:`GameSwitch`: which game plays, and each game's params."""

  game: jax.Array
  """int32 index of the active game."""
  env_params: tuple[Any, ...]


class GameSwitch:
  """Several gymnax environments behind one interface; the params pick one.

  The state holds every game's state; ``reset`` resets them all, ``step``
  steps only the active game (``jax.lax.switch`` on ``params.game``, which
  stays one branch while the index is not batched). Observations and
  ``info["final_observation"]`` are padded to ``channels``; rewards are
  float32. Because the game lives in the params, changing game is passing
  other params: nothing is traced or compiled again.

  Args:
    envs: gymnax environments with image observations (channels last) and
      the same number of actions.
    channels: channel count to pad every observation to.
  """

  def __init__(self, envs: tuple[Any, ...], channels: int):
    self.envs = tuple(envs)
    self.channels = channels

  def reset(self, key: jax.Array, params: GameParams) -> tuple[jax.Array, Any]:
    """Resets every game; returns the active game's first observation."""
    keys = jax.random.split(key, len(self.envs))
    obs, states = zip(*(env.reset(k, p) for env, k, p in zip(
        self.envs, keys, params.env_params)))
    padded = [pad_channels(o, self.channels) for o in obs]
    return jax.lax.switch(params.game, [lambda o=o: o for o in padded]), states

  def step(self, key: jax.Array, states: tuple[Any, ...], action: jax.Array,
           params: GameParams):
    """Steps the active game (with gymnax's automatic reset)."""

    def branch(i):
      def play(key, states, action):
        obs, state, reward, terminated, truncated, info = self.envs[i].step(
            key, states[i], action, params.env_params[i])
        states = states[:i] + (state,) + states[i + 1:]
        final = pad_channels(info["final_observation"], self.channels)
        return (pad_channels(obs, self.channels), states,
                jnp.asarray(reward, jnp.float32),
                jnp.asarray(terminated, bool), jnp.asarray(truncated, bool),
                final)
      return play

    obs, states, reward, terminated, truncated, final = jax.lax.switch(
        params.game, [branch(i) for i in range(len(self.envs))], key, states,
        action)
    return (obs, states, reward, terminated, truncated,
            {"final_observation": final})


def minatar_suite(games: tuple[str, ...] = MINATAR_GAMES, *,
                  max_steps_in_episode: int = 1000) -> TaskSuite:
  """MinAtar game switching: task ``k`` plays ``games[k % len(games)]``.

  The agent keeps its weights from game to game. Observations are the
  games' ``10 x 10 x C`` images padded to the largest ``C`` among ``games``;
  actions are :data:`FULL_ACTIONS` for every game.

  Args:
    games: gymnax MinAtar environment names, from :data:`MINATAR_GAMES`.
    max_steps_in_episode: episode cap of every game.

  Returns:
    The :class:`~trac_optax.lifelong.TaskSuite`.

  Raises:
    ValueError: for a string, an empty list or an unknown game, or an
      episode cap that is not a positive integer.
  """
  if isinstance(games, str):
    raise ValueError(f"games must be a sequence of game names, e.g. "
                     f"({games!r},), not one string")
  if not games:
    raise ValueError("give at least one MinAtar game")
  max_steps_in_episode = checked_count("max_steps_in_episode",
                                       max_steps_in_episode)
  unknown = [g for g in games if g not in MINATAR_GAMES]
  if unknown:
    raise ValueError(f"unknown MinAtar game {', '.join(map(repr, unknown))}; "
                     f"choose from {', '.join(MINATAR_GAMES)}")
  made = [gymnax.make(g, use_minimal_action_set=False) for g in games]
  envs = tuple(env for env, _ in made)
  env_params = tuple(
      p.replace(max_steps_in_episode=max_steps_in_episode) for _, p in made)
  channels = max(env.observation_space(p).shape[-1]
                 for env, p in zip(envs, env_params))
  for env, p in zip(envs, env_params):
    if env.action_space(p).n != len(FULL_ACTIONS):
      raise ValueError(f"{env.name} has {env.action_space(p).n} actions, not "
                       f"MinAtar's full set of {len(FULL_ACTIONS)}")
  num_games = len(games)

  def task_params(task_key: jax.Array, task: jax.Array) -> GameParams:
    del task_key  # the game order is the same for every seed
    return GameParams(game=jnp.asarray(task, jnp.int32) % num_games,
                      env_params=env_params)

  return TaskSuite(name="MinAtar: " + ", ".join(
      g.removesuffix("-MinAtar") for g in games),
                   env=LogWrapper(GameSwitch(envs, channels)),
                   task_params=task_params, obs_shape=GRID + (channels,),
                   num_actions=len(FULL_ACTIONS))
