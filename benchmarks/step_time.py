r"""Step time and memory of TRAC beside plain Optax, mechanize and the authors' port.

One step is a jitted ``tx.update`` followed by ``optax.apply_updates``, on a
tree of float32 params of about 1e5, 1e6 and 1e7 entries over several leaves
of realistic shapes (1e8 with ``--big``). The optimizers run interleaved
(A B C ... A B C ...) after a warm-up; each optimizer's time is the median of
its samples, and its ratio to its base optimizer is computed sample by sample
within a round, then summarised by the median and quartiles. Memory comes from
the compiled executable: the optimizer state's bytes, the temporaries
(``compiled.memory_analysis()``), XLA's own estimate of the bytes the step
reads and writes (``compiled.cost_analysis()``), and the number of fusions and
of param-sized copies in the optimized HLO.

Usage::

    python benchmarks/step_time.py   # writes benchmarks/results/step_time_<platform>.*
    python benchmarks/step_time.py --big        # also 1e8 params
    python benchmarks/step_time.py --smoke --out /tmp/x   # a few seconds, for CI
    python benchmarks/step_time.py --sizes 1e5,1e7 --rounds 10   # a shorter run

The RL sizes (small trees, seeds under ``vmap``) are measured by
``benchmarks/step_time_rl.py``.

The authors' JAX port (``trac-optimizer`` 0.0.2) is timed when it is installed
(``pip install --no-deps trac-optimizer==0.0.2``) and skipped with a message
otherwise. The script makes no CPU-only assumption: on a GPU it measures the
GPU and names the card.

Memory-traffic model
--------------------
Count the param-sized arrays one step reads (R) and writes (W) when params and
state are donated (updated in place); scalars are free. ``g`` gradient, ``m, v``
Adam's moments, ``p`` params, ``r`` reference point, ``d`` the offset delta.

With one fused loop per data dependency (what XLA:GPU's multi-output fusion
can do):

* Adam reads ``g, m, v, p`` and writes ``m, v, p``: **7**.
* TRAC(Adam): ``h = <g, d>`` must be complete before ``S`` is known, and ``S``
  before any param is written, so a reduction pass reads ``g, d`` (2), then one
  pass reads ``g, m, v, d, r, p`` and writes ``m, v, d, p`` (10): **12**, a
  ratio of 12/7 = **1.71**. Nothing can be dropped: the update returned must be
  ``theta_{t+1} - theta_t`` and ``apply_updates`` adds it to ``p`` (read p);
  ``theta_{t+1} = r + S d`` with ``d`` kept explicitly (read r, d; write d);
  ``g, m, v`` are the base's own. Fusing the reduction into the base update
  (pass 1 reads ``g, m, v, d`` and writes ``m, v, d``; pass 2 reads
  ``r, d, p`` and writes ``p``) would give 11/7 = 1.57, but it writes the new
  state before ``h`` is known, so a step with NaN or inf gradients could no
  longer leave the state untouched without first copying ``m, v, d`` (6 more).
  With the skip, 12/7 is the bound.

XLA:CPU has no multi-output loop fusion: every param-sized output is its own
loop, reading what it needs. Then

* Adam: ``m`` (R g, m; W m) 3 + ``v`` 3 + ``p`` (R p, m, v; W p) 4 = **10**;
* TRAC(Adam): ``h`` 2 + ``m`` 3 + ``v`` 3 + ``d`` (R d, m, v; W d) 4 +
  ``p`` (R p, r, d; W p) 4 = **16**, a ratio of **1.60**;
* SGD 3 (R g, p; W p); TRAC(SGD): ``h`` 2 + ``d`` 3 + ``p`` 4 = 9, **3.0**.

XLA's cost analysis of the compiled steps (column "traffic") gives exactly
these counts, and the TRAC state is the base state plus ``r`` and ``d`` (two
param copies for float32 params) with no param-sized temporaries. What still
separates the measured ratio from the model is bandwidth, not traffic: XLA:CPU
emits the reduction through YNNPACK, which streams at roughly half the rate of
the elementwise loops on the 2-core machine the committed table comes from.

Two formulations XLA:CPU handles badly, both avoided in ``trac_optax``: an
elementwise select between new and old state for the NaN skip (XLA copies every
donated state buffer into fresh temporaries and runs the base update twice:
about 7x Adam at 1e7 params) and anything that leaves param-sized temporaries
(fresh temporaries are page-faulted on every call).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import pathlib
import re
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from typing import NamedTuple
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common  # noqa: E402  (a sibling module, not an installed package)

import trac_optax  # noqa: E402
from trac_optax import _trac  # noqa: E402  (only to build the no-skip variant)
from trac_optax._inner_product import inner_product  # noqa: E402

SIZES = (1e5, 1e6, 1e7)
BIG = 1e8
TWELVE_BETAS = tuple(float(1 - 10 ** -e) for e in np.linspace(1, 6.5, 12))
TARGETS_AT = 1e7
PROBE_REDUCE = "probe: <g, d> (2 copies read)"
PROBE_LOOP = "probe: d += g (2 read, 1 written)"


class Candidate(NamedTuple):
  """An optimizer to time, and the one its ratio is taken against."""

  name: str
  make: Callable[[], optax.GradientTransformation]
  base: str | None
  no_skip: bool = False


def param_tree(n: float, seed: int = 0) -> dict[str, dict[str, jax.Array]]:
  """About ``n`` float32 params shaped like a small encoder: embedding, 3 dense
  layers, a head, biases and a layer-norm scale.

  The width ``w`` solves ``7 w^2 + 20 w + 16 = n``.
  """
  w = max(4, int((-20 + math.sqrt(400 + 28 * (n - 16))) / 14))
  shapes = {
      "embed": {"table": (4 * w, w)},
      **{f"dense_{i}": {"kernel": (w, w), "bias": (w,)} for i in range(3)},
      "norm": {"scale": (w,)},
      "head": {"kernel": (w, 16), "bias": (16,)},
  }
  key = jax.random.PRNGKey(seed)
  leaves, treedef = jax.tree.flatten(
      shapes, is_leaf=lambda s: isinstance(s, tuple))
  keys = jax.random.split(key, len(leaves))
  return jax.tree.unflatten(treedef, [
      0.05 * jax.random.normal(k, s, jnp.float32) for k, s in zip(keys, leaves)
  ])


def candidates(port: Any | None, betas_sweep: bool) -> list[Candidate]:
  """The optimizers of one run, bases first."""
  adam = lambda: optax.adam(1e-3)
  out = [
      Candidate("sgd", lambda: optax.sgd(1e-3), None),
      Candidate("trac(sgd)", lambda: trac_optax.trac(optax.sgd(1e-3)), "sgd"),
      Candidate("adam", adam, None),
      Candidate("trac(adam)", lambda: trac_optax.trac(adam()), "adam"),
      Candidate("trac(adam), no NaN skip", lambda: trac_optax.trac(adam()),
                "trac(adam)", no_skip=True),
      Candidate("mechanize(adam)", lambda: optax.contrib.mechanize(adam()),
                "adam"),
  ]
  if port is not None:
    out.append(Candidate("authors' port (adam)",
                         lambda: port.start_trac(adam()), "adam"))
  if betas_sweep:
    out += [
        Candidate("trac(adam), 1 beta",
                  lambda: trac_optax.trac(adam(), betas=(0.999,)), "adam"),
        Candidate("trac(adam), 12 betas",
                  lambda: trac_optax.trac(adam(), betas=TWELVE_BETAS), "adam"),
    ]
  return out


@contextlib.contextmanager
def _without_nan_skip(active: bool) -> Iterator[None]:
  """While tracing, replaces TRAC's conditional skip by the plain step.

  Benchmark-only: measures what skipping non-finite steps costs. The update
  returned is still zeroed on a non-finite step (a free select in the last
  loop), but the base state and offset are no longer protected.
  """
  if not active:
    yield
    return
  with mock.patch.object(_trac, "_step_or_keep",
                         lambda pred, step, state, inputs: step(state, inputs)):
    yield


def _step(tx: optax.GradientTransformation) -> Callable[..., Any]:
  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state
  return step


def _bytes(tree: Any) -> int:
  return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree))


def _array_bytes(dtype: str, dims: str) -> int:
  """Bytes of one array of HLO type ``dtype[dims]`` (``pred``: one a byte)."""
  bits = int(re.sub(r"\D", "", dtype) or 8)
  return math.prod(int(d) for d in dims.split(",") if d) * max(1, bits // 8)


def _copy_bytes(hlo: str) -> list[int]:
  """The size in bytes of each copy op in (a part of) optimized HLO text.

  Copies into another memory space (a layout with ``S(n)``: XLA:TPU moving
  small arrays into its on-chip memory ahead of their use) are not counted;
  XLA:CPU's layouts have none.
  """
  return [_array_bytes(dtype, dims) for dtype, dims in re.findall(
      r"= ([a-z]+\d*)\[([\d,]*)\]\{[^}S]*\} copy\(", hlo)]


def _hlo_counts(hlo: str, param_bytes: int) -> tuple[int, int]:
  """Fusions, and copies of at least 1% of the params, in optimized HLO."""
  fusions = len(re.findall(r"= \S+ fusion\(", hlo))
  copies = sum(size >= 0.01 * param_bytes for size in _copy_bytes(hlo))
  return fusions, copies


def _bytes_accessed(compiled: Any) -> float:
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else {}
  return float((cost or {}).get("bytes accessed", float("nan")))


class Prepared(NamedTuple):
  """A compiled step with its live buffers and static measurements."""

  run: Callable[..., Any]
  params: Any
  state: Any
  memory: dict[str, float]


def prepare(candidate: Candidate, params: Any, grads: Any,
            donate: bool) -> Prepared:
  """Compiles one optimizer's step and measures its memory."""
  tx = candidate.make()
  # Fresh buffers, distinct from each other: mechanize and the authors' port
  # keep the params themselves in their state, which cannot be donated twice.
  params = jax.tree.map(jnp.copy, params)
  state = jax.tree.map(jnp.copy, tx.init(params))
  jitted = jax.jit(_step(tx), donate_argnums=(0, 1) if donate else ())
  with _without_nan_skip(candidate.no_skip):
    compiled = jitted.lower(params, state, grads).compile()
  param_bytes = _bytes(params)
  analysis = compiled.memory_analysis()
  fusions, copies = _hlo_counts(compiled.as_text(), param_bytes)
  memory = {
      "state_param_copies": _bytes(state) / param_bytes,
      "temp_param_copies": (analysis.temp_size_in_bytes / param_bytes
                            if analysis is not None else float("nan")),
      "traffic_param_copies": _bytes_accessed(compiled) / param_bytes,
      "fusions": fusions,
      "param_sized_copies": copies,
  }
  return Prepared(compiled, params, state, memory)


