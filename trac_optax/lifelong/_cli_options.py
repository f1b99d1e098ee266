"""Command-line options beyond the control protocol: suites, networks, baselines.

Kept apart from the parser's core so each suite's defaults and each
baseline's strengths are declared in one place.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

import optax

from trac_optax.lifelong import _baselines
from trac_optax.lifelong._config import LifelongConfig
from trac_optax.lifelong._episodes import PAPER
from trac_optax.lifelong._episodes import PROTOCOLS
from trac_optax.lifelong._optimizers import make_optimizer
from trac_optax.lifelong._optimizers import reset_base
from trac_optax.lifelong._suites import SUITE_DEFAULTS
from trac_optax.lifelong._suites import check_env
from trac_optax.lifelong._suites import gymnasium_id


def number(low: float, high: float = math.inf, *, message: str,
           low_open: bool = False):
  """An argparse type: a finite float in ``[low, high]`` (``(low, high]``
  with ``low_open``), else ``message``."""

  def parse(text: str) -> float:
    try:
      value = float(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    above = low < value if low_open else low <= value
    if not (above and value <= high and math.isfinite(value)):
      raise argparse.ArgumentTypeError(f"{message}, got {value}")
    return value

  return parse


def positive_int(text: str) -> int:
  """An argparse type: a whole number of at least 1."""
  try:
    value = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
  if value < 1:
    raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
  return value


def env_name(text: str) -> str:
  """An argparse type: a suite name or ``gym:<id>``."""
  try:
    return check_env(text)
  except ValueError as error:
    raise argparse.ArgumentTypeError(f"invalid choice: {error}") from None


_fraction = number(0.0, 1.0, message="must be in [0, 1]")
_non_negative = number(0.0, message="must be non-negative and finite")


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Adds the protocol, network and baseline options to ``parser``."""
  parser.add_argument("--protocol", choices=PROTOCOLS,
                      default=LifelongConfig.protocol,
                      help="paper (control default): the authors' notebook, "
                      "each environment's first whole episode per iteration "
                      "(at most --num-steps steps, which is also the episode "
                      "cap), 5 epochs over exactly those transitions; fixed "
                      "(MinAtar, Craftax default): PureJaxRL-style rollouts "
                      "of --num-steps that continue across iterations, the "
                      "same updates every iteration")
  parser.add_argument("--layer-norm", action="store_true",
                      help="LayerNorm after each hidden layer of the policy "
                      "and value networks")
  parser.add_argument("--logit-penalty", type=_non_negative,
                      default=LifelongConfig.logit_penalty,
                      help="weight of a penalty on the policy's squared "
                      "logits (0: off); pulls a policy saturated by a task "
                      "shift back to stochastic, where the entropy bonus's "
                      "gradient has vanished")
  parser.add_argument("--network", choices=("mlp", "cnn"), default="mlp",
                      help="mlp: observations flattened into the MLPs; cnn: "
                      "a 3x3 convolution of 16 filters first (image "
                      "observations: MinAtar)")
  parser.add_argument("--l2init-strength", type=_non_negative,
                      default=_baselines.L2INIT_STRENGTH,
                      help="lambda of l2init: Adam on loss + lambda/2 "
                      "||theta - theta_0||^2")
  parser.add_argument("--shrink", type=_fraction, default=_baselines.SHRINK,
                      help="shrink_perturb: factor on the weights")
  parser.add_argument("--perturb-scale", type=_non_negative,
                      default=_baselines.PERTURB_SCALE,
                      help="shrink_perturb: standard deviation of the noise")
  parser.add_argument("--perturb-every", type=positive_int,
                      default=_baselines.PERTURB_EVERY,
                      help="shrink_perturb: optimizer updates between "
                      "applications")


def apply_suite_defaults(parser: argparse.ArgumentParser,
                         argv: Sequence[str] | None) -> None:
  """Makes the defaults of the suite named by ``--env`` the parser's defaults.

  Only the options the parser has are changed; the suite's other defaults
  (reward scale, epochs, minibatch size, episode cap) reach the
  configuration through :func:`~trac_optax.lifelong.suite_config`.
  """
  pre = argparse.ArgumentParser(add_help=False)
  pre.add_argument("--env")
  env = pre.parse_known_args(argv)[0].env
  dests = {action.dest for action in parser._actions}
  parser.set_defaults(**{k: v for k, v in SUITE_DEFAULTS.get(env, {}).items()
                         if k in dests})


def protocol_overrides(args: argparse.Namespace) -> dict[str, object]:
  """Configuration fields set by ``--protocol`` (paper: the rollout length
  is the episode cap, so every episode ends within it)."""
  if args.protocol == PAPER:
    return {"protocol": PAPER, "max_steps_in_episode": args.num_steps}
  return {"protocol": args.protocol}


def optimizer_for(name: str, learning_rate: float,
                  args: argparse.Namespace) -> str | optax.GradientTransformation:
  """What to pass to ``run_lifelong`` for ``name``, with the options in ``args``.

  The names whose strengths are options (``l2init``, ``shrink_perturb`` and
  their ``reset-`` baselines) become transforms; the others stay names. A
  reset baseline is known by its name, which the caller passes along.
  """
  base = reset_base(name) or name
  if base == "l2init":
    return make_optimizer(name, learning_rate, strength=args.l2init_strength)
  if base == "shrink_perturb":
    return make_optimizer(name, learning_rate, shrink=args.shrink,
                          noise_scale=args.perturb_scale,
                          every=args.perturb_every, seed=args.seed)
  return name


IMAGE_SUITES = ("MinAtar",)
"""Suites with image observations, the only ones ``--network cnn`` accepts."""


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
  """Exits with status 2 for option combinations that cannot run."""
  if args.network == "cnn" and args.env not in IMAGE_SUITES:
    parser.error(f"--network cnn needs image observations ({', '.join(IMAGE_SUITES)}); "
                 f"{args.env} has vector observations: use --network mlp")
  env_id = gymnasium_id(args.env)
  if env_id is not None:
    try:
      import gymnasium
    except ImportError:
      parser.error(f"--env {args.env} needs gymnasium: pip install "
                   "\"trac-optax[gym]\"")
    try:
      gymnasium.spec(env_id)
    except gymnasium.error.Error as error:
      parser.error(f"--env {args.env}: {error}")
