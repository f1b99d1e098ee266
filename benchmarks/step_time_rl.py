r"""Step time of TRAC at reinforcement-learning sizes, alone and under ``vmap``.

RL agents are small (1e4 to 1e6 params in tens of leaves) and train many seeds
at once under ``jax.vmap``, with the optimizer step inside a jitted training
loop. At these sizes a step runs tens to hundreds of small kernels
(fusions: one or more per leaf), and under ``vmap`` TRAC's skip of non-finite
steps has a batched predicate. A plain ``lax.cond`` would become a select
there (the row ``trac(adam), select skip`` times that, beside the
conditionals TRAC uses instead; ``trac(adam), lane-by-lane select``, only
where a seed is non-finite, selects lane by lane where TRAC restores the one
kept seed), and its inner product reduces one sum per seed (the row
``trac(adam), one-pass lanes`` reduces every leaf in one pass, where TRAC
sums the rows of long lanes first on CPU). Two probes split TRAC's cost:
``adam+offset`` is Adam holding TRAC's state and stepping it as TRAC steps
its base, with S fixed at 1 and nothing else of TRAC's
(``offset_probe.py``), and ``trac(adam), h of one entry`` is TRAC with an
inner product of one entry (a wrong S; it times the step without that pass).

Each case is a param tree: the PPO policy and value networks of the lifelong
harness (CartPole-v1, 2 MLPs of 3 x 128), the same params raveled into one
vector, and trees of about 1e5 and 1e6 params in 10 and in 50 leaves. Each
runs

* unbatched (1 seed), with ``n`` params;
* ``vmap`` over 8 seeds of ``n / 8`` params each, the same total (the PPO
  tree is not scaled: 8 seeds of it, as the harness trains them);
* the same with one seed's gradients non-finite, so that the batched
  predicate really selects.

A sample is ``jax.jit`` of a ``lax.fori_loop`` of many steps (params and
state donated), as in a training loop: no Python dispatch per step. The
optimizers run interleaved (A B A B ...); ratios are taken pair by pair within
a round. Fusions (kernels on a GPU) and XLA's estimate of the bytes accessed
come from one compiled step.

The floors on CPU, as ``step_time.py`` derives them at 1e7 params (both
are XLA:CPU's; elsewhere they are not printed): its two bandwidth probes
(TRAC's ``<g, d>`` and an in-place ``d += g``) run beside the optimizers
on each tree, and their cost per param copy gives the traffic model
``(14 + 2 k) / 10`` for trac(adam) / adam (16 param copies against 10, the
reduction's 2 at ``k`` times a loop's cost; 1.4 if the reduction were
free). The targets table has that model per tree, and splits TRAC's
fusions beyond Adam's: XLA:CPU writes each buffer in a kernel of its own,
so TRAC's offset adds one per leaf, and each leaf above 4096 entries has
its own reduction; the rest does not grow with the leaves
(``tests/test_trac_behaviour.py``).

Usage::

    # writes benchmarks/results/step_time_rl_<platform>.{md,json}:
    python benchmarks/step_time_rl.py
    python benchmarks/step_time_rl.py --smoke --out /tmp/x
"""

from __future__ import annotations

import argparse
import contextlib
import math
import pathlib
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from typing import NamedTuple
from unittest import mock

import jax
import jax.numpy as jnp
import optax
from jax import flatten_util

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common
import offset_probe
import step_time

import trac_optax
from trac_optax import _conditional
from trac_optax import _inner_product
from trac_optax import _trac
from trac_optax.lifelong import PPO
from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong._suites import make_suite

SEEDS = 8
PER_LEAF = "trac(adam), <g, d> per leaf"
SELECT_SKIP = "trac(adam), select skip"
ONE_PASS = "trac(adam), one-pass lanes"
LANE_SELECT = "trac(adam), lane-by-lane select"
H_OF_ONE = "trac(adam), h of one entry"
OFFSET_PROBE = offset_probe.NAME
TARGET_RATIO = 1.4
TARGET_VMAP_EXCESS = 1.10


