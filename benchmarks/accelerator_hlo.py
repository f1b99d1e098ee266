r"""Kernels and copies of one TRAC step compiled for a GPU or a TPU, without one.

XLA compiles for an accelerator it is told about
(``jax.experimental.topologies``): an NVIDIA H200 (compute capability 9.0,
132 SMs), described by a GPU target config (``--target-config`` reads
another card's), or a TPU v5e. Nothing runs: the script reads the optimized
HLO of one jitted, donated ``update`` + ``apply_updates`` of adam and of
trac(adam) on the RL-size trees of ``step_time_rl.py`` (1 seed, and 8 seeds
under ``vmap``) and on 1e7 params, and reports per step

* fusions (on a GPU, one kernel launch each; XLA's multi-output and
  horizontal fusion make them far fewer than XLA:CPU's), and how many of them
  reduce (the inner product's sums, Adam's none);
* conditionals, and the bytes copied by copy ops per param byte (a copy is a
  pass over the state that a step should update in place);
* traffic: the bytes that the kernels read and write, per param byte (XLA's
  own estimate, ``cost_analysis``, is not available without a device);
* host transfers and host callbacks (the patterns of
  ``skip_transfer_check.py``).

Beside trac(adam) it compiles the same step with the skip as XLA:CPU's
in-place conditionals (``trac(adam), conditional skip``: what every platform
compiled before the skip became a select off the CPU) and with no skip at all
(``trac(adam), no skip``: the kernels of TRAC's arithmetic alone). With
``--harness`` it also compiles the lifelong-RL demo's ``train_task`` with
adam and with trac.

Setup: the CUDA plugin and its libraries (about 5 GB; no driver needed), or
libtpu (0.7 GB), at the versions the installed jax names::

    pip install "jax-cuda12-plugin[with-cuda]==$JAX" "jax-cuda12-pjrt==$JAX"
    pip install "jax[tpu]==$JAX"   # with JAX the installed jax version, e.g. 0.10.2
    # writes benchmarks/results/accelerator_hlo/accelerator_hlo_h200.{md,json}:
    python benchmarks/accelerator_hlo.py --harness   # with the RL demo's task
    python benchmarks/accelerator_hlo.py --harness --target tpu-v5e
    python benchmarks/accelerator_hlo.py --smoke --out /tmp/x
"""

from __future__ import annotations

import os

# The CUDA plugin checks the driver's version when it loads; compiling needs
# no driver, and this machine may have none. Nothing runs on the accelerator.
os.environ.setdefault("JAX_SKIP_CUDA_CONSTRAINTS_CHECK", "1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import importlib.metadata  # noqa: E402
import pathlib  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402
from unittest import mock  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common  # noqa: E402
import skip_transfer_check  # noqa: E402
import step_time  # noqa: E402
import step_time_rl  # noqa: E402

import trac_optax  # noqa: E402
from trac_optax import _conditional  # noqa: E402
from trac_optax import _trac  # noqa: E402
from trac_optax.lifelong import PPO  # noqa: E402
from trac_optax.lifelong import LifelongConfig  # noqa: E402
from trac_optax.lifelong import make_optimizer  # noqa: E402
from trac_optax.lifelong._suites import make_suite  # noqa: E402

H200 = {
    "gpu_device_info": {
        "threads_per_block_limit": 1024,
        "threads_per_warp": 32,
        "shared_memory_per_block": 48 * 1024,
        "shared_memory_per_core": 228 * 1024,
        "threads_per_core_limit": 2048,
        "core_count": 132,
        "fpus_per_core": 128,
        "block_dim_limit_x": 2**31 - 1,
        "block_dim_limit_y": 65535,
        "block_dim_limit_z": 65535,
        "memory_bandwidth": 4_800_000_000_000,
        "l2_cache_size": 50 * 1024 * 1024,
        "clock_rate_ghz": 1.98,
        "device_memory_size": 141_000_000_000,
        "shared_memory_per_block_optin": 227 * 1024,
        "cuda_compute_capability": {"major": 9, "minor": 0},
        "registers_per_core_limit": 65536,
        "registers_per_block_limit": 65536,
    },
    "platform_name": "CUDA",
    "dnn_version_info": {"major": 9, "minor": 8},
    "runtime_version": {"major": 12, "minor": 9},
    "device_description_str": "NVIDIA H200",
}
"""The H200's published figures, as XLA's ``GpuTargetConfigProto`` fields."""

CONDITIONAL_SKIP = "trac(adam), conditional skip"
NO_SKIP = "trac(adam), no skip"
OPTIMIZERS = ("adam", "trac(adam)", CONDITIONAL_SKIP, NO_SKIP)
MODES = ("1 seed", f"{step_time_rl.SEEDS} seeds (vmap)")
SETUP = {"h200": 'pip install "jax-cuda12-plugin[with-cuda]=={v}" '
                 '"jax-cuda12-pjrt=={v}"',
         "tpu-v5e": 'pip install "jax[tpu]=={v}"'}
PLATFORMS = {"h200": "cuda", "tpu-v5e": "tpu"}
"""Each target's name in ``jax.lax.platform_dependent``."""


def proto_text(fields: dict[str, Any], indent: str = "") -> str:
  """``fields`` in protobuf text format."""
  lines = []
  for name, value in fields.items():
    if isinstance(value, dict):
      lines += [f"{indent}{name} {{", proto_text(value, indent + "  "),
                f"{indent}}}"]
    elif isinstance(value, str):
      lines.append(f'{indent}{name}: "{value}"')
    else:
      lines.append(f"{indent}{name}: {value}")
  return "\n".join(lines)


def accelerator_sharding(target: str,
                         target_config: str) -> jax.sharding.Sharding:
  """A one-device sharding on the accelerator (none needed here).

  Raises:
    SystemExit: where its plugin is not installed, naming the command.
  """
  from jax.experimental import topologies
  try:
    if target == "tpu-v5e":
      # The smallest v5e topology that libtpu describes is one host's 2x2.
      topology = topologies.get_topology_desc(topology_name="v5e:2x2",
                                              platform="tpu")
    else:
      topology = topologies.get_topology_desc(
          platform="cuda", target_config=target_config, topology="1x1x1")
  except (NotImplementedError, RuntimeError) as error:
    raise SystemExit(
        f"cannot compile for {target} here ({error}); install its plugin: "
        f"{SETUP[target].format(v=jax.__version__)}") from None
  mesh = jax.sharding.Mesh(topology.devices[:1], ("device",))
  return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())


