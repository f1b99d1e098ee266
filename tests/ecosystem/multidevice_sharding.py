"""TRAC on 8 devices: sharded params, data parallelism, shard_map.

These checks need 8 devices. On a CPU-only machine they come from
``XLA_FLAGS=--xla_force_host_platform_device_count=8``, which only takes
effect before JAX starts, so ``test_sharding.py`` runs this module in its own
process. Run it by hand with::

  XLA_FLAGS=--xla_force_host_platform_device_count=8 \\
    python -m pytest -q tests/ecosystem/multidevice_sharding.py

Every multi-device run is compared with the same run on one device.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import AxisType
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import trac_optax
from tests.ecosystem import helpers

NUM_DEVICES = 8
STEPS = 10

pytestmark = pytest.mark.skipif(
    jax.device_count() < NUM_DEVICES,
    reason="needs 8 devices: set XLA_FLAGS=--xla_force_host_platform_device_count=8")


def _problem():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(64, 16)).astype(np.float32)
  y = (x @ rng.normal(size=(16, 8)) + 1.0).astype(np.float32)
  params = {"w": 0.1 * rng.normal(size=(16, 8)).astype(np.float32),
            "b": np.zeros((8,), np.float32)}
  return params, x, y


def _loss(params, x, y):
  return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def _tx():
  return trac_optax.trac(optax.adamw(0.05, weight_decay=0.1), s_init=1e-4)


def _train(params, state, x, y, tx, steps=STEPS):
  """Jitted full-batch steps; returns the params and state after each step."""

  @jax.jit
  def step(params, state, x, y):
    grads = jax.grad(_loss)(params, x, y)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  history = []
  for _ in range(steps):
    params, state = step(params, state, x, y)
    history.append((params, state))
  return history


@functools.cache
def _single_device_run():
  params, x, y = _problem()
  params = jax.device_put(params, jax.devices()[0])
  tx = _tx()
  return _train(params, tx.init(params), x, y, tx)


def _assert_matches_single_device(history):
  want = _single_device_run()
  for (params, state), (want_params, want_state) in zip(history, want):
    for got, ref in zip(jax.tree.leaves((params, state.delta)),
                        jax.tree.leaves((want_params, want_state.delta))):
      # float32 tolerance: a sum split over devices rounds differently,
      # and Adam magnifies that in gradient entries near zero.
      np.testing.assert_allclose(np.asarray(got), np.asarray(ref),
                                 rtol=2e-5, atol=1e-5)
    np.testing.assert_allclose(float(trac_optax.scale(state)),
                               float(trac_optax.scale(want_state)), rtol=2e-5)
  assert float(trac_optax.scale(want[-1][1])) > 0


def _same_layout(a, b, ndim):
  return a.is_equivalent_to(b, ndim)


def _assert_state_laid_out_like_params(params, state):
  for p, r, d in zip(jax.tree.leaves(params), jax.tree.leaves(state.reference),
                     jax.tree.leaves(state.delta)):
    assert _same_layout(r.sharding, p.sharding, p.ndim)
    assert _same_layout(d.sharding, p.sharding, p.ndim)
  for leaf in (state.v, state.sigma, state.tuner_scales, state.count):
    assert leaf.sharding.is_fully_replicated


def _mesh(axis_type):
  return jax.make_mesh((NUM_DEVICES,), ("d",), axis_types=(axis_type,))


@pytest.mark.parametrize(
    "axis_type, init",
    [(AxisType.Explicit, "eager"), (AxisType.Explicit, "jit"),
     (AxisType.Explicit, "jit-out-shardings"), (AxisType.Auto, "eager"),
     (AxisType.Auto, "jit"), (AxisType.Auto, "jit-out-shardings")],
    ids=lambda v: v if isinstance(v, str) else str(v).split(".")[-1].lower())
def test_fully_sharded_params(axis_type, init):
  """The state is laid out like the params from init on, and stays so.

  A plain ``jax.jit(tx.init)`` with no mesh set lays out new buffers as XLA
  likes (``jnp.zeros_like`` replicates them: Adam's moments, with auto axes
  in jax 0.10 and with explicit ones too in 0.11); TRAC's own ``reference``
  and ``delta`` follow the params all the same.
  """
  mesh = _mesh(axis_type)
  params, x, y = _problem()
  shardings = {"w": NamedSharding(mesh, P("d", None)),
               "b": NamedSharding(mesh, P("d"))}
  params = jax.device_put(params, shardings)
  tx = _tx()
  if init == "eager":
    state = tx.init(params)
  elif init == "jit":
    state = jax.jit(tx.init)(params)
  else:
    # The pattern for any Optax state: shardings of the param-shaped
    # buffers from the params', everything else replicated.
    state_shardings = optax.tree.map_params(
        tx, lambda _, s: s, jax.eval_shape(tx.init, params), shardings,
        transform_non_params=lambda _: NamedSharding(mesh, P()))
    state = jax.jit(tx.init, out_shardings=state_shardings)(params)
  _assert_state_laid_out_like_params(params, state)
  assert not state.delta["w"].sharding.is_fully_replicated

  history = _train(params, state, x, y, tx)
  for new_params, new_state in history:  # stable across steps
    _assert_state_laid_out_like_params(params, new_state)
    for p, q in zip(jax.tree.leaves(params), jax.tree.leaves(new_params)):
      assert _same_layout(q.sharding, p.sharding, p.ndim)
  _assert_matches_single_device(history)


def test_a_state_laid_out_otherwise_takes_the_steps_layout():
  """With explicit axes a sharding is part of an array's type, and the skip's
  two branches must be typed alike. A state not laid out like the params
  (here all of it replicated: Adam's moments are after a ``jax.jit`` of
  ``init`` with no mesh set on jax 0.11) still steps, as the base alone
  would, and the step leaves it laid out like the params (all but the
  reference point, which the step does not write)."""
  mesh = _mesh(AxisType.Explicit)
  params, x, y = _problem()
  params = jax.device_put(params, {"w": NamedSharding(mesh, P("d", None)),
                                   "b": NamedSharding(mesh, P("d"))})
  tx = _tx()
  state = jax.device_put(tx.init(params), NamedSharding(mesh, P()))
  assert state.base_optimizer_state[0].mu["w"].sharding.is_fully_replicated

  history = _train(params, state, x, y, tx)
  for _, new_state in history:  # (the reference point keeps its layout)
    adam = new_state.base_optimizer_state[0]
    for p, d, m, v in zip(*map(jax.tree.leaves, (params, new_state.delta,
                                                 adam.mu, adam.nu))):
      for x in (d, m, v):
        assert _same_layout(x.sharding, p.sharding, p.ndim)
  _assert_matches_single_device(history)


def test_seeds_sharded_by_explicit_axes_skip_seed_by_seed():
  """Vmapped seeds whose lanes explicit mesh axes shard over the devices: a
  step where one seed (or several) is non-finite skips those seeds alone, as
  each seed run by itself would. (Saving one lane by a gather has no free
  output sharding there, which jax refuses to choose; such lanes select.)"""
  mesh = _mesh(AxisType.Explicit)
  seeds, rng = NUM_DEVICES, np.random.default_rng(1)
  params = {"w": 0.1 * rng.normal(size=(seeds, 64, 64)).astype(np.float32),
            "b": np.zeros((seeds, 64), np.float32)}
  grads = []
  for t in range(6):
    g = {k: rng.normal(size=v.shape).astype(np.float32)
         for k, v in params.items()}
    if t in (1, 4):
      g["b"][0, 0] = np.nan  # one seed
    if t == 2:
      g["b"][1, 0], g["b"][4, 0] = np.nan, np.inf  # several
    grads.append(g)
  tx = trac_optax.trac(optax.adam(0.1), s_init=1e-3)
  lanes = NamedSharding(mesh, P("d"))
  with jax.set_mesh(mesh):
    sharded = jax.device_put(params, lanes)
    state = jax.vmap(tx.init)(sharded)
    step = jax.jit(jax.vmap(tx.update))
    for g in grads:
      updates, state = step(jax.device_put(g, lanes), state, sharded)
      sharded = optax.apply_updates(sharded, updates)
  assert list(np.asarray(state.skipped)) == [2, 1, 0, 0, 1, 0, 0, 0]
  assert state.delta["w"].sharding.spec[0] == "d"

  for seed in range(seeds):
    alone = jax.tree.map(lambda x, s=seed: x[s], params)
    alone_state = tx.init(alone)
    for g in grads:
      updates, alone_state = jax.jit(tx.update)(
          jax.tree.map(lambda x, s=seed: x[s], g), alone_state, alone)
      alone = optax.apply_updates(alone, updates)
    for got, want in zip(jax.tree.leaves(sharded), jax.tree.leaves(alone)):
      np.testing.assert_allclose(np.asarray(got)[seed], np.asarray(want),
                                 rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("axis_type", [AxisType.Explicit, AxisType.Auto],
                         ids=["explicit", "auto"])
def test_data_parallel_replicated_params(axis_type):
  mesh = _mesh(axis_type)
  params, x, y = _problem()
  replicated = NamedSharding(mesh, P())
  params = jax.device_put(params, replicated)
  x = jax.device_put(x, NamedSharding(mesh, P("d", None)))
  y = jax.device_put(y, NamedSharding(mesh, P("d", None)))
  tx = _tx()
  state = tx.init(params)
  history = _train(params, state, x, y, tx)
  for new_params, new_state in history:
    for leaf in jax.tree.leaves((new_params, new_state)):
      assert leaf.sharding.is_fully_replicated
  _assert_matches_single_device(history)


def test_shard_map_data_parallel_loop_keeps_devices_identical():
  mesh = _mesh(AxisType.Explicit)
  params, x, y = _problem()
  params = jax.device_put(params, NamedSharding(mesh, P()))
  x = jax.device_put(x, NamedSharding(mesh, P("d", None)))
  y = jax.device_put(y, NamedSharding(mesh, P("d", None)))
  tx = _tx()
  state = tx.init(params)

  @jax.jit
  @functools.partial(
      jax.shard_map, mesh=mesh,
      in_specs=(P(), P(), P("d"), P("d")),
      out_specs=((P(), P()), P("d")))
  def step(params, state, x, y):
    grads = jax.lax.pmean(jax.grad(_loss)(params, x, y), "d")
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    # Each device's own copy, stacked, to check they agree.
    copies = jax.tree.map(lambda a: jax.lax.pcast(a, "d", to="varying")[None],
                          (params, state))
    return (params, state), copies

  history = []
  for _ in range(STEPS):
    (params, state), copies = step(params, state, x, y)
    history.append((params, state))
    for leaf in jax.tree.leaves(copies):
      leaf = np.asarray(leaf)
      assert leaf.shape[0] == NUM_DEVICES
      for device_copy in leaf[1:]:
        np.testing.assert_array_equal(device_copy, leaf[0])
  _assert_matches_single_device(history)


def test_shard_map_base_with_a_collective_skips_on_every_device_together():
  """The gradients averaged inside the base, not before TRAC: when one
  device's rows make its gradients non-finite, every device skips the step,
  so none waits in the base's pmean for one that skipped (which hung, then
  aborted the process) and no NaN reaches the others. The step changes
  nothing: each device's state equals the same run without it."""
  mesh = _mesh(AxisType.Explicit)
  params, x, y = _problem()
  tx = trac_optax.trac(optax.chain(helpers.pmean_gradients("d"), optax.adam(0.05)),
                       s_init=1e-4)
  # Each device's own params and state, stacked: TRAC's h, and so S, is
  # each device's own here (its rows' gradient).
  stacked = jax.tree.map(lambda a: jnp.stack([a] * NUM_DEVICES),
                         (params, tx.init(params)))
  stacked = jax.device_put(stacked, NamedSharding(mesh, P("d")))
  rows = x.shape[0] // NUM_DEVICES
  x_bad = x.copy()
  x_bad[3 * rows, 0] = np.nan  # in device 3's rows only
  rows_over_devices = NamedSharding(mesh, P("d", None))
  x, x_bad, y = (jax.device_put(a, rows_over_devices) for a in (x, x_bad, y))

  @jax.jit
  @functools.partial(jax.shard_map, mesh=mesh,
                     in_specs=(P("d"), P("d"), P("d")), out_specs=P("d"))
  def step(carry, x, y):
    params, state = jax.tree.map(lambda a: a[0], carry)
    updates, state = tx.update(jax.grad(_loss)(params, x, y), state, params)
    return jax.tree.map(lambda a: a[None],
                        (optax.apply_updates(params, updates), state))

  def run(batches):
    carry = stacked
    for batch in batches:
      carry = step(carry, batch, y)
    return carry

  got_params, got = run([x, x, x_bad, x, x])
  want_params, want = run([x, x, x, x])
  np.testing.assert_array_equal(np.asarray(got.skipped), 1)
  np.testing.assert_array_equal(np.asarray(want.skipped), 0)
  helpers.assert_trees_equal((got_params, got._replace(skipped=0)),
                             (want_params, want._replace(skipped=0)))
  assert float(np.max(np.asarray(trac_optax.scale(got)))) > 0
