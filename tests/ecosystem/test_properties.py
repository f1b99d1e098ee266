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
