"""Run by test_sharding.py in a process with 8 simulated CPU devices.

Trains the same tiny lifelong run with the seeds sharded over all devices
and on one device, and saves both runs' results and the placements seen.
"""

from __future__ import annotations

import sys


def main(out: str) -> None:
  import jax
  import jax.numpy as jnp
  import numpy as np
  import optax

  from trac_optax.lifelong import PPO
  from trac_optax.lifelong import LifelongConfig
  from trac_optax.lifelong import run_lifelong
  from trac_optax.lifelong._sharding import seed_sharding
  from trac_optax.lifelong._sharding import shard_seeds
  from trac_optax.lifelong._suites import make_suite

  config = LifelongConfig(num_seeds=8, num_tasks=2, iterations_per_task=2,
                          num_steps=16, hidden=8, layers=1, epochs=1,
                          minibatch_size=16, protocol="fixed")
  runs = {shard: run_lifelong(config, "trac", progress=False, shard=shard)
          for shard in (True, False)}
  # Where the agents live when sharded: one seed per device.
  ppo = PPO(config, make_suite(config), optax.adam(1e-2))
  keys = shard_seeds(jax.random.split(jax.random.key(0), 8), 8)
  agents, _ = jax.jit(ppo.train_task)(jax.jit(ppo.init)(keys), jnp.int32(0))
  leaf = jax.tree.leaves(agents.params)[0]
  np.savez(out, devices=jax.device_count(),
           placed=len(leaf.sharding.device_set),
           devices_for_6=seed_sharding(6).mesh.devices.size,
           shard_shape=leaf.addressable_shards[0].data.shape[0],
           **{f"{k}_{shard}": getattr(run, k) for shard, run in runs.items()
              for k in ("returns", "episodes", "scale")})


if __name__ == "__main__":
  main(sys.argv[1])
