"""The configuration of a lifelong-RL run (defaults: the paper's control protocol)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from trac_optax.lifelong._episodes import PAPER
from trac_optax.lifelong._episodes import PROTOCOLS

_COUNTS = ("num_seeds", "num_tasks", "iterations_per_task", "num_envs",
           "num_steps", "max_steps_in_episode", "hidden", "layers", "epochs",
           "minibatch_size")
"""Fields that are positive integers."""

# Real fields: (low, high, low excluded, what the error message asks for).
_REALS = {
    "learning_rate": (0.0, math.inf, True, "a finite number > 0"),
    "reward_scale": (0.0, math.inf, True, "a finite number > 0"),
    "clip_eps": (0.0, math.inf, True, "a finite number > 0"),
    "offset_std": (0.0, math.inf, False, "a finite number >= 0"),
    "vf_coef": (0.0, math.inf, False, "a finite number >= 0"),
    "ent_coef": (0.0, math.inf, False, "a finite number >= 0"),
    "logit_penalty": (0.0, math.inf, False,
                      "a finite number >= 0 (0 turns the penalty off)"),
    "gamma": (0.0, 1.0, False, "a number in [0, 1]"),
    "gae_lambda": (0.0, 1.0, False, "a number in [0, 1]"),
}


def _scalar(value: object, kinds: str) -> np.ndarray | None:
  """``value`` as a 0-d array if it is a real scalar of a dtype kind in
  ``kinds`` (Python, NumPy or JAX), else None; bools and strings are not
  numbers here."""
  if isinstance(value, (str, bytes)):
    return None
  try:
    array = np.asarray(value)
  except (TypeError, ValueError):  # e.g. a ragged list
    return None
  return array if array.ndim == 0 and array.dtype.kind in kinds else None


def _seed(value: object) -> int:
  # Without x64, jax.random.key keeps a seed's low 32 bits: 2**32 + 5 would
  # silently repeat seed 5, and -1 repeat 2**32 - 1.
  array = _scalar(value, "iu")
  if array is None or not 0 <= int(array) < 2**32:
    raise ValueError(f"seed must be an integer in [0, 2**32), got {value!r} "
                     "(jax.random.key keeps only a seed's low 32 bits, so "
                     "other values would repeat one of these)")
  return int(array)


def checked_count(name: str, value: object) -> int:
  """``value`` as an int if it is a positive integer, else a ValueError."""
  array = _scalar(value, "iu")
  if array is None or int(array) < 1:
    raise ValueError(f"{name} must be a positive integer, got {value!r}")
  return int(array)


def checked_real(name: str, value: object) -> float:
  """``value`` as a float if it is in the range ``_REALS`` gives field
  ``name``, else a ValueError that names the field and the range."""
  low, high, low_open, what = _REALS[name]
  array = _scalar(value, "iuf")
  number = math.nan if array is None else float(array)
  inside = (low < number if low_open else low <= number) and (
      number <= high and math.isfinite(number))
  if not inside:
    raise ValueError(f"{name} must be {what}, got {value!r}")
  return number


def _flag(name: str, value: object) -> bool:
  array = _scalar(value, "b")
  if array is None:
    raise ValueError(f"{name} must be True or False, got {value!r}")
  return bool(array)


@dataclasses.dataclass(frozen=True)
class LifelongConfig:
  """Everything a lifelong PPO run depends on, except the optimizer.

  Defaults follow the paper's Gym Control protocol: 10 tasks of 200
  iterations; each iteration collects 400 steps from each of 2 environments
  (episodes capped at 400 steps); separate policy and value MLPs of 3 x 128
  with LeakyReLU(0.1); learning rate 0.01; rewards divided by 20; GAE with
  gamma 0.99 and lambda 0.95; 5 epochs of minibatches of 32.

  Two ways to collect an iteration's data (``protocol``):

  * ``"paper"`` (default; the authors' control notebook): each iteration
    resets the environments and keeps only each one's first episode
    (``num_steps`` must reach ``max_steps_in_episode``, so every episode
    ends); value targets are the discounted rewards-to-go of the scaled
    rewards, bootstrapped only where an episode hits the step cap; GAE
    advantages per episode, normalised over the iteration; ``epochs`` passes
    of shuffled minibatches over exactly the valid transitions, the last
    partial minibatch included (a masked mean). Updates per iteration:
    ``epochs * ceil(valid / minibatch_size)``, e.g. about 5 for 10-step
    episodes, 125 for two of 400.
  * ``"fixed"`` (PureJaxRL-style; the default of the MinAtar and Craftax
    suites): each environment runs ``num_steps`` steps, continuing its
    episodes across iterations; GAE advantages (normalised per minibatch)
    and GAE value targets; every iteration makes ``epochs *
    num_minibatches`` updates.

  Every field is checked when the config is built (a ``ValueError`` names
  the field and what it must be), and NumPy or JAX scalars are stored as
  Python numbers, so the config always writes to ``config.json``.

  Attributes:
    env: environment name (see :data:`trac_optax.lifelong.CONTROL_ENVS`).
    num_seeds: independent runs, vmapped into one compiled function.
    num_tasks: tasks in the sequence; task 0 is the unshifted environment.
    iterations_per_task: PPO iterations (rollout + update) per task.
    num_envs: parallel environments per seed.
    num_steps: steps per environment per iteration.
    max_steps_in_episode: episode cap, set through the env params.
    offset_std: standard deviation of each task's observation offset.
    learning_rate: learning rate of the named optimizers.
    hidden: hidden width of both MLPs.
    layers: hidden layers of both MLPs.
    layer_norm: LayerNorm after each hidden layer.
    network: ``"mlp"`` (the observation flattened into the MLPs) or
      ``"cnn"`` (a small convolutional torso before them; image
      observations only, e.g. MinAtar).
    reward_scale: factor on rewards for learning (returns are reported
      unscaled).
    gamma: discount.
    gae_lambda: GAE lambda.
    epochs: passes over each iteration's batch.
    minibatch_size: samples per minibatch (the remainder of a shuffled
      batch that does not fill a minibatch is left out).
    clip_eps: PPO ratio clip.
    vf_coef: weight of the value loss.
    ent_coef: weight of the entropy bonus.
    logit_penalty: weight of a penalty on the policy's squared logits (the
      mean over samples of their sum over actions); 0 (default) leaves the
      loss as it was. Unlike the entropy bonus, whose gradient vanishes with
      the policy's entropy, its gradient grows with the logits, so it can
      pull a policy that a task shift has saturated back to stochastic.
    seed: the seeds' keys are split from ``jax.random.key(seed)``; in
      ``[0, 2**32)`` (without x64, ``jax.random.key`` keeps a seed's low
      32 bits, so larger seeds would repeat these).
    protocol: ``"fixed"`` or ``"paper"``, the collection (above).
  """

  env: str = "CartPole-v1"
  num_seeds: int = 2
  num_tasks: int = 10
  iterations_per_task: int = 200
  num_envs: int = 2
  num_steps: int = 400
  max_steps_in_episode: int = 400
  offset_std: float = 2.0
  learning_rate: float = 0.01
  hidden: int = 128
  layers: int = 3
  layer_norm: bool = False
  network: str = "mlp"
  reward_scale: float = 1.0 / 20.0
  gamma: float = 0.99
  gae_lambda: float = 0.95
  epochs: int = 5
  minibatch_size: int = 32
  clip_eps: float = 0.2
  vf_coef: float = 0.5
  ent_coef: float = 0.01
  seed: int = 0
  protocol: str = PAPER
  logit_penalty: float = 0.0

  def __post_init__(self):
    # NumPy and JAX scalars become Python ones: the config is written to
    # config.json at the end of a run, and json cannot write a float32.
    for name in _COUNTS:
      self._set(name, checked_count(name, getattr(self, name)))
    self._set("seed", _seed(self.seed))
    for name in _REALS:
      self._set(name, checked_real(name, getattr(self, name)))
    self._set("layer_norm", _flag("layer_norm", self.layer_norm))
    for name in ("env", "network", "protocol"):
      if not isinstance(getattr(self, name), str):
        raise ValueError(f"{name} must be a string, got "
                         f"{getattr(self, name)!r}")
    if self.minibatch_size > self.batch_size:
      raise ValueError(
          f"minibatch_size ({self.minibatch_size}) exceeds the batch of one "
          f"iteration, num_envs * num_steps = {self.batch_size}")
    if self.network not in ("mlp", "cnn"):
      raise ValueError(f"network must be 'mlp' or 'cnn', got {self.network!r}")
    if self.protocol not in PROTOCOLS:
      raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got "
                       f"{self.protocol!r}")
    if self.protocol == PAPER and self.num_steps < self.max_steps_in_episode:
      raise ValueError(
          f"protocol='paper' keeps each environment's first whole episode: "
          f"num_steps ({self.num_steps}) must be at least "
          f"max_steps_in_episode ({self.max_steps_in_episode}); lower the cap "
          "(max_steps_in_episode), lengthen the rollout, or collect "
          "fixed-length rollouts with protocol='fixed'")

  def _set(self, name: str, value: object) -> None:
    object.__setattr__(self, name, value)  # frozen: only in __post_init__

  @property
  def batch_size(self) -> int:
    """Transitions collected per seed per iteration."""
    return self.num_envs * self.num_steps

  @property
  def num_minibatches(self) -> int:
    """Minibatches per epoch."""
    return self.batch_size // self.minibatch_size

  @property
  def minibatch_slots(self) -> int:
    """Minibatches per epoch the paper protocol allows for: a full batch,
    the last one partial."""
    return -(-self.batch_size // self.minibatch_size)

  @property
  def num_iterations(self) -> int:
    """Iterations over the whole task sequence."""
    return self.num_tasks * self.iterations_per_task
