"""Does Adam at lr 0.01 collapse before any shift? CartPole task 1 only.

Usage: python results/control/probe_task1.py > results/control/probe_task1.md

Runs the first (unshifted) task of the control protocol, 200 iterations, 4
seeds, with three Optax transforms passed through the Python API, and prints
per seed the mean return of the last 50 iterations (a collapsed CartPole
policy scores about 9).
"""

from __future__ import annotations

import numpy as np
import optax

from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import run_lifelong

VARIANTS = {
    "adam lr 0.01 (protocol)": optax.adam(1e-2),
    "adam lr 0.001": optax.adam(1e-3),
    "clip 0.5 + adam lr 0.01": optax.chain(optax.clip_by_global_norm(0.5),
                                          optax.adam(1e-2)),
}


def main() -> None:
  config = LifelongConfig(env="CartPole-v1", num_seeds=4, num_tasks=1,
                          iterations_per_task=200, protocol="fixed")
  print("| optimizer | last-50 return per seed | peak 10-iteration mean |")
  print("| --- | --- | ---: |")
  for name, tx in VARIANTS.items():
    run = run_lifelong(config, tx, name=name, progress=False)
    last = np.nanmean(run.returns[:, -50:], axis=1)
    windows = np.nanmean(run.returns.reshape(4, 20, 10), axis=2)
    print(f"| {name} | {', '.join(f'{x:.1f}' for x in last)} | "
          f"{np.mean(windows.max(axis=1)):.1f} |", flush=True)


if __name__ == "__main__":
  main()
