"""Does the recovery policy free the frozen seed? Its frozen state on today's code.

Loads the agents saved by ``replay.py`` after task 10 (the state in which TRAC
seed 4 is frozen: S = 4.77e8, every step skipped since iteration 1818), adds
the two counters today's ``TracState`` has (``consecutive_skips`` and
``recoveries``, both 0), and trains every seed on further tasks (task indices
10, 11, ...: new observation offsets) with today's code, whose ``trac`` resets
its tuners after ``recover_after`` = 100 non-finite steps in a row. Prints per
task and seed the mean return, S at the end, the steps skipped and the
recoveries, and writes ``iterations.csv`` and ``summary.md`` to ``--out``.

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
    python results/control/frozen_seed/resume_with_recovery.py \
      --agents results/control/frozen_seed/original_code/progress/agents.npz \
      --out results/control/frozen_seed/resumed_with_recovery
"""

from __future__ import annotations

import argparse
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

import trac_optax
from trac_optax.lifelong import PPO
from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import make_optimizer
from trac_optax.lifelong import make_suite

NEW_FIELDS = ("consecutive_skips", "recoveries")


def load_frozen(ppo, keys, path):
  """Today's agents with the saved leaves in place; the new counters 0."""
  template = jax.jit(ppo.init)(keys)
  paths_leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
  saved = np.load(path)
  old = iter(saved[f"leaf{i}"] for i in range(len(saved.files)))
  leaves = []
  for key_path, leaf in paths_leaves:
    name = jax.tree_util.keystr(key_path)
    if any(field in name for field in NEW_FIELDS):
      leaves.append(jnp.zeros_like(leaf))
      continue
    value = next(old)
    if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
      value = jax.random.wrap_key_data(value)
    assert value.shape == leaf.shape, (name, value.shape, leaf.shape)
    leaves.append(jnp.asarray(value))
  assert next(old, None) is None, "saved state has more leaves than expected"
  return jax.tree.unflatten(treedef, leaves)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--agents", type=pathlib.Path, required=True)
  parser.add_argument("--out", type=pathlib.Path, required=True)
  parser.add_argument("--first-task", type=int, default=10)
  parser.add_argument("--tasks", type=int, default=2)
  parser.add_argument("--seed-index", type=int, default=4)
  args = parser.parse_args()

  config = LifelongConfig(env="CartPole-v1", num_seeds=8, num_tasks=10,
                          iterations_per_task=200, protocol="fixed")
  ppo = PPO(config, make_suite(config), make_optimizer("trac", 0.01))
  keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
  agents = load_frozen(ppo, keys, args.agents)
  before = trac_optax.trac_state(agents.opt_state)
  print("loaded: S per seed", np.asarray(trac_optax.scale(agents.opt_state)),
        "skipped", np.asarray(before.skipped), flush=True)
  train_task = jax.jit(ppo.train_task)

  args.out.mkdir(parents=True, exist_ok=True)
  rows = ["task,iteration,seed,return,scale,skipped,recoveries_after_task"]
  table = ["| task | seed | mean return | last 50 iterations | S at end "
           "| steps skipped in task | recoveries so far |",
           "|---:|---:|---:|---:|---:|---:|---:|"]
  start = time.perf_counter()
  for task in range(args.first_task, args.first_task + args.tasks):
    skipped_before = np.asarray(trac_optax.trac_state(agents.opt_state).skipped)
    agents, metrics = train_task(agents, jnp.int32(task))
    metrics = jax.device_get(metrics)
    state = trac_optax.trac_state(agents.opt_state)
    recoveries = np.asarray(state.recoveries)
    skipped = np.asarray(state.skipped) - skipped_before
    scale = np.asarray(trac_optax.scale(agents.opt_state))
    for seed in range(config.num_seeds):
      ret = metrics["return"][seed]
      for it in range(config.iterations_per_task):
        rows.append(f"{task + 1},{it},{seed},{ret[it]:.4g},"
                    f"{metrics['scale'][seed, it]:.6g},"
                    f"{metrics['skipped'][seed, it]:.0f},{recoveries[seed]}")
      table.append(f"| {task + 1} | {seed} | {np.nanmean(ret):.1f} "
                   f"| {np.nanmean(ret[-50:]):.1f} | {scale[seed]:.4g} "
                   f"| {skipped[seed]} | {recoveries[seed]} |")
    print(f"task {task + 1} done ({time.perf_counter() - start:.0f} s); seed "
          f"{args.seed_index}: mean return "
          f"{np.nanmean(metrics['return'][args.seed_index]):.1f}, S "
          f"{scale[args.seed_index]:.4g}, skipped {skipped[args.seed_index]}, "
          f"recoveries {recoveries[args.seed_index]}", flush=True)
  (args.out / "iterations.csv").write_text("\n".join(rows) + "\n")
  (args.out / "summary.md").write_text(
      f"Resumed from `{args.agents}` on today's code; "
      f"{time.perf_counter() - start:.0f} s of training.\n\n"
      + "\n".join(table) + "\n")


if __name__ == "__main__":
  main()
