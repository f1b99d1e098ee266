"""TRAC inside Optax's combinators, with every base optimizer.

Each composition is checked against a run that does the combinator's job by
hand (clipping written out, a larger batch, a run on the sub-tree alone, a
run that never saw the bad step), so a combinator that drops params, state or
extra arguments on the way to TRAC makes the two runs differ.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import trac_optax
from tests import reference
from tests.ecosystem import helpers

BASE_NAMES = list(helpers.BASES)
STEPS = 16


@functools.cache
def plain_run(base_name: str, steps: int = STEPS):
  """TRAC on the full batch: the run most compositions must reproduce."""
  return helpers.run(helpers.make_trac(helpers.BASES[base_name]()), steps)


MAX_NORM = 0.5


@functools.cache
def clip_run(base_name: str):
  """TRAC after ``clip_by_global_norm`` in a chain."""
  tx = optax.chain(optax.clip_by_global_norm(MAX_NORM),
                   helpers.make_trac(helpers.BASES[base_name]()))
  return helpers.run(tx, STEPS)


def _clip_by_hand(grads, max_norm):
  norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree.leaves(grads)))
  factor = jnp.minimum(1.0, max_norm / norm)
  return jax.tree.map(lambda g: g * factor, grads)


# ----------------------------------------------------------------- chain ----


@pytest.mark.parametrize("base_name", BASE_NAMES)
def test_chain_after_clip_by_global_norm(base_name):
  x, y = helpers.data()
  first_norm = optax.tree.norm(
      jax.grad(helpers.loss)(helpers.init_params(), x, y))
  assert first_norm > 4 * MAX_NORM  # the clip is active

  got_params, got_states = clip_run(base_name)
  want_params, want_states = helpers.run(
      helpers.make_trac(helpers.BASES[base_name]()), STEPS,
      grad_transform=lambda g: _clip_by_hand(g, MAX_NORM))

  helpers.assert_trees_close(got_params, want_params)
  np.testing.assert_allclose(helpers.scales(got_states),
                             helpers.scales(want_states), rtol=1e-5)
  assert helpers.scales(got_states)[-1] > 0
  # Clipping changed the run: it is not the unclipped one (lion follows the
  # sign of its momentum, which a clip changes only a little).
  changed = helpers.max_abs_diff(got_params[-1], plain_run(base_name)[0][-1])
  assert changed > (1e-5 if base_name == "lion" else 1e-3)


@pytest.mark.parametrize("base_name", ["sgd", "adam", "adamw"])
def test_chain_after_clip_matches_float64_reference(base_name):
  """The whole chain against an independent float64 NumPy TRAC."""
  np_base = {
      "sgd": reference.Sgd(lr=0.05),
      "adam": reference.Adam(lr=0.05),
      "adamw": reference.Adam(lr=0.05, weight_decay=0.1),
  }[base_name]
  x, y = (a.astype(np.float64) for a in helpers.data())
  params0 = helpers.init_params()
  theta0 = np.concatenate(
      [np.asarray(params0["b"], np.float64),
       np.asarray(params0["w"], np.float64).ravel()])
  ref = reference.Trac(theta0, np_base, s_init=helpers.S_INIT)

  def grad(theta):
    b, w = theta[:2], theta[2:].reshape(4, 2)
    r = x @ w + b - y
    g = np.concatenate([2 * r.sum(0), 2 * (x.T @ r).ravel()]) / r.size
    return g * min(1.0, MAX_NORM / np.linalg.norm(g))

  want_scales, want_theta = [], []
  for _ in range(STEPS):
    want_theta.append(ref.step(grad(ref.params)))
    want_scales.append(ref.scale)

  got_params, got_states = clip_run(base_name)
  got_theta = [np.concatenate([np.asarray(p["b"]), np.asarray(p["w"]).ravel()])
               for p in got_params]
  np.testing.assert_allclose(helpers.scales(got_states), want_scales, rtol=1e-3)
  np.testing.assert_allclose(got_theta, want_theta, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------ inject_hyperparams ----

_INJECTABLE = {
    "sgd": (optax.sgd, {}),
    "adam": (optax.adam, {}),
    "adamw": (optax.adamw, {"weight_decay": 0.1}),
    "lion": (optax.lion, {}),
}


@pytest.mark.parametrize("base_name", list(_INJECTABLE))
def test_injected_base_learning_rate_changed_mid_run(base_name):
  """Setting the base's learning rate in the state equals a step schedule."""
  factory, kwargs = _INJECTABLE[base_name]
  lr0, lr1, switch = 0.05, 0.005, 6
  if base_name == "lion":
    lr0, lr1 = 0.01, 0.001  # as in helpers.BASES
  tx = helpers.make_trac(
      optax.inject_hyperparams(factory)(learning_rate=lr0, **kwargs))
  x, y = helpers.data()
  params = helpers.init_params()
  state = tx.init(params)
  step = helpers.make_step(tx)
  got, got_states = [], []
  for t in range(STEPS):
    if t == switch:
      state = optax.tree.set(state, learning_rate=jnp.float32(lr1))
      assert optax.tree.get(state, "learning_rate") == np.float32(lr1)
    params, state, _ = step(params, state, x, y)
    got.append(params)
    got_states.append(state)

  schedule = lambda count: jnp.where(count < switch, lr0, lr1)
  want, _ = helpers.run(
      helpers.make_trac(factory(learning_rate=schedule, **kwargs)), STEPS)
  unchanged, unchanged_states = plain_run(base_name)

  helpers.assert_trees_close(got, want)
  helpers.assert_trees_close(got[:switch], unchanged[:switch])
  # A real effect: the base iterate moved much less after the switch.
  moved = lambda states: helpers.max_abs_diff(
      trac_optax.trac_state(states[-1]).delta,
      trac_optax.trac_state(states[switch - 1]).delta)
  assert moved(got_states) < 0.5 * moved(unchanged_states)


