"""TRAC under ``vmap`` with a per-seed skip: values and the compiled step.

The reference for every value is the same seed run on its own (unbatched,
one jitted update per seed), so a batched step that mixes seeds up, or keeps
a state it should have stepped, fails here.
"""

from __future__ import annotations

import functools
import math
import os
import pathlib
import re
import subprocess
import sys
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import trac_optax
from tests.ecosystem import helpers
from trac_optax import _conditional

SEEDS = 4
STEPS = 10
# (step, seed) pairs whose gradient is NaN: one seed at steps 1, 2, 3 and 4
# (the first, a middle and the last lane), every seed at step 6, two at 8.
NAN_AT = ({(1, 1), (2, 1), (3, 0), (4, 3), (8, 0), (8, 2)}
          | {(6, s) for s in range(SEEDS)})


def _params(seed):
  key = jax.random.key(seed)
  return {"w": jax.random.normal(key, (3, 5)), "b": jnp.full((5,), 0.1 * seed)}


def _grads(step, seed, params):
  g = jax.tree.map(lambda p: jnp.sin(p * (step + 1) + seed), params)
  if (step, seed) in NAN_AT:
    g = {**g, "w": g["w"].at[0, 0].set(jnp.nan)}
  return g


def _stack(trees):
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _run_alone(tx, seed):
  update = jax.jit(tx.update)
  params = _params(seed)
  state = tx.init(params)
  for step in range(STEPS):
    updates, state = update(_grads(step, seed, params), state, params)
    params = optax.apply_updates(params, updates)
  return params, state


def _assert_trees_close(got, want):
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=2e-6,
                               atol=1e-7)


def _one_kept_lane(form):
  """Patches the state size from which one kept lane of three or more is
  restored rather than selected, so that either form runs at any size."""
  size = {"restore": 0, "select": 1 << 62}[form]
  return mock.patch.object(_conditional, "RESTORE_MIN_LEAF_SIZE", size)


@pytest.fixture(params=["restore", "select"])
def one_kept_lane(request):
  with _one_kept_lane(request.param):
    yield request.param


@pytest.mark.parametrize("base", [optax.adam(0.05), optax.sgd(0.1, 0.9)],
                         ids=["adam", "sgd-momentum"])
def test_vmapped_seeds_match_each_seed_run_alone(base, one_kept_lane):
  tx = trac_optax.trac(base)
  update = jax.jit(jax.vmap(tx.update), donate_argnums=(1,))
  params = _stack([_params(s) for s in range(SEEDS)])
  state = jax.vmap(tx.init)(params)
  for step in range(STEPS):
    grads = _stack([_grads(step, s, jax.tree.map(lambda x, s=s: x[s], params))
                    for s in range(SEEDS)])
    updates, state = update(grads, state, params)
    params = optax.apply_updates(params, updates)
  for seed in range(SEEDS):
    want_params, want_state = _run_alone(tx, seed)
    pick = lambda tree, seed=seed: jax.tree.map(lambda x: x[seed], tree)
    _assert_trees_close(pick(params), want_params)
    _assert_trees_close(pick(state), want_state)
  skipped = [sum((t, s) in NAN_AT for t in range(STEPS)) for s in range(SEEDS)]
  np.testing.assert_array_equal(state.skipped, skipped)
  np.testing.assert_array_equal(state.count, STEPS - np.array(skipped))


