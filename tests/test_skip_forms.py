"""The skip's two forms: XLA:CPU's in-place conditionals and the select that
every other platform lowers (``_conditional.step_or_keep(select_off_cpu=True)``).

The CPU runs the in-place form, which the rest of the suite checks against
the references. Here the select form is run on the CPU too (by naming no
platform as the in-place one) and must give the same values and derivatives:
skipped steps that change nothing, seeds under ``vmap`` that skip alone or
together, meta-gradients through a skipped step. The lowering tests check
which form each platform gets, without compiling for it.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import trac_optax
from tests.ecosystem import helpers
from trac_optax import _conditional

IN_PLACE, SELECT = "in place", "select"
SEEDS = 4
STEPS = 6

BASES = {
    "adam": lambda: optax.adam(0.05),
    "adamw": lambda: optax.adamw(0.05, weight_decay=0.1),
    "clip+adam": lambda: optax.chain(optax.clip_by_global_norm(0.5),
                                     optax.adam(0.05)),
    "sgd+momentum": lambda: optax.sgd(0.05, momentum=0.9),
}


@contextlib.contextmanager
def _form(form: str) -> Iterator[None]:
  """Trace under ``form``: the in-place form is the CPU's own."""
  if form == IN_PLACE:
    yield
    return
  original = _conditional.IN_PLACE_PLATFORM
  _conditional.IN_PLACE_PLATFORM = "no platform"
  try:
    yield
  finally:
    _conditional.IN_PLACE_PLATFORM = original


def _tx(base: str) -> optax.GradientTransformation:
  return trac_optax.trac(BASES[base](), s_init=1e-3)


def _params(seeds: int | None) -> dict[str, jax.Array]:
  """Leaves big enough that with 4 seeds the in-place form saves and
  restores a seed that keeps its state, where one seed skips alone."""
  rng = np.random.default_rng(0)
  shape = lambda *s: s if seeds is None else (seeds, *s)
  return {"w": jnp.asarray(0.1 * rng.normal(size=shape(64, 96)), jnp.float32),
          "b": jnp.zeros(shape(96), jnp.float32)}


def _grads(params: dict[str, jax.Array], t: int) -> dict[str, jax.Array]:
  keys = jax.random.split(jax.random.key(t), 2)
  return {name: jax.random.normal(k, x.shape) + x
          for k, (name, x) in zip(keys, sorted(params.items()))}


@functools.cache
def _compiled_run(form: str, base: str, seeds: int | None):
  """A jitted run of STEPS steps (traced under ``form``), whose gradients at
  step t are NaN where ``bad[t]`` holds (per seed under vmap)."""
  tx = _tx(base)

  def run(params, bad):
    state = tx.init(params)
    out = []
    for t in range(STEPS):
      grads = jax.tree.map(lambda g, b=bad[t]: jnp.where(b, jnp.nan, g),
                           _grads(params, t))
      updates, state = tx.update(grads, state, params)
      params = optax.apply_updates(params, updates)
      out.append((params, state))
    return out

  if seeds is not None:
    run = jax.vmap(run, in_axes=(0, 1))
  with _form(form):
    return jax.jit(run).lower(
        _params(seeds), jnp.zeros((STEPS,) if seeds is None
                                  else (STEPS, seeds), bool)).compile()


def _assert_same(got, want):
  """Equal up to float32 rounding, relative to each leaf's largest entry:
  the two forms fuse the arithmetic differently, and a rounding difference
  in ``h`` reaches S through erfi (a changed fusion of the same form moved
  the tuner scales by 2.4e-5)."""
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    w = np.asarray(w)
    scale = float(np.max(np.abs(w), initial=0.0)) if w.dtype.kind == "f" else 0
    np.testing.assert_allclose(np.asarray(g), w, rtol=1e-4,
                               atol=1e-5 * scale)


@pytest.mark.parametrize("base", sorted(BASES))
def test_the_select_form_skips_a_bad_step_as_the_in_place_form_does(base):
  bad = jnp.zeros((STEPS,), bool).at[3].set(True)
  got = _compiled_run(SELECT, base, None)(_params(None), bad)
  want = _compiled_run(IN_PLACE, base, None)(_params(None), bad)
  _assert_same(got, want)
  # The skipped step changed nothing but its counters.
  (params_before, state_before), (params_after, state_after) = got[2], got[3]
  helpers.assert_trees_equal(params_after, params_before)
  helpers.assert_trees_equal(
      (state_after.delta, state_after.base_optimizer_state, state_after.v),
      (state_before.delta, state_before.base_optimizer_state, state_before.v))
  assert int(state_after.skipped) == 1
  # The run moved: the comparison is not between untouched states.
  assert float(trac_optax.scale(got[-1][1])) > 0


@hypothesis.settings(max_examples=12, deadline=None)
@hypothesis.given(bad=st.lists(st.lists(st.booleans(), min_size=SEEDS,
                                        max_size=SEEDS),
                               min_size=STEPS, max_size=STEPS))
