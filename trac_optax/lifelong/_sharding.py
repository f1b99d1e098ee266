"""Spreading the vmapped seed axis over all devices, of one or many processes."""

from __future__ import annotations

import math

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec

from trac_optax.lifelong._config import checked_count

SEED_AXIS = "seeds"
"""Name of the mesh axis the seeds are sharded along."""


def seed_sharding(
    num_seeds: int,
    # jax.Device is an alias of a compiled class that pyright cannot see.
    devices: list[jax.Device] | None = None,  # pyright: ignore[reportInvalidTypeForm]
) -> NamedSharding:
  """A sharding that splits a leading seed axis over as many devices as fit.

  Uses the largest number of ``devices`` (default: all devices of all
  processes, ``jax.devices()``) that divides ``num_seeds``, so every device
  holds the same number of seeds; with one device, or a prime number of
  seeds larger than the device count, everything stays on one device.

  In a multi-process run (``jax.distributed.initialize``), every process
  calls the same functions with the same arguments, and each trains the
  seeds that fall on its own devices.

  Args:
    num_seeds: length of the seed axis.
    devices: devices to use; defaults to ``jax.devices()``.

  Returns:
    A ``NamedSharding`` over a 1-D mesh with axis :data:`SEED_AXIS`.

  Raises:
    ValueError: if ``num_seeds`` is not a positive integer.
  """
  num_seeds = checked_count("num_seeds", num_seeds)
  devices = list(jax.devices() if devices is None else devices)
  count = math.gcd(num_seeds, len(devices))
  mesh = Mesh(np.array(devices[:count]), (SEED_AXIS,))
  return NamedSharding(mesh, PartitionSpec(SEED_AXIS))


def shard_seeds(tree, num_seeds: int):
  """Places every leaf of ``tree`` (seed axis first) per :func:`seed_sharding`.

  Computations that take the placed arrays run sharded: each device trains
  its own seeds, and no value crosses devices, so the results equal a
  single-device run's. Across processes, every process must pass the same
  ``tree`` (e.g. keys split from the same seed); each keeps its own rows.
  """
  sharding = seed_sharding(num_seeds)
  if sharding.is_fully_addressable:
    return jax.device_put(tree, sharding)
  return jax.tree.map(
      lambda x: jax.make_array_from_callback(x.shape, sharding,
                                             lambda index: x[index]), tree)


def to_host(tree):
  """``jax.device_get``, gathering arrays that span several processes.

  Every process gets the whole value (a collective: all processes call it).
  """
  if all(x.is_fully_addressable for x in jax.tree.leaves(tree)
         if isinstance(x, jax.Array)):
    return jax.device_get(tree)
  return multihost_utils.process_allgather(tree, tiled=True)


def seed_jit(fn, num_seeds: int, shard: bool = True):
  """``jax.jit(fn)``, with every output's seed axis sharded when ``shard``.

  Fixing the outputs' sharding keeps each array's placement the same from
  one call to the next (values that do not depend on the seed, such as
  zero-initialised biases, would otherwise come out replicated), so a
  function compiled once for sharded inputs accepts its own outputs.
  """
  if not shard:
    return jax.jit(fn)
  return jax.jit(fn, out_shardings=seed_sharding(num_seeds))