def _fixed_grads(steps, seed=0):
  """A params-independent gradient sequence: then S is linear in s_init."""
  rng = np.random.default_rng(seed)
  drift = rng.normal(size=(4, 2))
  return [{"w": jnp.asarray(drift + 0.3 * rng.normal(size=(4, 2)), jnp.float32),
           "b": jnp.asarray(1.0 + 0.3 * rng.normal(size=(2,)), jnp.float32)}
          for _ in range(steps)]


def _run_fixed(tx, grads_seq, on_step=None):
  params = helpers.init_params()
  state = tx.init(params)
  update = jax.jit(tx.update)
  states = []
  for t, g in enumerate(grads_seq):
    if on_step is not None:
      state = on_step(t, state)
    u, state = update(g, state, params)
    params = optax.apply_updates(params, u)
    states.append(state)
  return params, states


@functools.cache
def plain_fixed_run(base_name: str, steps: int = STEPS):
  """TRAC on the fixed gradient sequence."""
  return _run_fixed(helpers.make_trac(helpers.BASES[base_name]()),
                    _fixed_grads(steps))


@pytest.mark.parametrize("base_name", BASE_NAMES)
def test_injected_trac_s_init_changed_mid_run(base_name):
  """With gradients that do not depend on params, S is exactly linear in s_init."""
  grads_seq = _fixed_grads(STEPS)
  s0, s1, switch = helpers.S_INIT, 3 * helpers.S_INIT, 8
  tx = optax.inject_hyperparams(trac_optax.trac)(
      helpers.BASES[base_name](), s_init=s0, eps=1e-8)

  def set_s_init(t, state):
    if t == switch:
      state.hyperparams["s_init"] = jnp.asarray(s1, jnp.float32)
    return state

  _, got = _run_fixed(tx, grads_seq, set_s_init)
  _, plain = plain_fixed_run(base_name)
  got_s, plain_s = helpers.scales(got), helpers.scales(plain)
  assert plain_s[-1] > 0
  np.testing.assert_allclose(got_s[:switch], plain_s[:switch], rtol=1e-6)
  np.testing.assert_allclose(got_s[switch:], plain_s[switch:] * s1 / s0,
                             rtol=1e-5)


@pytest.mark.parametrize(
    "betas, static_args, injected",
    [
        ((0.9, 0.99, 0.999), (), False),  # a tuple is never injected
        ((0.9, 0.99, 0.999), ("betas",), False),
        (np.array([0.9, 0.99, 0.999]), (), True),  # an array is, shape fixed
        (np.array([0.9, 0.99, 0.999]), ("betas",), False),
    ],
    ids=["tuple", "tuple-static", "array-injected", "array-static"])
