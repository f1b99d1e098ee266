"""Environment steps per second for 1 seed and for 8 vmapped seeds.

Usage: python results/control/speed.py > results/control/speed.md

The control protocol's per-iteration work (2 envs x 400 steps, 5 epochs x 25
minibatches of 32) for 2 tasks x 20 iterations, per optimizer, 1 seed then 8
seeds in the same process. Compile time is excluded (reported apart).
"""

from __future__ import annotations

import os

from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import run_lifelong


def main() -> None:
  print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, "
        f"{os.cpu_count()} CPU cores, load average "
        f"{os.getloadavg()[0]:.1f} at start\n")
  print("| optimizer | seeds | compile s | train s | env steps/s | "
        "per seed |")
  print("| --- | ---: | ---: | ---: | ---: | ---: |")
  for name in ("adam", "trac", "mechanic"):
    for seeds in (1, 8):
      config = LifelongConfig(num_seeds=seeds, num_tasks=2,
                              iterations_per_task=20)
      run = run_lifelong(config, name, progress=False)
      print(f"| {name} | {seeds} | {run.compile_seconds:.1f} | "
            f"{run.train_seconds:.1f} | {run.steps_per_second:,.0f} | "
            f"{run.steps_per_second / seeds:,.0f} |", flush=True)
  print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
  main()
