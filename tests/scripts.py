"""The repository's scripts (benchmarks, results, the docs' page writer) loaded
as modules, for the tests that call their functions."""

from __future__ import annotations

import importlib.util
import pathlib
from types import ModuleType

import jax

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_script(script: str) -> ModuleType:
  """The script at ``script`` (a path from the repository root), loaded anew
  as a module. Loading it must not touch JAX's configuration (the process
  runs other tests after this one)."""
  path = ROOT / script
  spec = importlib.util.spec_from_file_location(
      "script_" + path.stem, path)
  assert spec is not None and spec.loader is not None
  module = importlib.util.module_from_spec(spec)
  x64 = jax.config.jax_enable_x64
  spec.loader.exec_module(module)
  assert jax.config.jax_enable_x64 == x64, f"importing {script} changed x64"
  return module