@contextlib.contextmanager
def _traced_as(name: str, platform: str) -> Iterator[None]:
  if name == CONDITIONAL_SKIP:
    with mock.patch.object(_conditional, "IN_PLACE_PLATFORM", platform):
      yield
  elif name == NO_SKIP:
    with mock.patch.object(_trac, "_step_or_keep",
                           lambda pred, step, state, inputs: step(state,
                                                                  inputs)):
      yield
  else:
    yield


def optimized_hlo(name: str, params: Any, batched: bool, target: str,
                  sharding: jax.sharding.Sharding) -> str:
  """The optimized HLO of one donated step of ``name``, compiled for
  ``target``."""
  tx = optax.adam(1e-3) if name == "adam" else trac_optax.trac(
      optax.adam(1e-3))
  init = jax.vmap(tx.init) if batched else tx.init
  abstract = lambda tree: jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
      tree)
  state = jax.eval_shape(init, params)
  step = step_time_rl._one_step(tx, batched)
  with _traced_as(name, PLATFORMS[target]):
    return jax.jit(step, donate_argnums=(0, 1)).lower(
        abstract(params), abstract(state), abstract(params)).compile().as_text()


def _shape_bytes(shape: str) -> int:
  """Bytes of an HLO shape, an array or a tuple of them."""
  return sum(step_time._array_bytes(dtype, dims)
             for dtype, dims in re.findall(r"\b([a-z]+\d*)\[([\d,]*)\]", shape))


def _computations(hlo: str) -> dict[str, str]:
  """Each computation of an HLO module's text (the entry included), by name:
  the lines between its header and its closing brace."""
  return dict(re.findall(r"^(?:ENTRY )?%?([\w.\-]+) [^\n]*\{\n(.*?)\n\}", hlo,
                         re.DOTALL | re.MULTILINE))


def traffic(hlo: str) -> int:
  """Bytes that the kernels read and write: for each fusion, copy and custom
  call outside a fused computation, its result and its operands (a buffer
  updated in place counts once read and once written). Every branch of a
  conditional counts, as in XLA's own estimate."""
  fused = set(re.findall(r" fusion\([^\n]*?calls=%?([\w.\-]+)", hlo))
  total = 0
  for name, body in _computations(hlo).items():
    if name in fused:
      continue
    shapes: dict[str, str] = {}
    for line in body.split("\n"):
      m = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = (.*?) ([a-z\-]+)\((.*)$",
                   line)
      if not m:
        continue
      result, shape, op, rest = m.groups()
      shapes[result] = shape
      if op in ("fusion", "copy", "custom-call"):
        operands = re.findall(r"%([\w.\-]+)", rest.split(")")[0])
        total += _shape_bytes(shape) + sum(_shape_bytes(shapes.get(o, ""))
                                           for o in operands)
  return total


