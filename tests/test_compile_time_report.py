"""``.ci/compile_time.py`` charges JAX's compilations to the tests that ran them."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

SAMPLE = '''
import jax
import jax.numpy as jnp

def test_compiles_a_fresh_function_three_times():
  for scale in (1.0, 2.0, 3.0):
    jax.jit(lambda x: jnp.sin(x) * 2.0)(jnp.float32(scale))

def test_compiles_nothing():
  assert 1 + 1 == 2
'''


def test_the_report_names_the_test_and_its_repeated_compiles(tmp_path):
  (tmp_path / "test_sample.py").write_text(SAMPLE)
  env = {**os.environ, "PYTHONPATH": str(ROOT / ".ci"), "JAX_PLATFORMS": "cpu"}
  env.pop("TRAC_OPTAX_COMPILE_TIME_DIR", None)
  done = subprocess.run(
      [sys.executable, "-m", "pytest", "-q", "-n0", "-p", "compile_time",
       "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(tmp_path),
       str(tmp_path / "test_sample.py")],
      capture_output=True, text=True, timeout=300, check=False, env=env,
      cwd=tmp_path)
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
  report = done.stdout.split("compile time (JAX tracing, lowering and XLA)")[1]
  lines = report.split("\n", 1)[1].strip().splitlines()  # after the "==="
  assert lines[0].endswith(" backend compiles")
  [sample] = [line for line in lines if "three_times" in line]
  # Three compiles of the lambdas (a jit of a new function each time), and
  # whatever jax compiles for the scalar conversions.
  assert "(again: jit(<lambda>) x3)" in sample
  assert int(re.search(r"(\d+) compiles", sample).group(1)) >= 3
  assert not any("compiles_nothing" in line and "again" in line
                 for line in lines)
