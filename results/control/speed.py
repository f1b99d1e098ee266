"""Environment steps per second per optimizer, timed interleaved in one process.

Usage: python results/control/speed.py > results/control/speed.md

The control protocol's per-iteration work with fixed-length rollouts
(``protocol="fixed"``: 2 envs x 400 steps, 5 epochs x 25 minibatches of 32,
the same work for every optimizer; under the default paper protocol the
updates per iteration follow each agent's episode lengths, so a collapsed
agent is cheap and throughput would measure the agent, not the optimizer),
per optimizer, for 1, 2 (the default demo's seed count) and 8 vmapped seeds.
Each
optimizer's task function is compiled once (compile time reported apart);
then the optimizers take turns, one task of ``--iterations`` iterations each,
``--rounds`` times, so that a change in the machine's load hits all of them
alike. Reported: the median steps/s over the rounds, and each optimizer's
median over the rounds of its throughput over adam's in the same round (the
ratio the targets are about). The first round is a warm-up and is dropped.

A row ``none`` (SGD at a learning rate of 1e-30: the same iteration, rollouts
and gradients, but almost no optimizer work, and params that do not move)
times everything except the optimizer, so each optimizer's own share of the
iteration is its time minus that of ``none``, and the last column compares
those shares with adam's. (An optimizer that ignored the gradients would let
XLA drop the backward pass too.) A row in parentheses follows from those
shares, round by round: the own time over adam's that a rate of ``TARGET``
x adam's allows (the harness's target for TRAC).

A row ``adam+offset`` (asked for by name in ``--optimizers``) is Adam run
the way TRAC runs its base, with S fixed at 1 (``benchmarks/offset_probe.py``):
TRAC's state and the passes it makes over it, without the inner product,
the tuners or the skip. What it costs beyond Adam is what holding TRAC's
state costs in the harness, whatever TRAC computes.

``--optimizers adam,trac --seeds 8`` runs a subset (e.g. on a device with
little time).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from trac_optax.lifelong import OPTIMIZERS
from trac_optax.lifelong import PPO
from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import make_optimizer
from trac_optax.lifelong import make_suite

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
import offset_probe  # noqa: E402

NO_OPTIMIZER = "none"
OFFSET_PROBE = offset_probe.NAME
"""Adam keeping TRAC's offset and reference point, S fixed at 1."""
TARGET = 0.95
"""The harness's target: TRAC's env steps/s over Adam's."""


def make_timed_optimizer(name: str,
                         learning_rate: float) -> optax.GradientTransformation:
  """An optimizer of the harness, or one of this script's two probes."""
  if name == NO_OPTIMIZER:
    return optax.sgd(1e-30)
  if name == OFFSET_PROBE:
    return offset_probe.keeping_offset(make_optimizer("adam", learning_rate))
  return make_optimizer(name, learning_rate)


def compiled_task(config: LifelongConfig, name: str):
  """``(agents, train_task, compile_seconds)`` for one optimizer."""
  tx = make_timed_optimizer(name, config.learning_rate)
  ppo = PPO(config, make_suite(config), tx)
  keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
  start = time.perf_counter()
  agents = jax.jit(ppo.init)(keys)
  train_task = jax.jit(ppo.train_task).lower(agents, jnp.int32(0)).compile()
  return agents, train_task, time.perf_counter() - start


def interleaved_rates(config: LifelongConfig, names: list[str],
                      rounds: int) -> tuple[dict, dict]:
  """Steps/s of each optimizer in each round (after a warm-up round)."""
  compiled = {name: compiled_task(config, name) for name in names}
  agents = {name: compiled[name][0] for name in names}
  steps = (config.num_seeds * config.num_envs * config.num_steps
           * config.iterations_per_task)
  rates: dict[str, list[float]] = {name: [] for name in names}
  for round_ in range(rounds + 1):
    for name in names:
      start = time.perf_counter()
      agents[name], metrics = compiled[name][1](agents[name],
                                                jnp.int32(round_ % 2))
      jax.block_until_ready((agents[name], metrics))
      if round_ > 0:
        rates[name].append(steps / (time.perf_counter() - start))
  compile_seconds = {name: compiled[name][2] for name in names}
  return rates, compile_seconds


