"""Behaviour of trac_optax.trac: first steps by hand, dynamics, overflow, tracing."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import trac_optax
from tests import reference

S_INIT = 1e-8


def _run(tx, loss, params, steps):
  """Scans `steps` TRAC steps on `loss`; returns final params/state, loss and S."""
  def body(carry, _):
    params, state = carry
    grads = jax.grad(loss)(params)
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    return (params, state), (loss(params), trac_optax.scale(state))

  @jax.jit
  def run(params, state):
    return jax.lax.scan(body, (params, state), None, length=steps)

  (params, state), (losses, scales) = run(params, tx.init(params))
  return params, state, np.asarray(losses), np.asarray(scales)


def test_first_two_steps_by_hand():
  tx = trac_optax.trac(optax.sgd(0.1), s_init=S_INIT)
  params = {"a": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
  state = tx.init(params)
  assert float(trac_optax.scale(state)) == 0.0

  # Step 1: delta is zero, so h = 0, every tuner outputs erfi(0) = 0 and S = 0:
  # the params do not move, but the base iterate does (delta = -0.1 * g1).
  g1 = {"a": jnp.array([1.0, 1.0]), "b": jnp.array(2.0)}
  updates, state = tx.update(g1, state, params)
  new_params = optax.apply_updates(params, updates)
  assert float(trac_optax.scale(state)) == 0.0
  jax.tree.map(np.testing.assert_array_equal, new_params, params)
  jax.tree.map(lambda d, g: np.testing.assert_allclose(d, -0.1 * g), state.delta,
               g1)
  np.testing.assert_array_equal(np.asarray(state.v), 0.0)
  assert int(state.count) == 1

  # Step 2: g2 points against the first update (<g2, delta> < 0), so
  # sigma_j = -h > 0 and v_j = h^2 for every j: the ratio is 1/sqrt(2) up to
  # eps, every tuner outputs s_init, and S = 6 * s_init.
  g2 = {"a": jnp.array([1.0, 3.0]), "b": jnp.array(1.0)}
  h = -0.1 * (1 * 1 + 1 * 3 + 2 * 1)  # <g2, delta> = -0.6
  assert h < 0
  updates, state = tx.update(g2, state, new_params)
  np.testing.assert_allclose(np.asarray(state.sigma), -h, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(state.v), h * h, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(state.tuner_scales), S_INIT, rtol=1e-6)
  np.testing.assert_allclose(float(trac_optax.scale(state)), 6 * S_INIT,
                             rtol=1e-6)
  # The params are now theta_ref + S * delta_2, delta_2 = -0.1 * (g1 + g2).
  final = optax.apply_updates(new_params, updates)
  for key in params:
    want = params[key] - 6 * S_INIT * 0.1 * (g1[key] + g2[key])
    np.testing.assert_allclose(final[key], want, rtol=1e-6)


def test_second_gradient_along_the_update_gives_zero_scale():
  """h > 0 makes sigma negative, erfi negative, and S clipped at 0."""
  tx = trac_optax.trac(optax.sgd(0.1))
  params = jnp.ones(3)
  state = tx.init(params)
  _, state = tx.update(jnp.ones(3), state, params)
  _, state = tx.update(-jnp.ones(3), state, params)  # <g2, -0.1 g1> > 0
  assert np.all(np.asarray(state.tuner_scales) < 0)
  assert float(trac_optax.scale(state)) == 0.0


def test_scale_grows_from_zero_then_settles():
  problem = reference.JumpingQuadratic(dim=17, period=100)
  center = jnp.asarray(problem.center(0), jnp.float32)
  curvature = jnp.asarray(problem.curvature, jnp.float32)
  loss = lambda p: 0.5 * jnp.sum(curvature * (p - center)**2)
  _, _, losses, scales = _run(trac_optax.trac(optax.adam(0.02)), loss,
                              jnp.zeros(17), 400)
  assert scales[0] == 0.0
  # Grows by orders of magnitude over the first steps...
  assert np.all(np.diff(scales[:20]) > 0)
  assert scales[60] > 1e4 * scales[1]
  # ... then settles: the last 100 steps vary by less than 10%.
  tail = scales[-100:]
  assert (tail.max() - tail.min()) < 0.1 * tail.mean()
  assert losses[-1] < 1e-2 * losses[0]


def test_adam_base_converges_on_a_fixed_quadratic():
  """TRAC(Adam) approaches the minimum of a strongly convex quadratic.

  The approach is slow (S keeps shrinking while delta grows), so the test
  asserts a steady decrease of the distance to the minimum over 20,000 steps
  down to under 3% of where it started.
  """
  curvature = jnp.array([0.5, 1.0, 2.0, 4.0])
  center = jnp.array([1.0, -2.0, 3.0, 0.5])
  loss = lambda p: 0.5 * jnp.sum(curvature * (p - center)**2)
  steps, stretch = 20_000, 2_000
  tx = trac_optax.trac(optax.adam(0.01))
  params, state, losses, scales = _run(tx, loss, jnp.zeros(4), steps)
  start = float(jnp.linalg.norm(center))
  final = float(jnp.linalg.norm(params - center))
  per_stretch = losses.reshape(-1, stretch).mean(axis=1)
  assert final < 0.03 * start
  assert np.all(np.diff(per_stretch[-6:]) < 0)
  assert per_stretch[-1] < 1e-3 * losses[0]
  assert np.isfinite(scales[-1]) and scales[-1] > 0


def test_sgd_base_converges_on_a_fixed_quadratic():
  curvature = jnp.array([0.5, 1.0, 2.0, 4.0])
  center = jnp.array([1.0, -2.0, 3.0, 0.5])
  loss = lambda p: 0.5 * jnp.sum(curvature * (p - center)**2)
  params, _, _, _ = _run(trac_optax.trac(optax.sgd(0.1)), loss, jnp.zeros(4),
                         5_000)
  assert float(jnp.linalg.norm(params - center)) < 5e-3


def test_overflow_policy_constant_gradient_100k_steps():
  """A linear loss: the tuner's erfi arguments run far past erfi's overflow.

  Every tuner output and S must stay finite; the largest tuners saturate.
  """
  slope = jnp.linspace(0.5, 2.0, 8)
  loss = lambda p: jnp.sum(slope * p)
  tx = trac_optax.trac(optax.adam(1e-3))
  _, state, _, scales = _run(tx, loss, jnp.ones(8), 100_000)
  assert np.all(np.isfinite(scales))
  for leaf in jax.tree.leaves(state):
    assert np.all(np.isfinite(np.asarray(leaf)))
  # The erfi of the slowest-discounting tuners saturated: their outputs are
  # s_init / erfi(1/sqrt 2) * float32 max, S is astronomically large.
  big = np.finfo(np.float32).max
  np.testing.assert_allclose(np.asarray(state.tuner_scales)[-1],
                             S_INIT / 0.9534382692512609 * big, rtol=1e-5)
  assert scales[-1] > 1e30


def test_overflow_policy_with_huge_s_init_and_gradients():
  """Finite but absurd inputs: h^2 overflows, s_init * erfi overflows."""
  tx = trac_optax.trac(optax.sgd(1.0), s_init=1e30)
  params = jnp.ones(4)
  state = tx.init(params)
  for g in [1e18, -1e18, 1e18, 3e38, -3e38]:
    updates, state = tx.update(jnp.full(4, g), state, params)
    scale = float(trac_optax.scale(state))
    assert np.isfinite(scale) and scale >= 0
    assert np.all(np.isfinite(np.asarray(state.v)))
    assert np.all(np.isfinite(np.asarray(state.sigma)))
    assert np.all(np.isfinite(np.asarray(state.tuner_scales)))


def test_runs_under_jit_and_scan_without_recompiling():
  tx = trac_optax.trac(optax.adam(1e-2))
  params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
  state = tx.init(params)
  traces = []

  @jax.jit
  def step(params, state, grads):
    traces.append(None)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  grads = jax.tree.map(jnp.ones_like, params)
  params, state = step(params, state, grads)
  params, state = step(params, state, grads)
  params, state = step(params, state, jax.tree.map(lambda g: -g, grads))
  assert len(traces) == 1
  assert step._cache_size() == 1

  # The same steps under scan give the same result as the jitted loop.
  params0 = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
  gs = jax.tree.map(lambda g: jnp.stack([g, g, -g]), grads)

  def body(carry, g):
    p, s = carry
    u, s = tx.update(g, s, p)
    return (optax.apply_updates(p, u), s), None

  (scanned, _), _ = jax.lax.scan(body, (params0, tx.init(params0)), gs)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6),
               scanned, params)


def test_params_and_state_can_both_be_donated():
  tx = trac_optax.trac(optax.adam(1e-2))
  params = {"w": jnp.ones((4, 4))}
  state = tx.init(params)
  # init copied the params: the reference point is a distinct buffer.
  assert (state.reference["w"].unsafe_buffer_pointer() !=
          params["w"].unsafe_buffer_pointer())

  @jax.jit
  def step(params, state):
    grads = jax.tree.map(lambda p: p - 2.0, params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  donating = jax.jit(step, donate_argnums=(0, 1))
  want_params, want_state = step(params, state)
  got_params, got_state = donating(params, state)
  np.testing.assert_array_equal(got_params["w"], want_params["w"])
  np.testing.assert_array_equal(got_state.delta["w"], want_state.delta["w"])


def _param_loop_tuner_operands(compiled_text, param_shape):
  """For each fusion of the entry computation that writes a param-shaped
  array, the number of its operands shaped like the tuner state (6,)."""
  fused = {}
  for block in compiled_text.split("\n\n"):
    header = re.match(r"(%[\w.-]+) \((.*?)\) -> ", block)
    if header:
      fused[header.group(1)] = header.group(2).count("f32[6]")
  entry = compiled_text[compiled_text.index("\nENTRY"):]
  return [fused[name] for name in re.findall(
      rf"= f32\[{param_shape}\]\S* fusion\(.*calls=(%[\w.-]+)", entry)]


@pytest.mark.skipif(jax.default_backend() != "cpu",
                    reason="XLA:CPU's fusion decisions")
def test_param_loops_read_the_stored_tuner_outputs():
  """The loops that write the params read S from the new tuner state, not
  the tuner computation itself: fused into them, erfi's last steps ran once
  per entry wherever XLA:CPU does not vectorise a loop, e.g. a 1-D leaf of
  odd size split between two threads (67,715 entries here: the harness's
  PPO params raveled into one vector)."""
  tx = trac_optax.trac(optax.sgd(1e-3))
  params = {"w": jnp.ones((67715,))}

  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  text = jax.jit(step).lower(params, tx.init(params), params).compile()
  operands = _param_loop_tuner_operands(text.as_text(), "67715")
  assert operands and max(operands) <= 1, operands


def _kernels(tx, params):
  """Fusions (kernels) of one donated update + apply_updates, every branch."""
  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  compiled = jax.jit(step, donate_argnums=(0, 1)).lower(
      params, tx.init(params), params).compile()
  return len(re.findall(r" fusion\(", compiled.as_text()))


@pytest.mark.skipif(jax.default_backend() != "cpu",
                    reason="XLA:CPU's fusion decisions")
def test_kernels_beyond_adams_grow_by_one_per_leaf():
  """XLA:CPU writes each param-shaped buffer in a kernel of its own (Adam:
  its two moments and the param, three per leaf). TRAC writes one buffer
  more per leaf, its offset, and reduces each leaf above 4096 entries in a
  kernel of its own for ``<g, delta>``; everything else it adds (the small
  leaves' reduction, the tuners, the skip's counters) does not grow from 10
  leaves to 40. The floor that ``docs/performance.md`` argues against a
  constant number of kernels beyond Adam's, and a guard against more
  kernels per leaf."""
  adams_rest, rest = {}, {}
  for width in (16, 80):  # 256 entries per leaf; 6,400, reduced alone
    for leaves in (10, 40):
      params = {f"w{i:02d}": jnp.full((width, width), 0.1)
                for i in range(leaves)}
      adam = _kernels(optax.adam(1e-3), params)
      trac = _kernels(trac_optax.trac(optax.adam(1e-3)), params)
      adams_rest[width, leaves] = adam - 3 * leaves  # its step count
      big = leaves if width * width > 4096 else 0
      rest[width, leaves] = trac - adam - leaves - big
  assert len(set(adams_rest.values())) == 1, adams_rest
  # XLA:CPU reduces a few thousand concatenated entries in up to three
  # stages and ten thousand in one: the rest may shrink with more leaves,
  # never grow.
  assert rest[16, 40] <= rest[16, 10] <= 16, rest
  assert rest[80, 40] <= rest[80, 10] <= 16, rest


def test_missing_params_raises_optax_error():
  tx = trac_optax.trac(optax.sgd(0.1))
  state = tx.init(jnp.ones(2))
  with pytest.raises(ValueError, match="not passing `params`"):
    tx.update(jnp.ones(2), state)


def test_extra_args_reach_the_base_optimizer():
  seen = {}

  def init(params):
    del params
    return optax.EmptyState()

  def update(updates, state, params=None, *, loss_value=None, **extra):
    del params, extra
    seen["loss_value"] = loss_value
    return jax.tree.map(lambda g: -0.1 * loss_value * g, updates), state

  base = optax.GradientTransformationExtraArgs(init, update)
  tx = trac_optax.trac(base)
  assert isinstance(tx, optax.GradientTransformationExtraArgs)
  params = jnp.ones(2)
  state = tx.init(params)
  _, state = tx.update(jnp.ones(2), state, params, loss_value=3.0)
  assert seen["loss_value"] == 3.0
  np.testing.assert_allclose(np.asarray(state.delta), -0.3)
  # A plain base simply ignores extra args.
  tx = trac_optax.trac(optax.sgd(0.1))
  tx.update(jnp.ones(2), tx.init(params), params, loss_value=3.0)


def test_base_optimizer_sees_the_base_iterate_not_the_params():
  """Weight decay must act on theta_ref + delta, not on theta_ref + S * delta."""
  calls = []

  def update(updates, state, params=None):
    calls.append(params)
    return jax.tree.map(lambda g: -g, updates), state

  base = optax.GradientTransformation(lambda p: optax.EmptyState(), update)
  tx = trac_optax.trac(base)
  params = jnp.array([1.0, 2.0])
  state = tx.init(params)
  updates, state = tx.update(jnp.array([1.0, 1.0]), state, params)
  params = optax.apply_updates(params, updates)
  tx.update(jnp.array([-1.0, 0.0]), state, params)
  # Second call: base iterate = theta_ref + delta = [1, 2] + [-1, -1].
  np.testing.assert_allclose(np.asarray(calls[1]), [0.0, 1.0])
  np.testing.assert_allclose(np.asarray(params), [1.0, 2.0])


def test_state_layout_and_dtypes():
  params = {"h": jnp.ones(3, jnp.bfloat16), "f": jnp.ones(2, jnp.float32)}
  tx = trac_optax.trac(optax.sgd(0.1), betas=(0.9, 0.99))
  state = tx.init(params)
  assert isinstance(state, trac_optax.TracState)
  for counter in (state.count, state.skipped, state.consecutive_skips,
                  state.recoveries):
    assert counter.dtype == jnp.int32 and counter.shape == ()
  assert state.v.shape == state.sigma.shape == state.tuner_scales.shape == (2,)
  assert state.v.dtype == jnp.float32
  assert state.delta["h"].dtype == jnp.float32
  assert state.reference["h"].dtype == jnp.bfloat16
  updates, _ = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
  assert updates["h"].dtype == jnp.bfloat16
  assert updates["f"].dtype == jnp.float32


def test_step_count_saturates():
  tx = trac_optax.trac(optax.sgd(0.1))
  params = jnp.ones(2)
  state = tx.init(params)._replace(
      count=jnp.asarray(np.iinfo(np.int32).max, jnp.int32))
  _, state = tx.update(jnp.ones(2), state, params)
  assert int(state.count) == np.iinfo(np.int32).max


@pytest.mark.parametrize("dtype,learning_rate,s_init", [
    (jnp.float16, 0.1, 1e-8), (jnp.bfloat16, 1e3, 1.0),
    (jnp.float32, 1e3, 1.0)])
def test_params_saturate_at_the_dtype_edge_and_come_back(dtype, learning_rate,
                                                         s_init):
  """S grows under constant gradients until theta_ref + S delta passes the
  dtype's largest value (float16 within 150 steps of sgd(0.1)); the params
  stop just inside it, and return to theta_ref when S does."""
  tx = trac_optax.trac(optax.sgd(learning_rate), s_init=s_init,
                       recover_after=1)
  params = {"w": jnp.ones(3, dtype)}
  state = tx.init(params)
  update = jax.jit(tx.update)
  edge = np.nextafter(np.asarray(jnp.finfo(dtype).max, dtype),
                      np.zeros((), dtype))
  for _ in range(400):
    updates, state = update({"w": jnp.ones(3, dtype)}, state, params)
    params = optax.apply_updates(params, updates)
    assert np.all(np.isfinite(np.asarray(params["w"], np.float32)))
  np.testing.assert_array_equal(np.asarray(params["w"]), -edge)
  assert int(state.skipped) == 0
  # A non-finite step with recover_after=1 resets S to 0: back to theta_ref,
  # exactly after one more (zero-gradient, S = 0) step.
  updates, state = update({"w": jnp.full(3, np.nan, dtype)}, state, params)
  params = optax.apply_updates(params, updates)
  assert float(trac_optax.scale(state)) == 0.0
  updates, state = update({"w": jnp.zeros(3, dtype)}, state, params)
  params = optax.apply_updates(params, updates)
  np.testing.assert_array_equal(np.asarray(params["w"], np.float32), 1.0)