class Case(NamedTuple):
  """A param tree: ``make(n, seed)`` builds one of about ``n`` params."""

  name: str
  make: Callable[[float, int], Any]
  n: float
  scale_for_vmap: bool


def ppo_tree(_: float, seed: int) -> Any:
  """The harness's default PPO policy and value params (CartPole-v1)."""
  config = LifelongConfig()
  ppo = PPO(config, make_suite(config), optax.sgd(0.0))
  return ppo._init_one(jax.random.key(seed)).params


def raveled_ppo_tree(n: float, seed: int) -> Any:
  """The same PPO params as one 1-D vector, as codebases that keep their
  params flat hold them (67,715 entries: an odd size, which XLA:CPU splits
  unevenly between two threads and then does not vectorise)."""
  return {"flat": flatten_util.ravel_pytree(ppo_tree(n, seed))[0]}


def mlp_tree(n: float, seed: int, leaves: int = 50) -> Any:
  """``leaves / 2`` square dense layers (kernel and bias) of about ``n`` params."""
  layers = leaves // 2
  w = max(2, int((-1 + math.sqrt(1 + 4 * n / layers)) / 2))
  keys = jax.random.split(jax.random.PRNGKey(seed), layers)
  return {f"dense_{i:02d}": {"kernel": 0.05 * jax.random.normal(k, (w, w)),
                             "bias": 0.05 * jax.random.normal(k, (w,))}
          for i, k in enumerate(keys)}


def cases(smoke: bool) -> list[Case]:
  if smoke:
    return [Case("1e4 params, 10 leaves", step_time.param_tree, 1e4, True)]
  return [
      Case("PPO CartPole", ppo_tree, 0, False),
      Case("Raveled PPO CartPole", raveled_ppo_tree, 0, False),
      Case("1e5 params, 10 leaves", step_time.param_tree, 1e5, True),
      Case("1e5 params, 50 leaves", mlp_tree, 1e5, True),
      Case("1e6 params, 10 leaves", step_time.param_tree, 1e6, True),
      Case("1e6 params, 50 leaves", mlp_tree, 1e6, True),
  ]


OPTIMIZERS = {
    "adam": lambda: optax.adam(1e-3),
    "trac(adam)": lambda: trac_optax.trac(optax.adam(1e-3)),
    PER_LEAF: lambda: trac_optax.trac(optax.adam(1e-3)),
    SELECT_SKIP: lambda: trac_optax.trac(optax.adam(1e-3)),
    ONE_PASS: lambda: trac_optax.trac(optax.adam(1e-3)),
    LANE_SELECT: lambda: trac_optax.trac(optax.adam(1e-3)),
    H_OF_ONE: lambda: trac_optax.trac(optax.adam(1e-3)),
    OFFSET_PROBE: lambda: offset_probe.keeping_offset(optax.adam(1e-3)),
}
# Variants that differ from trac(adam) only where one seed keeps its state.
ONLY_WITH_A_KEPT_SEED = (LANE_SELECT,)

# With --flatten: the whole tree raveled into one vector around the optimizer
# (a constant number of optimizer loops, paid for by concatenating the
# gradients and params and slicing the update at every step).
FLATTENED = {
    "flatten(adam)": lambda: optax.flatten(optax.adam(1e-3)),
    "flatten(trac(adam))": lambda: optax.flatten(
        trac_optax.trac(optax.adam(1e-3))),
}


def _lax_cond_skip(pred, step, state, inputs, *, select_off_cpu=False):
  """A plain ``lax.cond`` on every platform (``select_off_cpu`` taken and
  ignored: without it the call raised, and TRAC fell back to a select)."""
  del select_off_cpu
  return jax.lax.cond(pred, step, lambda kept, _: kept, state, inputs)


