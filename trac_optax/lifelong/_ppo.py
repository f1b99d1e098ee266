"""PPO, PureJaxRL-style: one jitted function trains every seed on one task.

Two collection protocols (``LifelongConfig.protocol``): fixed-length
rollouts, or the paper's whole episodes with everything after each
environment's first episode masked, in the same fixed shapes.

Rollouts are a ``lax.scan`` over steps of vmapped environments; updates a
``lax.scan`` over epochs and minibatches; seeds a ``jax.vmap``. The task
index is an array argument, so the same compiled function serves every task.
"""

from __future__ import annotations

import functools
from typing import Any
from typing import NamedTuple
from typing import cast

import jax
import jax.numpy as jnp
import optax

from trac_optax._validation import check_transform
from trac_optax.lifelong._baselines import independent_noise
from trac_optax.lifelong._config import LifelongConfig
from trac_optax.lifelong._diagnostics import delta_norm
from trac_optax.lifelong._diagnostics import skipped_steps
from trac_optax.lifelong._diagnostics import summarise_steps
from trac_optax.lifelong._diagnostics import trac_inner_product
from trac_optax.lifelong._episodes import PAPER
from trac_optax.lifelong._episodes import first_episode
from trac_optax.lifelong._episodes import normalise
from trac_optax.lifelong._episodes import rewards_to_go
from trac_optax.lifelong._episodes import valid_first_order
from trac_optax.lifelong._optimizers import optimizer_scale
from trac_optax.lifelong._tasks import TaskSuite
from trac_optax.lifelong._torsos import make_networks


class AgentState(NamedTuple):
  """What one seed carries from task to task."""

  params: Any
  """``{"actor": ..., "critic": ...}``, updated by one optimizer."""
  opt_state: optax.OptState
  key: jax.Array
  """Key for rollouts and minibatch shuffles."""
  task_key: jax.Array
  """Key from which the suite draws this seed's tasks."""


class Transition(NamedTuple):
  """One environment step, stacked over steps and environments."""

  obs: jax.Array
  action: jax.Array
  log_prob: jax.Array
  value: jax.Array
  reward: jax.Array
  terminated: jax.Array
  done: jax.Array
  final_obs: jax.Array
  episode_return: jax.Array
  episode_done: jax.Array


def gae(rewards: jax.Array, values: jax.Array, next_values: jax.Array,
        terminated: jax.Array, done: jax.Array, gamma: float,
        gae_lambda: float) -> tuple[jax.Array, jax.Array]:
  r"""Generalised advantage estimates over a rollout (time on axis 0).

  .. math::

     \delta_t = r_t + \gamma (1 - \mathrm{term}_t) V'_t - V_t, \qquad
     A_t = \delta_t + \gamma \lambda (1 - \mathrm{done}_t) A_{t+1}

  with :math:`A_T = 0`. :math:`V'_t` is the value of the observation that
  step ``t`` led to (before any automatic reset), so a truncated episode
  bootstraps from its last state while a terminated one does not, and the
  last step of the rollout bootstraps from its successor.

  Args:
    rewards, values, next_values: float arrays of shape ``[T, ...]``.
    terminated: whether step ``t`` ended its episode in a terminal state.
    done: whether step ``t`` ended its episode (terminated or truncated).
    gamma: discount.
    gae_lambda: GAE lambda.

  Returns:
    ``(advantages, value_targets)``, where targets are advantages + values.

  Raises:
    ValueError: if the five arrays do not all have one shape (broadcasting
      them would silently mix steps or environments).
  """
  shapes = {"rewards": jnp.shape(rewards), "values": jnp.shape(values),
            "next_values": jnp.shape(next_values),
            "terminated": jnp.shape(terminated), "done": jnp.shape(done)}
  if len(set(shapes.values())) != 1 or not shapes["values"]:
    raise ValueError(f"gae needs arrays of one shape [T, ...]; got {shapes}")
  not_terminal = 1.0 - terminated.astype(values.dtype)
  not_done = 1.0 - done.astype(values.dtype)
  deltas = rewards + gamma * not_terminal * next_values - values

  def backward(next_advantage, step):
    delta, keep = step
    advantage = delta + gamma * gae_lambda * keep * next_advantage
    return advantage, advantage

  _, advantages = jax.lax.scan(backward, jnp.zeros_like(deltas[0]),
                               (deltas, not_done), reverse=True)
  return advantages, advantages + values


