"""The configuration of a lifelong-RL run (defaults: the paper's control protocol)."""

from __future__ import annotations

import dataclasses
import math
import numbers

from trac_optax.lifelong._episodes import PAPER
from trac_optax.lifelong._episodes import PROTOCOLS


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
    seed: the seeds' keys are split from ``jax.random.key(seed)``.
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
    for name in ("num_seeds", "num_tasks", "iterations_per_task", "num_envs",
                 "num_steps", "max_steps_in_episode", "hidden", "layers",
                 "epochs", "minibatch_size"):
      value = getattr(self, name)
      if not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
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
    if not (isinstance(self.logit_penalty, numbers.Real)
            and 0 <= self.logit_penalty < math.inf):
      raise ValueError("logit_penalty must be a finite number >= 0 (0 turns "
                       f"the penalty off), got {self.logit_penalty!r}")
    for name in ("learning_rate", "reward_scale"):
      if not getattr(self, name) > 0:
        raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")

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