@contextlib.contextmanager
def _traced_as(name: str) -> Iterator[None]:
  """Benchmark-only variants of trac(adam), timed beside the current one.

  ``PER_LEAF``: one reduction per leaf for ``<g, d>``, as before small
  leaves were concatenated, on every platform (on a GPU, as before leaves
  were grouped: a GPU run times that trade-off). ``SELECT_SKIP``: the skip
  as a plain ``lax.cond``, which ``vmap`` turns into a select of the whole
  base state (as before the skip batched as two conditionals). ``ONE_PASS``: under
  ``vmap``, every leaf's per-seed sums in one reduction, as before long
  lanes summed their rows first (unbatched, the same step as trac(adam)).
  ``LANE_SELECT``: a step where one seed keeps its state selects lane by
  lane, as before that seed was saved and restored around an in-place step
  (the same step as trac(adam) where the state's leaves are small).
  ``H_OF_ONE``: ``h`` from one entry of the first leaf, so the step has no
  inner product's pass (its S is not TRAC's; a timing variant only).
  """
  if name == PER_LEAF:
    with mock.patch.object(_inner_product, "CONCATENATED_LEAF_SIZE", 0), \
        mock.patch.object(_inner_product, "GROUPED_ON", {}):
      yield
  elif name == ONE_PASS:
    with mock.patch.object(_inner_product, "TWO_STAGE_LANES", 1 << 62):
      yield
  elif name == LANE_SELECT:
    with mock.patch.object(_conditional, "RESTORE_MIN_LEAF_SIZE", 1 << 62):
      yield
  elif name == SELECT_SKIP:
    with mock.patch.object(_conditional, "step_or_keep", _lax_cond_skip):
      yield
  elif name == H_OF_ONE:
    with mock.patch.object(_trac, "inner_product", _one_entry_product):
      yield
  else:
    yield


def _one_entry_product(grads: Any, delta: Any, dtype: Any) -> jax.Array:
  """``h`` as if each tree had one entry: its first leaf's first."""
  g, d = jax.tree.leaves(grads)[0], jax.tree.leaves(delta)[0]
  return (jnp.ravel(g)[0] * jnp.ravel(d)[0]).astype(dtype)


def _grads(params: Any, seed: int) -> Any:
  return jax.tree.map(
      lambda p: 1e-2 * jax.random.normal(jax.random.key(seed), p.shape,
                                         p.dtype), params)


def _stack(trees: list[Any]) -> Any:
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _poison_first_seed(grads: Any) -> Any:
  """NaN in the first seed's first leaf: that seed skips every step."""
  leaves, treedef = jax.tree.flatten(grads)
  leaves[0] = leaves[0].at[0].set(jnp.nan)
  return jax.tree.unflatten(treedef, leaves)


class Setup(NamedTuple):
  """One (case, mode): params, three gradient trees, and the step's wrapper."""

  params: Any
  grads: list[Any]
  batched: bool
  total_params: int
  leaves: int


def setup(case: Case, mode: str) -> Setup:
  """Params and gradients for ``mode`` in ``("1 seed", "8 seeds", ...)``."""
  if mode == "1 seed":
    params = case.make(case.n, 0)
    grads = [_grads(params, s) for s in (1, 2, 3)]
    batched = False
  else:
    n = case.n / SEEDS if case.scale_for_vmap else case.n
    params = _stack([case.make(n, s) for s in range(SEEDS)])
    grads = [_grads(params, s) for s in (1, 2, 3)]
    if "non-finite" in mode:
      grads = [_poison_first_seed(g) for g in grads]
    batched = True
  leaves = jax.tree.leaves(params)
  return Setup(params, grads, batched, sum(x.size for x in leaves),
               len(leaves))


MODES = ("1 seed", f"{SEEDS} seeds (vmap)",
         f"{SEEDS} seeds (vmap), one non-finite")


def _one_step(tx: optax.GradientTransformation, batched: bool):
  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state
  return jax.vmap(step) if batched else step


