"""Accuracy and throughput of ``trac_optax.erfi`` beside the naive formula.

Accuracy: relative error against ``scipy.special.erfi`` (evaluated in float64
at the input as rounded to each dtype, so input rounding is not counted) over
the whole range where erfi is finite in that dtype, ``|x|`` up to about 9.57
in float32 and 26.6 in float64, on a uniform grid plus a log-spaced one
towards 0; results below the dtype's smallest normal number are left out. The
naive formula is ``2/sqrt(pi) * exp(x*x) * dawsn(x)`` in the same dtype: its
error grows like ``x**2`` ulps (the rounding of ``x*x`` is amplified by
``exp``) and it overflows before erfi does.

scipy computes erfi the naive way in float64, so in float64 it is itself off
by up to about 6e-14 at large ``|x|``; the float64 rows are therefore also
measured against mpmath at 40 significant digits.

Throughput: jitted evaluations per second on the same array, the two
implementations interleaved, with the ratio taken pair by pair.

Usage::

    python benchmarks/erfi.py    # writes benchmarks/results/erfi_<platform>.*
    python benchmarks/erfi.py --smoke --out /tmp/x
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
import mpmath
import numpy as np
import scipy.special

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common  # noqa: E402  (a sibling module, not an installed package)

import trac_optax  # noqa: E402

# Dtypes with a naive counterpart; narrower ones are computed by trac_optax in
# float32 and have no separate naive formula worth timing.
DTYPES = ("float64", "float32", "bfloat16", "float16")
NAIVE_DTYPES = ("float64", "float32")


def naive_erfi(x: jax.Array) -> jax.Array:
  """The textbook ``2/sqrt(pi) * exp(x**2) * dawsn(x)``, in ``x``'s dtype."""
  return (2.0 / math.sqrt(math.pi)) * jnp.exp(x * x) * jax.scipy.special.dawsn(x)


def finite_edge(dtype: str) -> float:
  """The largest x (a float64) whose true erfi is finite in ``dtype``."""
  big = float(jnp.finfo(dtype).max)
  lo, hi = 0.0, 30.0
  for _ in range(200):
    mid = 0.5 * (lo + hi)
    lo, hi = (mid, hi) if scipy.special.erfi(mid) <= big else (lo, mid)
  return lo