@pytest.mark.parametrize("grid", [(2, 2), (1, 4)])
def test_nested_vmap_matches_each_seed_run_alone(grid, one_kept_lane):
  """An outer and an inner vmap over the four seeds (with four inner lanes,
  the outer vmap batches the inner save-and-restore of one kept lane)."""
  tx = trac_optax.trac(optax.adam(0.05))
  update = jax.jit(jax.vmap(jax.vmap(tx.update)))
  as_grid = lambda tree: jax.tree.map(
      lambda x: x.reshape(grid + x.shape[1:]), tree)
  params = as_grid(_stack([_params(s) for s in range(SEEDS)]))
  state = jax.vmap(jax.vmap(tx.init))(params)
  for step in range(STEPS):
    flat = jax.tree.map(lambda x: x.reshape((SEEDS,) + x.shape[2:]), params)
    grads = _stack([_grads(step, s, jax.tree.map(lambda x, s=s: x[s], flat))
                    for s in range(SEEDS)])
    updates, state = update(as_grid(grads), state, params)
    params = optax.apply_updates(params, updates)
  for seed in range(SEEDS):
    want_params, want_state = _run_alone(tx, seed)
    pick = lambda tree, seed=seed: jax.tree.map(
        lambda x: x[seed // grid[1], seed % grid[1]], tree)
    _assert_trees_close(pick(params), want_params)
    _assert_trees_close(pick(state), want_state)


@pytest.mark.parametrize("lanes", [[True, True, True], [False, False, False],
                                   [True, False, True], [False, True, True],
                                   [True, True, False], [False, False, True],
                                   [True, False], [False, False]])
def test_step_or_keep_batches_like_a_select(lanes, one_kept_lane):
  step = lambda state, inputs: (state[0] * inputs + 1.0, state[1] + 1)
  n = len(lanes)
  state = (jnp.arange(2.0 * n).reshape(n, 2), jnp.arange(n))
  inputs = jnp.array([2.0, 3.0])  # not batched: the same for every lane
  lanes = jnp.array(lanes)
  got = jax.jit(jax.vmap(
      lambda p, s: _conditional.step_or_keep(p, step, s, inputs)))(lanes, state)
  mask = np.asarray(lanes)
  want_x = np.where(mask[:, None], np.asarray(state[0]) * 2 * [1, 1.5] + 1,
                    np.asarray(state[0]))
  np.testing.assert_array_equal(np.asarray(got[0]), want_x)
  np.testing.assert_array_equal(
      np.asarray(got[1]), np.where(mask, np.arange(n) + 1, np.arange(n)))


@settings(max_examples=20, deadline=None)
@given(lanes=st.lists(st.booleans(), min_size=1, max_size=7),
       form=st.sampled_from(["restore", "select"]),
       closes_over_lanes=st.booleans())
def test_any_lanes_step_or_keep_like_a_select(lanes, form, closes_over_lanes):
  """A two-stage step (a moment, then an offset from the new moment, and a
  counter), batched: each lane is stepped or kept as NumPy selects it. Its
  decay is a constant, or a value per lane that the step closes over (as a
  base optimizer closes over a learning rate that a sweep vmaps over)."""
  n = len(lanes)
  decays = 0.9 - 0.1 * np.arange(n) if closes_over_lanes else np.full(n, 0.9)

  def lane(pred, state, g, decay):
    def step(state, g):
      m, d, count = state
      m = (decay if closes_over_lanes else 0.9) * m + g
      return m, d + m, count + 1
    return _conditional.step_or_keep(pred, step, state, g)

  m = np.arange(n * 6.0).reshape(n, 2, 3)
  d = -np.arange(n * 6.0).reshape(n, 2, 3)
  g = np.ones((n, 2, 3)) * np.arange(1, n + 1)[:, None, None]
  count = np.arange(n, dtype=np.int32)
  with _one_kept_lane(form):
    got = jax.jit(jax.vmap(lane))(
        jnp.array(lanes), (jnp.asarray(m, jnp.float32),
                           jnp.asarray(d, jnp.float32), jnp.asarray(count)),
        jnp.asarray(g, jnp.float32), jnp.asarray(decays, jnp.float32))
  mask = np.array(lanes)[:, None, None]
  new_m = decays[:, None, None] * m + g
  np.testing.assert_allclose(np.asarray(got[0]), np.where(mask, new_m, m),
                             rtol=1e-6)
  np.testing.assert_allclose(np.asarray(got[1]),
                             np.where(mask, d + new_m, d), rtol=1e-6)
  np.testing.assert_array_equal(np.asarray(got[2]),
                                np.where(np.array(lanes), count + 1, count))


LEARNING_RATES = (0.01, 0.05, 0.2)


def _train_at(learning_rate, nan_steps, shift=0.0):
  """``trac(adam(learning_rate))`` for STEPS steps from seed 0's params, on
  gradients shifted by ``shift`` (one per seed); they are NaN at the steps
  where ``nan_steps`` holds."""
  tx = trac_optax.trac(optax.adam(learning_rate))

  def body(carry, step_and_nan):
    params, state = carry
    step, nan = step_and_nan
    grads = jax.tree.map(lambda p: jnp.where(nan, jnp.nan, jnp.sin(
        p * (step + 1.0) + shift)), params)
    updates, state = tx.update(grads, state, params)
    return (optax.apply_updates(params, updates), state), None

  params = _params(0)
  return jax.lax.scan(body, (params, tx.init(params)),
                      (jnp.arange(STEPS), nan_steps))[0]


def test_a_sweep_vmapped_over_the_bases_learning_rate(one_kept_lane):
  """PureJaxRL-style sweeps vmap training over a hyperparameter, so the base
  closes over a batched learning rate (before: an AssertionError from
  custom_vmap, which refused the batched closure)."""
  nan = np.zeros((len(LEARNING_RATES), STEPS), bool)
  nan[1, 2] = True  # one lane of three keeps its state
  nan[[0, 2], 4] = True  # two lanes
  nan[:, 6] = True  # every lane
  swept = jax.jit(jax.vmap(_train_at))(jnp.array(LEARNING_RATES),
                                       jnp.asarray(nan))
  for i, learning_rate in enumerate(LEARNING_RATES):
    # The reference closes over a Python float: nothing traced, no vmap.
    alone = jax.jit(lambda nan, lr=learning_rate: _train_at(lr, nan))(
        jnp.asarray(nan[i]))
    _assert_trees_close(jax.tree.map(lambda x, i=i: x[i], swept), alone)
  np.testing.assert_array_equal(swept[1].skipped, nan.sum(axis=1))
  # Each lane's base stepped at its own learning rate: the offsets differ.
  offsets = np.asarray(swept[1].delta["w"][:, 0, 0])
  assert len(set(offsets.tolist())) == len(LEARNING_RATES)


@pytest.mark.parametrize("outer", ["learning rates", "seeds"])
def test_a_sweep_of_vmapped_seeds_matches_each_run_alone(outer):
  """Learning rates x seeds, two nested vmaps (PureJaxRL's sweeps): the
  inner vmap's base closes over a value batched by the outer one, or the
  outer's by the inner."""
  shifts = jnp.arange(4.0)
  nan = np.zeros((len(LEARNING_RATES), len(shifts), STEPS), bool)
  nan[1, 2, 3] = True  # one seed of one learning rate
  nan[0, :, 5] = True  # every seed of one learning rate
  nan[2, 1:3, 7] = True  # two seeds of another
  if outer == "learning rates":
    swept = jax.vmap(jax.vmap(_train_at, in_axes=(None, 0, 0)),
                     in_axes=(0, 0, None))
    got = jax.jit(swept)(jnp.array(LEARNING_RATES), jnp.asarray(nan), shifts)
  else:
    swept = jax.vmap(jax.vmap(_train_at, in_axes=(0, 0, None)),
                     in_axes=(None, 1, 0))
    got = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), jax.jit(swept)(
        jnp.array(LEARNING_RATES), jnp.asarray(nan), shifts))
  for i, learning_rate in enumerate(LEARNING_RATES):
    alone = jax.jit(lambda *args, lr=learning_rate: _train_at(lr, *args))
    for j in range(len(shifts)):
      _assert_trees_close(jax.tree.map(lambda x, i=i, j=j: x[i, j], got),
                          alone(jnp.asarray(nan[i, j]), shifts[j]))
  np.testing.assert_array_equal(got[1].skipped, nan.sum(axis=-1))


