r"""Per-seed sums under ``vmap``: the reduction forms TRAC's inner product picks from.

Under ``jax.vmap`` over seeds, ``h = <g, delta>`` is one sum per seed (lane)
of each leaf's product. The compiler's speed for such a reduction depends on
the shape far more than on the bytes, and ``trac_optax._inner_product``
chooses its form by the batched shape. For each ``[lanes, *leaf]`` case this
times, interleaved, in one run:

* ``one pass``: ``sum`` over every axis but the lanes, to ``[lanes]``;
* ``rows first``: the rows of the last axis summed first, then the row sums
  (the library's own function, with its optimization barrier);
* ``trac_optax``: ``inner_product`` itself under ``vmap``, whatever it picks;
* ``scalar``: the whole array summed to one number, the same bytes read: the
  rate a reduction can stream at.

A sample is a jitted ``fori_loop`` of reductions whose input depends on the
loop (so nothing is hoisted); times are per reduction, medians over the
rounds, each form's ratio to ``scalar`` taken within a round.

Usage::

    python benchmarks/lane_sums.py    # writes benchmarks/results/lane_sums_<platform>.*
    python benchmarks/lane_sums.py --smoke --out /tmp/x
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common  # noqa: E402  (a sibling module, not an installed package)

from trac_optax._inner_product import inner_product  # noqa: E402
from trac_optax._inner_product import rows_first  # noqa: E402

CASES = [(1, (1_000_000,)), (1, (1000, 1000)), (2, (500_000,)),
         (8, (125_000,)), (8, (353, 353)), (8, (528, 33)), (8, (132, 132)),
         (4, (200, 200)), (32, (176, 176)), (32, (200, 200))]
SMOKE_CASES = [(1, (4096,)), (8, (64, 64))]


def _one_pass(p: jax.Array) -> jax.Array:
  return jnp.sum(p, axis=tuple(range(1, p.ndim)))


def _trac(g: jax.Array, d: jax.Array) -> jax.Array:
  return jax.vmap(lambda g, d: inner_product(g, d, jnp.float32))(g, d)


FORMS: dict[str, Callable[[jax.Array, jax.Array], jax.Array]] = {
    "one pass": lambda g, d: _one_pass(g * d),
    "rows first": lambda g, d: rows_first(g * d, g.shape[-1]),
    "trac_optax": _trac,
    "scalar": lambda g, d: jnp.sum(g * d)[None],
}


def _loop(form: Callable[..., jax.Array], reps: int) -> Callable[..., Any]:
  def run(g, d):
    def body(_, acc):
      # The input moves with the loop, so the reduction cannot be hoisted.
      return acc + form(g + 1e-30 * acc[0], d)[0]
    return jax.lax.fori_loop(0, reps, body, jnp.zeros((1,), jnp.float32))
  return jax.jit(run)


def run_case(lanes: int, shape: tuple[int, ...], rounds: int,
             smoke: bool) -> dict[str, Any]:
  keys = jax.random.split(jax.random.key(lanes), 2)
  g, d = (jax.random.normal(k, (lanes, *shape)) for k in keys)
  size = lanes * math.prod(shape)
  reps = 1 if smoke else max(1, int(2e7 / size))
  loops = {name: _loop(form, reps) for name, form in FORMS.items()}
  for loop in loops.values():
    jax.block_until_ready(loop(g, d))
  times: dict[str, list[float]] = {name: [] for name in FORMS}
  for _ in range(rounds):
    for name, loop in loops.items():
      start = time.perf_counter()
      jax.block_until_ready(loop(g, d))
      times[name].append((time.perf_counter() - start) / reps)
  rows = {}
  for name in FORMS:
    ratios = [t / s for t, s in zip(times[name], times["scalar"])]
    rows[name] = {"median_us": 1e6 * _common.quartiles(times[name])[1],
                  "over_scalar": _common.quartiles(ratios)[1]}
  return {"lanes": lanes, "shape": list(shape), "forms": rows}


def markdown(payload: dict[str, Any]) -> str:
  lines = _common.header(
      "Per-seed sums under vmap: one pass, rows first, trac_optax, scalar",
      payload,
      f"Each cell: us per reduction (median over {payload['rounds']} "
      "interleaved rounds), and in brackets its time over the scalar sum of "
      "the same bytes, the ratio taken within a round.")
  names = list(FORMS)
  lines += ["| lanes | per lane | " + " | ".join(names) + " |",
            "|---|---|" + "---:|" * len(names)]
  for r in payload["results"]:
    cells = [f"{r['forms'][n]['median_us']:.1f} "
             f"({r['forms'][n]['over_scalar']:.2f})" for n in names]
    shape = "x".join(map(str, r["shape"]))
    lines.append(f"| {r['lanes']} | {shape} | " + " | ".join(cells) + " |")
  return "\n".join(lines + [""])


def parser() -> argparse.ArgumentParser:
  """The command line (also read by ``tests/test_device_check.py``)."""
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--smoke", action="store_true",
                 help="two tiny cases, two rounds: checks the script runs")
  p.add_argument("--rounds", type=_common.positive_int, default=None,
                 help="timed rounds (default 15, smoke 2)")
  p.add_argument("--out", type=pathlib.Path, default=_common.RESULTS)
  return p


def main(argv: list[str] | None = None) -> int:
  args = parser().parse_args(argv)
  rounds = args.rounds or (2 if args.smoke else 15)
  info = _common.machine()
  results = []
  for lanes, shape in SMOKE_CASES if args.smoke else CASES:
    results.append(run_case(lanes, shape, rounds, args.smoke))
    print(f"{lanes} x {shape}: done", file=sys.stderr, flush=True)
  payload = {
      "machine": info,
      "command": _common.command(__file__, argv),
      "rounds": rounds, "results": results,
  }
  _common.publish(args.out, f"lane_sums_{info['platform']}", payload,
                  markdown(payload))
  return 0


if __name__ == "__main__":
  sys.exit(main())
