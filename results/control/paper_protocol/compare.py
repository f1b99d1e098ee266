"""Our ``--protocol paper`` CartPole run beside the authors' logged CartPole run.

Prints a Markdown table: mean return per task (ours: mean over seeds and each
seed's value; theirs: their one seed), 20-iteration means of task 1, and our
updates per iteration. The authors' log is the per-iteration CSV described
in the project's reference notes (columns optimizer, env, iteration,
mean_return), made from the ``logs/*_reward_log_CartPole-v1_2024.txt`` files
published with the paper's code; it is read, not copied.

  python results/control/paper_protocol/compare.py \
      results/control/paper_protocol/cartpole AUTHORS_CSV
"""

from __future__ import annotations

import csv
import pathlib
import sys

import numpy as np
from modes import authors_log  # this folder's script, on the path when run


def _ours(folder: pathlib.Path):
  runs: dict[str, dict[str, dict[int, list[float]]]] = {}
  with open(folder / "iterations.csv", newline="") as f:
    for row in csv.DictReader(f):
      seeds = runs.setdefault(row["optimizer"], {})
      per = seeds.setdefault(row["seed"], {"return": [], "updates": []})
      per["return"].append(float(row["return"]))
      per["updates"].append(float(row["updates"]))
  return {name: {key: np.array([s[key] for s in seeds.values()])
                 for key in ("return", "updates")}
          for name, seeds in runs.items()}


def main(folder: str, authors_csv: str, per_task: int = 200) -> None:
  ours = _ours(pathlib.Path(folder))
  theirs = authors_log(pathlib.Path(authors_csv), "CartPole-v1")
  tasks = next(iter(ours.values()))["return"].shape[1] // per_task
  print(f"CartPole-v1, {tasks} tasks x {per_task} iterations. Ours: "
        "`--protocol paper`, mean over seeds [each seed]; authors: their one "
        "logged seed (its task offsets come from its own random draws).\n")
  print("| optimizer | task | ours | authors | our updates / iteration |")
  print("|---|---|---:|---:|---:|")
  for name, run in ours.items():
    for t in range(tasks):
      cut = slice(t * per_task, (t + 1) * per_task)
      seeds = np.nanmean(run["return"][:, cut], axis=1)
      seed_text = ", ".join(f"{x:.0f}" for x in seeds)
      log = theirs.get(name)
      their = f"{log[cut].mean():.1f}" if log is not None else "n/a"
      updates = run["updates"][:, cut].mean()
      print(f"| {name} | {t + 1} | {seeds.mean():.1f} [{seed_text}] | "
            f"{their} | {updates:.0f} |")
  print("\nTask 1, 20-iteration means of the first 80 iterations, then the "
        "mean of iterations 81-200:\n")
  print("| optimizer | ours (mean over seeds) | authors |")
  print("|---|---|---|")
  for name, run in ours.items():
    mean = np.nanmean(run["return"], axis=0)
    fmt = lambda x: (", ".join(f"{v:.0f}" for v in x[:80].reshape(4, 20)
                              .mean(axis=1)) + f"; {x[80:200].mean():.1f}")
    log = theirs.get(name)
    print(f"| {name} | {fmt(mean)} | "
          f"{fmt(log) if log is not None else 'n/a'} |")


if __name__ == "__main__":
  main(*sys.argv[1:3])
