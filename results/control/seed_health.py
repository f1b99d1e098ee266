"""Per-seed health of a results folder: skipped steps, frozen seeds, S, last task.

Reads ``iterations.csv`` of each folder given (written by ``trac-optax-lifelong``)
and prints, per optimizer and seed: the total steps skipped for non-finite
gradients, the iterations in which any step was skipped, whether the seed is
frozen (every step of its last 10 iterations skipped), the largest and the
final S, and the mean return of the last task. A Markdown table per folder.

    python results/control/seed_health.py results/control/cartpole-recovery
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

from trac_optax.lifelong import read_results


def main(folders: list[str]) -> None:
  for folder in map(pathlib.Path, folders):
    runs = read_results(folder)
    print(f"## {folder}\n")
    print("| optimizer | seed | steps skipped | iterations with a skip | frozen "
          "| largest S | final S | last task mean return |")
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    for run in runs:
      skipped = run.diagnostics.get("skipped")
      if skipped is None:
        continue
      updates = run.diagnostics["updates"]
      per_task = run.task_returns()
      for seed in range(run.config.num_seeds):
        steps = np.diff(np.concatenate([[0.0], skipped[seed]]))
        frozen = bool(np.all(steps[-10:] >= updates[seed, -10:]))
        print(f"| {run.name} | {seed} | {int(skipped[seed, -1])} "
              f"| {int(np.sum(steps > 0))} | {'yes' if frozen else 'no'} "
              f"| {np.nanmax(run.scale[seed]):.3g} | {run.scale[seed, -1]:.3g} "
              f"| {per_task[seed, -1]:.1f} |")
    print()


if __name__ == "__main__":
  main(sys.argv[1:])