def hlo_stats(hlo: str, param_bytes: int) -> dict[str, Any]:
  """Fusions, conditionals, bytes copied (``step_time._copy_bytes``) and
  moved / param bytes, host transfers."""
  copied = sum(step_time._copy_bytes(hlo))
  return {
      "fusions": len(re.findall(r" fusion\(", hlo)),
      "reducing_fusions": reducing_fusions(hlo),
      "conditionals": len(re.findall(r" conditional\(", hlo)),
      "copied": copied / param_bytes,
      "traffic": traffic(hlo) / param_bytes,
      "host_transfers": sum(len(re.findall(pattern, hlo)) for pattern
                            in skip_transfer_check.HOST_PATTERNS.values()),
  }


def reducing_fusions(hlo: str) -> int:
  """Fusions whose fused computation holds a reduce (such as the inner
  product's sums), directly or through the computations it calls."""
  bodies = _computations(hlo)

  def reduces(name: str, seen: frozenset[str] = frozenset()) -> bool:
    body = bodies.get(name, "")
    return " reduce(" in body or any(
        reduces(called, seen | {name}) for called in re.findall(
            r"(?:calls|to_apply)=%?([\w.\-]+)", body) if called not in seen)

  return sum(reduces(called) for called in re.findall(
      r" fusion\([^\n]*?calls=%?([\w.\-]+)", hlo))


def harness_hlo(name: str, sharding: jax.sharding.Sharding) -> dict[str, Any]:
  """The lifelong-RL demo's ``train_task`` (its defaults: CartPole-v1, 2
  seeds, the paper protocol; 5 iterations a task), compiled for the target:
  fusions, conditionals and host transfers of the whole program, and the
  bytes copied per param byte inside its loops (at every iteration) and
  outside them (once a task)."""
  config = LifelongConfig(iterations_per_task=5)
  ppo = PPO(config, make_suite(config),
            make_optimizer(name, config.learning_rate))
  agents = jax.eval_shape(
      ppo.init, jax.random.split(jax.random.key(0), config.num_seeds))
  on_target = lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                             sharding=sharding)
  hlo = jax.jit(ppo.train_task).lower(
      jax.tree.map(on_target, agents),
      on_target(jax.ShapeDtypeStruct((), jnp.int32))).compile().as_text()
  param_bytes = sum(x.size * x.dtype.itemsize
                    for x in jax.tree.leaves(agents.params))
  entry = hlo[hlo.index("\nENTRY"):]
  entry = entry[:entry.index("\n}")]
  whole = hlo_stats(hlo, param_bytes)
  once = hlo_stats(entry, param_bytes)["copied"]
  return {"optimizer": name, "fusions": whole["fusions"],
          "conditionals": whole["conditionals"],
          "host_transfers": whole["host_transfers"],
          "copied_in_loops": whole["copied"] - once, "copied_once": once}


def cases(smoke: bool) -> list[step_time_rl.Case]:
  if smoke:
    return step_time_rl.cases(smoke=True)
  return [*step_time_rl.cases(smoke=False),
          step_time_rl.Case("1e7 params, 10 leaves", step_time.param_tree, 1e7,
                            True)]


def run_case(case: step_time_rl.Case, mode: str, target: str,
             sharding: jax.sharding.Sharding) -> dict[str, Any]:
  if mode == "1 seed":
    params = jax.eval_shape(lambda: case.make(case.n, 0))
  else:
    n = case.n / step_time_rl.SEEDS if case.scale_for_vmap else case.n
    params = jax.eval_shape(lambda: step_time_rl._stack(
        [case.make(n, s) for s in range(step_time_rl.SEEDS)]))
  leaves = jax.tree.leaves(params)
  param_bytes = sum(x.size * x.dtype.itemsize for x in leaves)
  return {
      "case": case.name, "mode": mode, "leaves": len(leaves),
      "params": sum(x.size for x in leaves),
      "optimizers": {name: hlo_stats(optimized_hlo(
          name, params, mode != "1 seed", target, sharding), param_bytes)
          for name in OPTIMIZERS},
  }


def targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
  rows = []
  for r in results:
    where = f"{r['case']}, {r['mode']}"
    trac, adam = r["optimizers"]["trac(adam)"], r["optimizers"]["adam"]
    # The skip's own copies: any beyond those of the step without a skip
    # (on a TPU, TRAC's small leaves can be copied into a new layout).
    extra = trac["copied"] - r["optimizers"][NO_SKIP]["copied"]
    rows.append({"target": f"{where}: the skip copies no state (trac(adam)'s "
                           "copies beyond the no-skip step's)",
                 "measured": extra, "met": extra < 0.01})
    rows.append({"target": f"{where}: no host transfer or callback",
                 "measured": trac["host_transfers"],
                 "met": trac["host_transfers"] == 0})
    rows.append({"target": f"{where}: fusions beyond adam's",
                 "measured": trac["fusions"] - adam["fusions"], "met": None})
    rows.append({"target": f"{where}: traffic of trac(adam) / adam's (with "
                           "multi-output fusion the floor is 12 / 7 = 1.71)",
                 "measured": trac["traffic"] / adam["traffic"], "met": None})
  return rows


