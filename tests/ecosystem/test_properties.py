"""Property-based tests: no gradient sequence can break TRAC's invariants.

Random parameter trees (shapes, dtypes) and gradient sequences (zeros,
huge and tiny values, sign-alternating, constant-sign and random signs),
with every base kind (plain, adaptive, sign-based). After every step:
params and state are finite, shapes and dtypes are those of ``init``, and
S is never negative.

Each run is one jitted ``lax.scan``; ``s_init`` and the gradients are
traced arguments, so examples that share a tree reuse the compiled run.
"""

from __future__ import annotations

import functools

import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import optax

import trac_optax

STEPS = 24
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}
SHAPES = [(), (3,), (2, 3)]
BASES = {
    "sgd": lambda: optax.sgd(0.1),
    # eps of 1e-3: Adam's default 1e-8 is 0 in float16, where plain Adam
    # itself returns 0/0 = NaN for a zero gradient.
    "adam": lambda: optax.adam(0.1, eps=1e-3),
    "lion": lambda: optax.lion(0.01),
}
# "Huge" gradients: far beyond any real run, yet such that the bases' own
# state stays finite (Adam's second moment overflows once g**2 does: for
# g > 1.8e19 in float32 and g > 255 in float16, with or without TRAC).
HUGE = {"float32": 1e15, "bfloat16": 1e15, "float16": 100.0}
MAGNITUDE = {"zero": 0.0, "normal": 1.0, "tiny": 1e-30}
SETTINGS = hypothesis.settings(
    deadline=None, derandomize=True, database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow])


@functools.cache
def _runner(base_name):
  """A jitted run of STEPS TRAC steps; jax.jit caches it per tree layout."""

  @jax.jit
  def run(params, grads_seq, s_init):
    tx = trac_optax.trac(BASES[base_name](), s_init=s_init)
    state = tx.init(params)

    def body(carry, grads):
      params, state = carry
      updates, state = tx.update(grads, state, params)
      params = optax.apply_updates(params, updates)
      finite = jnp.all(jnp.array(
          [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves((params, state))
           if jnp.issubdtype(x.dtype, jnp.floating)]))
      same_dtypes = all(u.dtype == p.dtype for u, p in zip(
          jax.tree.leaves(updates), jax.tree.leaves(params)))
      assert same_dtypes  # static: checked once, at trace time
      return (params, state), (finite, trac_optax.scale(state))

    (params, state), (finite, scales) = jax.lax.scan(
        body, (params, state), grads_seq)
    return params, state, finite, scales

  return run


@st.composite
def trees(draw):
  leaves = draw(st.lists(
      st.tuples(st.sampled_from(SHAPES), st.sampled_from(sorted(DTYPES))),
      min_size=1, max_size=3))
  return tuple(leaves)


@st.composite
def gradient_plans(draw):
  pattern = draw(st.sampled_from(["alternating", "constant", "random"]))
  kinds = draw(st.lists(
      st.sampled_from(["zero", "normal", "huge", "tiny"]),
      min_size=STEPS, max_size=STEPS))
  seed = draw(st.integers(0, 2**16))
  return pattern, tuple(kinds), seed


def _build(layout, plan):
  pattern, kinds, seed = plan
  rng = np.random.default_rng(seed)
  if pattern == "alternating":
    signs = np.array([(-1.0) ** t for t in range(STEPS)])
  elif pattern == "constant":
    signs = np.full(STEPS, rng.choice([-1.0, 1.0]))
  else:
    signs = rng.choice([-1.0, 1.0], STEPS)
  params, grads = {}, {}
  for i, (shape, dtype_name) in enumerate(layout):
    dtype = DTYPES[dtype_name]
    params[f"p{i}"] = jnp.asarray(rng.normal(size=shape), dtype)
    direction = np.clip(np.abs(rng.normal(size=shape)), 0.1, 2.0)
    mags = [HUGE[dtype_name] if k == "huge" else MAGNITUDE[k] for k in kinds]
    seq = np.stack([s * m * direction for s, m in zip(signs, mags)])
    grads[f"p{i}"] = jnp.asarray(seq, dtype)
  return params, grads


def _check(base_name, layout, plan, s_init):
  params, grads_seq = _build(layout, plan)
  run = _runner(base_name)
  new_params, state, finite, scales = run(params, grads_seq,
                                          jnp.float32(s_init))
  assert bool(np.all(np.asarray(finite))), (
      f"non-finite params/state at step {int(np.argmin(np.asarray(finite)))}")
  scales = np.asarray(scales)
  assert np.all(np.isfinite(scales)) and np.all(scales >= 0)
  for name, p in params.items():
    assert new_params[name].shape == p.shape
    assert new_params[name].dtype == p.dtype
  init_state = trac_optax.trac(BASES[base_name]()).init(params)
  for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(init_state)):
    assert got.shape == want.shape and got.dtype == want.dtype
  assert int(state.count) + int(state.skipped) == STEPS


@hypothesis.settings(SETTINGS, max_examples=12)
@hypothesis.given(
    base_name=st.sampled_from(sorted(BASES)),
    layout=trees(),
    plan=gradient_plans(),
    s_init=st.sampled_from([1e-8, 1e-3, 1.0]))
def test_random_trees_and_gradients(base_name, layout, plan, s_init):
  _check(base_name, layout, plan, s_init)


MIXED = (((2, 3), "float32"), ((3,), "bfloat16"), ((), "float16"))