def probes(params: Any, grads: Any) -> dict[str, Prepared]:
  """Two memory-bound kernels timed beside the optimizers, to read bandwidths.

  ``<g, d>`` is TRAC's own inner product (2 param copies read, XLA:CPU emits
  it through YNNPACK); ``d + g`` in place is a plain elementwise loop (2 read,
  1 written). Their times per param copy give the relative cost ``k`` of the
  reduction pass, and the model of the docstring becomes
  ``trac(adam) / adam = (14 + 2 k) / 10``.
  """
  dtype = jnp.float32
  inner = jax.jit(lambda g, d: inner_product(g, d, dtype))
  add = jax.jit(lambda d, g: jax.tree.map(jnp.add, d, g), donate_argnums=0)
  blank = {"state_param_copies": float("nan"), "temp_param_copies": float("nan"),
           "fusions": 0, "param_sized_copies": 0}
  fresh = lambda: jax.tree.map(jnp.copy, params)
  return {
      PROBE_REDUCE: Prepared(lambda p, s, g: (p, inner(g, p)), fresh(), None,
                             {**blank, "traffic_param_copies": 2.0}),
      PROBE_LOOP: Prepared(lambda p, s, g: (add(p, g), s), fresh(), None,
                           {**blank, "traffic_param_copies": 3.0}),
  }


