"""Data-parallel training with TRAC across processes (hosts) with jax.distributed.

The same program runs on every process: params and the TRAC state are
replicated, each process feeds its own slice of the global batch, and the
gradient of the global mean loss is computed by one jitted step (XLA inserts
the cross-process all-reduce). Every process ends with the same TRAC state.

Run on one machine as 2 local processes (CPU, gloo collectives)::

    python examples/multihost_data_parallel.py --spawn 2

On real hosts, start one process per host with the same coordinator::

    python examples/multihost_data_parallel.py --coordinator HOST0:PORT \\
        --num-processes N --process-id I

``--out FILE.npz`` saves this process's final params, ``delta``, ``S`` and
the whole TRAC state (leaves in tree order), which
``tests/test_multiprocess.py`` compares across processes and with a
single-process run (``--num-processes 1``).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys

BATCH = 64
FEATURES = 16
OUTPUTS = 8
STEPS = 20


def problem():
  """The global batch and the initial params: the same on every process."""
  import numpy as np
  rng = np.random.default_rng(0)
  x = rng.normal(size=(BATCH, FEATURES)).astype(np.float32)
  y = (np.tanh(x @ rng.normal(size=(FEATURES, OUTPUTS))) + 0.5).astype(
      np.float32)
  params = {
      "hidden": {"w": 0.3 * rng.normal(size=(FEATURES, 32)).astype(np.float32),
                 "b": np.zeros((32,), np.float32)},
      "out": {"w": 0.3 * rng.normal(size=(32, OUTPUTS)).astype(np.float32),
              "b": np.zeros((OUTPUTS,), np.float32)},
  }
  return params, x, y


def train(args: argparse.Namespace) -> None:
  """One process's part of the run: initialise, train, report, save."""
  import jax
  # Cross-process collectives for CPU devices; GPUs and TPUs bring their own
  # and ignore it. (Asking for the backend here would start it too early.)
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if args.num_processes > 1:
    jax.distributed.initialize(coordinator_address=args.coordinator,
                               num_processes=args.num_processes,
                               process_id=args.process_id,
                               initialization_timeout=60)
  import jax.numpy as jnp
  import numpy as np
  import optax
  from jax.sharding import NamedSharding
  from jax.sharding import PartitionSpec as P

  import trac_optax

  mesh = jax.make_mesh((jax.device_count(),), ("data",))
  replicated = NamedSharding(mesh, P())
  batch_sharding = NamedSharding(mesh, P("data"))

  params, x, y = problem()
  # This process's rows of the global batch, in process order.
  rows = BATCH // jax.process_count()
  local = slice(jax.process_index() * rows, (jax.process_index() + 1) * rows)
  x, y = (jax.make_array_from_process_local_data(batch_sharding, a[local])
          for a in (x, y))

  tx = trac_optax.trac(optax.adam(0.05), s_init=1e-4)
  params = jax.device_put(params, replicated)
  state = jax.jit(tx.init, out_shardings=replicated)(params)

  def loss(params, x, y):
    h = jnp.tanh(x @ params["hidden"]["w"] + params["hidden"]["b"])
    return jnp.mean((h @ params["out"]["w"] + params["out"]["b"] - y) ** 2)

  @jax.jit
  def step(params, state, x, y):
    value, grads = jax.value_and_grad(loss)(params, x, y)  # global mean
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state, value

  for i in range(args.steps):
    params, state, value = step(params, state, x, y)
    if i % 5 == 0 or i == args.steps - 1:
      # Replicated: every process holds the whole value.
      print(f"process {jax.process_index()}: step {i} loss "
            f"{float(value.addressable_data(0)):.5f} S "
            f"{float(trac_optax.scale(state).addressable_data(0)):.3e}",
            flush=True)

  if args.out:
    local_copy = lambda a: np.asarray(a.addressable_data(0))
    leaves = [local_copy(a) for a in jax.tree.leaves(state)]
    np.savez(args.out,
             scale=local_copy(trac_optax.scale(state)),
             **{f"params_{i}": local_copy(a)
                for i, a in enumerate(jax.tree.leaves(params))},
             **{f"delta_{i}": local_copy(a)
                for i, a in enumerate(jax.tree.leaves(state.delta))},
             **{f"state_{i}": a for i, a in enumerate(leaves)})
  if args.num_processes > 1:
    jax.distributed.shutdown()


def free_port() -> int:
  """A TCP port nothing listens on right now."""
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def spawn(count: int, args: argparse.Namespace) -> int:
  """Starts ``count`` local processes of this script; waits for all."""
  coordinator = f"localhost:{free_port()}"
  procs = []
  for i in range(count):
    cmd = [sys.executable, __file__, "--coordinator", coordinator,
           "--num-processes", str(count), "--process-id", str(i),
           "--steps", str(args.steps)]
    if args.out:
      cmd += ["--out", args.out.replace("{i}", str(i))]
    procs.append(subprocess.Popen(cmd, env={**os.environ,
                                            "JAX_PLATFORMS": "cpu"}))
  try:
    codes = [p.wait(timeout=args.timeout) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
  return max(abs(c) for c in codes)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--spawn", type=int, default=0,
                      help="start this many local processes (CPU) and wait")
  parser.add_argument("--coordinator", default="localhost:12355",
                      help="HOST:PORT of process 0's coordinator service")
  parser.add_argument("--num-processes", type=int, default=1)
  parser.add_argument("--process-id", type=int, default=0)
  parser.add_argument("--steps", type=int, default=STEPS)
  parser.add_argument("--timeout", type=float, default=120,
                      help="seconds to wait for spawned processes")
  parser.add_argument("--out", default="",
                      help="save the final state here (.npz; with --spawn, "
                           "{i} is replaced by the process id)")
  args = parser.parse_args(argv)
  if args.spawn:
    return spawn(args.spawn, args)
  train(args)
  return 0


if __name__ == "__main__":
  sys.exit(main())
