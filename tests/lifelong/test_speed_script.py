"""The ``adam+offset`` probe (``benchmarks/offset_probe.py``) and a run of
``results/control/speed.py`` with it.

The probe is Adam stepping an offset from a reference point, as TRAC runs its
base, with S fixed at 1; its row in the speed table is what holding TRAC's
state costs in the harness. It measures that only if it does the work it
claims, so its params are checked against a float64 NumPy Adam, alone and
with seeds under ``vmap`` as the harness runs it.
"""

from __future__ import annotations

import contextlib
import io
from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests.scripts import load_script

LEARNING_RATE = 0.05
# float32 Adam against float64: its bias correction 1 - 0.999**t loses about
# four digits at small t, so each step's update is off by up to ~2e-6 here.
ATOL = 2e-5


@pytest.fixture(scope="module")
def speed() -> ModuleType:
  return load_script("results/control/speed.py")


@pytest.fixture(scope="module")
def probe() -> ModuleType:
  return load_script("benchmarks/offset_probe.py")


def _numpy_adam(params, grads_seq, lr, b1=0.9, b2=0.999, eps=1e-8):
  """Reference: Adam (Kingma & Ba) in float64, one leaf, bias-corrected."""
  params = np.asarray(params, np.float64)
  m = np.zeros_like(params)
  v = np.zeros_like(params)
  for t, g in enumerate(grads_seq, start=1):
    g = np.asarray(g, np.float64)
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    params = params - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
  return params


def _grads(key, shapes, steps):
  keys = jax.random.split(key, steps)
  return [{name: jax.random.normal(jax.random.fold_in(k, i), shape)
           for i, (name, shape) in enumerate(shapes.items())} for k in keys]


def _run(tx, params, grads_seq):
  state = tx.init(params)
  for grads in grads_seq:
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
  return params, state


def test_offset_probe_follows_adam_from_its_reference_point(probe):
  shapes = {"w": (3, 4), "b": (4,)}
  params = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4),
            "b": jnp.array([0.5, -0.25, 2.0, 0.0])}
  grads_seq = _grads(jax.random.key(0), shapes, steps=12)
  tx = probe.keeping_offset(optax.adam(LEARNING_RATE))
  final, state = jax.jit(lambda p: _run(tx, p, grads_seq))(params)
  for name in shapes:
    expected = _numpy_adam(params[name], [g[name] for g in grads_seq],
                           LEARNING_RATE)
    np.testing.assert_allclose(final[name], expected, rtol=1e-5, atol=ATOL)
    # The state is TRAC's: the params at init, and the offset from them.
    np.testing.assert_array_equal(state.reference[name], params[name])
    np.testing.assert_allclose(state.delta[name], expected - params[name],
                               rtol=1e-5, atol=ATOL)


def test_offset_probe_under_vmap_steps_each_seed_as_alone(probe):
  seeds = 3
  shapes = {"w": (seeds, 5), "b": (seeds, 2)}
  params = {"w": jnp.arange(15.0).reshape(seeds, 5) / 7,
            "b": jnp.ones((seeds, 2))}
  grads_seq = _grads(jax.random.key(1), shapes, steps=6)
  tx = probe.keeping_offset(optax.adam(LEARNING_RATE))
  steps = len(grads_seq)

  def one_seed(p, g):  # g: each leaf [steps, ...]
    return _run(tx, p, [jax.tree.map(lambda x, i=i: x[i], g)
                        for i in range(steps)])[0]

  stacked = jax.tree.map(lambda *g: jnp.stack(g, axis=1), *grads_seq)
  final = jax.jit(jax.vmap(one_seed))(params, stacked)
  for name in shapes:
    for seed in range(seeds):
      expected = _numpy_adam(params[name][seed],
                             [g[name][seed] for g in grads_seq],
                             LEARNING_RATE)
      np.testing.assert_allclose(final[name][seed], expected, rtol=1e-5,
                                 atol=ATOL)


def test_offset_probe_needs_the_params(probe):
  tx = probe.keeping_offset(optax.adam(LEARNING_RATE))
  params = {"w": jnp.ones(3)}
  with pytest.raises(ValueError, match="needs the params"):
    tx.update(params, tx.init(params))


def test_a_short_run_prints_the_probe_beside_adam(speed):
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    speed.main(["--optimizers", "adam+offset", "--seeds", "1", "--rounds", "1",
                "--iterations", "1"])
  rows = {line.split("|")[1].strip(): line.split("|")[2:-1]
          for line in out.getvalue().splitlines() if line.startswith("| ")}
  assert {"adam", "adam+offset", "none"} <= rows.keys()
  # Env steps/s are numbers, and the probe's ratio to adam is a positive one.
  for name in ("adam", "adam+offset", "none"):
    assert float(rows[name][3].replace(",", "")) > 0
  assert float(rows["adam+offset"][5].split()[0]) > 0
