"""Accuracy of the erfi implementations that TRAC codes use, against scipy.

Compares ``trac_optax.erfi`` with the erfi of the authors' package
``trac-optimizer`` 0.0.2 (its PyTorch module and its experimental JAX port),
when that package is installed, over x in [1e-3, 12] in float32. TRAC uses
erfi through the ratio ``erfi(x) / erfi(1/sqrt 2)``, so the error of that
ratio is reported too.

The authors' package is optional and never a dependency. Its JAX module is
loaded from its file, because importing the package imports torch; the
PyTorch erfi needs torch. Either is skipped with a message when missing::

    python benchmarks/erfi_implementations.py [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import sys

import numpy as np
import scipy.special

# Up to 12, past float32's overflow edge (x = 9.566): errors are measured where
# the true value is finite in float32, non-finite outputs are located anywhere.
X = np.linspace(1e-3, 12.0, 24_000).astype(np.float32)
POINTS = (0.5, 1.0, 2.0, 4.0, 8.0, 9.4, 9.5)


def _stats(values: np.ndarray, at_inv_sqrt2: float) -> dict:
  want = scipy.special.erfi(X.astype(np.float64))
  got = np.asarray(values, np.float64)
  representable = want <= np.finfo(np.float32).max
  first_nonfinite = X[~np.isfinite(got)]
  finite = np.isfinite(got) & representable
  rel = np.abs(got[finite] - want[finite]) / want[finite]
  ratio_want = want / scipy.special.erfi(1 / np.sqrt(2))
  ratio_rel = np.abs(got / at_inv_sqrt2 - ratio_want)[finite] / ratio_want[finite]
  return {
      "max_rel_error": float(rel.max()),
      "median_rel_error": float(np.median(rel)),
      "max_ratio_rel_error": float(ratio_rel.max()),
      "erfi(1/sqrt2)": float(at_inv_sqrt2),
      "first_nonfinite_x": (float(first_nonfinite[0])
                            if first_nonfinite.size else None),
      "largest_x_with_finite_true_value": float(X[representable].max()),
      "rel_error_at": {
          str(p): float(abs(got[np.argmin(abs(X - p))] /
                            want[np.argmin(abs(X - p))] - 1)) for p in POINTS
      },
  }


def ours() -> dict:
  import trac_optax
  return _stats(trac_optax.erfi(X), float(trac_optax.erfi(
      np.float32(1 / np.sqrt(2)))))


def _authors_file(relative: str) -> pathlib.Path | None:
  spec = importlib.util.find_spec("trac_optimizer")
  if spec is None or not spec.submodule_search_locations:
    return None
  path = pathlib.Path(list(spec.submodule_search_locations)[0]) / relative
  return path if path.exists() else None


def _load(relative: str, name: str):
  path = _authors_file(relative)
  if path is None:
    return None
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def authors_jax() -> dict | None:
  module = _load("experimental/jax/trac.py", "authors_trac_jax")
  if module is None:
    return None
  import jax.numpy as jnp
  return _stats(module.erfi(jnp.asarray(X)),
                float(module.erfi(jnp.float32(1 / np.sqrt(2)))))


def authors_torch() -> dict | None:
  try:
    import torch  # noqa: F401
  except ImportError:
    return None
  module = _load("trac.py", "authors_trac_torch")
  if module is None:
    return None
  values = module.erfi(torch.from_numpy(X)).numpy()
  at = float(module.erfi(torch.tensor(1 / np.sqrt(2), dtype=torch.float32)))
  return _stats(values, at)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--json", type=pathlib.Path, help="write results here")
  args = parser.parse_args(argv)
  results = {"trac_optax (float32)": ours()}
  for name, fn in [("trac-optimizer PyTorch erfi (float32)", authors_torch),
                   ("trac-optimizer JAX port erfi (float32)", authors_jax)]:
    stats = fn()
    if stats is None:
      print(f"skipped {name}: trac-optimizer (and torch for the PyTorch "
            "erfi) not installed", file=sys.stderr)
    else:
      results[name] = stats
  print("| implementation | max rel. error | median rel. error | "
        "max error of erfi(x)/erfi(1/sqrt2) | erfi(1/sqrt2) | first non-finite x |")
  print("|---|---|---|---|---|---|")
  for name, s in results.items():
    print(f"| {name} | {s['max_rel_error']:.2e} | {s['median_rel_error']:.2e} | "
          f"{s['max_ratio_rel_error']:.2e} | {s['erfi(1/sqrt2)']:.4f} | "
          f"{s['first_nonfinite_x']} |")
  if args.json:
    args.json.write_text(json.dumps(results, indent=2))
  return 0


if __name__ == "__main__":
  sys.exit(main())