def test_an_eager_vmap_over_the_bases_learning_rate():
  """Without jit the closed-over learning rates are concrete batched values."""
  def two_steps(learning_rate, grads):
    tx = trac_optax.trac(optax.adam(learning_rate))
    params = _params(0)
    state = tx.init(params)
    for g in (jax.tree.map(jnp.sin, params), grads):
      updates, state = tx.update(g, state, params)
      params = optax.apply_updates(params, updates)
    return params, state

  grads = _stack([jax.tree.map(jnp.cos, _params(0))] * 3)
  grads["w"] = grads["w"].at[1, 0, 0].set(jnp.nan)  # the middle lane skips
  swept = jax.vmap(two_steps)(jnp.array(LEARNING_RATES), grads)
  for i, learning_rate in enumerate(LEARNING_RATES):
    alone = jax.jit(lambda g, lr=learning_rate: two_steps(lr, g))(
        jax.tree.map(lambda x, i=i: x[i], grads))
    _assert_trees_close(jax.tree.map(lambda x, i=i: x[i], swept), alone)
  np.testing.assert_array_equal(swept[1].skipped, [0, 1, 0])


def test_step_or_keep_with_one_predicate_for_a_batched_state():
  step = lambda state, inputs: state + inputs
  state = jnp.arange(3.0)
  for pred in (True, False):
    got = jax.jit(jax.vmap(
        lambda s, i, pred=pred: _conditional.step_or_keep(
            jnp.asarray(pred), step, s, i)))(state, jnp.ones(3))
    np.testing.assert_array_equal(np.asarray(got),
                                  np.arange(3.0) + (1.0 if pred else 0.0))


