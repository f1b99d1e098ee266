"""Runs the 8-device checks in their own process, where the device flag applies.

``--xla_force_host_platform_device_count`` is read once, when JAX starts its
CPU backend, so it cannot be set from inside this test process.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

CHECKS = pathlib.Path(__file__).with_name("multidevice_sharding.py")
REPO = pathlib.Path(__file__).resolve().parents[2]


def test_multidevice_checks_pass_on_eight_cpu_devices():
  env = dict(os.environ)
  env["XLA_FLAGS"] = " ".join(
      [env.get("XLA_FLAGS", ""), "--xla_force_host_platform_device_count=8"]).strip()
  env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONPATH"] = os.pathsep.join(
      [str(REPO), *filter(None, [env.get("PYTHONPATH")])])
  result = subprocess.run(
      [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
       "-o", "addopts=", str(CHECKS)],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=540,
      check=False)
  output = result.stdout + result.stderr
  assert result.returncode == 0, output
  # All checks ran (none skipped for want of devices).
  assert re.search(r"\b12 passed", output) and "skipped" not in output, output