def time_interleaved(prepared: dict[str, Prepared], grads: list[Any],
                     rounds: int, calls: int,
                     warmup: int = 2) -> tuple[dict[str, list[float]],
                                               dict[str, list[float]],
                                               dict[str, bool]]:
  """Seconds per step of each optimizer, one sample of each per round.

  Both wall-clock time and this process's CPU time are sampled: on a machine
  shared with other jobs the CPU time leaves out the time spent waiting for a
  core (on a GPU it is host time only, and not meaningful).

  Each call takes the next gradient tree of ``grads`` in turn, so the tuners
  see uncorrelated gradients (a constant gradient drives the authors' port to
  overflow). Returns the wall and CPU samples and whether each run's params
  stayed finite.
  """
  live = {name: [p.params, p.state] for name, p in prepared.items()}
  wall = {name: [] for name in prepared}
  cpu = {name: [] for name in prepared}
  for r in range(warmup + rounds):
    for name, p in prepared.items():
      params, state = live[name]
      start, start_cpu = time.perf_counter(), time.process_time()
      for i in range(calls):
        params, state = p.run(params, state, grads[(r * calls + i) % len(grads)])
      jax.block_until_ready((params, state))
      if r >= warmup:
        wall[name].append((time.perf_counter() - start) / calls)
        cpu[name].append((time.process_time() - start_cpu) / calls)
      live[name] = [params, state]
  finite = {name: _finished(name, *lv) for name, lv in live.items()}
  return wall, cpu, finite