def test_meta_gradient_under_vmap_matches_each_seed():
  tx = trac_optax.trac(optax.adam(0.05))

  def loss_after_steps(shift):
    params = jnp.array([0.5, -0.2, 0.1])
    state = tx.init(params)
    for step in range(3):
      grads = params + shift * (step + 1)
      updates, state = tx.update(grads, state, params)
      params = optax.apply_updates(params, updates)
    return jnp.sum(params ** 2)

  shifts = jnp.array([[0.1, 0.25, 0.3], [np.nan, 0.0, 0.0], [-0.3, 0.0, 0.2]])
  vmap_of_grad = jax.jit(jax.vmap(jax.grad(loss_after_steps)))(shifts)
  grad_of_vmap = jax.jit(jax.grad(
      lambda s: jnp.sum(jax.vmap(loss_after_steps)(s))))(shifts)
  # One jitted function for every seed: jax.grad makes a new function, so a
  # jit of it inside the loop would compile again for each seed.
  grad_alone = jax.jit(jax.grad(loss_after_steps))
  for got in (vmap_of_grad, grad_of_vmap):
    for seed in range(3):
      want = grad_alone(shifts[seed])
      np.testing.assert_allclose(np.asarray(got[seed]), np.asarray(want),
                                 rtol=1e-5)
    assert np.all(np.isfinite(np.asarray(got)))
    # Seed 1's shift enters only NaN gradients, whose steps are skipped: the
    # loss does not depend on it (before, its meta-gradient was NaN).
    np.testing.assert_array_equal(np.asarray(got[1]), 0.0)


def _entry_copies(compiled_text):
  """Shapes copied in the entry computation (outside any conditional)."""
  entry = compiled_text[compiled_text.index("\nENTRY"):]
  entry = entry[:entry.index("\n}")]
  return re.findall(r"= (\w+\[[\d,]*\])\S* copy\(", entry)


def _compiled_vmapped_step(one_kept_lane="restore", sweep=False):
  """The HLO text of a jitted, vmapped trac(adam) step (2 leaves, 4 seeds);
  with ``sweep``, each seed's base closes over its own learning rate."""
  params = {"w": jnp.ones((SEEDS, 64, 64)), "b": jnp.ones((SEEDS, 64))}
  learning_rates = jnp.full((SEEDS,), 1e-3)

  def step(params, state, grads, learning_rate):
    tx = trac_optax.trac(optax.adam(learning_rate if sweep else 1e-3))
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  state = jax.vmap(trac_optax.trac(optax.adam(1e-3)).init)(params)
  with _one_kept_lane(one_kept_lane):
    return jax.jit(jax.vmap(step), donate_argnums=(0, 1)).lower(
        params, state, params, learning_rates).compile().as_text()