class Compiled(NamedTuple):
  loop: Callable[..., Any]
  params: Any
  state: Any
  fusions: int
  traffic: float
  copied: float


def compile_optimizer(name: str, s: Setup, steps: int) -> Compiled:
  """The step's HLO statistics, and a jitted loop of ``steps`` steps (the
  step itself when ``steps`` is 1)."""
  with _traced_as(name):
    return _compile({**OPTIMIZERS, **FLATTENED}[name](), s, steps)


def _compile(tx: optax.GradientTransformation, s: Setup,
             steps: int) -> Compiled:
  init = jax.vmap(tx.init) if s.batched else tx.init
  params = jax.tree.map(jnp.copy, s.params)
  state = jax.tree.map(jnp.copy, init(params))
  step = _one_step(tx, s.batched)
  one = jax.jit(step, donate_argnums=(0, 1)).lower(params, state,
                                                   s.grads[0]).compile()
  text = one.as_text()
  fusions, _ = step_time._hlo_counts(text, 1)
  param_bytes = step_time._bytes(params)
  traffic = step_time._bytes_accessed(one) / param_bytes
  copied = _entry_copy_bytes(text) / param_bytes
  if steps == 1:  # a loop of one step is the step (--smoke: half the compiles)
    return Compiled(one, params, state, fusions, traffic, copied)

  def loop(params, state, grads):
    # One gradient tree for every step: the loop body stays one step long
    # (an unrolled body of several steps takes minutes to compile at 50
    # leaves), and no gradient is sliced out of a stack inside the loop.
    body = lambda _, carry: step(*carry, grads)
    return jax.lax.fori_loop(0, steps, body, (params, state))

  compiled = jax.jit(loop, donate_argnums=(0, 1)).lower(
      params, state, s.grads[0]).compile()
  return Compiled(compiled, params, state, fusions, traffic, copied)


def _entry_copy_bytes(hlo: str) -> int:
  """Bytes copied by the entry computation itself: on every step, whichever
  branch of a conditional is taken (copies inside a branch are not counted).
  """
  entry = hlo[hlo.index("\nENTRY"):]
  return sum(step_time._copy_bytes(entry[:entry.index("\n}")]))


def probe_loops(s: Setup, steps: int) -> dict[str, Compiled]:
  """``step_time.py``'s two bandwidth probes on this tree, as loops of
  ``steps`` passes: TRAC's own ``<g, d>`` (2 param copies read) and
  ``d += g`` in place (2 read, 1 written). Their times per param copy give
  the cost ``k`` of the reduction pass relative to a loop, for the traffic
  model ``(14 + 2 k) / 10`` (see ``step_time.py``'s docstring)."""
  def reduce(d, total, g):
    return d, total + _inner_product.inner_product(g, d, jnp.float32)

  def add(d, total, g):
    return jax.tree.map(jnp.add, d, g), total

  def loop_of(one_pass):
    def loop(d, total, g):
      def body(_, carry):
        # The barrier makes each pass depend on the last, so that a
        # loop-invariant product is not hoisted out of the loop.
        return one_pass(*jax.lax.optimization_barrier(carry), g)
      return jax.lax.fori_loop(0, steps, body, (d, total))
    return loop

  d = jax.tree.map(jnp.copy, s.params)
  total = jnp.zeros((SEEDS,) if s.batched else (), jnp.float32)
  compile_ = lambda f: jax.jit(f, donate_argnums=(0, 1)).lower(
      d, total, s.grads[0]).compile()
  probes = {}
  for name, one_pass, traffic in ((step_time.PROBE_REDUCE, reduce, 2.0),
                                  (step_time.PROBE_LOOP, add, 3.0)):
    one_pass = jax.vmap(one_pass) if s.batched else one_pass
    fusions, _ = step_time._hlo_counts(compile_(one_pass).as_text(), 1)
    probes[name] = Compiled(compile_(loop_of(one_pass)),
                            jax.tree.map(jnp.copy, d), jnp.copy(total),
                            fusions, traffic, 0.0)
  return probes


