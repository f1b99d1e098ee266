"""Diagnostics behind results/control/*/summary.md, and merging result folders.

Usage:
  python results/control/analyze.py FOLDER [FOLDER ...]
  python results/control/analyze.py --merge OUT FOLDER [FOLDER ...]

The first form prints, for every optimizer and task, over seeds: the mean
return over the task's last 50 iterations (where it ended up, not the average
of the climb), how many seeds ended the task collapsed (last-50 mean at the
environment's floor: CartPole return <= 12, Acrobot <= -390), and the median
learned scale S at the task's end (TRAC, Mechanic).

The second writes the runs of several folders (same configuration, e.g. the
same protocol run for different optimizers) into one results folder: one
summary table and one set of plots.
"""

from __future__ import annotations

import pathlib
import shlex
import sys

import numpy as np

from trac_optax.lifelong import read_results
from trac_optax.lifelong import write_results

COLLAPSED = {"CartPole-v1": lambda r: r <= 12.0,
             "Acrobot-v1": lambda r: r <= -390.0}


def report(folder: pathlib.Path) -> None:
  runs = read_results(folder)
  cfg = runs[0].config
  collapsed = COLLAPSED[cfg.env]
  tail = min(50, cfg.iterations_per_task)
  shape = (cfg.num_seeds, cfg.num_tasks, cfg.iterations_per_task)
  print(f"## {cfg.env} ({folder})\n")
  print("last-50-iteration mean return per task (mean over seeds) / seeds "
        "collapsed / median S at task end\n")
  print("| task | " + " | ".join(r.name for r in runs) + " |")
  print("| --- |" + " ---: |" * len(runs))
  for t in range(cfg.num_tasks):
    cells = []
    for run in runs:
      last = np.nanmean(run.returns.reshape(shape)[:, t, -tail:], axis=1)
      cell = f"{np.mean(last):.1f} / {int(np.sum(collapsed(last)))}"
      s_end = run.scale.reshape(shape)[:, t, -1]
      if not np.all(np.isnan(s_end)):
        cell += f" / S {np.median(s_end):.2g}"
      cells.append(cell)
    print(f"| {t + 1} | " + " | ".join(cells) + " |")
  print()


def merge(out: pathlib.Path, folders: list[pathlib.Path]) -> None:
  runs = [run for folder in folders for run in read_results(folder)]
  command = shlex.join(["python", "results/control/analyze.py", "--merge",
                        *map(str, [out, *folders])])
  try:  # runs of other configurations, or two runs of one name
    table = write_results(out, runs, command=command)
  except ValueError as error:
    sys.exit(f"cannot merge: {error}")
  print(table)


if __name__ == "__main__":
  args = sys.argv[1:]
  if args and args[0] == "--merge":
    merge(pathlib.Path(args[1]), [pathlib.Path(a) for a in args[2:]])
  else:
    for arg in args:
      report(pathlib.Path(arg))
