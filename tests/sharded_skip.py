"""Run by test_batched_skip.py in a process with 8 simulated CPU devices.

Steps 8 vmapped seeds of trac(adam), sharded one per device and on one
device, with one seed's gradients non-finite at some steps (the step that
saves and restores that seed), and saves both runs and the collectives of
the compiled sharded step (operation and result type). Then the same as a
sweep: each seed's base closes over its own learning rate, sharded like the
seeds.
"""

from __future__ import annotations

import sys


def main(out: str) -> None:
  import re
  from unittest import mock

  import jax
  import jax.numpy as jnp
  import numpy as np
  import optax
  from jax.sharding import Mesh
  from jax.sharding import NamedSharding
  from jax.sharding import PartitionSpec

  import trac_optax
  from trac_optax import _conditional

  seeds = 8
  tx = trac_optax.trac(optax.adam(1e-2))
  start = {"w": jax.random.normal(jax.random.key(0), (seeds, 64, 64)),
           "b": jnp.ones((seeds, 64))}

  def step(params, state, grads, learning_rate, sweep):
    base = trac_optax.trac(optax.adam(learning_rate)) if sweep else tx
    updates, state = base.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  def run(sharding, sweep):
    params = jax.tree.map(jnp.copy, start)
    learning_rates = jnp.linspace(1e-3, 1e-1, seeds)
    if sharding is not None:
      params, learning_rates = jax.device_put((params, learning_rates),
                                              sharding)
    state = jax.vmap(tx.init)(params)
    update = jax.jit(jax.vmap(lambda *args: step(*args, sweep=sweep)))
    for t in range(4):
      grads = jax.tree.map(lambda p, t=t: jnp.sin(p * (t + 1)), params)
      if t in (1, 2):  # seed 4, then seed 5, alone non-finite
        grads = {**grads, "w": grads["w"].at[3 + t, 0, 0].set(jnp.nan)}
      params, state = update(params, state, grads, learning_rates)
    text = update.lower(params, state, params,
                        learning_rates).compile().as_text()
    return params, state, text

  sharding = NamedSharding(Mesh(np.array(jax.devices()), ("seeds",)),
                           PartitionSpec("seeds"))
  arrays = {"devices": len(jax.devices())}
  for prefix, sweep in (("", False), ("sweep-", True)):
    runs = {}
    # Every leaf here restores (not small); the select is the reference.
    with mock.patch.object(_conditional, "RESTORE_MIN_LEAF_SIZE", 0):
      runs["sharded"] = run(sharding, sweep)
      runs["one_device"] = run(None, sweep)
    with mock.patch.object(_conditional, "RESTORE_MIN_LEAF_SIZE", 1 << 62):
      runs["select"] = run(None, sweep)
    for name, (params, state, _) in runs.items():
      for i, leaf in enumerate(jax.tree.leaves((params, state))):
        arrays[f"{prefix}{name}_{i}"] = np.asarray(leaf)
    # Every collective of the sharded step, as (op, result type: a shape or
    # a tuple of them).
    collectives = [(op, shape) for shape, op in re.findall(
        r"= ([^=\n]+?) (all-gather|all-reduce|all-to-all|collective-permute|"
        r"reduce-scatter)(?:-start)?\(", runs["sharded"][2])]
    arrays[f"{prefix}collectives"] = np.array(collectives, dtype=str)
  np.savez(out, **arrays)


if __name__ == "__main__":
  main(sys.argv[1])