def test_inject_hyperparams_over_trac_betas(betas, static_args, injected):
  grads_seq = _fixed_grads(8)
  tx = optax.inject_hyperparams(trac_optax.trac, static_args=static_args)(
      optax.adam(0.05), betas=betas, s_init=1e-4, eps=1e-8)
  params, states = _run_fixed(tx, grads_seq)
  assert ("betas" in states[-1].hyperparams) == injected
  assert set(states[-1].hyperparams) >= {"s_init", "eps"}
  want_params, want_states = _run_fixed(
      trac_optax.trac(optax.adam(0.05), betas=(0.9, 0.99, 0.999), s_init=1e-4),
      grads_seq)
  assert trac_optax.trac_state(states[-1]).v.shape == (3,)
  np.testing.assert_allclose(helpers.scales(states), helpers.scales(want_states),
                             rtol=1e-6)
  helpers.assert_trees_close(params, want_params, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------- MultiSteps ----


@pytest.mark.parametrize("base_name", BASE_NAMES)
def test_multisteps_equals_four_times_the_batch(base_name):
  k = 4
  tx = optax.MultiSteps(helpers.make_trac(helpers.BASES[base_name]()),
                        every_k_schedule=k)
  x, y = helpers.data()
  xs, ys = np.split(x, k), np.split(y, k)
  params = helpers.init_params()
  state = tx.init(params)
  step = helpers.make_step(tx)
  steps = 8
  want_params, want_states = plain_run(base_name)
  for t in range(steps):
    before = params
    for i in range(k):
      params, state, updates = step(params, state, xs[i], ys[i])
      if i < k - 1:
        for u in jax.tree.leaves(updates):
          assert not np.any(np.asarray(u))
        helpers.assert_trees_equal(params, before)
    helpers.assert_trees_close(params, want_params[t], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(float(trac_optax.scale(state)),
                               float(trac_optax.scale(want_states[t])),
                               rtol=1e-4)
  assert int(trac_optax.trac_state(state).count) == steps


def test_multisteps_drops_a_non_finite_micro_batch_with_skip_not_finite():
  """``optax.MultiSteps`` keeps a NaN micro-batch in its running mean for good,
  so TRAC skips every later step; with ``should_skip_update_fn=
  optax.skip_not_finite`` (the guide's advice) that micro-batch is dropped
  and the run is, bit for bit, the run without it."""
  params = {"w": jnp.array([1.0, -2.0, 3.0])}
  rng = np.random.default_rng(0)
  grads = [{"w": jnp.asarray(rng.normal(size=3), jnp.float32)} for _ in range(8)]
  bad = {"w": grads[0]["w"].at[1].set(jnp.nan)}

  def run(tx, batches):
    p, state = helpers.run_on_gradients(tx, params, batches)[-1]
    return p, trac_optax.trac_state(state)

  def multisteps(**kwargs):
    return optax.MultiSteps(trac_optax.trac(optax.adam(0.05), s_init=1e-3),
                            every_k_schedule=2, **kwargs)

  with_bad = grads[:3] + [bad] + grads[3:]
  got = run(multisteps(should_skip_update_fn=optax.skip_not_finite), with_bad)
  want = run(multisteps(should_skip_update_fn=optax.skip_not_finite), grads)
  helpers.assert_trees_equal(got, want)
  assert int(got[1].count) == 4  # four applied steps, which moved the base:
  assert float(jnp.min(jnp.abs(got[1].delta["w"]))) > 0
  # Without it the NaN stays in the running mean: every later step skipped.
  stuck = run(multisteps(), with_bad)[1]
  assert int(stuck.skipped) == 3 and int(stuck.count) == 1


# ------------------------------------------------------ masked / partition ----


@functools.cache
def _run_w_only(base_name, steps=STEPS):
  """TRAC on the weights alone, the bias held at its initial value."""
  tx = helpers.make_trac(helpers.BASES[base_name]())
  x, y = helpers.data()
  p0 = helpers.init_params()
  bias = p0["b"]
  w = p0["w"]
  state = tx.init(w)

  @jax.jit
  def step(w, state):
    g = jax.grad(lambda w: helpers.loss({"w": w, "b": bias}, x, y))(w)
    u, state = tx.update(g, state, w)
    return optax.apply_updates(w, u), state

  out = []
  for _ in range(steps):
    w, state = step(w, state)
    out.append(w)
  return out


@pytest.mark.parametrize("combinator", ["masked", "partition"])
@pytest.mark.parametrize("base_name", BASE_NAMES)
def test_frozen_params_untouched(base_name, combinator):
  trac = helpers.make_trac(helpers.BASES[base_name]())
  if combinator == "masked":
    tx = optax.chain(
        optax.masked(trac, {"w": True, "b": False}),
        optax.masked(optax.set_to_zero(), {"w": False, "b": True}))
  else:
    tx = optax.partition({"train": trac, "frozen": optax.set_to_zero()},
                         {"w": "train", "b": "frozen"})
  got, states = helpers.run(tx, STEPS)
  b0 = helpers.init_params()["b"]
  for p in got:
    helpers.assert_trees_equal(p["b"], b0)
  want = _run_w_only(base_name)
  helpers.assert_trees_close([p["w"] for p in got], want)
  assert trac_optax.scale(states[-1]) > 0
  assert jax.tree.leaves(trac_optax.trac_state(states[-1]).delta)[0].shape == (4, 2)


def _two_heads():
  p = helpers.init_params()
  return {"policy": p, "value": jax.tree.map(lambda a: a + 0.5, p)}


def _two_head_loss(params, x, y):
  return (helpers.loss(params["policy"], x, y)
          + 3.0 * helpers.loss(params["value"], x, -y))


@pytest.mark.parametrize("base_name", BASE_NAMES)
def test_partition_one_trac_per_group(base_name):
  make = lambda: helpers.make_trac(helpers.BASES[base_name]())
  tx = optax.partition({"policy": make(), "value": make()},
                       {"policy": "policy", "value": "value"})
  x, y = helpers.data()
  params = _two_heads()
  state = tx.init(params)

  @jax.jit
  def step(params, state):
    g = jax.grad(_two_head_loss)(params, x, y)
    u, state = tx.update(g, state, params)
    return optax.apply_updates(params, u), state

  for _ in range(STEPS):
    params, state = step(params, state)

  # Each group equals its own TRAC run on its own loss (the loss separates);
  # the policy head is the plain run.
  want_params, want_states = plain_run(base_name)
  helpers.assert_trees_close(params["policy"], want_params[-1])
  np.testing.assert_allclose(
      float(trac_optax.scale(state.inner_states["policy"])),
      float(trac_optax.scale(want_states[-1])), rtol=1e-5)
  tx1 = make()
  p1 = _two_heads()["value"]
  s1 = tx1.init(p1)
  step1 = jax.jit(lambda p, s: tx1.update(
      jax.grad(lambda p: 3.0 * helpers.loss(p, x, -y))(p), s, p))
  for _ in range(STEPS):
    u, s1 = step1(p1, s1)
    p1 = optax.apply_updates(p1, u)
  helpers.assert_trees_close(params["value"], p1)
  np.testing.assert_allclose(
      float(trac_optax.scale(state.inner_states["value"])),
      float(trac_optax.scale(s1)), rtol=1e-5)

  s_policy = float(trac_optax.scale(state.inner_states["policy"]))
  s_value = float(trac_optax.scale(state.inner_states["value"]))
  assert s_policy > 0 and s_value > 0 and s_policy != s_value
  with pytest.raises(ValueError, match=r"2 TracStates.*policy.*value"):
    trac_optax.scale(state)


# --------------------------------------------------------- apply_if_finite ----


@pytest.mark.parametrize("base_name", BASE_NAMES)
def test_apply_if_finite_skips_the_bad_step(base_name):
  tx = optax.apply_if_finite(helpers.make_trac(helpers.BASES[base_name]()),
                             max_consecutive_errors=3)
  x, y = helpers.data()

  @jax.jit
  def step(params, state, poison):
    g = jax.grad(helpers.loss)(params, x, y)
    g = jax.tree.map(lambda a: a + poison, g)
    u, state = tx.update(g, state, params)
    return optax.apply_updates(params, u), state

  def run(bad_steps):
    params = helpers.init_params()
    state = tx.init(params)
    for t in range(10):
      poison = jnp.float32(np.nan if t in bad_steps else 0.0)
      params, state = step(params, state, poison)
    return params, state

  got_params, got_state = run(bad_steps={3})
  assert int(got_state.total_notfinite) == 1
  # The bad step is never seen by TRAC (its own skip counter stays 0), and
  # the run equals one step shorter run that never met it.
  inner = trac_optax.trac_state(got_state)
  assert int(inner.skipped) == 0 and int(inner.count) == 9
  params = helpers.init_params()
  state = tx.init(params)
  for _ in range(9):
    params, state = step(params, state, jnp.float32(0.0))
  helpers.assert_trees_equal(got_params, params)
  helpers.assert_trees_equal(inner, trac_optax.trac_state(state))


# -------------------------------------------- map_params and nested lookups ----


@pytest.mark.parametrize("base_name", BASE_NAMES)
def test_map_params_reaches_reference_and_delta(base_name):
  """``optax.tree.map_params`` sees TRAC's param-shaped buffers as params."""
  tx = optax.chain(optax.clip_by_global_norm(1.0),
                   helpers.make_trac(helpers.BASES[base_name]()))
  params = helpers.init_params()
  state = tx.init(params)
  specs = {"w": "spec-w", "b": "spec-b"}
  mapped = optax.tree.map_params(
      tx, lambda _, spec: spec, state, specs,
      transform_non_params=lambda _: "replicated")
  inner = optax.tree.get(mapped, "TracState")
  assert inner.reference == specs and inner.delta == specs
  assert inner.v == inner.sigma == inner.tuner_scales == "replicated"
  assert inner.count == inner.skipped == "replicated"
  # Casting the param-shaped buffers keeps a state TRAC can step on.
  halved = optax.tree.map_params(tx, lambda p: p * 0.5, state)
  assert jax.tree.structure(halved) == jax.tree.structure(state)
  helpers.assert_trees_equal(optax.tree.get(halved, "TracState").reference,
                             jax.tree.map(lambda p: p * 0.5, params))


_NESTINGS = {
    "chain": lambda t: optax.chain(optax.clip_by_global_norm(1e6), t),
    "inject_hyperparams": lambda t: optax.inject_hyperparams(
        lambda s_init: t)(s_init=helpers.S_INIT),
    "multisteps": lambda t: optax.MultiSteps(t, every_k_schedule=1),
    "masked": lambda t: optax.masked(t, {"w": True, "b": True}),
    "partition": lambda t: optax.partition({"all": t}, {"w": "all", "b": "all"}),
    "apply_if_finite": lambda t: optax.apply_if_finite(t, 3),
    "deep": lambda t: optax.chain(
        optax.identity(),
        optax.MultiSteps(optax.apply_if_finite(
            optax.masked(optax.chain(t), {"w": True, "b": True}), 3), 1)),
}


@pytest.mark.parametrize("nesting", list(_NESTINGS))
def test_tree_get_and_scale_through_nesting(nesting):
  trac = helpers.make_trac(helpers.BASES["adam"]())
  _, states = _run_fixed(_NESTINGS[nesting](trac), _fixed_grads(STEPS))
  _, want = plain_fixed_run("adam")
  found = optax.tree.get(states[-1], "TracState")
  assert isinstance(found, trac_optax.TracState)
  helpers.assert_trees_equal(trac_optax.trac_state(states[-1]), found)
  np.testing.assert_allclose(helpers.scales(states), helpers.scales(want),
                             rtol=1e-6)
  # Also inside jit, where the state is traced.
  np.testing.assert_allclose(float(jax.jit(trac_optax.scale)(states[-1])),
                             helpers.scales(want)[-1], rtol=1e-6)


# --------------------------------------------------------------- flatten ----


@pytest.mark.parametrize("base_name", ["sgd", "adam"])
def test_flatten_around_trac_is_the_same_run(base_name):
  # optax.flatten (the guide's recipe for many-leaf trees) ravels the tree
  # into one vector: TRAC then sees one leaf, and only the order of the
  # inner product's sums changes.
  tx = optax.flatten(helpers.make_trac(helpers.BASES[base_name]()))
  got_params, got_states = helpers.run(tx, STEPS)
  want_params, want_states = plain_run(base_name)
  helpers.assert_trees_close(got_params, want_params)
  np.testing.assert_allclose(helpers.scales(got_states),
                             helpers.scales(want_states), rtol=1e-5)
  assert helpers.scales(got_states)[-1] > 0
