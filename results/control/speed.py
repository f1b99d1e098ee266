"""Environment steps per second for 1 seed and for 8 vmapped seeds.

Usage: python results/control/speed.py > results/control/speed.md

The control protocol's per-iteration work (2 envs x 400 steps, 5 epochs x 25
minibatches of 32) for 2 tasks x 20 iterations, per optimizer, 1 seed then 8
seeds in the same process. Compile time is excluded (reported apart). The
last column is each optimizer's throughput over adam's at the same seed
count, in this run.

``--optimizers adam,trac --seeds 8`` runs a subset (e.g. on a device with
little time).
"""

from __future__ import annotations

import argparse
import os

import jax

from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import run_lifelong


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--optimizers", default="adam,trac,mechanic")
  parser.add_argument("--seeds", default="1,8")
  parser.add_argument("--iterations", type=int, default=20,
                      help="iterations per task")
  args = parser.parse_args(argv)
  names = args.optimizers.split(",")
  device = jax.devices()[0]
  print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, "
        f"{os.cpu_count()} CPU cores, device {jax.device_count()}x "
        f"{device.device_kind} ({device.platform}), jax {jax.__version__}, "
        f"load average {os.getloadavg()[0]:.1f} at start\n")
  print("| optimizer | seeds | compile s | train s | env steps/s | "
        "per seed | / adam |")
  print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
  adam = {}
  for name in names:
    for seeds in (int(s) for s in args.seeds.split(",")):
      config = LifelongConfig(num_seeds=seeds, num_tasks=2,
                              iterations_per_task=args.iterations)
      run = run_lifelong(config, name, progress=False)
      if name == "adam":
        adam[seeds] = run.steps_per_second
      relative = (f"{run.steps_per_second / adam[seeds]:.2f}"
                  if seeds in adam else "")
      print(f"| {name} | {seeds} | {run.compile_seconds:.1f} | "
            f"{run.train_seconds:.1f} | {run.steps_per_second:,.0f} | "
            f"{run.steps_per_second / seeds:,.0f} | {relative} |", flush=True)
  print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
  main()