@pytest.mark.parametrize("sweep", [False, True], ids=["seeds", "sweep"])
def test_vmapped_step_copies_no_state_buffer_when_every_seed_steps(sweep):
  """The common step of vmapped seeds updates the state in place, also when
  the vmap sweeps over the base's learning rate.

  A select between the stepped and the kept state (what ``lax.cond`` becomes
  under ``vmap``) makes XLA copy Adam's moments at every step; only per-seed
  scalars (the tuners' 6 betas, counters) may be copied here.
  """
  copies = _entry_copies(_compiled_vmapped_step(sweep=sweep))
  big = [s for s in copies if s.count(",") >= 1
         and int(s.split("[")[1].split(",")[1].rstrip("]")) >= 64]
  assert not big, big


def _copied_state_buffers(one_kept_lane, sweep=False):
  """Shapes of the state buffers copied anywhere in the compiled vmapped
  step (in any branch of any conditional)."""
  text = _compiled_vmapped_step(one_kept_lane, sweep)
  return sorted(re.findall(rf"= (f32\[{SEEDS},64[\d,]*\])\S* copy\(", text))


@pytest.mark.parametrize("sweep", [False, True], ids=["seeds", "sweep"])
def test_restoring_the_one_kept_seed_copies_no_state_buffer(sweep):
  """A step where one of 4 seeds keeps its state saves that seed and steps
  every seed in place: restoring it adds no copy to the compiled step (the
  copies left are those of the select for two or more kept seeds)."""
  assert (_copied_state_buffers("restore", sweep)
          == _copied_state_buffers("select", sweep))


@pytest.mark.parametrize(("lanes", "shapes", "restores"), [
    (4, [(4, 64, 64), (4, 64), (4,)], True),  # 5.5k entries per leaf
    (4, [(4, 32, 32), (4, 32), (4,)], False),  # 1.4k
    (2, [(2, 512, 512)], False),  # two lanes always select
    (3, [(3, 1366)], True), (3, [(3, 1365)], False),  # 4098 and 4095
    (1, [(1, 1 << 20)], False),
])
def test_one_kept_lane_is_restored_where_the_leaves_are_not_small(
    lanes, shapes, restores):
  state = [jnp.zeros(shape) for shape in shapes]
  assert _conditional._restores_one_lane(lanes, state) is restores
  # Typed keys of the same shapes count like any other leaves.
  keys = [jax.random.split(jax.random.key(0), math.prod(shape)).reshape(shape)
          for shape in shapes]
  assert _conditional._restores_one_lane(lanes, keys) is restores


def test_step_or_keep_of_a_state_with_a_typed_key(one_kept_lane):
  """A typed key in the state: one kept lane of four keeps its key, restored
  or selected (not a TypeError, which would make TRAC fall back to a select
  of the whole state at every step)."""
  step = lambda state, inputs: (jax.random.split(state[0])[0],
                                state[1] + inputs)
  keys = jax.random.split(jax.random.key(0), 4)
  state = (keys, jnp.zeros((4, 3)))
  lanes = jnp.array([True, True, False, True])
  got = jax.jit(jax.vmap(lambda p, s, i: _conditional.step_or_keep(
      p, step, s, i)))(lanes, state, jnp.ones((4, 3)))
  want = jax.vmap(lambda k: jax.random.split(k)[0])(keys)
  got_keys = jax.random.key_data(got[0])
  for lane in (0, 1, 3):
    np.testing.assert_array_equal(got_keys[lane],
                                  jax.random.key_data(want)[lane])
  np.testing.assert_array_equal(got_keys[2], jax.random.key_data(keys)[2])
  np.testing.assert_array_equal(np.asarray(got[1]),
                                np.where(np.asarray(lanes)[:, None], 1.0, 0.0)
                                * np.ones((4, 3)))