def test_vmapped_seeds_skip_alike_in_both_forms(bad):
  """Any pattern of seeds that skip: none, one (which the in-place form
  saves and restores), several, all."""
  bad = jnp.asarray(bad, bool)
  got = _compiled_run(SELECT, "adam", SEEDS)(_params(SEEDS), bad)
  want = _compiled_run(IN_PLACE, "adam", SEEDS)(_params(SEEDS), bad)
  _assert_same(got, want)
  skipped = np.asarray(got[-1][1].skipped)
  np.testing.assert_array_equal(skipped, np.asarray(bad).sum(axis=0))


def test_meta_gradient_through_a_skipped_step_is_that_of_the_in_place_form():
  """Reverse mode through a step with NaN gradients: a kept state sends back
  none of the step's derivatives (an unmasked select would send back NaN)."""

  def loss_after_steps(learning_rate, shifts):
    tx = trac_optax.trac(optax.adam(learning_rate), s_init=1e-2)
    params = jnp.array([0.5, -0.2, 0.1])
    state = tx.init(params)
    for t in range(STEPS):
      updates, state = tx.update(params + shifts[t], state, params)
      params = optax.apply_updates(params, updates)
    return jnp.sum(params ** 2)

  shifts = jnp.linspace(-0.3, 0.3, STEPS * 3).reshape(STEPS, 3)
  shifts = shifts.at[2, 1].set(jnp.nan)
  grads = {}
  for form in (IN_PLACE, SELECT):
    with _form(form):
      grads[form] = jax.jit(jax.grad(loss_after_steps, argnums=(0, 1)))(
          jnp.float32(0.05), shifts)
  _assert_same(grads[SELECT], grads[IN_PLACE])
  assert all(np.all(np.isfinite(np.asarray(g)))
             for g in jax.tree.leaves(grads[SELECT]))
  assert float(jnp.abs(grads[SELECT][0])) > 0


def test_a_base_with_a_collective_skips_every_seed_in_the_select_form():
  """A pmean over the seeds inside the base: one seed's NaN skips them all."""
  tx = trac_optax.trac(optax.chain(helpers.pmean_gradients("seeds"),
                                   optax.adam(0.1)))
  params = jnp.linspace(-1.0, 1.0, 12).reshape(4, 3)
  grads = 0.1 * jnp.arange(12.0).reshape(4, 3) - 0.4
  bad = grads.at[0, 1].set(jnp.nan)

  def run(batches):
    step = jax.jit(jax.vmap(
        lambda p, s, g: tx.update(g, s, p)[1], axis_name="seeds"))
    state = jax.vmap(tx.init)(params)
    for g in batches:
      state = step(params, state, g)
    return state

  with _form(SELECT):
    got = run([grads, bad, grads])
  want = run([grads, bad, grads])
  np.testing.assert_array_equal(np.asarray(got.skipped), [1, 1, 1, 1])
  _assert_same(got, want)


def _two_way_conditionals(lowered) -> int:
  """Conditionals of arrays with two branches or more in a lowered program
  (``lax.platform_dependent`` lowers to a conditional of one branch, after
  one of scalars that picks the platform's index)."""
  def count(operation) -> int:
    found = int(operation.name == "stablehlo.case"
                and len(operation.regions) >= 2
                and any(len(r.type.shape) > 0 for r in operation.results))
    for region in operation.regions:
      for block in region.blocks:
        found += sum(count(op.operation) for op in block.operations)
    return found
  return count(lowered.compiler_ir("stablehlo").operation)


@pytest.mark.parametrize("seeds", [None, SEEDS])
def test_only_the_cpu_lowers_the_skip_as_a_conditional(seeds):
  tx = _tx("adam")
  step = lambda p, s, g: tx.update(g, s, p)
  init = tx.init
  if seeds is not None:
    step, init = jax.vmap(step), jax.vmap(init)
  params = _params(seeds)
  traced = jax.jit(step).trace(params, init(params), params)
  conditionals = {platform: _two_way_conditionals(
      traced.lower(lowering_platforms=(platform,)))
      for platform in ("cpu", "cuda", "rocm", "tpu")}
  assert conditionals["cpu"] >= 1, conditionals
  assert conditionals["cuda"] == conditionals["rocm"] == 0, conditionals
  assert conditionals["tpu"] == 0, conditionals


def test_the_select_form_keeps_a_typed_key_in_the_base_state():
  """``jnp.where`` on a typed PRNG key: the seed that skips keeps its key,
  the others split theirs (under vmap), as in the in-place form."""
  tx = trac_optax.trac(helpers.base_with_a_key())
  params = jnp.ones((SEEDS, 8))
  grads = jnp.ones((SEEDS, 8)).at[2, 0].set(jnp.nan)
  state = jax.vmap(tx.init)(params)
  with _form(SELECT):
    _, new = jax.jit(jax.vmap(tx.update))(grads, state, params)
  keys = np.asarray(jax.random.key_data(new.base_optimizer_state["key"]))
  old_keys = np.asarray(jax.random.key_data(state.base_optimizer_state["key"]))
  np.testing.assert_array_equal(keys[2], old_keys[2])
  assert all(not np.array_equal(keys[s], old_keys[s]) for s in (0, 1, 3))
  np.testing.assert_array_equal(np.asarray(new.skipped), [0, 0, 1, 0])
