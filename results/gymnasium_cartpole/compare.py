"""CartPole through the Gymnasium backend against gymnax's CartPole.

Reads the two results folders (same configuration and seeds) and prints,
per optimizer and task, each backend's mean return over seeds with its 95%
bootstrap interval, and the interval of the difference (the seeds of the two
backends resampled independently). Run from the repository root:

  python results/gymnasium_cartpole/compare.py GYMNAX_FOLDER GYMNASIUM_FOLDER
"""

import pathlib
import sys

import numpy as np

from trac_optax.lifelong import bootstrap_ci
from trac_optax.lifelong import read_results


def _difference(a: np.ndarray, b: np.ndarray, n: int = 10_000):
  rng = np.random.default_rng(0)
  draw = lambda x: x[rng.integers(0, x.size, (n, x.size))].mean(1)
  diffs = draw(b) - draw(a)
  return b.mean() - a.mean(), *np.quantile(diffs, [0.025, 0.975])


def main(gymnax_folder: str, gymnasium_folder: str) -> None:
  gymnax = {r.name: r for r in read_results(pathlib.Path(gymnax_folder))}
  gym = {r.name: r for r in read_results(pathlib.Path(gymnasium_folder))}
  print("| optimizer | task | gymnax | Gymnasium backend | difference |")
  print("|---|---|---:|---:|---:|")
  for name in gymnax:
    a, b = gymnax[name].task_returns(), gym[name].task_returns()
    columns = [(str(t + 1), a[:, t], b[:, t]) for t in range(a.shape[1])]
    columns.append(("all", np.nanmean(a, 1), np.nanmean(b, 1)))
    for label, x, y in columns:
      cells = [bootstrap_ci(v) for v in (x, y)]
      text = [f"{c.mean:.1f} [{c.low:.1f}, {c.high:.1f}]" for c in cells]
      d, low, high = _difference(x, y)
      print(f"| {name} | {label} | {text[0]} | {text[1]} | "
            f"{d:+.1f} [{low:+.1f}, {high:+.1f}] |")


if __name__ == "__main__":
  main(*sys.argv[1:])
