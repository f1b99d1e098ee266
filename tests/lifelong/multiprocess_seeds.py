"""Run by test_sharding.py: one process of a 2-process lifelong run.

``python multiprocess_seeds.py OUT COORDINATOR NUM_PROCESSES PROCESS_ID``
trains a tiny lifelong run with its seeds split over the devices of all
processes (``NUM_PROCESSES`` 1: one process, no jax.distributed) and saves
the gathered results and where this process's seeds lived.
"""

from __future__ import annotations

import sys


def main(out: str, coordinator: str, num_processes: int,
         process_id: int) -> None:
  import jax
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if num_processes > 1:
    jax.distributed.initialize(coordinator, num_processes, process_id,
                               initialization_timeout=60)
  import numpy as np

  from trac_optax.lifelong import LifelongConfig
  from trac_optax.lifelong import run_lifelong
  from trac_optax.lifelong._sharding import seed_sharding

  config = LifelongConfig(num_seeds=4, num_tasks=2, iterations_per_task=2,
                          num_steps=16, hidden=8, layers=1, epochs=1,
                          minibatch_size=16, protocol="fixed")
  run = run_lifelong(config, "trac", progress=False)
  sharding = seed_sharding(config.num_seeds)
  np.savez(out, processes=jax.process_count(), devices=jax.device_count(),
           mesh_devices=sharding.mesh.devices.size,
           local_seeds=len(sharding.addressable_devices),
           returns=run.returns, episodes=run.episodes, scale=run.scale)
  if num_processes > 1:
    jax.distributed.shutdown()


if __name__ == "__main__":
  main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