def big_leaves(s: Setup) -> int:
  """Leaves that TRAC's inner product reduces one by one (unbatched)."""
  return sum(x.size > _inner_product.CONCATENATED_LEAF_SIZE
             for x in jax.tree.leaves(s.params))


def run_mode(case: Case, mode: str, rounds: int, smoke: bool,
             names: list[str]) -> dict[str, Any]:
  s = setup(case, mode)
  # About 20 ms of work per sample on a CPU.
  steps = 1 if smoke else max(1, int(2e6 / s.total_params))
  compiled = {name: compile_optimizer(name, s, steps) for name in names}
  # The probes feed XLA:CPU's traffic model only (no device time elsewhere);
  # a non-finite mode has the arrays of the mode before it.
  if jax.default_backend() == "cpu" and "non-finite" not in mode:
    compiled.update(probe_loops(s, steps))
  prepared = {name: step_time.Prepared(
      lambda p, st, g, c=c: c.loop(p, st, g), c.params, c.state, {})
              for name, c in compiled.items()}
  wall, cpu, _ = time_loops(prepared, s.grads, rounds)
  rows = {}
  for name, c in compiled.items():
    p25, med, p75 = _common.quartiles([t / steps for t in wall[name]])
    rows[name] = {"median_us": 1e6 * med, "p25_us": 1e6 * p25,
                  "p75_us": 1e6 * p75, "fusions": c.fusions,
                  "traffic_param_copies": c.traffic,
                  "copied_param_copies": c.copied}
  for name in names:  # not the probes
    if name != "adam":
      rows[name]["ratio"] = _common.quartiles(
          [a / b for a, b in zip(wall[name], wall["adam"])])
      rows[name]["cpu_ratio"] = _common.quartiles(
          [a / b for a, b in zip(cpu[name], cpu["adam"])])[1]
  return {"case": case.name, "mode": mode, "params": s.total_params,
          "leaves": s.leaves, "big_leaves": big_leaves(s),
          "steps_per_sample": steps, "optimizers": rows}


def time_loops(prepared: dict[str, step_time.Prepared], grads: list[Any],
               rounds: int):
  """Interleaved samples of whole loops (the grads are the loop's input)."""
  live = {name: [p.params, p.state] for name, p in prepared.items()}
  wall = {name: [] for name in prepared}
  cpu = {name: [] for name in prepared}
  for r in range(2 + rounds):
    for name, p in prepared.items():
      start, start_cpu = time.perf_counter(), time.process_time()
      live[name] = list(jax.block_until_ready(p.run(*live[name], grads[0])))
      if r >= 2:
        wall[name].append(time.perf_counter() - start)
        cpu[name].append(time.process_time() - start_cpu)
  return wall, cpu, live


def targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
  """The RL-size targets, per case."""
  out = []
  by = {(r["case"], r["mode"]): r["optimizers"] for r in results}
  unbatched = {r["case"]: r for r in results if r["mode"] == MODES[0]}
  # The floors are XLA:CPU's: 16 param copies against Adam's 10 and a kernel
  # per buffer (with multi-output fusion, as on a GPU, 12 against 7).
  on_cpu = jax.default_backend() == "cpu"
  for case in dict.fromkeys(r["case"] for r in results):
    one = by[(case, MODES[0])]
    ratio = one["trac(adam)"]["ratio"][1]
    out.append({"target": f"{case}, 1 seed: trac(adam) / adam <= "
                          f"{TARGET_RATIO}", "measured": ratio,
                "met": ratio <= TARGET_RATIO})
    if on_cpu:
      k = reduction_cost(one)
      out.append({"target": f"(model) {case}, 1 seed: 16/10 param copies with "
                            f"the reduction at k = {k:.2f} times a loop's "
                            "cost per copy, (14 + 2 k) / 10; at k = 0, 1.40",
                  "measured": step_time.model_ratio(k), "met": None,
                  "note": "(model)"})
    for mode in MODES[1:]:
      if (case, mode) not in by:
        continue
      batched = by[(case, mode)]["trac(adam)"]["ratio"][1]
      out.append({"target": f"{case}, {mode}: ratio / unbatched ratio <= "
                            f"{TARGET_VMAP_EXCESS}",
                  "measured": batched / ratio,
                  "met": batched / ratio <= TARGET_VMAP_EXCESS})
      if "non-finite" not in mode and OFFSET_PROBE in by[(case, mode)]:
        state = by[(case, mode)][OFFSET_PROBE]["ratio"][1]
        out.append({"target": f"(probe) {case}, {mode}: the same for "
                              f"{OFFSET_PROBE}, TRAC's state alone",
                    "measured": state / one[OFFSET_PROBE]["ratio"][1],
                    "met": None, "note": "(probe)"})
      if on_cpu and "non-finite" not in mode:
        k_seeds = reduction_cost(by[(case, mode)])
        out.append({"target": f"(model) {case}, {mode}: the same with the "
                              f"seeds' reductions at k = {k_seeds:.2f}, "
                              "(14 + 2 k) / (14 + 2 k unbatched)",
                    "measured": (step_time.model_ratio(k_seeds)
                                 / step_time.model_ratio(k)),
                    "met": None, "note": "(model)"})
    for name, what in ((OFFSET_PROBE, "TRAC's state alone, S = 1: no inner "
                                      "product, tuner or skip"),
                       (H_OF_ONE, "TRAC without its inner product's pass")):
      if name in one:
        out.append({"target": f"(probe) {case}, 1 seed: {name} / adam, "
                              f"{what}", "measured": one[name]["ratio"][1],
                    "met": None, "note": "(probe)"})
    extra = one["trac(adam)"]["fusions"] - one["adam"]["fusions"]
    out.append({"target": f"{case}, 1 seed: fusions of trac(adam) minus "
                          "adam's", "measured": extra, "met": None})
    if on_cpu:
      r = unbatched[case]
      out.append({"target": f"{case}, 1 seed: the same minus one per leaf "
                            f"(the offset's loop: {r['leaves']}) and one per "
                            "leaf above "
                            f"{_inner_product.CONCATENATED_LEAF_SIZE} "
                            "entries (its reduction: "
                            f"{r['big_leaves']})",
                  "measured": extra - r["leaves"] - r["big_leaves"],
                  "met": None})
  return out


def reduction_cost(rows: dict[str, Any]) -> float:
  """``k`` from the probes' rows of one mode."""
  return step_time.reduction_cost(rows[step_time.PROBE_REDUCE]["median_us"],
                                  rows[step_time.PROBE_LOOP]["median_us"])


def markdown(payload: dict[str, Any]) -> str:
  lines = _common.header(
      "Step time at RL sizes: trac(adam) and adam, alone and under vmap",
      payload,
      f"One sample = one jitted `fori_loop` of many steps (update + "
      f"apply_updates, params and state donated); times are per step, "
      f"medians over {payload['rounds']} interleaved rounds; ratios pair by "
      "pair within a round. Fusions and traffic (XLA's `bytes accessed` / "
      "param bytes) are of one compiled step; both count every branch of a "
      "conditional (traffic adds up each conditional's costliest branch, as "
      "if all ran, where under vmap one step runs one of them: it overstates "
      "every step, most of all the common one). Copied: bytes copied outside any "
      "conditional, i.e. on every step, / param bytes. Under vmap, each of the "
      f"{SEEDS} seeds has 1/{SEEDS} of the params (except the PPO tree).")
  verdict = {True: "yes", False: "no", None: "(count)"}
  lines += ["#### Targets", "", "| target | measured | met |", "|---|---|---|"]
  lines += [f"| {t['target']} | {t['measured']:.2f} | "
            f"{t.get('note') or verdict[t['met']]} |"
            for t in payload["targets"]]
  lines += ["", "#### Measurements", "",
            "| case | mode | params | leaves | optimizer | us per step | "
            "ratio to adam [p25, p75] (CPU time) | fusions | traffic | "
            "copied |",
            "|---|---|---|---|---|---|---|---|---|---|"]
  for r in payload["results"]:
    for name, row in r["optimizers"].items():
      ratio = ""
      if "ratio" in row:
        p25, med, p75 = row["ratio"]
        ratio = f"{med:.2f} [{p25:.2f}, {p75:.2f}] ({row['cpu_ratio']:.2f})"
      lines.append(
          f"| {r['case']} | {r['mode']} | {r['params']:,} | {r['leaves']} | "
          f"{name} | {row['median_us']:.1f} | {ratio} | {row['fusions']} | "
          f"{row['traffic_param_copies']:.1f} | "
          f"{row['copied_param_copies']:.2f} |")
  return "\n".join(lines + [""])


