"""TRAC: a parameter-free scale on the displacement of any Optax optimizer."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from trac_optax import _conditional
from trac_optax import _validation
from trac_optax._erfi import erfi
from trac_optax._erfi import erfi_inv_sqrt2
from trac_optax._inner_product import inner_product

DEFAULT_BETAS = (0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999)

DEFAULT_RECOVER_AFTER = 100
"""Consecutive non-finite steps after which :func:`trac` resets its tuners."""

ScalarOrSchedule = float | jax.Array


class TracState(NamedTuple):
  """State of :func:`trac`: reference point, offset, tuner and base state."""

  # Shadows tuple.count, as the step counters of Optax's own states do.
  count: jax.Array  # pyright: ignore[reportIncompatibleMethodOverride]
  """Number of steps applied, int32, saturating at its largest value."""
  skipped: jax.Array
  """Number of steps skipped because the gradients were not finite, int32."""
  consecutive_skips: jax.Array
  """Number of skipped steps since the last applied step or recovery, int32."""
  recoveries: jax.Array
  """Number of times the tuners were reset after ``recover_after``
  consecutive skipped steps, int32."""
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


def _zeros_laid_out_like(param: jax.Array) -> jax.Array:
  """Zeros in ``param``'s offset dtype, sharded like ``param``, also inside a
  ``jax.jit`` of ``init`` with no mesh set.

  ``jnp.zeros_like`` is not: under such a jit, jax 0.11 gives an explicitly
  sharded param's zeros no sharding (replicated on every device), and with
  auto axes neither 0.10 nor 0.11 shards them. A select that reads the param
  (and keeps none of it: an inf param gives 0, not NaN) takes its sharding
  in both (``tests/ecosystem/multidevice_sharding.py``).
  """
  return jnp.where(False, param, 0).astype(_offset_dtype(param.dtype))


def total_scale(tuner_scales: jax.Array) -> jax.Array:
  """``S = max(sum_j s_j, 0)`` over the last axis, saturated at the largest float.

  Each ``s_j`` is bounded by ``max / len(betas)``, yet their rounded sum can
  still pass ``max``; it is clipped back. The sum is written as explicit
  left-to-right additions rather than a reduction, so that the update and
  :func:`trac_optax.scale` (eager or jitted, batched or not) get the same
  bits: a reduction's order is the compiler's choice.
  """
  total = tuner_scales[..., 0]
  for j in range(1, tuner_scales.shape[-1]):
    total = total + tuner_scales[..., j]
  return jnp.clip(total, 0.0, jnp.finfo(tuner_scales.dtype).max)


def _saturated_update(reference: jax.Array, delta: jax.Array,
                      params: jax.Array, scale: jax.Array,
                      moves: jax.Array) -> jax.Array:
  """``theta_ref + S * delta - params``, kept within the param dtype's range.

  The target is clipped to just inside the largest finite value of the
  param's dtype, and the step to that value, so that ``params + update``
  (rounded in the param's dtype by ``optax.apply_updates``) is finite
  whatever ``S * delta`` is; a param at the edge comes back as soon as the
  target does. Computed in ``delta``'s dtype (at least float32).

  An entry of ``delta`` that is not finite (a base update that overflowed,
  or was NaN, on finite gradients) counts as 0 here: that param goes to the
  reference point instead of becoming NaN (``0 * inf`` at S = 0) or sitting
  at the edge. Such a ``delta`` makes the next ``h`` non-finite, so the
  steps after it are skipped and counted.
  """
  dtype = params.dtype
  big = np.asarray(jnp.finfo(dtype).max, dtype)
  edge = np.nextafter(big, np.zeros((), dtype)).astype(delta.dtype)
  big = big.astype(delta.dtype)
  delta = jnp.where(jnp.isfinite(delta), delta, 0.0)
  target = reference.astype(delta.dtype) + scale.astype(delta.dtype) * delta
  target = jnp.clip(target, -edge, edge)
  step = jnp.clip(target - params.astype(delta.dtype), -big, big)
  return jnp.where(moves, step, 0.0).astype(dtype)


def _sqrt_with_finite_slope(x: jax.Array) -> jax.Array:
  """``sqrt(x)`` for ``x >= 0`` whose derivative at 0 is 0 rather than inf.

  At the first step ``v == 0`` with a zero tangent: the infinite slope of
  ``sqrt`` times that zero would make every derivative through ``update``
  NaN. The inner ``where`` keeps the unused branch's slope finite too.
  """
  positive = x > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def _tuner_step(
    h: jax.Array,
    v: jax.Array,
    sigma: jax.Array,
    betas: jax.Array,
    s_init: jax.Array,
    eps: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
  """One step of the discounted erfi tuners (Algorithm 2 of the paper).

  Overflow policy: when ``v`` would overflow (``|h|`` above ~1e19 in
  float32), the tuner's history is rescaled instead: ``sigma`` by ``r`` and
  ``v`` by ``r**2``, as if every past ``h`` had been ``r`` times smaller,
  with ``r`` chosen so that ``v`` lands on the largest finite value. The
  ratio ``sigma / sqrt(2 v)`` that drives the tuner is kept (clipping ``v``
  alone would inflate it by orders of magnitude and blow S up). erfi
  saturates at the largest finite value, and each tuner output is bounded
  by ``max / len(betas)``, so for any finite ``h`` the outputs and their
  sum S stay finite (see :func:`total_scale`).

  Returns:
    ``(v, sigma, tuner_scales)``; their sum is :func:`total_scale`.
  """
  big = jnp.finfo(v.dtype).max
  v_next = betas * betas * v + h * h
  overflows = ~(v_next <= big)  # also when h * h is inf
  # Rescaled history, in units of m so that nothing overflows on the way.
  # Where nothing overflows (r is then unused), m and unit are 1: constants,
  # so no derivative of any order passes through sqrt(big / unit), whose
  # slopes overflow (NaN second derivatives).
  root_v = _sqrt_with_finite_slope(v)
  m = jnp.maximum(jnp.abs(h), betas * root_v)
  m = jnp.where(overflows & (m > 0), m, 1.0)
  # In [1, 2] where v overflows (the maximum only guards rounding).
  unit = jnp.maximum((betas * root_v / m) ** 2 + (h / m) ** 2, 1.0)
  r = jnp.minimum(jnp.sqrt(big / jnp.where(overflows, unit, 1.0)) / m, 1.0)
  v = jnp.where(overflows, big, v_next)
  sigma = jnp.where(overflows, betas * sigma * r - h * r, betas * sigma - h)
  sigma = jnp.clip(sigma, -big, big)
  # sqrt(2) * sqrt(v) rather than sqrt(2 * v): 2 * v may overflow.
  ratio = sigma / (jnp.sqrt(jnp.asarray(2.0, v.dtype))
                   * _sqrt_with_finite_slope(v) + eps)
  bound = big / betas.shape[0]
  tuner_scales = jnp.clip(
      (s_init / erfi_inv_sqrt2()) * erfi(ratio), -bound, bound)
  return v, sigma, tuner_scales


def _where_tree(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
  return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


_ARRAY = object()


def _split_arrays(tree: Any) -> tuple[list[Any], list[Any], Any]:
  """The array leaves of ``tree``, its other leaves, and its structure."""
  leaves, treedef = jax.tree.flatten(tree)
  is_array = [isinstance(x, (jax.Array, np.ndarray, np.generic)) for x in leaves]
  arrays = [x for x, a in zip(leaves, is_array) if a]
  others = [_ARRAY if a else x for x, a in zip(leaves, is_array)]
  return arrays, others, treedef


def _merge_arrays(arrays: list[Any], others: list[Any], treedef: Any) -> Any:
  """Inverse of :func:`_split_arrays`."""
  arrays_left = iter(arrays)
  return jax.tree.unflatten(
      treedef, [next(arrays_left) if x is _ARRAY else x for x in others])


def _step_or_keep(pred: jax.Array, step: Callable[[Any, Any], Any],
                  state: Any, inputs: Any) -> Any:
  """``step(state, inputs)`` if ``pred`` holds, else ``state``.

  Performance: the form that updates the state in place differs by compiler.

  * XLA:CPU has no multi-output fusion: an elementwise select between the new
    and the old base state keeps the old state alive while the new one is
    written, so XLA copies every donated state buffer and evaluates the base
    update twice (once per output). A conditional whose false branch returns
    the state unchanged updates every buffer in place: at 1e7 params it takes
    a TRAC(Adam) step from about 7x to about 2x an Adam step
    (``benchmarks/step_time.py``). Under ``vmap`` with a batched ``pred``,
    :func:`trac_optax._conditional.step_or_keep` keeps a conditional on
    whether every seed steps, so the common step stays in place there too.
  * XLA:GPU and XLA:TPU fuse the select into the base's multi-output loops,
    which then read and write each state buffer once, in place, where they
    copy the stepped state out of the conditionals at every step (on an
    H200, 6 param copies for Adam, 18 with 8 vmapped seeds; on a TPU v5e up
    to 20 with 8 seeds: ``benchmarks/accelerator_hlo.py``, which compiles for
    both without either). Every platform but the CPU takes the select. A
    skipped step's base update is computed and discarded, which costs no more
    traffic than a step.

  The choice is made when the step is lowered (``jax.lax.platform_dependent``),
  so a program exported for several platforms carries both; values and
  derivatives are the same either way. For a base whose state changes dtype
  between ``init`` and ``update`` (the branches cannot be typed alike), the
  select is kept: the results are the same either way.
  """
  try:
    return _conditional.step_or_keep(pred, step, state, inputs,
                                     select_off_cpu=True)
  except TypeError:
    # A TypeError raised by the base itself is raised again by step().
    return _where_tree(pred, step(state, inputs), state)


def trac(
    base_optimizer: optax.GradientTransformation,
    *,
    betas: Sequence[float] | jax.Array = DEFAULT_BETAS,
    s_init: float | jax.Array = 1e-8,
    eps: float | jax.Array = 1e-8,
    recover_after: int | jax.Array | None = DEFAULT_RECOVER_AFTER,
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

  The update returned is :math:`\theta_{t+1} - \theta_t` (computed in at
  least float32, then cast to each param's dtype), so
  ``optax.apply_updates`` lands on :math:`\theta_{t+1}` up to the rounding
  of that sum in the param's dtype. TRAC sets the params completely: a
  change made to them outside the optimizer is undone (up to that rounding)
  by the next step that is not skipped.

  Numerics:
    * :math:`\Delta` is kept explicitly (one extra param-sized buffer) in at
      least float32, never recovered by dividing by :math:`S`.
    * :math:`h_t` accumulates in at least float32; tuner state is float32,
      or float64 when any param is float64; updates keep each param's dtype.
    * A step whose gradients contain NaN or inf (detected as a non-finite
      :math:`h_t`, at no extra cost; an inner product that overflows float32
      counts too) changes nothing: the update is zero, the whole state is
      kept, and ``skipped`` is incremented.
    * Recovery: non-finite gradients step after step mean that the params
      themselves sit where the model cannot be evaluated (typically after
      :math:`S` ran away), not that one batch was bad; skipping forever
      would freeze the run. The ``recover_after``-th consecutive non-finite
      step therefore resets the tuners (``v``, ``sigma`` and the ``s_j`` to
      0, so :math:`S = 0`) and returns the params to
      :math:`\theta_\text{ref}`; :math:`\Delta` and the base state are
      kept, and ``recoveries`` counts it. On finite gradients this never
      happens, so the algorithm is the paper's.
    * Overflow: tuner accumulators, ``erfi``, each :math:`s_j` and their sum
      :math:`S` saturate at the largest finite value instead of overflowing,
      so :math:`S` is finite for any finite gradients. The target
      :math:`\theta_\text{ref} + S\Delta` is clipped, per leaf, to just
      inside the leaf dtype's finite range (and the update to that range),
      so no param ever becomes inf or NaN; a param at the edge comes back
      when :math:`S\Delta` does. A move longer than the dtype's range (float16
      from -6e4 to +6e4) takes more than one step. An entry of :math:`\Delta`
      that the base made non-finite on finite gradients (an overflowing or
      NaN update) counts as 0 there: its param goes to the reference point,
      and the steps after it are skipped (their :math:`h_t` is not finite).
    * Derivatives: ``jax.grad``/``jax.jvp`` through ``update`` (e.g. a
      meta-gradient through an unrolled loop) are finite, including at the
      first step where ``v = 0`` (there ``sqrt`` gets slope 0, not inf) and
      across skipped steps (a skipped step keeps the state, and its
      non-finite gradients get derivative 0), and exact wherever the update
      is smooth; second derivatives (``jax.hessian``) too. The base may
      close over traced values: a learning rate that ``jax.vmap`` sweeps
      over, or that a meta-gradient differentiates.

  Args:
    base_optimizer: any Optax transform, e.g. ``optax.adam(1e-3)``, a
      ``chain``, or an ``inject_hyperparams`` one. Extra keyword arguments to
      ``update`` are forwarded to it. A base whose state assumes that the
      params it is given are the ones the caller holds (a line search, as in
      ``optax.lbfgs``; schedule-free's evaluation point) is refused at
      ``init``: under TRAC its iterate is :math:`\theta_\text{ref} +
      \Delta`, the caller's params :math:`\theta_\text{ref} + S\Delta`.
      So is ``optax.MultiSteps``: accumulation wraps TRAC
      (``optax.MultiSteps(trac(base), k)``).
    betas: discount factors of the tuners, one tuner per beta, each in
      ``(0, 1]``. Its length fixes the state's shape.
    s_init: initial scale: a tuner whose correlation ratio is
      :math:`1/\sqrt2` outputs ``s_init``. A positive real number; at
      ``init`` it must also be a normal number of the tuner dtype (float32
      unless a param is float64), at most ``erfi(1/sqrt2)`` times its largest.
    eps: added to :math:`\sqrt{2v}` to avoid dividing by zero. A positive
      real number, normal in the tuner dtype (e.g. at least 1.2e-38 in
      float32, where smaller values read as 0).
    recover_after: number of consecutive non-finite steps after which the
      tuners are reset (see Recovery above); a positive int, or ``None`` to
      skip non-finite steps forever. An isolated non-finite step is always
      skipped (unless ``recover_after=1``).

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
  _validation.check_recover_after(recover_after)
  base = optax.with_extra_args_support(base_optimizer)
  num_betas = int(np.shape(betas)[0])

  def init_fn(params: optax.Params) -> TracState:
    _validation.check_float_params(params)
    # Python floats and NumPy arrays become JAX arrays, in the dtypes JAX
    # uses (float64 NumPy params are float32 unless x64 is on, silently).
    params = jax.tree.map(jnp.asarray, params)
    tuner_dtype = _tuner_dtype(params)
    _validation.check_in_tuner_dtype("eps", eps, tuner_dtype)
    # s_init / erfi(1/sqrt 2) is the tuners' coefficient: it must be finite.
    _validation.check_in_tuner_dtype("s_init", s_init, tuner_dtype,
                                     erfi_inv_sqrt2())
    base_state = base.init(params)
    _validation.check_base_state_servable(base_state)
    # Separate buffers per field (not one shared zeros array), so the whole
    # state can be donated.
    zeros = lambda: jnp.zeros((num_betas,), tuner_dtype)
    return TracState(
        count=jnp.zeros((), jnp.int32),
        skipped=jnp.zeros((), jnp.int32),
        consecutive_skips=jnp.zeros((), jnp.int32),
        recoveries=jnp.zeros((), jnp.int32),
        # A distinct buffer, so params and state can both be donated.
        reference=jax.tree.map(lambda p: jnp.array(p, copy=True), params),
        delta=jax.tree.map(_zeros_laid_out_like, params),
        v=zeros(),
        sigma=zeros(),
        tuner_scales=zeros(),
        base_optimizer_state=base_state,
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
    _validation.check_state_fits(state, TracState, params, num_betas)
    updates = jax.tree.map(jnp.asarray, updates)
    params = jax.tree.map(jnp.asarray, params)
    tuner_dtype = state.v.dtype

    h = inner_product(updates, state.delta, tuner_dtype)
    finite = jnp.isfinite(h)

    # The step takes every traced value as an argument (none closed over),
    # as _conditional.step_or_keep requires; extra args that are not arrays
    # stay static.
    extra_dynamic, extra_static, extra_tree = _split_arrays(extra_args)

    def base_step(
        state: tuple[optax.Params, optax.OptState], inputs: Any,
    ) -> tuple[optax.Params, optax.OptState]:
      delta, base_state = state
      updates, reference, extra_dynamic = inputs
      extra = _merge_arrays(extra_dynamic, extra_static, extra_tree)
      # The base optimizer sees its own iterate theta_ref + delta. Under jit
      # this sum is dead code, never materialised, when the base ignores
      # params.
      base_params = jax.tree.map(
          lambda r, d: (r + d).astype(r.dtype), reference, delta)
      base_updates, base_state = base.update(
          updates, base_state, base_params, **extra)
      delta = jax.tree.map(
          lambda d, u: d + u.astype(d.dtype), delta, base_updates)
      return delta, base_state

    base_inputs = (updates, state.reference, extra_dynamic)
    # A base with a collective (e.g. a pmean of the gradients over vmapped
    # seeds or over shard_map's devices) skips on every member of its axes
    # when one member's gradients are not finite: stepping the others would
    # spread that member's NaN to them, and under shard_map members that
    # disagreed would wait for each other in the collective.
    finite = _conditional.agreed_over_collectives(
        finite, base_step, (state.delta, state.base_optimizer_state),
        base_inputs)
    delta, base_state = _step_or_keep(
        finite, base_step, (state.delta, state.base_optimizer_state),
        base_inputs)

    # A skipped step's tuners are discarded; fed 0 rather than a non-finite
    # h, they stay finite, and so do their derivatives (a 0 cotangent times
    # the slope at NaN would be NaN, in every earlier step of a meta-gradient).
    v, sigma, tuner_scales = _tuner_step(
        jnp.where(finite, h, 0),
        state.v,
        state.sigma,
        jnp.asarray(betas, tuner_dtype),
        jnp.asarray(s_init, tuner_dtype),
        jnp.asarray(eps, tuner_dtype),
    )

    consecutive_skips = jnp.where(
        finite, 0, optax.safe_increment(state.consecutive_skips))
    if recover_after is None:
      recover = jnp.zeros((), bool)
    else:
      recover = ~finite & (consecutive_skips >= recover_after)

    stepped = TracState(
        count=jnp.asarray(optax.safe_increment(state.count)),
        skipped=state.skipped,
        consecutive_skips=consecutive_skips,
        recoveries=state.recoveries,
        reference=state.reference,
        delta=delta,
        v=v,
        sigma=sigma,
        tuner_scales=tuner_scales,
        base_optimizer_state=base_state,
    )
    # delta and the base state are already kept on a skipped step (by the
    # conditional above); selecting them again would cost a copy of each.
    reset = lambda x: jnp.where(recover, jnp.zeros_like(x), x)
    kept = state._replace(
        skipped=optax.safe_increment(state.skipped),
        consecutive_skips=jnp.where(recover, 0, consecutive_skips),
        recoveries=jnp.where(recover, optax.safe_increment(state.recoveries),
                             state.recoveries),
        delta=delta,
        v=reset(state.v),
        sigma=reset(state.sigma),
        tuner_scales=reset(state.tuner_scales),
        base_optimizer_state=base_state,
    )
    new_state = _where_tree(finite, stepped, kept)
    # S and whether the params move, read from the new state rather than
    # recomputed: XLA fused the tuner step (erfi's last steps included) into
    # every param loop, and where such a loop is not vectorised (XLA:CPU
    # splits a 1-D leaf of odd size unevenly between threads, with a bounds
    # check per entry) it ran once per entry. The tuner outputs are the
    # stepped ones, or on a recovery the reset ones (S = 0: the params go
    # back to the reference point); the params move on a step and on a
    # recovery, exactly when the count of consecutive skips is 0.
    scale = total_scale(new_state.tuner_scales)
    moves = new_state.consecutive_skips == 0
    new_updates = jax.tree.map(
        lambda r, d, p: _saturated_update(r, d, p, scale, moves),
        state.reference, delta, params)
    return new_updates, new_state

  # Optax types `update` as taking any OptState; this one takes its own state.
  return optax.GradientTransformationExtraArgs(
      init_fn, update_fn)  # pyright: ignore[reportArgumentType]
