"""``h = <grads, delta>``: alone, under ``vmap`` (one per seed) and differentiated.

Every value is compared with a float64 NumPy sum of the same products, lane
by lane, so a batched rule that mixes lanes up, drops a leaf, or sums rows of
the wrong length fails here.
"""

from __future__ import annotations

import re

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings

import trac_optax
from trac_optax import _inner_product
from trac_optax._inner_product import inner_product

# Per-seed leaf shapes: small leaves (concatenated), a 0-d leaf, long lanes
# summed rows first on CPU (a 2-D leaf, a 1-D leaf of a power-of-two
# multiple, one whose last axis is too short to be a row) and a 1-D leaf of
# prime length (one pass).
SHAPES = {"small": (5, 7), "bias": (128,), "scalar": (), "kernel": (200, 180),
          "flat": (3 * 4096 * 3,), "thin": (20000, 3), "prime": (40009,)}


def _tree(lanes, seed, dtype=jnp.float32):
  keys = jax.random.split(jax.random.key(seed), len(SHAPES))
  lead = () if lanes is None else (lanes,)
  return {name: jax.random.normal(k, lead + shape, dtype)
          for k, (name, shape) in zip(keys, SHAPES.items())}


def _numpy_sums(grads, delta, lanes):
  """float64 sums of the products, one per lane (axis 0), or one in all."""
  total = 0.0 if lanes is None else np.zeros(lanes)
  for g, d in zip(jax.tree.leaves(grads), jax.tree.leaves(delta)):
    product = np.asarray(g, np.float64) * np.asarray(d, np.float64)
    if lanes is None:
      total = total + product.sum()
    else:
      total = total + product.reshape(lanes, -1).sum(axis=1)
  return total


def _close(got, want, size):
  # float32 accumulation of n products of unit normals: rounding error grows
  # like eps sqrt(n); a dropped leaf or a lane mixed up moves a sum by about
  # sqrt(n), 1e4 times more than this tolerance.
  tol = 64 * np.finfo(np.float32).eps * np.sqrt(size)
  np.testing.assert_allclose(np.asarray(got, np.float64), want,
                             rtol=0, atol=tol)


TOTAL_SIZE = sum(int(np.prod(s)) for s in SHAPES.values())


@pytest.fixture(params=["cpu form", "grouped form"])
def form(request, monkeypatch):
  """Each form the inner product is lowered in: the CPU's, and the grouped
  one of GPUs (here lowered for the CPU by naming it in GROUPED_ON), with its
  size bound lowered so that the trees here hold leaves on both sides of it
  (8 lanes of 4096 entries are grouped, of 4097 alone)."""
  if request.param == "grouped form":
    monkeypatch.setattr(_inner_product, "GROUPED_ON", {"cpu": True})
    monkeypatch.setattr(_inner_product, "ACCELERATOR_CONCATENATED_LEAF_SIZE",
                        8 * 4096)
  return request.param


@pytest.mark.usefixtures("form")
def test_unbatched_matches_numpy():
  grads, delta = _tree(None, 1), _tree(None, 2)
  got = jax.jit(lambda g, d: inner_product(g, d, jnp.float32))(grads, delta)
  assert got.shape == () and got.dtype == jnp.float32
  _close(got, _numpy_sums(grads, delta, None), TOTAL_SIZE)


@pytest.mark.parametrize("lanes", [1, 2, 4, 8])
@pytest.mark.usefixtures("form")
def test_vmapped_lanes_match_numpy(lanes):
  grads, delta = _tree(lanes, 1), _tree(lanes, 2)
  h = jax.jit(jax.vmap(lambda g, d: inner_product(g, d, jnp.float32)))
  got = h(grads, delta)
  assert got.shape == (lanes,) and got.dtype == jnp.float32
  _close(got, _numpy_sums(grads, delta, lanes), TOTAL_SIZE)


@pytest.mark.usefixtures("form")
def test_unbatched_grads_with_batched_delta():
  lanes = 4
  grads, delta = _tree(None, 1), _tree(lanes, 2)
  h = jax.vmap(lambda g, d: inner_product(g, d, jnp.float32), in_axes=(None, 0))
  got = jax.jit(h)(grads, delta)
  shared = jax.tree.map(lambda g: np.broadcast_to(g, (lanes,) + g.shape), grads)
  _close(got, _numpy_sums(shared, delta, lanes), TOTAL_SIZE)


@pytest.mark.parametrize("lanes", [0, 1, 4])
@pytest.mark.usefixtures("form")
def test_empty_leaves_and_no_lanes(lanes):
  tree = {"empty": jnp.ones((lanes, 0)), "hollow": jnp.ones((lanes, 0, 50000)),
          "long": jnp.full((lanes, 40000), 0.5), "small": jnp.ones((lanes, 3))}
  got = jax.jit(jax.vmap(lambda g, d: inner_product(g, d, jnp.float32)))(
      tree, tree)
  np.testing.assert_array_equal(np.asarray(got), np.full(lanes, 10003.0))