class PPO:
  """A PPO learner for a task suite and an optimizer.

  Args:
    config: the run's configuration.
    suite: the task sequence.
    optimizer: any Optax transform; ``update`` is always given the params.
  """

  def __init__(self, config: LifelongConfig, suite: TaskSuite,
               optimizer: optax.GradientTransformation):
    check_transform(optimizer, "PPO expects optimizer to be",
                    "PPO(config, suite, {})")
    self.config = config
    self.suite = suite
    self.optimizer = optimizer
    self.actor, self.critic = make_networks(config, suite.obs_shape,
                                            suite.num_actions)

  # Pieces for one seed (vmapped over seeds by the callers below).

  def _init_one(self, key: jax.Array) -> AgentState:
    key, task_key, actor_key, critic_key = jax.random.split(key, 4)
    dummy = jnp.zeros(self.suite.obs_shape, jnp.float32)
    params = {"actor": self.actor.init(actor_key, dummy),
              "critic": self.critic.init(critic_key, dummy)}
    opt_state = independent_noise(self.optimizer.init(params), key)
    return AgentState(params=params, opt_state=opt_state, key=key,
                      task_key=task_key)

  def _value(self, params: Any, obs: jax.Array) -> jax.Array:
    # flax types apply() as maybe returning (output, variables) too.
    return cast(jax.Array, self.critic.apply(params["critic"], obs))[..., 0]

  def _rollout(self, params, env_params, env_state, obs, key):
    env = self.suite.env
    cfg = self.config

    def step(carry, _):
      env_state, obs, key = carry
      key, action_key, env_key = jax.random.split(key, 3)
      logits = cast(jax.Array, self.actor.apply(params["actor"], obs))
      action = jax.random.categorical(action_key, logits)
      log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits),
                                     action[:, None], axis=-1)[:, 0]
      value = self._value(params, obs)
      env_keys = jax.random.split(env_key, cfg.num_envs)
      next_obs, env_state, reward, terminated, truncated, info = jax.vmap(
          env.step, in_axes=(0, 0, 0, None))(env_keys, env_state, action,
                                             env_params)
      transition = Transition(
          obs=obs, action=action, log_prob=log_prob, value=value,
          reward=reward * cfg.reward_scale, terminated=terminated,
          done=jnp.logical_or(terminated, truncated),
          final_obs=info["final_observation"],
          episode_return=info["returned_episode_returns"],
          episode_done=info["returned_episode"])
      return (env_state, next_obs, key), transition

    (env_state, obs, _), trajectory = jax.lax.scan(
        step, (env_state, obs, key), None, cfg.num_steps)
    return env_state, obs, trajectory

  def _loss(self, params, batch, valid=None):
    """The PPO loss of a minibatch, and the policy's mean entropy on it.

    Without ``valid`` (fixed protocol) every row counts and the advantages
    are normalised over the minibatch. With ``valid`` (paper protocol) the
    advantages come normalised over the iteration and every mean is over the
    valid rows only.
    """
    cfg = self.config
    obs, action, old_log_prob, advantage, target = batch
    logits = cast(jax.Array, self.actor.apply(params["actor"], obs))
    log_probs = jax.nn.log_softmax(logits)
    log_prob = jnp.take_along_axis(log_probs, action[:, None], axis=-1)[:, 0]
    if valid is None:
      advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
      mean = jnp.mean
    else:
      mean = lambda x: (jnp.sum(jnp.where(valid, x, 0.0))
                        / jnp.maximum(valid.sum(), 1))
    ratio = jnp.exp(log_prob - old_log_prob)
    clipped = jnp.clip(ratio, 1.0 - cfg.clip_eps, 1.0 + cfg.clip_eps)
    policy_loss = -mean(jnp.minimum(ratio * advantage, clipped * advantage))
    value_loss = 0.5 * mean(jnp.square(self._value(params, obs) - target))
    entropy = mean(-jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1))
    loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
    if cfg.logit_penalty:  # a Python branch: off, the step is unchanged
      loss += cfg.logit_penalty * mean(jnp.sum(jnp.square(logits), axis=-1))
    return loss, entropy

  def _step(self, params, opt_state, minibatch, valid=None):
    """One optimizer step on a minibatch; also ``h`` and the entropy."""
    grads, entropy = jax.grad(self._loss, has_aux=True)(params, minibatch,
                                                        valid)
    h = trac_inner_product(grads, opt_state)
    updates, opt_state = self.optimizer.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), (h, entropy)

  def _valid_slots(self, carry, minibatches, rows):
    """The paper protocol's minibatch steps over the slots with valid rows.

    Valid rows come first, so the slots that run are the first
    ``ceil(valid / size)``; a loop of exactly that many steps runs them, and
    the optimizer is never called for the others, whose ``h`` and entropy
    are NaN. Under ``vmap`` over seeds the loop runs as many steps as the
    seed with the most valid slots, and each seed's params and state stop
    changing after its own last slot (JAX selects them), so seeds whose
    agents fail (short episodes, few slots) cost few steps, not all of them.

    Args:
      carry: ``(params, opt_state)``.
      minibatches: the epoch's slots, each leaf ``[slots, size, ...]``.
      rows: ``[slots, size]`` bool, the valid rows of each slot.

    Returns:
      ``(carry, (h, entropy))`` with ``h`` and entropy ``[slots]``.
    """
    slots = rows.shape[0]
    count = rows[:, 0].sum()
    nan = jnp.full((slots,), jnp.nan, jnp.float32)

    def body(loop):
      i, (params, opt_state), h, entropy = loop
      minibatch = jax.tree.map(lambda x: x[i], minibatches)
      carry, (h_i, entropy_i) = self._step(params, opt_state, minibatch,
                                           rows[i])
      return i + 1, carry, h.at[i].set(h_i), entropy.at[i].set(entropy_i)

    _, carry, h, entropy = jax.lax.while_loop(
        lambda loop: loop[0] < count, body, (jnp.int32(0), carry, nan, nan))
    return carry, (h, entropy)

  def _update(self, params, opt_state, batch, key, valid=None):
    """Epochs of minibatch steps, with per-step ``h`` and entropy summaries.

    Without ``valid`` (fixed protocol): ``num_minibatches`` full minibatches
    per epoch from a shuffle of the whole batch. With ``valid`` (``[batch]``
    bool, paper protocol): a shuffle of the valid rows only, cut into
    ``minibatch_slots`` slots of which the first ``ceil(valid / size)`` run.
    """
    cfg = self.config
    size = cfg.minibatch_size
    step = lambda carry, minibatch: self._step(carry[0], carry[1], minibatch)

    def fixed_epoch(carry, epoch_key):
      order = jax.random.permutation(epoch_key, cfg.batch_size)[
          :cfg.num_minibatches * size]
      minibatches = jax.tree.map(
          lambda x: x[order].reshape((cfg.num_minibatches, size)
                                     + x.shape[1:]), batch)
      return jax.lax.scan(step, carry, minibatches)

    def paper_epoch(carry, epoch_key, valid):
      slots = cfg.minibatch_slots
      order = valid_first_order(epoch_key, valid)
      order = jnp.pad(order, (0, slots * size - order.size))  # row 0, invalid
      rows = (jnp.arange(slots * size) < valid.sum()).reshape(slots, size)
      minibatches = jax.tree.map(
          lambda x: x[order].reshape((slots, size) + x.shape[1:]), batch)
      return self._valid_slots(carry, minibatches, rows)

    if valid is None:
      epoch = fixed_epoch
      ran = jnp.ones((cfg.epochs, cfg.num_minibatches), bool)
    else:
      epoch = functools.partial(paper_epoch, valid=valid)
      ran = jnp.broadcast_to(
          jnp.arange(cfg.minibatch_slots) * size < valid.sum(),
          (cfg.epochs, cfg.minibatch_slots))
    (params, opt_state), (h, entropy) = jax.lax.scan(
        epoch, (params, opt_state), jax.random.split(key, cfg.epochs))
    steps = summarise_steps(h.reshape(-1), entropy.reshape(-1),
                            ran.reshape(-1))
    steps["updates"] = ran.sum().astype(jnp.float32)
    return params, opt_state, steps

  def _reset(self, env_params, key):
    return jax.vmap(self.suite.env.reset, in_axes=(0, None))(
        jax.random.split(key, self.config.num_envs), env_params)

  def _iteration(self, carry, _):
    agent, env_params, env_state, obs = carry
    cfg = self.config
    paper = cfg.protocol == PAPER
    if paper:  # whole episodes from a fresh reset
      key, reset_key, rollout_key, update_key = jax.random.split(agent.key, 4)
      obs, env_state = self._reset(env_params, reset_key)
    else:
      key, rollout_key, update_key = jax.random.split(agent.key, 3)
    env_state, obs, traj = self._rollout(agent.params, env_params, env_state,
                                         obs, rollout_key)
    next_values = self._value(agent.params, traj.final_obs)
    advantages, targets = gae(traj.reward, traj.value, next_values,
                              traj.terminated, traj.done, cfg.gamma,
                              cfg.gae_lambda)
    flat = lambda x: x.reshape((cfg.batch_size,) + x.shape[2:])
    episode_done = traj.episode_done
    valid = None
    if paper:  # each environment's first episode only
      valid = first_episode(traj.done)
      targets = rewards_to_go(traj.reward, next_values, traj.terminated,
                              traj.done, cfg.gamma)
      advantages = normalise(advantages, valid)
      episode_done = jnp.logical_and(episode_done, valid)
      valid = flat(valid)
    batch = tuple(map(flat, (traj.obs, traj.action, traj.log_prob, advantages,
                             targets)))
    params, opt_state, steps = self._update(agent.params, agent.opt_state,
                                            batch, update_key, valid)
    agent = agent._replace(params=params, opt_state=opt_state, key=key)
    episodes = episode_done.sum()
    mean_return = jnp.where(
        episodes > 0,
        jnp.sum(traj.episode_return * episode_done) / jnp.maximum(
            episodes, 1), jnp.nan)
    metrics = {
        "return": mean_return.astype(jnp.float32),
        "episodes": episodes.astype(jnp.int32),
        "scale": optimizer_scale(opt_state),
        "obs_mean": traj.obs.mean(axis=(0, 1)),
        "skipped": skipped_steps(opt_state),
        "delta_norm": delta_norm(opt_state),
        "transitions": (jnp.float32(cfg.batch_size) if valid is None
                        else valid.sum().astype(jnp.float32)),
        **steps,
    }
    return (agent, env_params, env_state, obs), metrics

  def _train_task_one(self, agent: AgentState, task: jax.Array):
    cfg = self.config
    env_params = self.suite.task_params(agent.task_key, task)
    key, reset_key = jax.random.split(agent.key)
    obs, env_state = self._reset(env_params, reset_key)
    carry = (agent._replace(key=key), env_params, env_state, obs)
    (agent, *_), metrics = jax.lax.scan(self._iteration, carry, None,
                                        cfg.iterations_per_task)
    return agent, metrics

  # Vmapped over seeds.

  def init(self, keys: jax.Array) -> AgentState:
    """Initial agent states for a batch of seed keys ``[num_seeds]``."""
    return jax.vmap(self._init_one)(keys)

  def train_task(self, agents: AgentState, task: jax.Array):
    """Trains every seed for ``iterations_per_task`` iterations on ``task``.

    Args:
      agents: states batched over seeds.
      task: int32 scalar, the task index (same for all seeds).

    Returns:
      ``(agents, metrics)``; metrics map names to arrays of shape
      ``[num_seeds, iterations_per_task, ...]``: ``return`` (mean
      undiscounted, unscaled return of the episodes completed in the
      iteration, NaN if none), ``episodes``, ``scale`` (S after the
      iteration; NaN for optimizers without one), ``obs_mean`` and the
      diagnostics :data:`~trac_optax.lifelong._diagnostics.DIAGNOSTICS`.
    """
    return jax.vmap(self._train_task_one, in_axes=(0, None))(agents, task)
