"""Replays the committed CartPole TRAC run (8 seeds) with per-iteration diagnostics.

Runs the harness of a given source tree (the code of the committed run plus
the diagnostics, see README.md) on ``--env CartPole-v1 --optimizers trac
--seeds 8 --tasks 10 --iterations-per-task 200``, the same compiled function
and calls as its ``run_lifelong``, but saves every task's metrics and the
agents after it (``progress/``), so an interrupted replay resumes where it
stopped, bit for bit. After each task it prints, per seed, the first
iteration whose return or S (at the CSV's 6 significant digits) differs from
the committed ``results/control/cartpole/iterations.csv``. When all tasks are
done it writes the results folder (``iterations.csv`` with the diagnostics
columns) with that tree's ``write_results``.

  python results/control/frozen_seed/replay.py --source DIR --out FOLDER
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib
import sys
import time

COMMITTED = pathlib.Path("results/control/cartpole/iterations.csv")


def _committed(num_seeds: int, num_iterations: int):
  import numpy as np

  returns = np.full((num_seeds, num_iterations), np.nan)
  scale = np.full((num_seeds, num_iterations), np.nan)
  with open(COMMITTED, newline="") as f:
    for row in csv.DictReader(f):
      seed, i = int(row["seed"]), int(row["iteration"]) - 1
      if row["optimizer"] == "trac" and seed < num_seeds and i < num_iterations:
        returns[seed, i] = float(row["return"])
        scale[seed, i] = float(row["scale"])
  return returns, scale


def _first_difference(ours, ref):
  """1-based first iteration where ``ours`` printed with %.6g differs."""
  import numpy as np

  rounded = np.array([float(f"{x:.6g}") for x in ours])
  same = (rounded == ref) | (np.isnan(rounded) & np.isnan(ref))
  bad = np.flatnonzero(~same)
  return int(bad[0]) + 1 if bad.size else None


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--source", type=pathlib.Path, required=True,
                      help="source tree whose trac_optax is imported")
  parser.add_argument("--out", type=pathlib.Path, required=True)
  # Only to check the resume on a small run; the replay uses the defaults.
  parser.add_argument("--seeds", type=int, default=8)
  parser.add_argument("--tasks", type=int, default=10)
  parser.add_argument("--iterations-per-task", type=int, default=200)
  parser.add_argument("--stop-after", type=int, default=None,
                      help="stop after this many tasks (resume later)")
  args = parser.parse_args()
  sys.path.insert(0, str(args.source.resolve()))

  import jax
  import jax.numpy as jnp
  import numpy as np

  import trac_optax
  from trac_optax.lifelong import LifelongConfig
  from trac_optax.lifelong._diagnostics import DIAGNOSTICS
  from trac_optax.lifelong._optimizers import make_optimizer
  from trac_optax.lifelong._ppo import PPO
  from trac_optax.lifelong._report import write_results
  from trac_optax.lifelong._run import LifelongRun
  from trac_optax.lifelong._tasks import control_suite

  print(f"trac_optax from {trac_optax.__file__}", flush=True)
  config = LifelongConfig(env="CartPole-v1", num_seeds=args.seeds,
                          num_tasks=args.tasks,
                          iterations_per_task=args.iterations_per_task,
                          protocol="fixed")
  suite = control_suite(config.env,
                        max_steps_in_episode=config.max_steps_in_episode,
                        offset_std=config.offset_std)
  ppo = PPO(config, suite, make_optimizer("trac", config.learning_rate))
  keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
  start = time.perf_counter()
  agents = jax.jit(ppo.init)(keys)
  train_task = jax.jit(ppo.train_task).lower(agents, jnp.int32(0)).compile()
  compile_seconds = time.perf_counter() - start

  progress = args.out / "progress"
  progress.mkdir(parents=True, exist_ok=True)
  leaves, treedef = jax.tree.flatten(agents)
  is_key = [jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
            for x in leaves]
  timing_file = progress / "timings.json"
  timings = (json.loads(timing_file.read_text()) if timing_file.exists()
             else {"compile_seconds": [], "task_seconds": []})
  timings["compile_seconds"].append(round(compile_seconds, 2))
  done = len(timings["task_seconds"])
  if done:
    saved = np.load(progress / "agents.npz")
    leaves = [jax.random.wrap_key_data(saved[f"leaf{i}"]) if key
              else jnp.asarray(saved[f"leaf{i}"])
              for i, key in enumerate(is_key)]
    agents = jax.tree.unflatten(treedef, leaves)
    print(f"resuming after task {done}", flush=True)

  ref_returns, ref_scale = _committed(config.num_seeds, config.num_iterations)
  stop = config.num_tasks if args.stop_after is None else args.stop_after
  for task in range(done, stop):
    start = time.perf_counter()
    agents, metrics = train_task(agents, jnp.int32(task))
    metrics = jax.device_get(metrics)
    seconds = time.perf_counter() - start
    np.savez(progress / f"metrics_task{task + 1:02d}.npz", **metrics)
    np.savez(progress / "agents.npz", **{
        f"leaf{i}": np.asarray(jax.random.key_data(x) if key else x)
        for i, (x, key) in enumerate(zip(jax.tree.leaves(agents), is_key))})
    timings["task_seconds"].append(round(seconds, 2))
    timing_file.write_text(json.dumps(timings, indent=2) + "\n")
    n = (task + 1) * config.iterations_per_task
    joined = [np.load(progress / f"metrics_task{t + 1:02d}.npz")
              for t in range(task + 1)]
    returns = np.concatenate([m["return"] for m in joined], axis=1)
    scale = np.concatenate([m["scale"] for m in joined], axis=1)
    firsts = [(_first_difference(returns[s], ref_returns[s, :n]),
               _first_difference(scale[s], ref_scale[s, :n]))
              for s in range(min(config.num_seeds, 8))]
    print(f"task {task + 1}: {seconds:.0f} s; first iteration differing from "
          f"the committed run (return, S) per seed: {firsts}", flush=True)

  if stop < config.num_tasks:
    return
  joined = [np.load(progress / f"metrics_task{t + 1:02d}.npz")
            for t in range(config.num_tasks)]
  cat = {k: np.concatenate([m[k] for m in joined], axis=1)
         for k in joined[0].files}
  run = LifelongRun(
      name="trac", config=config, returns=cat["return"],
      episodes=cat["episodes"], scale=cat["scale"], obs_mean=cat["obs_mean"],
      compile_seconds=timings["compile_seconds"][0],
      train_seconds=sum(timings["task_seconds"]),
      diagnostics={k: cat[k] for k in DIAGNOSTICS})
  write_results(args.out, [run], command=(
      "python results/control/frozen_seed/replay.py --source "
      f"{args.source} --out {args.out}"))
  print(f"results in {args.out}/", flush=True)


if __name__ == "__main__":
  main()
