"""TRAC: a parameter-free scale on the displacement of any Optax optimizer."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

import jax
import jax.core
import jax.numpy as jnp
import numpy as np
import optax

from trac_optax import _validation
from trac_optax._erfi import erfi
from trac_optax._erfi import erfi_inv_sqrt2

DEFAULT_BETAS = (0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999)

ScalarOrSchedule = float | jax.Array


class TracState(NamedTuple):
  """State of :func:`trac`: reference point, offset, tuner and base state."""

  # Shadows tuple.count, as the step counters of Optax's own states do.
  count: jax.Array  # pyright: ignore[reportIncompatibleMethodOverride]
  """Number of steps applied, int32, saturating at its largest value."""
  skipped: jax.Array
  """Number of steps skipped because the gradients were not finite, int32."""
  reference: optax.Params
  """The reference point ``theta_ref``: a copy of the params at ``init``."""
  delta: optax.Params
  """The base iterate's offset from the reference point, at least float32."""
  v: jax.Array
  """Discounted sums of squared inner products, one per beta."""
  sigma: jax.Array
  """Discounted sums of negated inner products, one per beta."""
  tuner_scales: jax.Array
  """The last output ``s_j`` of each 1-D tuner, one per beta."""
  base_optimizer_state: optax.OptState
  """State of the wrapped (base) optimizer."""


def _tuner_dtype(params: optax.Params) -> np.dtype:
  """float64 when any param leaf is float64, else float32."""
  dtypes = [jnp.asarray(p).dtype for p in jax.tree.leaves(params)]
  if any(d == jnp.float64 for d in dtypes):
    return np.dtype(jnp.float64)
  return np.dtype(jnp.float32)


def _offset_dtype(param_dtype: Any) -> np.dtype:
  """The offset accumulates in at least float32 so bf16/f16 runs keep moving."""
  return np.dtype(jnp.promote_types(param_dtype, jnp.float32))


def _inner_product(grads: optax.Updates, delta: optax.Params,
                   dtype: np.dtype) -> jax.Array:
  """``<grads, delta>`` over the whole tree, accumulated in at least float32.

  An elementwise product and sum rather than ``jnp.vdot``: matrix units may
  run a dot product at reduced precision by default, a sum never does.
  """
  total = jnp.zeros((), dtype)
  for g, d in zip(jax.tree.leaves(grads), jax.tree.leaves(delta)):
    acc = jnp.promote_types(d.dtype, g.dtype)
    total = total + jnp.sum(g.astype(acc) * d.astype(acc)).astype(dtype)
  return total