def markdown(payload: dict[str, Any]) -> str:
  info = payload["machine"]
  lines = [
      f"### One step compiled for {payload['device']}, without one", "",
      f"Compiled on a {info['cpu_count']}-core CPU ({info['cpu_model']}), jax "
      f"{info['jax']}, {payload['plugin']}, code at commit {info['commit']}, "
      f"{info['date_utc']} UTC; nothing ran on the accelerator.", "",
      f"Command: `{payload['command']}`. One jitted `update` + "
      "`apply_updates`, params and state donated; optimized HLO of the whole "
      "step (every branch of a conditional counted). Copied: bytes written by "
      "copy ops / param bytes. Traffic: bytes read and written by the "
      "kernels (fusions, copies, custom calls: each one's operands and "
      "result) / param bytes. Under vmap, 8 seeds of 1/8 of the params each "
      "(the PPO tree: 8 seeds of it).", "",
      "#### Targets", "", "| target | measured | met |", "|---|---|---|"]
  for t in payload["targets"]:
    met = "(count)" if t["met"] is None else ("yes" if t["met"] else "no")
    lines.append(f"| {t['target']} | {t['measured']:.3g} | {met} |")
  lines += ["", "#### Per step", "",
            "| case | mode | params | leaves | optimizer | fusions | "
            "of which reduce | conditionals | copied | traffic | "
            "host transfers |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in payload["results"]:
    for name, s in r["optimizers"].items():
      lines.append(f"| {r['case']} | {r['mode']} | {r['params']:,} | "
                   f"{r['leaves']} | {name} | {s['fusions']} | "
                   f"{s['reducing_fusions']} | {s['conditionals']} | "
                   f"{s['copied']:.2f} | {s['traffic']:.2f} | "
                   f"{s['host_transfers']} |")
  if payload.get("harness"):
    lines += ["", "#### The lifelong-RL demo's `train_task`", "",
              "CartPole-v1, 2 seeds, the paper protocol, 5 iterations. "
              "Copied: per param byte, inside the loops (every iteration) "
              "and outside them (once a task).", "",
              "| optimizer | fusions | conditionals | host transfers | "
              "copied in loops | copied once |", "|---|---|---|---|---|---|"]
    for h in payload["harness"]:
      lines.append(f"| {h['optimizer']} | {h['fusions']} | "
                   f"{h['conditionals']} | {h['host_transfers']} | "
                   f"{h['copied_in_loops']:.2f} | {h['copied_once']:.2f} |")
  return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
  """The command line (also read by ``tests/test_benchmarks_smoke.py``)."""
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--target", choices=tuple(PLATFORMS), default="h200")
  p.add_argument("--smoke", action="store_true", help="one tiny case")
  p.add_argument("--harness", action="store_true",
                 help="also the lifelong-RL demo's train_task (adam, trac)")
  p.add_argument("--target-config", type=pathlib.Path, default=None,
                 help="for --target h200: another card's GpuTargetConfigProto "
                      "in text format")
  p.add_argument("--out", type=pathlib.Path,
                 default=_common.RESULTS / "accelerator_hlo")
  return p


def _plugin(target: str) -> str:
  name = "jax-cuda12-plugin" if target == "h200" else "libtpu"
  try:
    return f"{name} {importlib.metadata.version(name)}"
  except importlib.metadata.PackageNotFoundError:
    return f"{name} (version unknown)"


def main(argv: list[str] | None = None) -> int:
  args = parser().parse_args(argv)
  config = (args.target_config.read_text() if args.target_config
            else proto_text(H200))
  sharding = accelerator_sharding(args.target, config)
  if args.target == "tpu-v5e":
    device = "a TPU v5e"
  else:
    named = re.search(r'device_description_str:\s*"([^"]*)"', config)
    device = f"an {named.group(1)}" if named else "a GPU"
  results = []
  for case in cases(args.smoke):
    for mode in MODES:
      results.append(run_case(case, mode, args.target, sharding))
      s = results[-1]["optimizers"]
      print(f"{case.name}, {mode}: fusions {s['adam']['fusions']} / "
            f"{s['trac(adam)']['fusions']}, copied "
            f"{s['trac(adam)']['copied']:.2f}", file=sys.stderr, flush=True)
  harness = ([harness_hlo(name, sharding) for name in ("adam", "trac")]
             if args.harness else [])
  payload = {
      "machine": _common.machine(), "target": args.target, "device": device,
      "harness": harness,
      "plugin": _plugin(args.target),
      "command": _common.command(__file__, argv),
      "results": results, "targets": targets(results),
  }
  _common.publish(args.out, f"accelerator_hlo_{args.target}", payload,
                  markdown(payload))
  return 0


if __name__ == "__main__":
  sys.exit(main())