def chosen_cases(prefixes: str | None, smoke: bool) -> list[Case]:
  """The cases whose names start with one of the ';'-separated ``prefixes``
  (all of them for None). A prefix that names no case is an error: a typo
  would otherwise drop a case from the table without a word."""
  every = cases(smoke)
  if prefixes is None:
    return every
  wanted = [p.strip() for p in prefixes.split(";")]
  unknown = [p for p in wanted
             if not p or not any(c.name.startswith(p) for c in every)]
  if unknown:
    raise ValueError(
        f"--cases: {', '.join(map(repr, unknown))} starts no case name; the "
        f"cases{' (with --smoke)' if smoke else ''} are "
        f"{', '.join(repr(c.name) for c in every)}")
  return [c for c in every if any(c.name.startswith(p) for p in wanted)]


def parser() -> argparse.ArgumentParser:
  """The command line (also read by ``tests/test_device_check.py``)."""
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--smoke", action="store_true",
                 help="one tiny case, few rounds: checks the script runs")
  p.add_argument("--rounds", type=_common.positive_int, default=None,
                 help="timed rounds per case (default 20, smoke 2)")
  p.add_argument("--cases", default=None,
                 help="case-name prefixes to run, separated by ';' "
                      "(e.g. 'PPO;1e5 params, 10')")
  p.add_argument("--flatten", action="store_true",
                 help="also time optax.flatten around adam and trac(adam)")
  p.add_argument("--out", type=pathlib.Path, default=_common.RESULTS)
  return p


def main(argv: list[str] | None = None) -> int:
  command_line = parser()
  args = command_line.parse_args(argv)
  try:
    chosen = chosen_cases(args.cases, args.smoke)
  except ValueError as error:
    command_line.error(str(error))
  rounds = args.rounds or (2 if args.smoke else 20)
  names = [*OPTIMIZERS, *(FLATTENED if args.flatten else ())]
  if jax.default_backend() != "cpu":
    names.remove(ONE_PASS)  # the same program as trac(adam) off the CPU
  info = _common.machine()
  results = []
  for case in chosen:
    for mode in MODES:
      result = run_mode(case, mode, rounds, args.smoke, [
          n for n in names
          if n not in ONLY_WITH_A_KEPT_SEED or "non-finite" in mode])
      results.append(result)
      t = result["optimizers"]["trac(adam)"]
      print(f"{case.name}, {mode}: {t['ratio'][1]:.2f}x adam, fusions "
            f"{result['optimizers']['adam']['fusions']} / {t['fusions']}",
            file=sys.stderr, flush=True)
  payload = {
      "machine": info,
      "command": _common.command(__file__, argv),
      "rounds": rounds, "results": results, "targets": targets(results),
  }
  text = markdown(payload)
  _common.publish(args.out, f"step_time_rl_{info['platform']}", payload, text)
  return 0


if __name__ == "__main__":
  sys.exit(main())
