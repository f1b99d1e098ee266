"""Every task suite by name, with the configuration defaults that suit it.

Light to import (the suites' own modules load when a suite is built), so the
command line can check its arguments before anything heavy is imported.
"""

from __future__ import annotations

from typing import Any

from trac_optax.lifelong._config import LifelongConfig
from trac_optax.lifelong._tasks import CONTROL_ENVS
from trac_optax.lifelong._tasks import TaskSuite

MINATAR = "MinAtar"
"""The Atari-like suite: a new MinAtar game every task."""

CRAFTAX = "Craftax-Classic"
"""The Procgen-like suite: a new fixed Craftax-Classic world every task."""

SUITES = (*CONTROL_ENVS, MINATAR, CRAFTAX)
"""Names accepted by ``LifelongConfig.env`` and the command line's ``--env``."""

SUITE_DEFAULTS: dict[str, dict[str, Any]] = {
    # PureJaxRL's MinAtar settings, scaled down to fit a CPU: more parallel
    # environments than the control protocol, a smaller learning rate, no
    # reward scaling (MinAtar rewards are 0 or 1), MinAtar's episode cap.
    MINATAR: dict(num_envs=16, num_steps=128, max_steps_in_episode=1000,
                  learning_rate=1e-3, reward_scale=1.0, epochs=4,
                  minibatch_size=256, iterations_per_task=100),
    # The paper's Procgen settings where they fit (learning rate 1e-3,
    # gamma 0.999 would need longer rollouts than a CPU affords, so 0.99).
    CRAFTAX: dict(num_envs=16, num_steps=64, max_steps_in_episode=1000,
                  learning_rate=1e-3, reward_scale=1.0, epochs=3,
                  minibatch_size=128, iterations_per_task=50),
}
"""Configuration fields that differ from :class:`LifelongConfig`'s defaults."""


def suite_config(env: str, **overrides: Any) -> LifelongConfig:
  """A configuration for ``env`` with that suite's defaults, then ``overrides``.

  Examples:
    >>> suite_config("MinAtar", num_seeds=4).learning_rate
    0.001
  """
  if env not in SUITES:
    raise ValueError(f"unknown environment {env!r}; choose from "
                     f"{', '.join(SUITES)}")
  return LifelongConfig(**{"env": env, **SUITE_DEFAULTS.get(env, {}),
                           **overrides})


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
  if config.env == MINATAR:
    from trac_optax.lifelong._minatar import minatar_suite
    return minatar_suite(max_steps_in_episode=config.max_steps_in_episode)
  if config.env == CRAFTAX:
    from trac_optax.lifelong._craftax import craftax_suite
    return craftax_suite(max_steps_in_episode=config.max_steps_in_episode)
  raise ValueError(f"unknown environment {config.env!r}; choose from "
                   f"{', '.join(SUITES)}")