def _tuner_step(
    h: jax.Array,
    v: jax.Array,
    sigma: jax.Array,
    betas: jax.Array,
    s_init: jax.Array,
    eps: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
  """One step of the discounted erfi tuners (Algorithm 2 of the paper).

  Overflow policy: when ``v`` would overflow (``|h|`` above ~1e19 in
  float32), the tuner's history is rescaled instead: ``sigma`` by ``r`` and
  ``v`` by ``r**2``, as if every past ``h`` had been ``r`` times smaller,
  with ``r`` chosen so that ``v`` lands on the largest finite value. The
  ratio ``sigma / sqrt(2 v)`` that drives the tuner is kept (clipping ``v``
  alone would inflate it by orders of magnitude and blow S up). erfi
  saturates at the largest finite value, and each tuner output is bounded
  by ``max / len(betas)``, so for any finite ``h`` the outputs and their
  sum S stay finite.

  Returns:
    ``(v, sigma, tuner_scales, scale)``.
  """
  big = jnp.finfo(v.dtype).max
  v_next = betas * betas * v + h * h
  overflows = ~(v_next <= big)  # also when h * h is inf
  # Rescaled history, in units of m so that nothing overflows on the way.
  m = jnp.maximum(jnp.abs(h), betas * jnp.sqrt(v))
  m = jnp.where(m > 0, m, 1.0)
  unit = (betas * jnp.sqrt(v) / m) ** 2 + (h / m) ** 2  # in [1, 2]
  r = jnp.minimum(jnp.sqrt(big / unit) / m, 1.0)
  v = jnp.where(overflows, big, v_next)
  sigma = jnp.where(overflows, betas * sigma * r - h * r, betas * sigma - h)
  sigma = jnp.clip(sigma, -big, big)
  # sqrt(2) * sqrt(v) rather than sqrt(2 * v): 2 * v may overflow.
  ratio = sigma / (jnp.sqrt(jnp.asarray(2.0, v.dtype)) * jnp.sqrt(v) + eps)
  bound = big / betas.shape[0]
  tuner_scales = jnp.clip(
      (s_init / erfi_inv_sqrt2()) * erfi(ratio), -bound, bound)
  scale = jnp.maximum(jnp.sum(tuner_scales), 0.0)
  return v, sigma, tuner_scales, scale


def _where_tree(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
  return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def _step_or_keep(pred: jax.Array, step: Callable[[], Any], kept: Any) -> Any:
  """``step()`` if ``pred`` holds, else ``kept``: a conditional under a trace.

  Performance: an elementwise select between the new and the old base state
  keeps the old state alive while the new one is written, so XLA copies every
  donated state buffer and evaluates the base update twice (once per output).
  A conditional updates every buffer in place: on XLA:CPU at 1e7 params it
  takes a TRAC(Adam) step from about 7x to about 2x an Adam step
  (``benchmarks/step_time.py``). Under ``vmap`` with a batched ``pred``,
  JAX turns it back into a select.

  Outside a trace (eager calls) and for a base whose state changes dtype
  between ``init`` and ``update`` (the branches cannot be typed alike), the
  select is kept: the results are the same either way.
  """
  if not isinstance(pred, jax.core.Tracer):
    return _where_tree(pred, step(), kept)
  try:
    return jax.lax.cond(pred, step, lambda: kept)
  except TypeError:
    # A TypeError raised by the base itself is raised again by step().
    return _where_tree(pred, step(), kept)


def trac(
    base_optimizer: optax.GradientTransformation,
    *,
    betas: Sequence[float] | jax.Array = DEFAULT_BETAS,
    s_init: float | jax.Array = 1e-8,
    eps: float | jax.Array = 1e-8,
) -> optax.GradientTransformationExtraArgs:
  r"""Wraps an Optax optimizer with TRAC's learned scale on its displacement.

  The base optimizer runs unchanged on its own iterate
  :math:`\theta_\text{ref} + \Delta_t`; the parameters the model uses are
  pulled towards the reference point :math:`\theta_\text{ref}` (the params at
  ``init``) by a scalar :math:`S_t \ge 0` that a set of discounted 1-D
  tuners learn online, with no hyperparameter to tune:

  .. math::

     h_t &= \langle g_t, \Delta_t \rangle \\
     u_t &= \mathrm{Base}(g_t;\ \theta_\text{ref} + \Delta_t),
       \qquad \Delta_{t+1} = \Delta_t + u_t \\
     v_{j} &\leftarrow \beta_j^2 v_{j} + h_t^2, \qquad
     \sigma_{j} \leftarrow \beta_j \sigma_{j} - h_t \\
     s_{j} &= \frac{s_\text{init}}{\mathrm{erfi}(1/\sqrt{2})}\,
       \mathrm{erfi}\!\left(\frac{\sigma_{j}}{\sqrt{2 v_{j}} + \epsilon}\right),
     \qquad S_{t+1} = \max\Big(\sum_j s_{j},\ 0\Big) \\
     \theta_{t+1} &= \theta_\text{ref} + S_{t+1}\,\Delta_{t+1}

  The update returned is :math:`\theta_{t+1} - \theta_t`, so
  ``optax.apply_updates`` lands exactly on :math:`\theta_{t+1}`. TRAC sets
  the params completely: a change made to them outside the optimizer is
  replaced at the next step.

  Numerics:
    * :math:`\Delta` is kept explicitly (one extra param-sized buffer) in at
      least float32, never recovered by dividing by :math:`S`.
    * :math:`h_t` accumulates in at least float32; tuner state is float32,
      or float64 when any param is float64; updates keep each param's dtype.
    * A step whose gradients contain NaN or inf (detected as a non-finite
      :math:`h_t`, at no extra cost; an inner product that overflows float32
      counts too) changes nothing: the update is zero, the whole state is
      kept, and ``skipped`` is incremented.
    * Overflow: tuner accumulators, ``erfi`` and each :math:`s_j` saturate at
      the largest finite value instead of overflowing, so :math:`S` is
      finite for any finite gradients.

  Args:
    base_optimizer: any Optax transform, e.g. ``optax.adam(1e-3)``, a
      ``chain``, or an ``inject_hyperparams`` one. Extra keyword arguments to
      ``update`` are forwarded to it.
    betas: discount factors of the tuners, one tuner per beta, each in
      ``(0, 1]``. Its length fixes the state's shape.
    s_init: initial scale: a tuner whose correlation ratio is
      :math:`1/\sqrt2` outputs ``s_init``. Positive.
    eps: added to :math:`\sqrt{2v}` to avoid dividing by zero. Positive.

  Returns:
    An ``optax.GradientTransformationExtraArgs``. Its ``update`` requires
    ``params``.

  References:
    Muppidi, Zhang, Yang, `Fast TRAC: A Parameter-Free Optimizer for Lifelong
    Reinforcement Learning <https://arxiv.org/abs/2405.16642>`_, NeurIPS 2024.

    Zhang, Bombara, Yang, `Discounted Adaptive Online Learning
    <https://arxiv.org/abs/2402.02720>`_, 2024.

  Examples:
    >>> import jax, jax.numpy as jnp, optax, trac_optax
    >>> tx = trac_optax.trac(optax.adam(1e-2))
    >>> params = {"w": jnp.ones(3)}
    >>> state = tx.init(params)
    >>> loss = lambda p: jnp.sum((p["w"] - 3.0) ** 2)
    >>> for _ in range(3):
    ...   grads = jax.grad(loss)(params)
    ...   updates, state = tx.update(grads, state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> bool(trac_optax.scale(state) > 0)
    True
  """
  _validation.check_base_optimizer(base_optimizer)
  _validation.check_betas(betas)
  _validation.check_positive("s_init", s_init)
  _validation.check_positive("eps", eps)
  base = optax.with_extra_args_support(base_optimizer)
  num_betas = int(np.shape(betas)[0])

  def init_fn(params: optax.Params) -> TracState:
    _validation.check_float_params(params)
    tuner_dtype = _tuner_dtype(params)
    # Separate buffers per field (not one shared zeros array), so the whole
    # state can be donated.
    zeros = lambda: jnp.zeros((num_betas,), tuner_dtype)
    return TracState(
        count=jnp.zeros((), jnp.int32),
        skipped=jnp.zeros((), jnp.int32),
        # A distinct buffer, so params and state can both be donated.
        reference=jax.tree.map(lambda p: jnp.array(p, copy=True), params),
        # zeros_like keeps each param's sharding, so delta is laid out like
        # the params (and explicitly sharded meshes type-check).
        delta=jax.tree.map(
            lambda p: jnp.zeros_like(p, dtype=_offset_dtype(p.dtype)), params),
        v=zeros(),
        sigma=zeros(),
        tuner_scales=zeros(),
        base_optimizer_state=base.init(params),
    )

  def update_fn(
      updates: optax.Updates,
      state: TracState,
      params: optax.Params | None = None,
      **extra_args: Any,
  ) -> tuple[optax.Updates, TracState]:
    if params is None:
      raise ValueError(_validation.missing_params_message("trac"))
    _validation.check_same_structure(updates, params)
    tuner_dtype = state.v.dtype

    h = _inner_product(updates, state.delta, tuner_dtype)
    finite = jnp.isfinite(h)

    def base_step() -> tuple[optax.Params, optax.OptState]:
      # The base optimizer sees its own iterate theta_ref + delta. Under jit
      # this sum is dead code, never materialised, when the base ignores
      # params.
      base_params = jax.tree.map(
          lambda r, d: (r + d).astype(r.dtype), state.reference, state.delta)
      base_updates, base_state = base.update(
          updates, state.base_optimizer_state, base_params, **extra_args)
      delta = jax.tree.map(
          lambda d, u: d + u.astype(d.dtype), state.delta, base_updates)
      return delta, base_state

    delta, base_state = _step_or_keep(
        finite, base_step, (state.delta, state.base_optimizer_state))

    v, sigma, tuner_scales, scale = _tuner_step(
        h,
        state.v,
        state.sigma,
        jnp.asarray(betas, tuner_dtype),
        jnp.asarray(s_init, tuner_dtype),
        jnp.asarray(eps, tuner_dtype),
    )

    def new_minus_current(r: jax.Array, d: jax.Array, p: jax.Array) -> jax.Array:
      target = r.astype(d.dtype) + scale.astype(d.dtype) * d
      step = target - p.astype(d.dtype)
      return jnp.where(finite, step, 0.0).astype(p.dtype)

    new_updates = jax.tree.map(new_minus_current, state.reference, delta, params)
    stepped = TracState(
        count=jnp.asarray(optax.safe_increment(state.count)),
        skipped=state.skipped,
        reference=state.reference,
        delta=delta,
        v=v,
        sigma=sigma,
        tuner_scales=tuner_scales,
        base_optimizer_state=base_state,
    )
    # delta and the base state are already kept on a skipped step (by the
    # conditional above); selecting them again would cost a copy of each.
    kept = state._replace(
        skipped=optax.safe_increment(state.skipped),
        delta=delta,
        base_optimizer_state=base_state,
    )
    return new_updates, _where_tree(finite, stepped, kept)

  # Optax types `update` as taking any OptState; this one takes its own state.
  return optax.GradientTransformationExtraArgs(
      init_fn, update_fn)  # pyright: ignore[reportArgumentType]