def test_a_base_state_with_a_typed_key_steps_under_vmap(one_kept_lane):
  """A key in the base state: one kept seed of four keeps its key, restored
  or selected."""
  tx = trac_optax.trac(helpers.base_with_a_key())
  params = jnp.ones((SEEDS, 8))
  grads = jnp.ones((SEEDS, 8)).at[2, 0].set(jnp.nan)
  state = jax.vmap(tx.init)(params)
  _, new = jax.jit(jax.vmap(tx.update))(grads, state, params)
  base, old_base = new.base_optimizer_state, state.base_optimizer_state
  keys = jax.random.key_data(base["key"])
  old_keys = jax.random.key_data(old_base["key"])
  np.testing.assert_array_equal(keys[2], old_keys[2])
  assert not np.array_equal(keys[0], old_keys[0])
  np.testing.assert_array_equal(base["seen"][2], old_base["seen"][2])
  np.testing.assert_array_equal(base["seen"][0], np.ones(8))


def test_restoring_one_seed_of_seeds_sharded_over_devices_gathers_nothing(
    tmp_path):
  """8 seeds on 8 simulated devices: the restore gathers and scatters the
  kept seed's lane, which XLA partitions without moving any state between
  devices (every collective carries one number), where a slice at a traced
  index would gather every seed's state to every device. Values: those of
  one device and of the select, bit for bit. The same for a sweep whose
  learning rates are sharded like the seeds."""
  out = tmp_path / "runs.npz"
  env = {**os.environ, "JAX_PLATFORMS": "cpu",
         "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
  result = subprocess.run(
      [sys.executable, str(pathlib.Path(__file__).with_name("sharded_skip.py")),
       str(out)], env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  runs = np.load(out)
  assert int(runs["devices"]) == 8
  for prefix in ("", "sweep-"):
    collectives = list(runs[f"{prefix}collectives"])
    assert collectives  # the counts of kept seeds are summed over devices
    for op, result in collectives:
      for dims in re.findall(r"\[([\d,]*)\]", result):
        assert math.prod(int(d) for d in dims.split(",") if d) <= 1, (
            op, result)
    leaves = sorted(k.split("_")[-1] for k in runs.files
                    if k.startswith(f"{prefix}select_"))
    assert leaves
    for i in leaves:
      want = runs[f"{prefix}select_{i}"]
      np.testing.assert_array_equal(runs[f"{prefix}sharded_{i}"], want)
      np.testing.assert_array_equal(runs[f"{prefix}one_device_{i}"], want)
  # The sweep's learning rates reached the seeds.
  assert not np.array_equal(runs["sweep-select_0"], runs["select_0"])


def test_array_extra_args_reach_the_base_per_seed_under_vmap():
  """A traced extra arg (one per seed) is an input of the step, not a
  closed-over value; a Python one stays a Python value."""

  def update(updates, state, params=None, *, loss_value, sign):
    del params
    assert isinstance(sign, int)
    return jax.tree.map(lambda g: -0.1 * sign * loss_value * g, updates), state

  base = optax.GradientTransformationExtraArgs(
      lambda params: optax.EmptyState(), update)
  tx = trac_optax.trac(base)
  params = jnp.ones((3, 2))
  grads = jnp.array([[1.0, 1.0], [np.nan, 1.0], [1.0, 1.0]])
  losses = jnp.array([1.0, 2.0, 3.0])
  _, state = jax.jit(jax.vmap(
      lambda g, s, p, loss: tx.update(g, s, p, loss_value=loss, sign=1)))(
          grads, jax.vmap(tx.init)(params), params, losses)
  np.testing.assert_allclose(np.asarray(state.delta),
                             [[-0.1, -0.1], [0.0, 0.0], [-0.3, -0.3]],
                             rtol=1e-6)


def test_a_base_with_a_collective_over_the_vmapped_axis_still_works():
  """A pmean over the seeds inside the base is batched by that vmap itself
  (the skip keeps lax.cond's select there)."""

  def update(updates, state, params=None):
    del params
    return jax.tree.map(lambda g: -0.1 * jax.lax.pmean(g, "seeds"),
                        updates), state

  tx = trac_optax.trac(optax.GradientTransformation(
      lambda params: optax.EmptyState(), update))
  params = jnp.ones((4, 3))
  grads = jnp.arange(12.0).reshape(4, 3)
  _, state = jax.jit(jax.vmap(tx.update, axis_name="seeds"))(
      grads, jax.vmap(tx.init)(params), params)
  want = -0.1 * np.arange(12.0).reshape(4, 3).mean(axis=0)
  np.testing.assert_allclose(np.asarray(state.delta),
                             np.broadcast_to(want, (4, 3)), rtol=1e-6)


def test_a_base_with_a_collective_skips_every_seed_when_one_is_not_finite():
  """Seed 0's NaN would reach every seed through the base's pmean: the seeds
  skip that step together, and it changes nothing (the run equals the same
  run without it), where before the other seeds' offsets became NaN."""
  tx = trac_optax.trac(optax.chain(helpers.pmean_gradients("seeds"),
                                   optax.adam(0.1)))
  params = jnp.linspace(-1.0, 1.0, 12).reshape(4, 3)
  grads = 0.1 * jnp.arange(12.0).reshape(4, 3) - 0.4
  bad = grads.at[0, 1].set(jnp.nan)

  @jax.jit
  @functools.partial(jax.vmap, axis_name="seeds")
  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  def run(batches):
    p, s = params, jax.vmap(tx.init)(params)
    for g in batches:
      p, s = step(p, s, g)
    return p, s

  got_params, got = run([grads, grads, bad, grads, grads])
  want_params, want = run([grads, grads, grads, grads])
  np.testing.assert_array_equal(got.skipped, [1, 1, 1, 1])
  np.testing.assert_array_equal(want.skipped, [0, 0, 0, 0])
  helpers.assert_trees_equal((got_params, got._replace(skipped=0)),
                             (want_params, want._replace(skipped=0)))
  # The run moved: the comparison is not between untouched states.
  assert float(jnp.max(trac_optax.scale(got))) > 0
  assert float(jnp.min(jnp.abs(got.delta))) > 0


def test_a_base_that_only_reads_its_seeds_index_skips_seed_by_seed():
  """``axis_index`` mixes no seed's values with another's: one seed's
  non-finite gradients skip that seed alone."""

  def update(updates, state, params=None):
    del params
    rate = 0.1 * (1 + jax.lax.axis_index("seeds"))
    return jax.tree.map(lambda g: -rate * g, updates), state

  tx = trac_optax.trac(optax.GradientTransformation(
      lambda params: optax.EmptyState(), update))
  params = jnp.ones((4, 3))
  grads = jnp.ones((4, 3)).at[2, 0].set(jnp.nan)
  _, state = jax.jit(jax.vmap(tx.update, axis_name="seeds"))(
      grads, jax.vmap(tx.init)(params), params)
  np.testing.assert_array_equal(state.skipped, [0, 0, 1, 0])
  want = -0.1 * np.array([1.0, 2.0, 0.0, 4.0])[:, None] * np.ones((4, 3))
  np.testing.assert_allclose(np.asarray(state.delta), want, rtol=1e-6)


def test_without_a_collective_the_skip_adds_none():
  """The agreement over a collective's axes costs nothing where the base has
  no collective, under vmap (with or without an axis name) or not."""
  tx = trac_optax.trac(optax.adam(0.1))
  params = jnp.ones((4, 3))
  state = jax.vmap(tx.init)(params)
  unnamed = str(jax.make_jaxpr(jax.vmap(tx.update))(params, state, params))
  batched = str(jax.make_jaxpr(jax.vmap(tx.update, axis_name="seeds"))(
      params, state, params))
  single = str(jax.make_jaxpr(tx.update)(params[0], tx.init(params[0]),
                                          params[0]))
  for text in (batched, unnamed, single):
    assert "psum" not in text
  # The check can fail: with a collective in the base the agreement is there.
  tx = trac_optax.trac(optax.chain(helpers.pmean_gradients("seeds"),
                                   optax.adam(0.1)))
  text = str(jax.make_jaxpr(jax.vmap(tx.update, axis_name="seeds"))(
      params, jax.vmap(tx.init)(params), params))
  assert text.count("psum") >= 2  # the base's pmean and the agreement