@hypothesis.settings(SETTINGS, max_examples=40)
@hypothesis.given(
    base_name=st.sampled_from(sorted(BASES)),
    plan=gradient_plans(),
    s_init=st.sampled_from([1e-8, 1e-3, 1.0]))
def test_many_gradient_sequences_on_a_mixed_tree(base_name, plan, s_init):
  """One fixed mixed-dtype tree: every example reuses three compiled runs."""
  _check(base_name, MIXED, plan, s_init)


# Saturation: S and the params stay finite, and match each other, for any
# number of betas, any s_init and gradients up to each dtype's range.
SATURATION_STEPS = 40
BETA_COUNTS = (1, 6, 10)
GRADIENT_SCALES = (1e-3, 1.0, 1e3, 1e15)


@functools.cache
def _saturation_runner(base_name, num_betas):
  """A jitted scan that also returns, per step, how far the params are from
  ``theta_ref + S * delta`` (saturated to the dtype's edge) in ulps."""

  @jax.jit
  def run(params, grads_seq, s_init, betas):
    tx = trac_optax.trac(BASES[base_name](), betas=betas, s_init=s_init)
    state = tx.init(params)

    def implied_error(old, new, state):
      s = trac_optax.scale(state)
      worst = jnp.zeros((), jnp.float32)
      for p_old, p, r, d in zip(*(jax.tree.leaves(t) for t in (
          old, new, state.reference, state.delta))):
        info = jnp.finfo(p.dtype)
        edge = float(info.max) * (1 - float(info.eps))  # within the last ulps
        want = jnp.clip(r.astype(jnp.float32) + s * d, -edge, edge)
        # A move longer than the dtype's range (e.g. float16 from -4e4 to
        # +6e4) cannot be one update: it goes the largest step towards it.
        old32 = p_old.astype(jnp.float32)
        want = jnp.clip(want, old32 - float(info.max), old32 + float(info.max))
        got = p.astype(jnp.float32)
        # One rounding of p_old + u and one of u: ulps of their magnitudes.
        tol = 2 * float(info.eps) * (jnp.abs(p_old.astype(jnp.float32))
                                     + jnp.abs(want)) + float(info.tiny)
        worst = jnp.maximum(worst, jnp.max(jnp.abs(got - want) / tol))
      return worst

    def body(carry, grads):
      params, state = carry
      updates, new_state = tx.update(grads, state, params)
      new_params = optax.apply_updates(params, updates)
      finite = jnp.all(jnp.array([
          jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(new_params)]))
      out = (finite, trac_optax.scale(new_state),
             implied_error(params, new_params, new_state))
      return (new_params, new_state), out

    _, out = jax.lax.scan(body, (params, state), grads_seq)
    return out

  return run


@hypothesis.settings(SETTINGS, max_examples=30)
@hypothesis.given(
    base_name=st.sampled_from(["sgd", "lion"]),
    num_betas=st.sampled_from(BETA_COUNTS),
    s_init=st.sampled_from([1e-8, 1.0, 1e3, 1e30]),
    gradient_scale=st.sampled_from(GRADIENT_SCALES),
    constant=st.booleans(),
    seed=st.integers(0, 2**16))
def test_params_and_s_saturate_and_agree(base_name, num_betas, s_init,
                                         gradient_scale, constant, seed):
  rng = np.random.default_rng(seed)
  params, grads = {}, {}
  for i, (shape, dtype_name) in enumerate(MIXED):
    dtype = DTYPES[dtype_name]
    params[f"p{i}"] = jnp.asarray(rng.normal(size=shape), dtype)
    signs = (np.ones(SATURATION_STEPS) if constant
             else rng.choice([-1.0, 1.0], SATURATION_STEPS))
    seq = gradient_scale * signs.reshape((-1,) + (1,) * len(shape)) * (
        np.clip(np.abs(rng.normal(size=(SATURATION_STEPS,) + shape)), 0.1, 2))
    big = float(jnp.finfo(dtype).max)
    grads[f"p{i}"] = jnp.asarray(np.clip(seq, -big, big), dtype)
  betas = jnp.asarray(1.0 - np.logspace(-1, -6, num_betas), jnp.float32)
  finite, scales, error = _saturation_runner(base_name, num_betas)(
      params, grads, jnp.float32(s_init), betas)
  assert np.all(np.asarray(finite)), "non-finite params"
  scales = np.asarray(scales)
  assert np.all(np.isfinite(scales)) and np.all(scales >= 0)
  assert np.all(np.asarray(error) <= 1.0), (
      f"params differ from theta_ref + S delta by {np.max(error)} x tolerance")


def test_sum_of_ten_tuners_saturates_instead_of_overflowing():
  """10 slow betas, s_init=1, constant gradients: every s_j reaches its
  bound max / 10, whose float32 sum rounds past max (to inf, before)."""
  betas = tuple(1.0 - np.logspace(-3, -6, 10))
  tx = trac_optax.trac(optax.sgd(0.1), betas=betas, s_init=1.0)
  params = {"w": jnp.ones(3)}
  state = tx.init(params)
  update = jax.jit(tx.update)
  for _ in range(600):
    updates, state = update({"w": jnp.ones(3)}, state, params)
    params = optax.apply_updates(params, updates)
  with np.errstate(over="ignore"):
    assert np.isinf(np.cumsum(np.asarray(state.tuner_scales))[-1])
  s = float(trac_optax.scale(state))
  assert s == float(np.finfo(np.float32).max)
  assert np.all(np.isfinite(np.asarray(params["w"])))
  assert int(state.skipped) == 0
