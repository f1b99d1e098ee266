"""A TRAC training step through ``jax.export``: for several platforms at once,
and with symbolic shapes (any param size, any number of vmapped seeds).

The reference is the same step under ``jax.jit`` at the concrete shapes.
With symbolic sizes the inner product cannot choose its form by size, and
takes the general one (one reduction per leaf): the values agree to float32
rounding, not bit for bit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import export

import trac_optax

STEPS = 4
# A large s_init, so that S, and every rounding difference, shows in the params.
S_INIT = 1e-2


def _tx():
  return trac_optax.trac(optax.adam(1e-2), s_init=S_INIT)


def _step(params, state, grads):
  updates, state = _tx().update(grads, state, params)
  return optax.apply_updates(params, updates), state


def _params(rows, seeds=None):
  """Two leaves of ``rows`` x 600 and ``rows`` entries, one small leaf of 8,
  stacked for ``seeds`` seeds when given."""
  tree = {"w": jnp.full((rows, 600), 0.5), "b": jnp.zeros((rows,)),
          "c": jnp.ones((8,))}
  if seeds is None:
    return tree
  return jax.tree.map(
      lambda x: jnp.stack([x * (1 + s) for s in range(seeds)]), tree)


def _grads(params, seed):
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  return jax.tree.unflatten(
      treedef, [jax.random.normal(k, x.shape, x.dtype)
                for k, x in zip(keys, leaves)])


def _run(step, params, state):
  for t in range(STEPS):
    params, state = step(params, state, _grads(params, t))
  return params, state


def _assert_close(actual, expected, rtol):
  assert jax.tree.structure(actual) == jax.tree.structure(expected)
  paths = [jax.tree_util.keystr(p)
           for p, _ in jax.tree_util.tree_leaves_with_path(actual)]
  for path, a, e in zip(paths, jax.tree.leaves(actual),
                        jax.tree.leaves(expected)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=rtol,
                               atol=1e-7, err_msg=path)


@pytest.mark.parametrize("seeds", [None, 8])
def test_exports_for_every_platform_and_runs_as_jitted(seeds):
  # 8 seeds of 64 x 600 entries: on CPU the leaf sums its rows first, a
  # branch that exists for the CPU only (lax.platform_dependent).
  params = _params(64, seeds)
  init = jax.vmap(_tx().init) if seeds else _tx().init
  step = jax.vmap(_step) if seeds else _step
  exported = export.export(jax.jit(step), platforms=("cpu", "cuda", "tpu"))(
      params, init(params), params)
  assert exported.platforms == ("cpu", "cuda", "tpu")
  got = _run(exported.call, params, init(params))
  want = _run(jax.jit(step), params, init(params))
  _assert_close(got, want, rtol=1e-6)
  # S moved the params well away from the reference: the comparison has teeth.
  assert np.max(np.asarray(trac_optax.scale(got[1]))) > 1e-3


def test_a_symbolic_param_size_exports_and_runs_at_any_size():
  rows, = export.symbolic_shape("rows")
  spec = jax.eval_shape(lambda: _params(3))
  spec = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct((rows,) + x.shape[1:], x.dtype)
      if x.shape[0] == 3 else x, spec)
  state_spec = jax.eval_shape(_tx().init, spec)
  exported = export.export(jax.jit(_step))(spec, state_spec, spec)
  for size in (3, 7):
    params = _params(size)
    got = _run(exported.call, params, _tx().init(params))
    want = _run(jax.jit(_step), params, _tx().init(params))
    _assert_close(got, want, rtol=1e-5)


def test_a_symbolic_number_of_seeds_exports_and_runs_at_any_count():
  seeds, = export.symbolic_shape("seeds")
  with_seeds = lambda x: jax.ShapeDtypeStruct((seeds,) + x.shape[1:], x.dtype)
  spec = jax.tree.map(with_seeds, jax.eval_shape(lambda: _params(64, 2)))
  state_spec = jax.tree.map(
      with_seeds, jax.eval_shape(jax.vmap(_tx().init), _params(64, 2)))
  exported = export.export(jax.jit(jax.vmap(_step)))(spec, state_spec, spec)
  for count in (2, 5):
    params = _params(64, count)
    state = jax.vmap(_tx().init)(params)
    got = _run(exported.call, params, state)
    want = _run(jax.jit(jax.vmap(_step)), params, state)
    _assert_close(got, want, rtol=1e-5)
