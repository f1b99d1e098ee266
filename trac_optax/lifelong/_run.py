"""Running a whole task sequence for one optimizer, with a progress bar."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from trac_optax._validation import check_transform
from trac_optax.lifelong._config import LifelongConfig
from trac_optax.lifelong._diagnostics import DIAGNOSTICS
from trac_optax.lifelong._optimizers import make_optimizer
from trac_optax.lifelong._ppo import PPO
from trac_optax.lifelong._reset import is_reset
from trac_optax.lifelong._reset import reinitialise
from trac_optax.lifelong._sharding import seed_jit
from trac_optax.lifelong._sharding import shard_seeds
from trac_optax.lifelong._sharding import to_host
from trac_optax.lifelong._stats import nan_mean
from trac_optax.lifelong._suites import check_suite_named
from trac_optax.lifelong._suites import make_suite
from trac_optax.lifelong._tasks import TaskSuite


@dataclasses.dataclass
class LifelongRun:
  """Per-iteration results of one optimizer over all seeds.

  Attributes:
    name: the optimizer's name.
    config: the run's configuration.
    returns: ``[num_seeds, num_iterations]`` mean undiscounted return of the
      episodes completed in each iteration (NaN where none completed).
    episodes: ``[num_seeds, num_iterations]`` episodes completed.
    scale: ``[num_seeds, num_iterations]`` the optimizer's S after each
      iteration (NaN for optimizers without one).
    obs_mean: ``[num_seeds, num_iterations, *obs_shape]`` mean observation
      seen in each iteration.
    compile_seconds: time to compile the training function.
    train_seconds: time spent training, compile excluded.
    diagnostics: ``[num_seeds, num_iterations]`` float arrays by name, see
      :data:`~trac_optax.lifelong._diagnostics.DIAGNOSTICS` (TRAC's skipped
      steps, ``|delta|``, ``h = <g, delta>``, policy entropy); a name
      missing (e.g. read from an older results folder) means not recorded.
  """

  name: str
  config: LifelongConfig
  returns: np.ndarray
  episodes: np.ndarray
  scale: np.ndarray
  obs_mean: np.ndarray
  compile_seconds: float
  train_seconds: float
  diagnostics: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

  @property
  def env_steps(self) -> np.ndarray:
    """Environment steps per seed at the end of each iteration.

    Steps simulated: with ``protocol="paper"`` the steps after each
    environment's first episode are simulated and masked out; the
    transitions learned from are ``diagnostics["transitions"]``.
    """
    cfg = self.config
    return cfg.batch_size * np.arange(1, cfg.num_iterations + 1)

  @property
  def steps_per_second(self) -> float:
    """Environment steps per second, all seeds together, compile excluded."""
    total = self.config.num_seeds * self.config.batch_size
    return total * self.config.num_iterations / self.train_seconds

  def task_returns(self) -> np.ndarray:
    """``[num_seeds, num_tasks]`` mean return over each task's iterations."""
    cfg = self.config
    per_task = self.returns.reshape(cfg.num_seeds, cfg.num_tasks,
                                    cfg.iterations_per_task)
    return nan_mean(per_task, axis=-1)


def run_lifelong(
    config: LifelongConfig,
    optimizer: str | optax.GradientTransformation = "trac",
    *,
    name: str | None = None,
    suite: TaskSuite | None = None,
    progress: bool = True,
    reset: bool = False,
    shard: bool = True,
    on_task_end: Callable[[int, dict[str, np.ndarray]], None] | None = None,
) -> LifelongRun:
  """Trains PPO with ``optimizer`` on every task of the sequence, all seeds.

  One function is compiled per call; tasks run one after another from
  Python (so progress shows per task) without recompiling.

  Args:
    config: the run's configuration.
    optimizer: a name from :data:`trac_optax.lifelong.OPTIMIZERS` (built at
      ``config.learning_rate``) or any Optax transform. Its ``update`` is
      called with the params, over the policy and value networks together.
    name: label for the results; defaults to the optimizer's name, or
      ``"custom"``.
    suite: the task sequence; defaults to the suite named by ``config.env``
      (:func:`~trac_optax.lifelong.make_suite`). With another suite,
      ``config.env`` labels the results and picks the plasticity floor, so
      it must not name a different suite of the harness (a ``ValueError``
      says so): set it to the suite's name (``gym:<id>`` for a Gymnasium
      id) or to a label of your own.
    progress: show a progress bar over tasks with the current mean return.
    reset: re-initialise the networks and the optimizer at every task shift
      (the privileged ``reset`` baseline; implied when ``optimizer`` or
      ``name`` is ``"reset"`` or ``"reset-<optimizer>"``).
    shard: spread the seeds over the local devices
      (:func:`~trac_optax.lifelong.seed_sharding`); with one device, a no-op.
    on_task_end: called after each task with the task index and that task's
      per-iteration metrics (host arrays of shape ``[num_seeds,
      iterations_per_task, ...]``), e.g. to save partial results of a long
      run.

  Returns:
    A :class:`LifelongRun`.

  Examples:
    >>> import optax
    >>> from trac_optax.lifelong import LifelongConfig, run_lifelong
    >>> config = LifelongConfig(num_seeds=1, num_tasks=2,
    ...                         iterations_per_task=1, num_steps=16,
    ...                         max_steps_in_episode=16, hidden=8, epochs=1,
    ...                         minibatch_size=16)
    >>> run = run_lifelong(config, optax.sgd(1e-3), progress=False)
    >>> run.returns.shape
    (1, 2)
  """
  reset = reset or is_reset(optimizer) or is_reset(name)
  if isinstance(optimizer, str):
    name = name or optimizer
    optimizer = make_optimizer(optimizer, config.learning_rate)
  check_transform(optimizer, "run_lifelong expects optimizer to be a name "
                  "from trac_optax.lifelong.OPTIMIZERS or",
                  "run_lifelong(config, {})")
  name = name or "custom"
  if suite is None:
    suite = make_suite(config)
  else:
    check_suite_named(config.env, suite)
  ppo = PPO(config, suite, optimizer)
  keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
  if shard:
    keys = shard_seeds(keys, config.num_seeds)

  start = time.perf_counter()
  agents = seed_jit(ppo.init, config.num_seeds, shard)(keys)
  train_task = seed_jit(ppo.train_task, config.num_seeds, shard).lower(
      agents, jnp.int32(0)).compile()
  compile_seconds = time.perf_counter() - start

  chunks = []
  start = time.perf_counter()
  bar = tqdm(range(config.num_tasks), desc=f"{name:>8}", unit="task",
             disable=not progress, leave=True)
  fresh_start = seed_jit(lambda a, t: reinitialise(ppo, a, t),
                         config.num_seeds, shard)
  for task in bar:
    if reset and task > 0:
      agents = fresh_start(agents, jnp.int32(task))
    agents, metrics = train_task(agents, jnp.int32(task))
    metrics = to_host(metrics)
    chunks.append(metrics)
    if on_task_end is not None:
      on_task_end(task, metrics)
    bar.set_postfix_str(
        f"task {task + 1} mean return {nan_mean(metrics['return']):.1f}")
  bar.close()
  train_seconds = time.perf_counter() - start

  joined = {k: np.concatenate([c[k] for c in chunks], axis=1)
            for k in chunks[0]}
  return LifelongRun(name=name, config=config, returns=joined["return"],
                     episodes=joined["episodes"], scale=joined["scale"],
                     obs_mean=joined["obs_mean"],
                     compile_seconds=compile_seconds,
                     train_seconds=train_seconds,
                     diagnostics={k: joined[k] for k in DIAGNOSTICS})