def parser() -> argparse.ArgumentParser:
  """The command line (also read by ``tests/test_device_check.py``)."""
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--optimizers", default="adam,trac,mechanic",
                 help="comma-separated names of trac_optax.lifelong.OPTIMIZERS"
                      f" or {OFFSET_PROBE} (adam and none are always timed)")
  p.add_argument("--seeds", default="1,2,8",
                 help="comma-separated numbers of vmapped seeds")
  p.add_argument("--iterations", type=int, default=5,
                 help="iterations per timed call")
  p.add_argument("--rounds", type=int, default=10)
  return p


def parse(argv: list[str] | None = None) -> argparse.Namespace:
  """The arguments, checked before anything compiles: an unknown optimizer or
  a count below 1 stops the run here, not after the first compilations."""
  command_line = parser()
  args = command_line.parse_args(argv)
  names = args.optimizers.split(",")
  known = [*OPTIMIZERS, OFFSET_PROBE, NO_OPTIMIZER]
  unknown = [n for n in names if n not in known]
  if unknown:
    command_line.error(f"--optimizers: unknown {', '.join(map(repr, unknown))};"
                       f" choose from {', '.join(known)}")
  args.optimizers = ["adam", *(n for n in names if n not in ("adam",
                                                             NO_OPTIMIZER)),
                     NO_OPTIMIZER]
  try:
    args.seeds = [int(s) for s in args.seeds.split(",")]
  except ValueError:
    command_line.error(f"--seeds: {args.seeds!r} is not a comma-separated "
                       "list of whole numbers")
  for flag, values in (("--seeds", args.seeds),
                       ("--iterations", [args.iterations]),
                       ("--rounds", [args.rounds])):
    if min(values) < 1:
      command_line.error(f"{flag} must be at least 1; got {min(values)}")
  return args


def main(argv: list[str] | None = None) -> None:
  args = parse(argv)
  names = args.optimizers
  device = jax.devices()[0]
  print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, "
        f"{os.cpu_count()} CPU cores, device {jax.device_count()}x "
        f"{device.device_kind} ({device.platform}), jax {jax.__version__}, "
        f"load average {os.getloadavg()[0]:.1f} at start; "
        f"{args.rounds} interleaved rounds of {args.iterations} iterations "
        "per optimizer\n")
  print("| optimizer | seeds | compile s | env steps/s (median) | per seed | "
        "/ adam, median [min, max] over rounds | optimizer's own time "
        "/ adam's |")
  print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
  for seeds in args.seeds:
    config = LifelongConfig(num_seeds=seeds, num_tasks=2,
                            iterations_per_task=args.iterations,
                            protocol="fixed")
    rates, compile_seconds = interleaved_rates(config, names, args.rounds)
    adam = np.asarray(rates["adam"])
    rest = 1.0 / np.asarray(rates[NO_OPTIMIZER])  # seconds per step
    for name in names:
      rate = np.asarray(rates[name])
      ratio = rate / adam
      own = ("" if name == NO_OPTIMIZER else
             f"{np.median((1.0 / rate - rest) / (1.0 / adam - rest)):.2f}")
      print(f"| {name} | {seeds} | {compile_seconds[name]:.1f} | "
            f"{np.median(rate):,.0f} | {np.median(rate) / seeds:,.0f} | "
            f"{np.median(ratio):.3f} [{ratio.min():.2f}, {ratio.max():.2f}] | "
            f"{own} |", flush=True)
    needed = (1.0 / (TARGET * adam) - rest) / (1.0 / adam - rest)
    print(f"| ({TARGET} x adam's rate) | {seeds} | | | | {TARGET:.3f} | "
          f"{np.median(needed):.2f} |", flush=True)
  print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
  main()
