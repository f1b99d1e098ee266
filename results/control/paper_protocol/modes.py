"""Both collection modes beside the authors' logged run: per-task table and plot.

For one control environment, reads a ``--protocol paper`` results folder and
one or more ``--protocol fixed`` folders (the first folder that has an
optimizer is used for it), and the authors' per-iteration log (one seed). It
prints a Markdown table of each optimizer's per-task mean return with a 95%
bootstrap interval over seeds in both modes beside the authors' per-task
mean, then, per mode, how far the per-task means are from the authors' (root
mean square over tasks; how many of the authors' task means fall inside our
interval). It writes a plot of the 20-iteration means over the whole run.

  python results/control/paper_protocol/modes.py --env CartPole-v1 \
      --paper results/control/paper_protocol/cartpole-8x10 \
      --fixed results/control/cartpole-recovery results/control/cartpole \
      --authors ../shared/reference/authors_control_logs.csv \
      --plot results/control/paper_protocol/cartpole-modes.png
"""

from __future__ import annotations

import argparse
import csv
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from trac_optax.lifelong import LifelongRun
from trac_optax.lifelong import bootstrap_ci
from trac_optax.lifelong import read_results

MODES = ("fixed", "paper")
SMOOTH = 20


def authors_log(path: pathlib.Path, env: str) -> dict[str, np.ndarray]:
  """The authors' per-iteration mean return per optimizer, in order."""
  rows: dict[str, list[tuple[int, float]]] = {}
  with open(path, newline="") as f:
    for row in csv.DictReader(f):
      if row["env"] == env:
        rows.setdefault(row["optimizer"], []).append(
            (int(row["iteration"]), float(row["mean_return"])))
  return {name: np.array([r for _, r in sorted(log)])
          for name, log in rows.items()}


def first_runs(folders: list[pathlib.Path]) -> dict[str, LifelongRun]:
  """Each optimizer's run from the first folder that has it."""
  runs: dict[str, LifelongRun] = {}
  for folder in folders:
    for run in read_results(folder):
      runs.setdefault(run.name, run)
  return runs


def per_task(log: np.ndarray, tasks: int, per: int) -> np.ndarray:
  """Per-task means of a per-iteration series (NaN where it ends early)."""
  means = np.full(tasks, np.nan)
  for t in range(min(tasks, len(log) // per)):
    means[t] = np.nanmean(log[t * per:(t + 1) * per])
  return means


def smooth(series: np.ndarray) -> np.ndarray:
  usable = len(series) // SMOOTH * SMOOTH
  return np.nanmean(series[:usable].reshape(-1, SMOOTH), axis=1)


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--env", required=True)
  parser.add_argument("--paper", type=pathlib.Path, required=True)
  parser.add_argument("--fixed", type=pathlib.Path, nargs="*", default=[],
                      help="fixed-protocol folders (none: the paper mode alone)")
  parser.add_argument("--authors", type=pathlib.Path, required=True)
  parser.add_argument("--plot", type=pathlib.Path, required=True)
  args = parser.parse_args(argv)

  modes = MODES if args.fixed else ("paper",)
  folders = {"paper": [args.paper], "fixed": args.fixed}
  runs = {mode: first_runs(folders[mode]) for mode in modes}
  names = [n for n in runs["paper"] if all(n in runs[m] for m in modes)]
  theirs = authors_log(args.authors, args.env)
  config = runs["paper"][names[0]].config
  tasks, per = config.num_tasks, config.iterations_per_task
  seeds = ", ".join(f"{runs[m][names[0]].config.num_seeds} ({m})" for m in modes)
  print(f"{args.env}, {tasks} tasks x {per} iterations, seeds: {seeds}; mean "
        "return per task [95% bootstrap interval over seeds]; authors: their "
        "one logged seed.\n")
  print(f"| optimizer | task | {' | '.join(modes)} | authors |")
  print(f"|---|---:|{'---|' * len(modes)}---:|")
  distance: dict[tuple[str, str], tuple[float, int, int]] = {}
  for name in names:
    log = per_task(theirs[name], tasks, per) if name in theirs else None
    cells = {}
    for mode in modes:
      returns = runs[mode][name].task_returns()  # [seeds, tasks]
      cells[mode] = [bootstrap_ci(returns[:, t]) for t in range(tasks)]
      if log is not None:
        means = np.array([c.mean for c in cells[mode]])
        inside = sum(c.low <= a <= c.high for c, a in zip(cells[mode], log)
                     if np.isfinite(a))
        distance[name, mode] = (
            float(np.sqrt(np.nanmean((means - log) ** 2))), inside,
            int(np.isfinite(log).sum()))
    for t in range(tasks):
      fmt = lambda c: f"{c.mean:.1f} [{c.low:.1f}, {c.high:.1f}]"
      their = f"{log[t]:.1f}" if log is not None else "n/a"
      ours = " | ".join(fmt(cells[m][t]) for m in modes)
      print(f"| {name} | {t + 1} | {ours} | {their} |")
  print("\nDistance of our per-task means from the authors' (root mean "
        "square over tasks; authors' task means inside our interval):\n")
  print(f"| optimizer | {' | '.join(modes)} |")
  print(f"|---|{'---|' * len(modes)}")
  for name in names:
    if (name, "paper") in distance:
      row = [f"{d:.1f} ({k} of {n})"
             for d, k, n in (distance[name, m] for m in modes)]
      print(f"| {name} | {' | '.join(row)} |")

  fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 3.6),
                           squeeze=False)
  for ax, name in zip(axes[0], names):
    for mode, color in zip(modes, ("tab:blue", "tab:orange")):
      curve = smooth(np.nanmean(runs[mode][name].returns, axis=0))
      ax.plot(np.arange(len(curve)) * SMOOTH + SMOOTH, curve, color=color,
              label=f"{mode} (mean of {runs[mode][name].returns.shape[0]})")
    if name in theirs:
      curve = smooth(theirs[name][:tasks * per])
      ax.plot(np.arange(len(curve)) * SMOOTH + SMOOTH, curve, color="black",
              linestyle="--", label="authors (1 seed)")
    for t in range(1, tasks):
      ax.axvline(t * per, color="grey", linewidth=0.5)
    ax.set_title(f"{args.env}: {name}")
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"mean return ({SMOOTH}-iteration means)")
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(args.plot, dpi=110)


if __name__ == "__main__":
  main()