@pytest.mark.usefixtures("form")
def test_nested_vmap_matches_numpy():
  grads, delta = _tree(8, 1), _tree(8, 2)
  split = lambda t: jax.tree.map(lambda x: x.reshape((2, 4) + x.shape[1:]), t)
  h = lambda g, d: inner_product(g, d, jnp.float32)
  got = jax.jit(jax.vmap(jax.vmap(h)))(split(grads), split(delta))
  _close(got.reshape(8), _numpy_sums(grads, delta, 8), TOTAL_SIZE)


@pytest.mark.usefixtures("form")
def test_bfloat16_grads_accumulate_in_float32_per_lane():
  lanes = 4
  grads, delta = _tree(lanes, 1, jnp.bfloat16), _tree(lanes, 2)
  got = jax.jit(jax.vmap(lambda g, d: inner_product(g, d, jnp.float32)))(
      grads, delta)
  _close(got, _numpy_sums(grads, delta, lanes), TOTAL_SIZE)


@settings(max_examples=12, deadline=None)
@given(lanes=st.integers(1, 9), rows=st.integers(1, 300),
       row=st.sampled_from([1, 3, 127, 128, 256, 4096, 5000]))
def test_any_lane_shape_matches_numpy(lanes, rows, row):
  key_g, key_d = jax.random.split(jax.random.key(lanes * 1000 + rows))
  grads = {"w": jax.random.normal(key_g, (lanes, rows, row))}
  delta = {"w": jax.random.normal(key_d, (lanes, rows, row))}
  got = jax.jit(jax.vmap(lambda g, d: inner_product(g, d, jnp.float32)))(
      grads, delta)
  _close(got, _numpy_sums(grads, delta, lanes), rows * row)


def _derivative_inputs():
  return _tree(4, 1), _tree(4, 2)


@pytest.mark.usefixtures("form")
def test_grad_of_vmap_and_vmap_of_grad_match_the_analytic_gradient():
  grads, delta = _derivative_inputs()
  loss = lambda g, d: inner_product(g, d, jnp.float32) ** 2
  h = np.asarray(jax.vmap(lambda g, d: inner_product(g, d, jnp.float32))(
      grads, delta), np.float64)
  outer = jax.jit(jax.grad(lambda g, d: jnp.sum(jax.vmap(loss)(g, d)),
                           argnums=(0, 1)))(grads, delta)
  inner = jax.jit(jax.vmap(jax.grad(loss, argnums=(0, 1))))(grads, delta)
  for got in (outer, inner):
    d_grads, d_delta = got
    for name in SHAPES:
      lane_h = h.reshape((4,) + (1,) * len(SHAPES[name]))
      # d(h^2)/dg = 2 h d and d(h^2)/dd = 2 h g, lane by lane.
      np.testing.assert_allclose(d_grads[name], 2 * lane_h * delta[name],
                                 rtol=1e-4, atol=1e-3)
      np.testing.assert_allclose(d_delta[name], 2 * lane_h * grads[name],
                                 rtol=1e-4, atol=1e-3)


@pytest.mark.usefixtures("form")
def test_jvp_is_the_inner_product_of_the_tangents():
  grads, delta = _derivative_inputs()
  g_dot, d_dot = _tree(4, 3), _tree(4, 4)
  h = lambda g, d: inner_product(g, d, jnp.float32)
  _, out_dot = jax.jit(lambda *a: jax.jvp(jax.vmap(h), a[:2], a[2:]))(
      grads, delta, g_dot, d_dot)
  want = (_numpy_sums(g_dot, delta, 4) + _numpy_sums(grads, d_dot, 4))
  _close(out_dot, want, 2 * TOTAL_SIZE)


def _reduce_output_shapes(fn, *args):
  hlo = jax.jit(fn).lower(*args).compile().as_text()
  return set(re.findall(r"= f32\[([\d,]*)\]\S* reduce\(", hlo))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="a CPU rule")
def test_long_lanes_sum_rows_first_on_cpu_and_short_ones_in_one_pass():
  h = jax.vmap(lambda g, d: inner_product(g, d, jnp.float32))
  many = {"w": jnp.ones((8, 200, 180))}
  # One reduction per lane and row (8 x 200), then one per lane.
  assert "8,200" in _reduce_output_shapes(h, many, many)
  # A long 1-D lane is cut into rows that divide it (125000 = 40 x 3125).
  flat = {"w": jnp.ones((8, 125000))}
  assert "8,40" in _reduce_output_shapes(h, flat, flat)
  few = {"w": jnp.ones((2, 200, 180))}
  short = {"w": jnp.ones((8, 20, 180))}
  for tree in (few, short):
    lanes = tree["w"].shape[0]
    assert _reduce_output_shapes(h, tree, tree) <= {str(lanes), ""}


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="a CPU cliff")
def test_one_lane_is_reduced_to_a_scalar():
  # XLA:CPU reduces [1, n] to [1] many times slower than to a scalar.
  h = jax.vmap(lambda g, d: inner_product(g, d, jnp.float32))
  for tree in ({"w": jnp.ones((1, 20000))}, {"w": jnp.ones((1, 300, 300))}):
    assert _reduce_output_shapes(h, tree, tree) == {""}


