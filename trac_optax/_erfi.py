"""The imaginary error function, accurate up to the edge of overflow."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

# Veltkamp splitting constants: 2**ceil(p/2) + 1 for a p-bit significand.
_SPLITTER = {np.dtype(np.float32): 4097.0, np.dtype(np.float64): 134217729.0}

# Above this value of x**2 the factor exp(x**2) is evaluated as a product of
# two exponentials of x**2 / 2, so that it does not overflow before the
# (smaller) final result does.
_SPLIT_EXP_ABOVE = {np.dtype(np.float32): 80.0, np.dtype(np.float64): 700.0}

# Just past the overflow edge of erfi (9.566 in float32, 26.71 in float64).
# Inputs are clamped here before evaluation so that no intermediate overflows
# into inf - inf; anything beyond is reported as overflowed.
_OVERFLOWS_BEYOND = {np.dtype(np.float32): 9.7, np.dtype(np.float64): 26.8}


def _exact_square(x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Returns (hi, lo) with hi + lo == x * x exactly (Dekker's product)."""
  c = _SPLITTER[x.dtype] * x
  x_hi = c - (c - x)
  x_lo = x - x_hi
  hi = x * x
  lo = ((x_hi * x_hi - hi) + 2.0 * x_hi * x_lo) + x_lo * x_lo
  return hi, lo


def _exp_of_square_times(x: jax.Array, factor: jax.Array) -> jax.Array:
  """Computes ``factor * exp(x**2)`` without rounding error in ``x**2``.

  A naive ``exp(x * x)`` turns the half-ulp rounding of ``x * x`` into a
  relative error of about ``x**2`` ulps in the result. Splitting
  ``x**2 = hi + lo`` exactly and using ``exp(hi + lo) = exp(hi) * (1 + lo)``
  (``lo`` is below one ulp of ``hi``, so its square is negligible) keeps the
  error to that of one or two ``exp`` calls.
  """
  hi, lo = _exact_square(x)
  split = hi > _SPLIT_EXP_ABOVE[x.dtype]
  # hi / 2 is exact; exp(hi / 2)**2 cannot overflow before the product does.
  half = jnp.exp(0.5 * hi)
  whole = jnp.exp(jnp.where(split, 0.0, hi))
  correction = 1.0 + lo
  return jnp.where(
      split,
      ((factor * correction) * half) * half,
      (factor * correction) * whole,
  )


def _evaluate_saturating(
    f: Callable[[jax.Array], jax.Array],
    x: jax.Array,
    overflow_value: jax.Array,
    out_dtype: np.dtype,
) -> jax.Array:
  """Evaluates ``f`` on a clamped ``x`` and saturates overflow.

  Finite inputs whose result exceeds the largest finite value of
  ``out_dtype`` give that value (with the sign of ``overflow_value``);
  infinite inputs give ``overflow_value`` itself; NaN propagates.
  """
  limit = _OVERFLOWS_BEYOND[x.dtype]
  y = f(jnp.clip(x, -limit, limit))
  y = jnp.where(jnp.abs(x) > limit, overflow_value, y)
  big = jnp.asarray(jnp.finfo(out_dtype).max, y.dtype)
  return jnp.where(jnp.isinf(x), overflow_value, jnp.clip(y, -big, big))


def _erfi_impl(x: jax.Array, out_dtype: np.dtype) -> jax.Array:
  def f(z: jax.Array) -> jax.Array:
    return _exp_of_square_times(z, _TWO_OVER_SQRT_PI * jax.scipy.special.dawsn(z))
  return _evaluate_saturating(f, x, jnp.copysign(jnp.inf, x), out_dtype)


def _derivative_impl(x: jax.Array, out_dtype: np.dtype) -> jax.Array:
  def f(z: jax.Array) -> jax.Array:
    return _exp_of_square_times(z, jnp.asarray(_TWO_OVER_SQRT_PI, z.dtype))
  return _evaluate_saturating(f, x, jnp.full_like(x, jnp.inf), out_dtype)


def _compute_dtype(dtype: np.dtype) -> np.dtype:
  """float64 stays float64; every narrower float is computed in float32."""
  if dtype == np.float64:
    return np.dtype(np.float64)
  return np.dtype(np.float32)


@jax.custom_jvp
def _erfi(x: jax.Array) -> jax.Array:
  compute = _compute_dtype(x.dtype)
  return _erfi_impl(x.astype(compute), x.dtype).astype(x.dtype)


@_erfi.defjvp
def _erfi_jvp(
    primals: tuple[jax.Array], tangents: tuple[jax.Array]
) -> tuple[jax.Array, jax.Array]:
  (x,), (t,) = primals, tangents
  compute = _compute_dtype(x.dtype)
  slope = _derivative_impl(x.astype(compute), x.dtype).astype(x.dtype)
  return _erfi(x), slope * t


@jax.jit
def erfi(x: jax.typing.ArrayLike) -> jax.Array:
  r"""Imaginary error function, :math:`\mathrm{erfi}(x) = -i\,\mathrm{erf}(ix)`.

  .. math::

     \mathrm{erfi}(x) = \frac{2}{\sqrt{\pi}} \int_0^x e^{t^2}\,dt
                      = \frac{2}{\sqrt{\pi}}\, e^{x^2}\, \mathrm{dawsn}(x)

  Computed from :func:`jax.scipy.special.dawsn` with ``x**2`` split exactly
  into two floats, so the relative error stays within a few ulps all the way
  to the overflow edge (``|x|`` about 9.57 in float32 and 26.6 in float64),
  where a naive ``exp(x * x)`` loses about ``x**2`` ulps.

  Saturation: a finite ``x`` whose ``erfi`` exceeds the largest finite value
  of the input dtype returns that largest value with the sign of ``x``, so the
  result is finite for every finite input. ``erfi(+-inf) = +-inf`` and NaN
  propagates. float16 and bfloat16 inputs are computed in float32 and the
  result saturates at the largest value of the input dtype. Integer inputs
  are promoted to the default float dtype. Subnormal inputs may be flushed to
  zero by the backend.

  The derivative is :math:`\frac{2}{\sqrt\pi} e^{x^2}`, evaluated and
  saturated the same way.

  Args:
    x: real array.

  Returns:
    ``erfi(x)``, same shape and (floating) dtype as ``x``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import trac_optax
    >>> print(f"{float(trac_optax.erfi(jnp.float32(1.0))):.6f}")
    1.650426
  """
  x = jnp.asarray(x)
  if jnp.issubdtype(x.dtype, jnp.complexfloating):
    raise TypeError("erfi takes real inputs only; got dtype "
                    f"{x.dtype}. Pass the real part explicitly.")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.result_type(float))
  return _erfi(x)


def erfi_inv_sqrt2() -> float:
  r"""``erfi(1 / sqrt(2))`` in float64, by its Taylor series.

  .. math:: \mathrm{erfi}(x) = \frac{2}{\sqrt\pi}\sum_{n\ge0}
            \frac{x^{2n+1}}{n!\,(2n+1)}

  Used to normalise the tuner so that a tuner whose correlation ratio is
  exactly ``1/sqrt(2)`` outputs ``s_init``. Plain Python, so it needs no x64.
  """
  x = 1.0 / math.sqrt(2.0)
  total, term, n = 0.0, x, 0
  while abs(term) > 1e-18:
    total += term / (2 * n + 1)
    n += 1
    term *= x * x / n
  return _TWO_OVER_SQRT_PI * total