def _finished(name: str, params: Any, state: Any) -> bool:
  """Whether the params stayed finite; fails if TRAC skipped a step.

  A skipped step would time the skip branch instead of a step.
  """
  found = optax.tree.get(state, "skipped", default=None)
  if found is not None and int(found) != 0:
    raise RuntimeError(f"{name}: {int(found)} steps were skipped during "
                       "timing; the gradients must stay finite")
  return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(params))


def summarize(samples: dict[str, list[float]], cpu: dict[str, list[float]],
              cands: dict[str, Candidate]) -> dict[str, dict[str, Any]]:
  """Median and quartiles of times, and of pair-by-pair ratios to the base."""
  out = {}
  for name, ts in samples.items():
    p25, med, p75 = _common.quartiles(ts)
    row = {"median_ms": 1e3 * med, "p25_ms": 1e3 * p25, "p75_ms": 1e3 * p75,
           "cpu_median_ms": 1e3 * _common.quartiles(cpu[name])[1],
           "samples": len(ts)}
    base = cands[name].base if name in cands else None
    if base is not None and base in samples:
      ratios = [a / b for a, b in zip(ts, samples[base])]
      row["ratio_to"] = base
      row["ratio_p25"], row["ratio"], row["ratio_p75"] = _common.quartiles(
          ratios)
      row["cpu_ratio"] = _common.quartiles(
          [a / b for a, b in zip(cpu[name], cpu[base])])[1]
    out[name] = row
  if "authors' port (adam)" in samples and "trac(adam)" in samples:
    speedups = [a / b for a, b in zip(samples["authors' port (adam)"],
                                      samples["trac(adam)"])]
    out["trac(adam)"]["port_over_trac"] = _common.quartiles(speedups)
  return out


def reduction_cost(reduce_time: float, loop_time: float) -> float:
  """``k``: the reduction probe's time per param copy (2 read) over the
  loop probe's (2 read, 1 written)."""
  return (reduce_time / 2) / (loop_time / 3)


def model_ratio(k: float) -> float:
  """trac(adam) / adam by the traffic model: 14 copies in loops, 2 in a
  reduction at ``k`` times a loop's cost, against Adam's 10."""
  return (14 + 2 * k) / 10


def run_size(n: float, cands: list[Candidate], donate: bool, rounds: int,
             calls: int) -> dict[str, Any]:
  """All optimizers at one size and donation mode."""
  params = param_tree(n)
  grads = [jax.tree.map(lambda x: 1e-2 * x, param_tree(n, seed=seed))
           for seed in (1, 2, 3)]
  prepared = {c.name: prepare(c, params, grads[0], donate) for c in cands}
  if donate:
    prepared.update(probes(params, grads[0]))
  samples, cpu, finite = time_interleaved(prepared, grads, rounds, calls)
  stats = summarize(samples, cpu, {c.name: c for c in cands})
  if donate:
    for clock in ("", "cpu_"):
      k = reduction_cost(stats[PROBE_REDUCE][f"{clock}median_ms"],
                         stats[PROBE_LOOP][f"{clock}median_ms"])
      stats["trac(adam)"][f"{clock}reduction_cost_k"] = k
      stats["trac(adam)"][f"{clock}model_ratio"] = model_ratio(k)
  for name, p in prepared.items():
    stats[name].update(p.memory, params_stayed_finite=finite[name])
  return {"params": int(sum(x.size for x in jax.tree.leaves(params))),
          "leaves": len(jax.tree.leaves(params)), "donated": donate,
          "calls_per_sample": calls, "optimizers": stats}