def grid(dtype: str, points: int) -> np.ndarray:
  """Points over ``[-edge, edge]`` in ``dtype``, dense near 0 as well."""
  edge = finite_edge(dtype)
  uniform = np.linspace(-edge, edge, points)
  logs = np.logspace(-6, math.log10(edge), points // 2)
  x = np.concatenate([uniform, logs, -logs])
  rounded = np.asarray(jnp.asarray(x, dtype)).astype(np.float64)
  return rounded[np.abs(rounded) <= edge]


def exact_erfi(x: np.ndarray) -> np.ndarray:
  """erfi at 40 significant digits (mpmath), rounded to float64."""
  with mpmath.workdps(40):
    return np.array([float(mpmath.erfi(mpmath.mpf(float(v)))) for v in x])


def accuracy(fn: Callable[[jax.Array], jax.Array], dtype: str, x: np.ndarray,
             want: np.ndarray) -> dict[str, Any]:
  """Relative error of ``fn`` against ``want`` over normal-range results."""
  got = np.asarray(fn(jnp.asarray(x, dtype))).astype(np.float64)
  finite = np.isfinite(got)
  normal = np.abs(want) >= float(jnp.finfo(dtype).tiny)
  rel = np.abs(got - want)[finite & normal] / np.abs(want[finite & normal])
  bad = np.abs(x[~finite])
  return {
      "points": int(x.size),
      "max_abs_x": float(np.abs(x).max()),
      "max_rel_error": float(rel.max()),
      "median_rel_error": float(np.median(rel)),
      "ulps_max": float(rel.max() / jnp.finfo(dtype).eps),
      "non_finite_outputs": int((~finite).sum()),
      "smallest_abs_x_non_finite": float(bad.min()) if bad.size else None,
  }


def throughput(fns: dict[str, Callable[[jax.Array], jax.Array]], dtype: str,
               size: int, rounds: int) -> dict[str, Any]:
  """Median evaluations per second, and time ratios to the first entry."""
  x = jnp.linspace(-9.0, 9.0, size, dtype=dtype)
  jitted = {name: jax.jit(fn) for name, fn in fns.items()}
  samples = {name: [] for name in fns}
  for r in range(rounds + 1):
    for name, fn in jitted.items():
      start = time.perf_counter()
      fn(x).block_until_ready()
      if r:  # the first round compiles and warms up.
        samples[name].append(time.perf_counter() - start)
  first = next(iter(fns))
  out = {}
  for name, ts in samples.items():
    _, med, _ = _common.quartiles(ts)
    ratios = [a / b for a, b in zip(ts, samples[first])]
    out[name] = {"evals_per_s": size / med, "median_ms": 1e3 * med,
                 "time_ratio_to_" + first: _common.quartiles(ratios)[1]}
  return out


def markdown(payload: dict[str, Any]) -> str:
  lines = _common.header(
      "erfi: accuracy and throughput", payload,
      "Relative error against `scipy.special.erfi` (and, in float64, mpmath) "
      "over the range where erfi is finite in each dtype; naive = "
      "`2/sqrt(pi) * exp(x*x) * dawsn(x)` in the same dtype.") + [
      "| dtype | implementation vs reference | max rel. error | median rel. error | "
      "max error in ulps | non-finite outputs | smallest \\|x\\| non-finite |",
      "|---|---|---|---|---|---|---|"]
  for dtype, per in payload["accuracy"].items():
    for name, a in per.items():
      edge = a["smallest_abs_x_non_finite"]
      lines.append(
          f"| {dtype} | {name} | {a['max_rel_error']:.2e} | "
          f"{a['median_rel_error']:.2e} | {a['ulps_max']:.1f} | "
          f"{a['non_finite_outputs']} / {a['points']} | "
          f"{'none' if edge is None else f'{edge:.4f}'} |")
  lines += ["", f"Throughput on {payload['throughput_size']:.0e} points in "
            "[-9, 9], median of interleaved rounds:", "",
            "| dtype | implementation | evaluations / s | time vs trac_optax |",
            "|---|---|---|---|"]
  for dtype, per in payload["throughput"].items():
    for name, t in per.items():
      lines.append(f"| {dtype} | {name} | {t['evals_per_s']:.3g} | "
                   f"{t['time_ratio_to_trac_optax']:.2f} |")
  return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
  """The command line (also read by ``tests/test_device_check.py``)."""
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--smoke", action="store_true",
                 help="few points and rounds: checks the script runs")
  p.add_argument("--out", type=pathlib.Path, default=_common.RESULTS,
                 help="folder for erfi_<platform>.json and .md")
  return p


def main(argv: list[str] | None = None) -> int:
  args = parser().parse_args(argv)
  # In main, not at import: importing the script (tests/test_device_check.py
  # reads its parser) must leave the process's JAX configuration alone.
  jax.config.update("jax_enable_x64", True)  # float64 rows need it.
  points = 2_000 if args.smoke else 100_000
  size, rounds = (10_000, 2) if args.smoke else (1_000_000, 15)

  info = _common.machine()
  fns = {"trac_optax": trac_optax.erfi, "naive": naive_erfi}
  acc = {}
  for dtype in DTYPES:
    x = grid(dtype, points)
    references = {"scipy": scipy.special.erfi(x)}
    if dtype == "float64":
      references["mpmath"] = exact_erfi(x)
    names = fns if dtype in NAIVE_DTYPES else {"trac_optax": trac_optax.erfi}
    acc[dtype] = {f"{name} vs {ref}": accuracy(fn, dtype, x, want)
                  for ref, want in references.items()
                  for name, fn in names.items()}
  speed = {dtype: throughput(fns, dtype, size, rounds)
           for dtype in NAIVE_DTYPES}
  payload = {
      "machine": info,
      "command": _common.command(__file__, argv),
      "accuracy": acc,
      "throughput_size": size,
      "throughput": speed,
  }
  text = markdown(payload)
  _common.publish(args.out, f"erfi_{info['platform']}", payload, text)
  return 0


if __name__ == "__main__":
  sys.exit(main())
