"""``trac-optax-lifelong``: lifelong PPO on a shifting environment, per optimizer."""

from __future__ import annotations

import argparse
import os
import pathlib
import shlex
import sys
import tempfile
from collections.abc import Sequence

import trac_optax
from trac_optax.lifelong import _cli_options
from trac_optax.lifelong._cli_options import positive_int
from trac_optax.lifelong._config import LifelongConfig
from trac_optax.lifelong._optimizers import OPTIMIZERS
from trac_optax.lifelong._suites import SUITES
from trac_optax.lifelong._suites import suite_config

DEFAULT_OUT = "runs/lifelong"
# Five tasks, not the paper's ten, so the default run fits ~5 minutes on a
# 2-core CPU; every other default is the paper's protocol.
DEFAULT_TASKS = 5


_positive_float = _cli_options.number(0.0, low_open=True,
                                     message="must be positive and finite")


def _optimizer_list(text: str) -> list[str]:
  names = [n.strip() for n in text.split(",") if n.strip()]
  if not names:
    raise argparse.ArgumentTypeError("give at least one optimizer")
  unknown = [n for n in names if n not in OPTIMIZERS]
  if unknown:
    raise argparse.ArgumentTypeError(
        f"unknown optimizer {', '.join(map(repr, unknown))}; choose from "
        f"{', '.join(OPTIMIZERS)}")
  if len(set(names)) != len(names):
    raise argparse.ArgumentTypeError(f"optimizer listed twice in {text!r}")
  return names


def build_parser() -> argparse.ArgumentParser:
  """The command-line parser (defaults finish in minutes on a 2-core CPU)."""
  defaults = LifelongConfig()
  parser = argparse.ArgumentParser(
      prog="trac-optax-lifelong",
      description=(
          "Lifelong PPO on a gymnax control task whose observations shift by "
          "a new random offset every task (the TRAC paper's Gym Control "
          "protocol), on MinAtar games switching every task, or on a new "
          "fixed Craftax-Classic world every task. Trains one agent per "
          "optimizer and seed, then writes "
          "per-iteration returns and S (iterations.csv), a summary table "
          "(summary.md, summary.json), plots (returns.png, scale.png) and the "
          "configuration (config.json) to --out."),
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  parser.add_argument("--version", action="version",
                      version=f"%(prog)s {trac_optax.__version__}")
  parser.add_argument("--env", default=defaults.env,
                      type=_cli_options.env_name,
                      metavar="{" + ",".join(SUITES) + "} or gym:<id>",
                      help="environment: a control task (its observations "
                      "shift every task; LunarLander-v3 and gym:<id>, any "
                      "Gymnasium environment, step on the host), MinAtar (a "
                      "new game every task) or "
                      "Craftax-Classic (a new fixed world every task); "
                      "MinAtar and Craftax-Classic bring their own defaults")
  parser.add_argument("--optimizers", type=_optimizer_list,
                      default=["adam", "trac"],
                      help="comma-separated, from: " + ", ".join(OPTIMIZERS))
  parser.add_argument("--seeds", type=positive_int, default=defaults.num_seeds,
                      help="seeds, vmapped into one compiled run")
  parser.add_argument("--tasks", type=positive_int, default=DEFAULT_TASKS,
                      help="tasks in the sequence (the first is unshifted; the "
                      f"paper's protocol has {defaults.num_tasks})")
  parser.add_argument("--iterations-per-task", type=positive_int,
                      default=defaults.iterations_per_task,
                      help="PPO iterations per task")
  parser.add_argument("--num-envs", type=positive_int,
                      default=defaults.num_envs,
                      help="environments per seed")
  parser.add_argument("--num-steps", type=positive_int,
                      default=defaults.num_steps,
                      help="steps per environment per iteration")
  parser.add_argument("--learning-rate", type=_positive_float,
                      default=defaults.learning_rate,
                      help="learning rate of Adam (inside trac and mechanic too)")
  parser.add_argument("--seed", type=int, default=defaults.seed,
                      help="root seed")
  parser.add_argument("--out", type=pathlib.Path,
                      default=pathlib.Path(DEFAULT_OUT),
                      help="results folder (created; files inside replaced)")
  parser.add_argument("--no-plots", action="store_true",
                      help="skip the PNG plots")
  parser.add_argument("--quiet", action="store_true",
                      help="no progress bars")
  _cli_options.add_arguments(parser)
  return parser


def _check_writable(parser: argparse.ArgumentParser, out: pathlib.Path) -> None:
  """Creates ``out`` and proves a file can be written there, or exits 2."""
  try:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
      pass
  except OSError as error:
    parser.error(f"--out {str(out)!r} is not a writable folder: "
                 f"{error.strerror or error}; pick another path")


def main(argv: Sequence[str] | None = None) -> int:
  """Runs the command line; returns the exit code (2 for bad arguments)."""
  parser = build_parser()
  _cli_options.apply_suite_defaults(parser, argv)
  args = parser.parse_args(argv)
  _cli_options.check(parser, args)
  try:  # every value checked before anything compiles
    config = suite_config(
        args.env, num_seeds=args.seeds, num_tasks=args.tasks,
        iterations_per_task=args.iterations_per_task, num_envs=args.num_envs,
        num_steps=args.num_steps, learning_rate=args.learning_rate,
        seed=args.seed, layer_norm=args.layer_norm, network=args.network,
        logit_penalty=args.logit_penalty,
        **_cli_options.protocol_overrides(args))
    optimizers = {name: _cli_options.optimizer_for(name, config.learning_rate,
                                                   args)
                  for name in args.optimizers}
  except ValueError as error:
    parser.error(str(error))
  _check_writable(parser, args.out)

  # Heavy imports only once the arguments are known to be good.
  from trac_optax.lifelong._report import write_results
  from trac_optax.lifelong._run import run_lifelong

  cfg = config
  print(f"{cfg.env}: {cfg.num_tasks} tasks x {cfg.iterations_per_task} "
        f"iterations x {cfg.batch_size} env steps, {cfg.num_seeds} seed(s), "
        f"optimizers {', '.join(args.optimizers)}", flush=True)
  command = shlex.join(["trac-optax-lifelong", *(
      sys.argv[1:] if argv is None else argv)])
  runs = []
  table = ""
  for name, optimizer in optimizers.items():
    run = run_lifelong(config, optimizer, name=name, progress=not args.quiet)
    print(f"{name}: compiled in {run.compile_seconds:.1f} s, trained in "
          f"{run.train_seconds:.1f} s ({run.steps_per_second:,.0f} env "
          "steps/s over all seeds)", flush=True)
    runs.append(run)
    # Written after every optimizer, so an interrupted run keeps its results.
    table = write_results(args.out, runs, command=command,
                          plots=not args.no_plots)
  print()
  print(table)
  print(f"\nresults in {os.fspath(args.out)}/")
  return 0


if __name__ == "__main__":
  sys.exit(main())