def _ratio_cell(row: dict[str, Any]) -> str:
  if "ratio" not in row:
    return ""
  return (f"{row['ratio']:.2f} [{row['ratio_p25']:.2f}, "
          f"{row['ratio_p75']:.2f}] vs {row['ratio_to']} "
          f"(CPU time: {row['cpu_ratio']:.2f})")


def _size_table(result: dict[str, Any]) -> list[str]:
  lines = [
      f"#### {result['params']:.2e} params, {result['leaves']} leaves, "
      f"{'donated' if result['donated'] else 'not donated'}", "",
      "| optimizer | median ms [p25, p75] | ratio, median [p25, p75] | "
      "state | temporaries | traffic | fusions | param-sized copies |",
      "|---|---|---|---|---|---|---|---|",
  ]
  for name, r in result["optimizers"].items():
    mark = "" if r["params_stayed_finite"] else " (params went non-finite)"
    if name.startswith("probe"):
      lines.append(f"| {name} | {r['median_ms']:.3f} [{r['p25_ms']:.3f}, "
                   f"{r['p75_ms']:.3f}] | | | | "
                   f"{r['traffic_param_copies']:.2f} | | |")
      continue
    lines.append(
        f"| {name}{mark} | {r['median_ms']:.3f} [{r['p25_ms']:.3f}, "
        f"{r['p75_ms']:.3f}] | {_ratio_cell(r)} | "
        f"{r['state_param_copies']:.2f} | {r['temp_param_copies']:.2f} | "
        f"{r['traffic_param_copies']:.2f} | {r['fusions']} | "
        f"{r['param_sized_copies']} |")
  return lines + [""]


def _scaling_table(results: list[dict[str, Any]]) -> list[str]:
  donated = [r for r in results if r["donated"]]
  names = list(donated[0]["optimizers"])
  head = " | ".join(f"{r['params']:.0e}" for r in donated)
  lines = [
      "#### Scaling with the number of params (donated): ns per param per "
      "step", "", f"| optimizer | {head} |",
      "|---|" + "---|" * len(donated)]
  for name in names:
    cells = " | ".join(
        f"{1e6 * r['optimizers'][name]['median_ms'] / r['params']:.3f}"
        for r in donated)
    lines.append(f"| {name} | {cells} |")
  return lines + [
      "", "Linear scaling shows as a flat row; a fixed per-step cost (dispatch,"
      " the erfi tuners) as a higher value at the smallest size.", ""]


def targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
  """The issue's targets at 1e7 params, donated, with measured values."""
  at = [r for r in results if r["donated"] and
        abs(math.log10(r["params"]) - math.log10(TARGETS_AT)) < 0.1]
  if not at:
    return []
  rows = at[0]["optimizers"]
  trac_row, adam_row = rows["trac(adam)"], rows["adam"]
  out = [
      {"target": "trac(adam) / adam <= 1.6 (median of pair ratios)",
       "measured": trac_row["ratio"], "met": trac_row["ratio"] <= 1.6},
      {"target": "the same in process CPU time (robust to other jobs)",
       "measured": trac_row["cpu_ratio"], "met": trac_row["cpu_ratio"] <= 1.6},
      {"target": "(model) traffic 16/10 with the reduction pass at k times "
                 f"the cost per param copy of a loop; k = "
                 f"{trac_row['reduction_cost_k']:.2f} measured",
       "measured": trac_row["model_ratio"], "met": None},
      {"target": "(model) the same with k from CPU times; k = "
                 f"{trac_row['cpu_reduction_cost_k']:.2f}",
       "measured": trac_row["cpu_model_ratio"], "met": None},
      {"target": "TRAC state <= base state + 2 param copies",
       "measured": trac_row["state_param_copies"] -
                   adam_row["state_param_copies"],
       "met": trac_row["state_param_copies"] -
              adam_row["state_param_copies"] <= 2.0 + 1e-3},
      {"target": "temporaries with donation <= 1 param copy",
       "measured": trac_row["temp_param_copies"],
       "met": trac_row["temp_param_copies"] <= 1.0},
  ]
  if "port_over_trac" in trac_row:
    speedup = trac_row["port_over_trac"][1]
    out.append({"target": "trac(adam) >= 1.7x faster than the authors' port",
                "measured": speedup, "met": speedup >= 1.7})
  return out


