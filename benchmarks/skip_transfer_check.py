"""Does TRAC's skip of non-finite steps move data to the host?

On the CPU the skip is a conditional; on every other platform it is a select
(no conditional, so nothing for the host to read: the HLO row
``conditional (the skip)`` is 0 there, and ``accelerator_hlo.py`` shows why).
Three checks on the default device, printed as Markdown:

1. The optimized HLO of one jitted trac(adam) step: host transfers
   (send/recv, infeed/outfeed, ``is_host_transfer``), host callbacks
   (custom calls naming a callback), and copies to host memory spaces.
2. Ten steps under ``jax.transfer_guard("disallow")``, finite and non-finite
   gradients alternating (the skip branch runs): any implicit transfer
   between host and device raises.
3. Time per step, 200 steps dispatched back to back: trac(adam), the same
   without the skip (the plain step), and adam. On the CPU, a conditional
   whose predicate the host must read would stall the dispatch queue and
   show as a gap between the first two; elsewhere the gap is the select's.

Usage: ``python benchmarks/skip_transfer_check.py [--params 1e5]``.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
import time
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import step_time  # noqa: E402

import trac_optax  # noqa: E402
from trac_optax import _trac  # noqa: E402  (only for the no-skip variant)

HOST_PATTERNS = {
    "send/recv": r"= \S+ (send|recv|send-done|recv-done)\(",
    "infeed/outfeed": r"= \S+ (infeed|outfeed)\(",
    "is_host_transfer": r"is_host_transfer=true",
    "callback custom calls": r"custom_call_target=\"[^\"]*callback[^\"]*\"",
    "host memory space S(5)": r"\{[^}]*S\(5\)[^}]*\}",
}


def _step(tx):
  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state
  return jax.jit(step, donate_argnums=(0, 1))


def _time(step, params, state, grads, calls=200):
  params, state = step(params, state, grads)  # compile and warm up
  jax.block_until_ready((params, state))
  samples = []
  for _ in range(5):
    start = time.perf_counter()
    for _ in range(calls):
      params, state = step(params, state, grads)
    jax.block_until_ready((params, state))
    samples.append((time.perf_counter() - start) / calls)
  return 1e6 * float(np.median(samples))


def parser() -> argparse.ArgumentParser:
  """The command line (also read by ``tests/test_device_check.py``)."""
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--params", type=float, default=1e5,
                 help="param count of the trac(adam) step checked")
  return p


def main(argv: list[str] | None = None) -> int:
  args = parser().parse_args(argv)
  device = jax.devices()[0]
  print(f"### lax.cond skip and host transfers ({device.platform})\n")
  print(f"Device: {jax.device_count()}x {device.device_kind}, jax "
        f"{jax.__version__}; trac(adam) on {args.params:.0e} params.\n")

  params = step_time.param_tree(args.params)
  grads = jax.tree.map(lambda x: 1e-2 * x, step_time.param_tree(args.params, 1))
  bad = jax.tree.map(lambda g: g.at[(0,) * g.ndim].set(jnp.nan), grads)
  tx = trac_optax.trac(optax.adam(1e-3))
  step = _step(tx)
  fresh = lambda: (jax.tree.map(jnp.copy, params), tx.init(params))
  hlo = step.lower(*fresh(), grads).compile().as_text()
  print("| HLO check | count |\n|---|---|")
  found = 0
  for name, pattern in HOST_PATTERNS.items():
    count = len(re.findall(pattern, hlo))
    found += count
    print(f"| {name} | {count} |")
  conditionals = len(re.findall(r" conditional\(", hlo))
  print(f"| conditional (the skip) | {conditionals} |\n")

  p, s = fresh()
  jax.block_until_ready((p, s))
  step(p, s, grads)  # compile outside the guard
  p, s = fresh()
  guard_error = ""
  try:
    with jax.transfer_guard("disallow"):
      for i in range(10):
        p, s = step(p, s, bad if i % 2 else grads)
      jax.block_until_ready((p, s))
  except Exception as error:  # noqa: BLE001 - report whatever it was.
    guard_error = repr(error)[:300]
  skipped = int(s.skipped)
  print(f"transfer_guard('disallow'), 10 steps (5 with non-finite "
        f"gradients, {skipped} skipped): "
        f"{'no transfer' if not guard_error else 'RAISED ' + guard_error}\n")

  no_skip = mock.patch.object(_trac, "_step_or_keep",
                              lambda pred, step_fn, state, inputs: step_fn(
                                  state, inputs))
  times = {"trac(adam)": _time(step, *fresh(), grads),
           "trac(adam), skip branch taken": _time(step, *fresh(), bad)}
  with no_skip:
    plain = _step(trac_optax.trac(optax.adam(1e-3)))
    plain.lower(*fresh(), grads).compile()
    times["trac(adam), no skip (no lax.cond)"] = _time(plain, *fresh(), grads)
  adam = optax.adam(1e-3)
  times["adam"] = _time(_step(adam), jax.tree.map(jnp.copy, params),
                        adam.init(params), grads)
  print("| step, 200 dispatched back to back | us per step |\n|---|---|")
  for name, us in times.items():
    print(f"| {name} | {us:.1f} |")
  verdict = "no host transfer in the HLO" if not found else "HOST TRANSFERS FOUND"
  print(f"\nVerdict: {verdict}"
        f"; transfer guard {'passed' if not guard_error else 'raised'}; "
        f"the conditional costs "
        f"{times['trac(adam)'] - times['trac(adam), no skip (no lax.cond)']:+.1f}"
        " us per step against the plain step.")
  return 0 if not found and not guard_error and skipped == 5 else 1


if __name__ == "__main__":
  sys.exit(main())
