"""trac_optax.erfi against scipy.special.erfi."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

import trac_optax
from trac_optax._erfi import erfi_inv_sqrt2

# Largest x whose erfi is finite in each dtype (solved from scipy below).
EDGE = {np.float32: 9.5661, np.float64: 26.71}


def _sweep(dtype, n=200_000):
  """Dense sweep to past the overflow edge, plus tiny |x| from 1e-30 to 1e-3."""
  dense = np.linspace(0.0, EDGE[dtype] + 0.05, n)
  tiny = np.logspace(-30, -3, 20_000)
  near_edge = np.linspace(EDGE[dtype] - 0.5, EDGE[dtype] + 0.01, 20_000)
  x = np.concatenate([dense, tiny, near_edge]).astype(dtype)
  return np.concatenate([x, -x])


def _check_accuracy(dtype, tolerance):
  x = _sweep(dtype)
  assert x.size >= 100_000
  want = scipy.special.erfi(x.astype(np.float64))
  got = np.asarray(trac_optax.erfi(x)).astype(np.float64)
  assert got.dtype == np.float64 and np.asarray(trac_optax.erfi(x)).dtype == dtype
  finite = np.abs(want) <= np.finfo(dtype).max
  assert np.all(np.isfinite(got))
  rel = np.abs(got[finite] - want[finite]) / np.maximum(
      np.abs(want[finite]), np.finfo(np.float64).tiny)
  rel[want[finite] == 0] = np.abs(got[finite][want[finite] == 0])
  assert rel.max() < tolerance, (rel.max(), x[finite][rel.argmax()])
  # The sweep reaches the overflow edge: values within 1% of the largest
  # finite number were compared.
  assert np.max(np.abs(want[finite])) > 0.01 * np.finfo(dtype).max
  return got, want, finite


def test_float32_accuracy_to_the_overflow_edge():
  got, want, finite = _check_accuracy(np.float32, 1e-6)
  # Past the edge the result saturates at the largest finite float32.
  big = np.finfo(np.float32).max
  np.testing.assert_array_equal(np.abs(got[~finite]), big)
  np.testing.assert_array_equal(np.sign(got[~finite]), np.sign(want[~finite]))


def test_float64_accuracy_to_the_overflow_edge():
  with jax.enable_x64(True):
    _check_accuracy(np.float64, 1e-12)


def test_naive_formula_is_not_accurate_enough():
  """The reason for the exact square: the naive product misses 1e-6."""
  x = np.linspace(8.0, 9.4, 10_000).astype(np.float32)
  naive = jax.jit(lambda x: 2 / np.sqrt(np.pi) * jnp.exp(x * x) *
                  jax.scipy.special.dawsn(x))(x)
  want = scipy.special.erfi(x.astype(np.float64))
  rel = np.abs(np.asarray(naive, np.float64) - want) / want
  assert rel.max() > 1e-6


def test_exactly_odd_and_zero_at_zero():
  x = np.concatenate([np.linspace(0, 10, 50_001),
                      np.logspace(-38, 1, 10_000)]).astype(np.float32)
  np.testing.assert_array_equal(
      np.asarray(trac_optax.erfi(-x)), -np.asarray(trac_optax.erfi(x)))
  assert float(trac_optax.erfi(0.0)) == 0.0
  assert float(trac_optax.erfi(jnp.float32(-0.0))) == 0.0


def test_saturation_and_special_values():
  big = np.finfo(np.float32).max
  x = np.array([9.6, 20.0, 1e30, big, -9.6, -1e30, -big], np.float32)
  np.testing.assert_array_equal(
      np.asarray(trac_optax.erfi(x)), np.sign(x) * big)
  special = np.asarray(trac_optax.erfi(np.array([np.inf, -np.inf, np.nan],
                                                 np.float32)))
  assert special[0] == np.inf and special[1] == -np.inf
  assert np.isnan(special[2])


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_half_precision_is_computed_in_float32(dtype):
  x = jnp.linspace(-4.0, 4.0, 4001).astype(dtype)
  got = trac_optax.erfi(x)
  assert got.dtype == dtype
  # Rounding of the float32 result (exact to ~1e-7) to the half type.
  want = scipy.special.erfi(np.asarray(x, np.float64))
  big = float(jnp.finfo(dtype).max)
  want = np.clip(want, -big, big)
  # Rounding to the half type: eps relative, or one subnormal step near 0.
  finfo = jnp.finfo(dtype)
  allowed = float(finfo.eps) * np.abs(want) + float(finfo.smallest_subnormal)
  assert np.all(np.abs(np.asarray(got, np.float64) - want) <= allowed)
  # A half-precision x beyond its own overflow saturates, finitely.
  assert bool(jnp.all(jnp.isfinite(got)))


def test_integer_input_is_promoted():
  got = trac_optax.erfi(jnp.arange(3))
  assert jnp.issubdtype(got.dtype, jnp.floating)
  np.testing.assert_allclose(np.asarray(got), scipy.special.erfi([0, 1, 2]),
                             rtol=1e-6)


def test_complex_input_is_rejected():
  with pytest.raises(TypeError, match="real inputs"):
    trac_optax.erfi(jnp.asarray(1.0 + 1.0j))


def test_derivative_is_two_over_sqrt_pi_exp_x_squared():
  x = np.linspace(-9.0, 9.0, 2001).astype(np.float32)
  got = np.asarray(jax.vmap(jax.grad(trac_optax.erfi))(x), np.float64)
  want = 2 / np.sqrt(np.pi) * np.exp(x.astype(np.float64)**2)
  np.testing.assert_allclose(got, want, rtol=2e-6)
  # Past the edge the derivative saturates rather than overflowing.
  assert float(jax.grad(trac_optax.erfi)(jnp.float32(12.0))) == np.finfo(
      np.float32).max
  # Forward mode agrees with reverse mode.
  _, tangent = jax.jvp(trac_optax.erfi, (jnp.float32(1.5),),
                       (jnp.float32(1.0),))
  np.testing.assert_allclose(float(tangent),
                             2 / np.sqrt(np.pi) * np.exp(2.25), rtol=2e-6)


def test_float64_derivative():
  with jax.enable_x64(True):
    x = np.linspace(-26.0, 26.0, 1001)
    got = np.asarray(jax.vmap(jax.grad(trac_optax.erfi))(x))
  want = 2 / np.sqrt(np.pi) * np.exp(x**2)
  np.testing.assert_allclose(got, want, rtol=1e-12)


def test_normalising_constant():
  assert abs(erfi_inv_sqrt2() / scipy.special.erfi(1 / np.sqrt(2)) - 1) < 1e-15


def test_jit_and_vmap_do_not_change_values():
  x = np.linspace(-5, 5, 101).astype(np.float32)
  eager = np.asarray(trac_optax.erfi(x))
  np.testing.assert_array_equal(np.asarray(jax.jit(trac_optax.erfi)(x)), eager)
  np.testing.assert_array_equal(np.asarray(jax.vmap(trac_optax.erfi)(x)), eager)
