"""Every task suite by name, with the configuration defaults that suit it.

Light to import (the suites' own modules load when a suite is built), so the
command line can check its arguments before anything heavy is imported.
"""

from __future__ import annotations

from typing import Any

from trac_optax.lifelong._config import LifelongConfig
from trac_optax.lifelong._episodes import FIXED
from trac_optax.lifelong._tasks import CONTROL_ENVS
from trac_optax.lifelong._tasks import TaskSuite

MINATAR = "MinAtar"
"""The Atari-like suite: a new MinAtar game every task."""

CRAFTAX = "Craftax-Classic"
"""The Procgen-like suite: a new fixed Craftax-Classic world every task."""

GYMNASIUM_ENVS = ("LunarLander-v3",)
"""Control environments without a JAX version, run through Gymnasium."""

GYM_PREFIX = "gym:"
"""``gym:<id>`` names any registered Gymnasium environment (discrete actions,
flat observations), run through the Gymnasium backend."""

SUITES = (*CONTROL_ENVS, *GYMNASIUM_ENVS, MINATAR, CRAFTAX)
"""Names accepted by ``LifelongConfig.env`` and the command line's ``--env``
(besides ``gym:<id>``)."""


def gymnasium_id(env: str) -> str | None:
  """The Gymnasium id that ``env`` names, or ``None`` for a JAX suite.

  Examples:
    >>> gymnasium_id("gym:CartPole-v1"), gymnasium_id("CartPole-v1")
    ('CartPole-v1', None)
  """
  if env in GYMNASIUM_ENVS:
    return env
  if env.startswith(GYM_PREFIX) and len(env) > len(GYM_PREFIX):
    return env[len(GYM_PREFIX):]
  return None


def check_env(env: str) -> str:
  """``env`` if it names a suite, else a ValueError that lists the choices."""
  if env not in SUITES and gymnasium_id(env) is None:
    raise ValueError(f"{env!r} is no environment of the harness; choose from "
                     f"{', '.join(SUITES)}, or gym:<id> for any Gymnasium "
                     "environment")
  return env

SUITE_DEFAULTS: dict[str, dict[str, Any]] = {
    # PureJaxRL's MinAtar settings, scaled down to fit a CPU: more parallel
    # environments than the control protocol, a smaller learning rate, no
    # reward scaling (MinAtar rewards are 0 or 1), MinAtar's episode cap.
    MINATAR: dict(num_envs=16, num_steps=128, max_steps_in_episode=1000,
                  learning_rate=1e-3, reward_scale=1.0, epochs=4,
                  minibatch_size=256, iterations_per_task=100, protocol=FIXED),
    # The paper's Procgen settings where they fit (learning rate 1e-3,
    # gamma 0.999 would need longer rollouts than a CPU affords, so 0.99).
    CRAFTAX: dict(num_envs=16, num_steps=64, max_steps_in_episode=1000,
                  learning_rate=1e-3, reward_scale=1.0, epochs=3,
                  minibatch_size=128, iterations_per_task=50, protocol=FIXED),
}
"""Configuration fields that differ from :class:`LifelongConfig`'s defaults."""


def suite_config(env: str, **overrides: Any) -> LifelongConfig:
  """A configuration for ``env`` with that suite's defaults, then ``overrides``.

  Examples:
    >>> suite_config("MinAtar", num_seeds=4).learning_rate
    0.001
  """
  check_env(env)
  return LifelongConfig(**{"env": env, **SUITE_DEFAULTS.get(env, {}),
                           **overrides})


def check_suite_named(env: str, suite: TaskSuite) -> None:
  """Refuses a ``suite`` when ``env`` (a config's ``env``) names another one.

  The results take the environment from ``config.env``: their title,
  ``config.json`` and the plasticity score's floor
  (:func:`~trac_optax.lifelong._plasticity_score.return_floor`). ``env``
  names ``suite`` when it is the suite's name, ``gym:`` and that name (a
  Gymnasium suite), or the part of the name before a ``:`` or ``,`` (the
  MinAtar and Craftax suites say which games or worlds they hold after it).
  An ``env`` that names no suite of the harness is a label of the caller's
  and is accepted; one that names another suite (e.g. the default
  ``"CartPole-v1"`` beside a LunarLander suite) would mislabel the results.
  """
  name = suite.name
  if env in (name, GYM_PREFIX + name) or any(
      name.startswith(env + mark) for mark in (":", ",")):
    return
  if env in SUITES or gymnasium_id(env) is not None:
    raise ValueError(
        f"run_lifelong got the suite {name!r}, but config.env is {env!r}, "
        "another environment of the harness; the results take their title, "
        "config.json and plasticity floor from config.env: set it to the "
        f"suite's name, e.g. dataclasses.replace(config, env={name!r})")


def make_suite(config: LifelongConfig) -> TaskSuite:
  """The task suite named by ``config.env``, with its episode cap.

  Raises:
    ValueError: for an unknown name.
  """
  if config.env in CONTROL_ENVS:
    from trac_optax.lifelong._tasks import control_suite
    return control_suite(config.env,
                         max_steps_in_episode=config.max_steps_in_episode,
                         offset_std=config.offset_std)
  if (env_id := gymnasium_id(config.env)) is not None:
    from trac_optax.lifelong._gymnasium import gymnasium_suite
    return gymnasium_suite(env_id,
                           max_steps_in_episode=config.max_steps_in_episode,
                           offset_std=config.offset_std)
  if config.env == MINATAR:
    from trac_optax.lifelong._minatar import minatar_suite
    return minatar_suite(max_steps_in_episode=config.max_steps_in_episode)
  if config.env == CRAFTAX:
    from trac_optax.lifelong._craftax import craftax_suite
    return craftax_suite(max_steps_in_episode=config.max_steps_in_episode)
  check_env(config.env)
  raise AssertionError(f"no suite builder for {config.env!r}")
