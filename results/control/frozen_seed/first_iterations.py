"""Does a source tree reproduce the committed CartPole TRAC run's first iterations?

Runs CartPole TRAC with the committed run's settings (8 seeds, seed 0), one
task of N iterations, with whatever ``trac_optax`` is first on the path, and
prints per seed the first iteration whose return or S, printed with ``%.6g``
like the CSV, differs from ``results/control/cartpole/iterations.csv``.

  PYTHONPATH=SOURCE_TREE python results/control/frozen_seed/first_iterations.py 4
"""

import csv
import sys

import numpy as np

import trac_optax
from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import run_lifelong

n = int(sys.argv[1]) if len(sys.argv) > 1 else 4
config = LifelongConfig(env="CartPole-v1", num_seeds=8, num_tasks=1,
                        iterations_per_task=n, protocol="fixed")
run = run_lifelong(config, "trac", progress=False)
reference = {"return": np.full((8, n), np.nan), "scale": np.full((8, n), np.nan)}
with open("results/control/cartpole/iterations.csv", newline="") as f:
  for row in csv.DictReader(f):
    i = int(row["iteration"]) - 1
    if row["optimizer"] == "trac" and i < n:
      for key in reference:
        reference[key][int(row["seed"]), i] = float(row[key])
print(f"trac_optax from {trac_optax.__file__}")
for seed in range(8):
  firsts = []
  for key, ours in (("return", run.returns), ("scale", run.scale)):
    printed = np.array([float(f"{x:.6g}") for x in ours[seed]])
    bad = np.flatnonzero(printed != reference[key][seed])
    firsts.append(int(bad[0]) + 1 if bad.size else None)
  print(f"seed {seed}: first differing iteration (return, S) {tuple(firsts)}")
