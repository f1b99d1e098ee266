"""Derivatives through ``update`` are finite, and right where it is smooth.

Meta-gradients of an unrolled, scanned TRAC loop with respect to the
initial params and to every step's gradients, checked against central
finite differences in float64. Before, ``sqrt(v)`` at ``v == 0`` (the first
step) had an infinite slope times a zero tangent, and every such
derivative was NaN however many steps were unrolled.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import trac_optax

TARGET = np.array([1.0, -2.0, 3.0])
STEPS = 20
BASES = {"sgd": optax.sgd, "adam": optax.adam}  # each at a learning rate


def _unrolled_loss(base, s_init, params, grad_shifts, cubic=0.0):
  """Loss after one TRAC step per row of ``grad_shifts`` (added to the
  gradients of a quadratic, plus ``cubic * q**3``), plus the final S."""
  tx = trac_optax.trac(base, s_init=s_init)

  def body(carry, shift):
    params, state = carry
    grads = jax.grad(lambda q: jnp.sum((q - TARGET) ** 2 + cubic * q ** 3))(
        params) + shift
    updates, state = tx.update(grads, state, params)
    return (optax.apply_updates(params, updates), state), None

  (params, state), _ = jax.lax.scan(
      body, (params, tx.init(params)), grad_shifts)
  return jnp.sum((params - TARGET) ** 2) + trac_optax.scale(state)


def _meta_loss(base_name, s_init):
  """The loss after STEPS steps from ``params`` with ``grad_shifts``."""
  return lambda params, grad_shifts: _unrolled_loss(
      BASES[base_name](0.1), s_init, params, grad_shifts)


@pytest.mark.parametrize("base_name", sorted(BASES))
def test_meta_gradient_matches_finite_differences(base_name):
  with jax.enable_x64(True):
    run = jax.jit(_meta_loss(base_name, 1e-2))
    params = jnp.array([0.5, 0.1, -0.3])
    shifts = jnp.asarray(
        0.1 * np.random.default_rng(0).normal(size=(STEPS, 3)))
    d_params, d_shifts = jax.jit(jax.grad(run, argnums=(0, 1)))(params, shifts)
    assert float(jax.jit(lambda p, s: _meta_loss(base_name, 1e-2)(p, s))(
        params, shifts)) < float(jnp.sum((params - TARGET) ** 2))

    def central(f, x, eps=1e-6):
      flat = np.asarray(x).ravel()
      out = np.empty_like(flat)
      for i in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[i] += eps
        down[i] -= eps
        out[i] = (float(f(jnp.asarray(up).reshape(x.shape)))
                  - float(f(jnp.asarray(down).reshape(x.shape)))) / (2 * eps)
      return out.reshape(x.shape)

    want_params = central(lambda p: run(p, shifts), params)
    np.testing.assert_allclose(np.asarray(d_params), want_params,
                               rtol=1e-5, atol=1e-8)
    # The shifts of three steps (first, middle, last) suffice.
    for t in (0, STEPS // 2, STEPS - 1):
      want = central(lambda g, t=t: run(params, shifts.at[t].set(g)),
                     shifts[t])
      np.testing.assert_allclose(np.asarray(d_shifts[t]), want,
                                 rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("base_name", sorted(BASES))
@pytest.mark.parametrize("steps", [1, 10])
def test_derivatives_are_finite_with_the_defaults_in_float32(base_name, steps):
  run = _meta_loss(base_name, 1e-8)
  params = jnp.array([0.5, 0.1, -0.3], jnp.float32)
  shifts = jnp.zeros((steps, 3), jnp.float32)
  for d in jax.jit(jax.grad(run, argnums=(0, 1)))(params, shifts):
    assert np.all(np.isfinite(np.asarray(d)))
  # Forward mode too.
  _, tangent = jax.jit(lambda p, t: jax.jvp(lambda q: run(q, shifts), (p,),
                                             (t,)))(params, jnp.ones(3))
  assert np.isfinite(float(tangent))


def _meta_loss_of_learning_rate(base_name):
  """The loss as a function of the learning rate, which the base closes over
  (``optax.adam(lr)``: no state holds it). Step 5's gradients are NaN, so a
  skipped step is differentiated through too."""
  return lambda learning_rate, shifts: _unrolled_loss(
      BASES[base_name](learning_rate), 1e-2,
      jnp.array([0.5, 0.1, -0.3], shifts.dtype), shifts.at[5].set(jnp.nan))


@pytest.mark.parametrize("base_name", sorted(BASES))
def test_meta_gradient_with_respect_to_the_bases_learning_rate(base_name):
  # Before, the closed-over tracer escaped TRAC's skip (UnexpectedTracerError).
  with jax.enable_x64(True):
    run = jax.jit(_meta_loss_of_learning_rate(base_name))
    shifts = jnp.asarray(
        0.1 * np.random.default_rng(1).normal(size=(STEPS, 3)))
    learning_rates = jnp.array([0.02, 0.1, 0.3])
    eps = 1e-6
    want = [(float(run(lr + eps, shifts)) - float(run(lr - eps, shifts)))
            / (2 * eps) for lr in np.asarray(learning_rates)]
    grad = jax.grad(run)
    got = [float(jax.jit(grad)(lr, shifts)) for lr in learning_rates]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)
    assert all(abs(g) > 1e-6 for g in got)  # the learning rate matters
    # Vmapped over the learning rates (a sweep of meta-gradients), in both
    # orders of vmap and grad.
    vmapped = jax.jit(jax.vmap(grad, in_axes=(0, None)))(learning_rates, shifts)
    np.testing.assert_allclose(np.asarray(vmapped), want, rtol=1e-5, atol=1e-9)
    summed = jax.jit(jax.grad(lambda lrs: jnp.sum(
        jax.vmap(run, in_axes=(0, None))(lrs, shifts))))(learning_rates)
    np.testing.assert_allclose(np.asarray(summed), want, rtol=1e-5, atol=1e-9)


def _loss_of_s_init_and_params(base_name):
  """The loss as a function of ``s_init`` and the initial params, on a
  non-quadratic loss; step 5 is skipped (its gradients are NaN)."""
  return lambda s_init, params: _unrolled_loss(
      BASES[base_name](0.1), s_init, params,
      jnp.zeros((STEPS, 3), params.dtype).at[5].set(jnp.nan), cubic=0.1)


@pytest.mark.parametrize("base_name", sorted(BASES))
def test_second_derivatives_match_finite_differences(base_name):
  """Hessians through a scanned loop, with respect to ``s_init`` and to the
  initial params, against second differences of the loss itself. Before,
  jax.hessian stopped with a ValueError (the batching rules returned batched
  results for unbatched inputs), and with respect to ``s_init`` was NaN (the
  second slope of the tuners' overflow rescaling overflowed)."""
  with jax.enable_x64(True):
    run = jax.jit(_loss_of_s_init_and_params(base_name))
    s_init, params = 1e-2, jnp.array([0.3, -0.5, 1.1])
    f = lambda s, p: float(run(s, p))
    eps = 1e-6  # 1e-4 of s_init: the loss curves steeply in it
    want = (f(s_init + eps, params) - 2 * f(s_init, params)
            + f(s_init - eps, params)) / eps**2
    got = float(jax.jit(jax.hessian(run))(s_init, params))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    eps = 1e-4
    basis = np.eye(3) * eps
    want = np.array([[(f(s_init, params + a + b) - f(s_init, params + a - b)
                       - f(s_init, params - a + b)
                       + f(s_init, params - a - b)) / (4 * eps**2)
                      for b in basis] for a in basis])
    got = np.asarray(jax.jit(jax.hessian(run, argnums=1))(s_init, params))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(want)) > 0.1  # the loss curves in the params