@pytest.mark.usefixtures("form")
def test_vmapped_trac_with_long_lanes_matches_each_seed_alone():
  seeds, steps = 4, 4
  tx = trac_optax.trac(optax.adam(0.05))
  params = {"w": 0.1 * jax.random.normal(jax.random.key(0), (seeds, 200, 180)),
            "b": jnp.zeros((seeds, 180))}
  grads_at = lambda p, t: jax.tree.map(lambda x: jnp.sin(3 * x + t), p)

  def run(update, params, state):
    for t in range(steps):
      updates, state = update(grads_at(params, t), state, params)
      params = optax.apply_updates(params, updates)
    return params, state

  batched = run(jax.jit(jax.vmap(tx.update)), params, jax.vmap(tx.init)(params))
  for seed in range(seeds):
    alone = jax.tree.map(lambda x, seed=seed: x[seed], params)
    want = run(jax.jit(tx.update), alone, tx.init(alone))
    got = jax.tree.map(lambda x, seed=seed: x[seed], batched)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
      np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=2e-5,
                                 atol=1e-7)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.sampled_from([0, 1, 7, 300, 4096, 4097, 20000]),
                      min_size=1, max_size=80),
       lanes=st.sampled_from([None, 1, 3, 8]), data=st.data())
def test_many_leaves_in_groups_match_numpy(form, sizes, lanes, data):
  # More leaves than one concatenated group holds, of sizes on both sides of
  # each threshold, some gradients in bfloat16, some shared by all lanes.
  del form
  lead = () if lanes is None else (lanes,)
  keys = iter(jax.random.split(jax.random.key(len(sizes)), 2 * len(sizes)))
  bf16 = data.draw(st.lists(st.booleans(), min_size=len(sizes),
                            max_size=len(sizes)))
  shared = data.draw(st.lists(st.booleans(), min_size=len(sizes),
                              max_size=len(sizes)))
  grads = [jax.random.normal(next(keys), (() if s and lanes else lead) + (n,),
                             jnp.bfloat16 if b else jnp.float32)
           for n, b, s in zip(sizes, bf16, shared)]
  delta = [jax.random.normal(next(keys), lead + (n,)) for n in sizes]
  h = lambda g, d: inner_product(g, d, jnp.float32)
  if lanes is not None:
    in_axes = ([None if s else 0 for s in shared], 0)
    h = jax.vmap(h, in_axes=in_axes)
  got = jax.jit(h)(grads, delta)
  if lanes is not None:
    grads = [np.broadcast_to(g, d.shape) for g, d in zip(grads, delta)]
  _close(got, _numpy_sums(grads, delta, lanes), max(1, sum(sizes)))


def _reductions(lowered):
  return len(re.findall(r"stablehlo\.reduce[\s(]", lowered.as_text()))


@pytest.mark.parametrize("devices", [1, 2])
@pytest.mark.parametrize("lanes", [None, 8])
def test_gpus_reduce_leaves_in_groups_and_the_cpu_one_by_one(lanes, devices,
                                                              monkeypatch):
  # 50 leaves the CPU reduces one each, and one above the grouped size.
  lead = () if lanes is None else (lanes,)
  leaves = 50
  tree = [jax.ShapeDtypeStruct(lead + (100, 100), jnp.float32)] * leaves
  tree.append(jax.ShapeDtypeStruct(
      (_inner_product.ACCELERATOR_CONCATENATED_LEAF_SIZE + 1,), jnp.float32))
  h = lambda g, d: inner_product(g, d, jnp.float32)
  if lanes is not None:
    h = jax.vmap(h, in_axes=(0, 0))
    tree[-1] = jax.ShapeDtypeStruct((lanes,) + tree[-1].shape, jnp.float32)
  # A process that sees several devices keeps the per-leaf form (its leaves
  # may be sharded, and a concatenation would gather them).
  monkeypatch.setattr(jax, "device_count", lambda: devices)
  traced = jax.jit(h).trace(tree, tree)
  found = {platform: _reductions(traced.lower(lowering_platforms=(platform,)))
           for platform in ("cpu", "cuda", "rocm", "tpu")}
  one_by_one = leaves + 1
  grouped = (-(-leaves // _inner_product.CONCATENATED_LEAVES) + 1
             if devices == 1 else one_by_one)
  assert found["cpu"] == one_by_one, found
  assert found["cuda"] == found["rocm"] == grouped, found
  # A TPU groups an unbatched step's leaves, not a vmapped one's.
  assert found["tpu"] == (grouped if lanes is None else one_by_one), found
