"""Seeds sharded over 8 simulated devices give the single-device results."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec

from trac_optax.lifelong._sharding import seed_sharding


def test_one_device_keeps_every_seed():
  sharding = seed_sharding(6, jax.local_devices()[:1])
  assert sharding.mesh.devices.size == 1
  assert sharding.spec == PartitionSpec("seeds")


@pytest.mark.parametrize("num_seeds", [0, -2, True, 2.0])
def test_seed_counts_that_are_not_positive_integers_are_refused(num_seeds):
  with pytest.raises(ValueError, match="num_seeds must be a positive integer"):
    seed_sharding(num_seeds)


def test_eight_devices_match_one(tmp_path):
  script = pathlib.Path(__file__).with_name("sharded_seeds.py")
  out = tmp_path / "runs.npz"
  env = {**os.environ, "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
  result = subprocess.run([sys.executable, str(script), str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  runs = np.load(out)
  assert int(runs["devices"]) == 8
  assert int(runs["placed"]) == 8 and int(runs["shard_shape"]) == 1
  # 6 seeds on 8 devices: the 2 devices that divide them evenly.
  assert int(runs["devices_for_6"]) == 2
  # Same actions, episodes and returns; S, a sum of many float32 terms
  # vectorised differently for 1 and 8 seeds per device, to rounding.
  for key in ("returns", "episodes"):
    np.testing.assert_array_equal(runs[f"{key}_True"], runs[f"{key}_False"])
  np.testing.assert_allclose(runs["scale_True"], runs["scale_False"],
                             rtol=1e-5, atol=0)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_seeds_split_over_two_processes_match_one_process(tmp_path):
  """2 processes x 2 CPU devices train 4 seeds, one per device."""
  script = pathlib.Path(__file__).with_name("multiprocess_seeds.py")
  coordinator = f"localhost:{_free_port()}"
  env = {**os.environ, "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
  procs = [subprocess.Popen(
      [sys.executable, str(script), str(tmp_path / f"p{i}.npz"), coordinator,
       "2", str(i)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True) for i in range(2)]
  try:
    outputs = [p.communicate(timeout=400) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.communicate()
  for p, (_, err) in zip(procs, outputs):
    assert p.returncode == 0, err[-3000:]
  env["XLA_FLAGS"] = ""
  single = subprocess.run(
      [sys.executable, str(script), str(tmp_path / "single.npz"), "", "1",
       "0"], env=env, capture_output=True, text=True, timeout=400,
      check=False)
  assert single.returncode == 0, single.stderr[-3000:]
  runs = [np.load(tmp_path / f"p{i}.npz") for i in range(2)]
  reference = np.load(tmp_path / "single.npz")
  assert int(reference["devices"]) == 1
  for run in runs:
    assert int(run["processes"]) == 2 and int(run["devices"]) == 4
    assert int(run["mesh_devices"]) == 4 and int(run["local_seeds"]) == 2
    for key in ("returns", "episodes"):
      np.testing.assert_array_equal(run[key], reference[key])
    np.testing.assert_allclose(run["scale"], reference["scale"], rtol=1e-5,
                               atol=0)