def markdown(payload: dict[str, Any]) -> str:
  lines = _common.header(
      "Step time: TRAC and other optimizers", payload,
      "One step = jitted `update` + `apply_updates`, float32 params. Times are "
      f"medians over {payload['rounds']} interleaved rounds; ratios are taken "
      "pair by pair within a round against the optimizer named. state, "
      "temporaries and traffic are in param copies (bytes / param bytes): the "
      "optimizer state, `memory_analysis().temp_size_in_bytes`, and XLA's "
      "`bytes accessed` for the step (the model in the script's docstring).")
  if payload["skipped"]:
    lines += [f"Not measured: {payload['skipped']}.", ""]
  rows = targets(payload["results"])
  if rows:
    lines += ["#### Targets at 1e7 params, donated", "",
              "| target | measured | met |", "|---|---|---|"]
    verdict = {True: "yes", False: "no", None: "(model)"}
    lines += [f"| {t['target']} | {t['measured']:.2f} | {verdict[t['met']]} |"
              for t in rows]
    lines.append("")
  for result in payload["results"]:
    lines += _size_table(result)
  lines += _scaling_table(payload["results"])
  return "\n".join(lines)


def _sizes(text: str) -> tuple[float, ...]:
  """An argparse type: comma-separated param counts, each at least 1."""
  try:
    sizes = tuple(float(n) for n in text.split(","))
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a comma-separated list of param counts") from None
  if not all(n >= 1 for n in sizes):
    raise argparse.ArgumentTypeError(f"{text!r}: every size must be >= 1")
  return sizes


def parser() -> argparse.ArgumentParser:
  """The command line (also read by ``tests/test_device_check.py``)."""
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--big", action="store_true", help="also 1e8 params")
  p.add_argument("--smoke", action="store_true",
                 help="tiny sizes and few rounds: checks the script runs")
  p.add_argument("--rounds", type=_common.positive_int, default=None,
                 help="timed rounds per size (default 30, smoke 2)")
  p.add_argument("--sizes", type=_sizes, default=None,
                 help="comma-separated param counts instead of "
                      "1e5,1e6,1e7 (e.g. 1e5,1e7)")
  p.add_argument("--out", type=pathlib.Path, default=_common.RESULTS,
                 help="folder for step_time_<platform>.json and .md")
  return p


def main(argv: list[str] | None = None) -> int:
  args = parser().parse_args(argv)

  sizes = (2e3,) if args.smoke else SIZES + ((BIG,) if args.big else ())
  if args.sizes:
    sizes = args.sizes
  rounds = args.rounds or (2 if args.smoke else 30)
  port, why = _common.authors_jax_port()
  if port is None:
    print(f"skipping the authors' JAX port: {why}", file=sys.stderr)
  info = _common.machine()
  results = []
  for n in sizes:
    # About 10 ms of work per sample at the small sizes.
    calls = 1 if args.smoke else max(1, int(3e6 / n))
    # At 1e8 (about 0.4 GB per param copy) only the donated steps fit easily.
    for donate in (True,) if n >= BIG else (True, False):
      cands = candidates(port, betas_sweep=donate)
      if args.smoke and not donate:
        cands = [c for c in cands if c.name in ("adam", "trac(adam)")]
      result = run_size(n, cands, donate, rounds, calls)
      results.append(result)
      trac_row = result["optimizers"]["trac(adam)"]
      print(f"{result['params']:.1e} params, donated={donate}: trac(adam) "
            f"{trac_row['median_ms']:.3f} ms, {trac_row['ratio']:.2f}x adam",
            file=sys.stderr)
  payload = {
      "machine": info,
      "command": _common.command(__file__, argv),
      "rounds": rounds,
      "skipped": "" if port is not None else f"the authors' JAX port ({why})",
      "results": results,
      "targets": targets(results),
  }
  text = markdown(payload)
  _common.publish(args.out, f"step_time_{info['platform']}", payload, text)
  return 0


if __name__ == "__main__":
  sys.exit(main())
