"""Long task sequences: one configuration, all seeds, results saved after every task.

Each call trains one configuration (an optimizer of the harness, optionally
with LayerNorm) on ``--tasks`` tasks and rewrites ``<out>/<env>__<label>.npz``
after every task, so a run stopped early (a time limit, a lost machine) still
leaves every task it finished. ``analyze.py`` beside this file reads them.

    python results/long_sequences/run_long.py --env CartPole-v1 \
        --optimizer trac --layer-norm --seeds 8 --tasks 30 --out runs/long
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax
import numpy as np

from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import run_lifelong


def label(optimizer: str, layer_norm: bool, logit_penalty: float) -> str:
  """A configuration's name in file names and tables, e.g. ``trac+ln``."""
  return (optimizer + ("+ln" if layer_norm else "")
          + (f"+logit{logit_penalty:g}" if logit_penalty else ""))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--env", default="CartPole-v1")
  parser.add_argument("--optimizer", default="trac")
  parser.add_argument("--layer-norm", action="store_true")
  parser.add_argument("--seeds", type=int, default=8)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--tasks", type=int, default=30)
  parser.add_argument("--iterations-per-task", type=int, default=200)
  parser.add_argument("--protocol", default="fixed")
  parser.add_argument("--logit-penalty", type=float, default=0.0)
  parser.add_argument("--out", type=pathlib.Path, required=True)
  args = parser.parse_args()

  config = LifelongConfig(env=args.env, num_seeds=args.seeds, seed=args.seed,
                          num_tasks=args.tasks, layer_norm=args.layer_norm,
                          iterations_per_task=args.iterations_per_task,
                          protocol=args.protocol,
                          logit_penalty=args.logit_penalty)
  name = label(args.optimizer, args.layer_norm, args.logit_penalty)
  args.out.mkdir(parents=True, exist_ok=True)
  path = args.out / f"{args.env}__{name}.npz"
  chunks: list[dict[str, np.ndarray]] = []
  start = time.perf_counter()

  def save(task: int, metrics: dict[str, np.ndarray]) -> None:
    chunks.append(metrics)
    joined = {k: np.concatenate([c[k] for c in chunks], axis=1)
              for k in chunks[0] if np.ndim(chunks[0][k]) >= 2}
    meta = dict(env=args.env, optimizer=args.optimizer,
                layer_norm=args.layer_norm, logit_penalty=args.logit_penalty,
                seeds=args.seeds, seed=args.seed,
                tasks_done=task + 1, tasks=args.tasks,
                iterations_per_task=args.iterations_per_task,
                protocol=args.protocol, device=jax.devices()[0].device_kind,
                seconds=time.perf_counter() - start)
    np.savez_compressed(path, meta=json.dumps(meta), **joined)
    print(f"{name} {args.env}: task {task + 1}/{args.tasks} saved "
          f"({meta['seconds']:.0f} s)", flush=True)

  run_lifelong(config, args.optimizer, name=name, progress=False,
               on_task_end=save)


if __name__ == "__main__":
  main()
