"""TRAC's ``h = <grads, delta>`` over a param tree, one scalar per seed in vmap.

``h`` must be complete before anything else of the step is known (the skip,
the tuners, S), so its reductions are a pass of their own, and at RL sizes
their form matters:

* Unbatched, leaves of at most :data:`CONCATENATED_LEAF_SIZE` entries are
  concatenated and reduced together (one kernel for all the biases and small
  kernels); larger leaves reduce one each (XLA:CPU would write their
  concatenation out).
* Under ``jax.vmap`` (seeds), a ``custom_vmap`` rule chooses by the batched
  sizes, which the function being vmapped cannot see: a leaf of 1,200
  entries per seed is 9,600 over 8 seeds, too big to concatenate (the copy
  is seed-major). XLA:CPU (jax 0.10.2) reduces ``[lanes, n]`` to ``[lanes]``
  at about half the rate it reduces the same bytes to a scalar once there
  are several lanes of tens of thousands of entries, so on CPU such a leaf
  sums rows of its own last axis first, then the row sums; and it reduces
  ``[1, n]`` many times slower still, so a single lane is reduced as a
  scalar (``benchmarks/lane_sums.py`` times each form).
* On a GPU, and unbatched on a TPU, in a process that sees one device,
  leaves of up to :data:`ACCELERATOR_CONCATENATED_LEAF_SIZE` entries are
  concatenated in groups of :data:`CONCATENATED_LEAVES`. Compiled for an
  H200, each large leaf reduced in two kernels of its own and a group reduces
  in one, so TRAC's kernels beyond the base's no longer grow with the leaves
  (``benchmarks/accelerator_hlo.py``). At RL sizes the bytes of a step (12
  param copies of 1e5 to 1e6 params) take 1-10 us of an H200's published
  4.8 TB/s, the order of a few kernel launches, so kernels count there. The
  form is chosen when the step is lowered (``jax.lax.platform_dependent``).

Derivatives are written out (``custom_vmap`` has none): the tangent of
``<g, d>`` is ``<g', d> + <g, d'>``, in plain reductions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

CONCATENATED_LEAF_SIZE = 1 << 12
"""Leaves of at most this many entries (over all seeds, under vmap) share one
reduction: 16 KiB of float32, where a step is bound by kernel launches."""

TWO_STAGE_LANES = 4
TWO_STAGE_LANE_SIZE = 1 << 15
"""On CPU, a batched leaf of at least ``TWO_STAGE_LANES`` seeds of at least
``TWO_STAGE_LANE_SIZE`` entries each sums its rows first. In
``benchmarks/lane_sums.py`` one pass streams at the scalar rate up to 31k
entries per lane (8 x 132x132, 32 x 176x176) and not from 40k (4 x 200x200)."""

ACCELERATOR_CONCATENATED_LEAF_SIZE = 1 << 20
"""On the platforms of :data:`GROUPED_ON`, leaves of at most this many
entries (over all seeds) are concatenated. Compiled for an H200, XLA read
every such group in place, except under ``vmap`` at 1e5 params, where it
wrote the group's products out (in 10 leaves, 14 param copies of traffic
against the per-leaf form's 12, and 5 kernels fewer). Writing out and reading
back 4 MiB takes under 2 us of an H200's published 4.8 TB/s, the order of one
kernel's launch, so larger leaves keep a reduction of their own."""

CONCATENATED_LEAVES = 32
"""Leaf pairs per concatenated group on the platforms of :data:`GROUPED_ON`.
Compiled for an H200, all 50 leaves of a tree in one concatenation were
written out (two param copies more); in groups of 32 they were read in
place."""

GROUPED_ON = {"cuda": True, "rocm": True, "tpu": False}
"""The platforms that reduce in concatenated groups, and whether they do so
under ``vmap`` too. Compiled for a TPU v5e, grouping cut an unbatched step's
kernels at equal traffic, but under ``vmap`` it wrote the products out (for
the PPO networks, 37 param copies of traffic against 12). Every other
platform (the CPU) keeps the form above, and so does a process that sees more
than one device: leaves sharded over devices would be gathered to be
concatenated."""

_MIN_ROW = 128
_MAX_ROW = 1 << 12


def inner_product(grads: Any, delta: Any, dtype: Any) -> jax.Array:
  """``<grads, delta>`` over two trees of the same structure.

  Each leaf's product is accumulated in the promotion of its two dtypes (at
  least float32 for TRAC's float32 ``delta``); the total is in ``dtype``. An
  elementwise product and sum rather than ``jnp.vdot``: matrix units may run
  a dot product at reduced precision by default, a sum never does.
  """
  return _tree_inner_product(np.dtype(dtype), tuple(jax.tree.leaves(grads)),
                             tuple(jax.tree.leaves(delta)))


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _tree_inner_product(dtype: np.dtype, grads: Sequence[jax.Array],
                        delta: Sequence[jax.Array]) -> jax.Array:
  return _batched_by_lanes(dtype)(grads, delta)


@_tree_inner_product.defjvp
def _tree_inner_product_jvp(dtype: np.dtype, primals: tuple[Any, ...],
                            tangents: tuple[Any, ...]) -> tuple[Any, Any]:
  grads, delta = primals
  grads_dot, delta_dot = tangents
  out = _tree_inner_product(dtype, grads, delta)
  # A non-finite product is never used (TRAC skips that step), so its
  # derivative is 0. The operands are zeroed there too: in reverse mode each
  # is multiplied by the other's cotangent, and 0 * NaN would be NaN.
  finite = jnp.isfinite(out)
  masked = lambda xs: tuple(jnp.where(finite, x, 0) for x in xs)
  # The unbatched form, in plain (transposable) operations; an enclosing
  # vmap batches them as it would any other.
  out_dot = (_reduce(grads_dot, masked(delta), dtype, lanes=None)
             + _reduce(masked(grads), delta_dot, dtype, lanes=None))
  return out, jnp.where(finite, out_dot, 0)


def _accumulation_dtype(g: jax.Array, d: jax.Array) -> np.dtype:
  return np.dtype(jnp.promote_types(d.dtype, g.dtype))


def _batched_by_lanes(dtype: np.dtype) -> Any:
  @jax.custom_batching.custom_vmap
  def reduce(grads: Sequence[jax.Array],
             delta: Sequence[jax.Array]) -> jax.Array:
    return _reduce_for_platform(grads, delta, dtype, lanes=None)

  @reduce.def_vmap
  def rule(axis_size: int, in_batched: list[Any], grads: Sequence[jax.Array],
           delta: Sequence[jax.Array]) -> tuple[jax.Array, bool]:
    grads_batched, delta_batched = in_batched
    if not any(grads_batched) and not any(delta_batched):
      # JAX may call a rule with nothing batched (a second derivative
      # through a scan): the result is not batched either.
      return _reduce_for_platform(grads, delta, dtype, lanes=None), False
    # An unbatched operand gets a leading axis of 1 and broadcasts.
    lift = lambda xs, batched: [x if b else x[None] for x, b in zip(xs, batched)]
    return _reduce_for_platform(lift(grads, grads_batched),
                                lift(delta, delta_batched), dtype,
                                lanes=axis_size), True

  return reduce


Plan = tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]
"""Which leaves (by index) reduce alone, and which concatenated, by group."""


def _reduce_for_platform(grads: Sequence[jax.Array],
                         delta: Sequence[jax.Array], dtype: np.dtype,
                         lanes: int | None) -> jax.Array:
  """:func:`_reduce` in the form of the platform the step is lowered for."""
  grouped = [platform for platform, batched in GROUPED_ON.items()
             if lanes is None or batched]
  plans = (_plan(grads, delta, CONCATENATED_LEAF_SIZE, None),
           _plan(grads, delta, ACCELERATOR_CONCATENATED_LEAF_SIZE,
                 CONCATENATED_LEAVES))
  forms = [functools.partial(_reduce, dtype=dtype, lanes=lanes, plan=plan)
           for plan in plans]
  if not grouped or plans[0] == plans[1] or jax.device_count() > 1:
    return forms[0](grads, delta)
  return jax.lax.platform_dependent(
      grads, delta, default=forms[0], **dict.fromkeys(grouped, forms[1]))


def _plan(grads: Sequence[jax.Array], delta: Sequence[jax.Array],
          concatenated: int, per_group: int | None) -> Plan:
  """Leaves of at most ``concatenated`` entries are concatenated by
  accumulation dtype, at most ``per_group`` to a group; the others reduce
  alone."""
  alone: list[int] = []
  small: dict[np.dtype, list[int]] = {}
  for i, (g, d) in enumerate(zip(grads, delta)):
    size = _static_size(g.shape, d.shape)
    if size is not None and size <= concatenated:
      small.setdefault(_accumulation_dtype(g, d), []).append(i)
    else:
      alone.append(i)
  step = per_group or max(1, len(grads))
  groups = tuple(tuple(leaves[start:start + step]) for leaves in small.values()
                 for start in range(0, len(leaves), step))
  return tuple(alone), groups


def _reduce(grads: Sequence[jax.Array], delta: Sequence[jax.Array],
            dtype: np.dtype, lanes: int | None,
            plan: Plan | None = None) -> jax.Array:
  """The sum, or with ``lanes``, one sum per lane of axis 0 (of 1 or lanes),
  with the leaves grouped as ``plan`` says (by default, the CPU's plan)."""
  alone, groups = plan or _plan(grads, delta, CONCATENATED_LEAF_SIZE, None)
  total = jnp.zeros(() if lanes is None else (lanes,), dtype)
  for i in alone:
    acc = _accumulation_dtype(grads[i], delta[i])
    product = grads[i].astype(acc) * delta[i].astype(acc)
    total = total + _lane_sums(product, lanes).astype(dtype)
  for group in groups:
    acc = _accumulation_dtype(grads[group[0]], delta[group[0]])
    product = (_flat([grads[i] for i in group], acc, lanes)
               * _flat([delta[i] for i in group], acc, lanes))
    total = total + _lane_sums(product, lanes).astype(dtype)
  return total


def _is_static(*shapes: tuple[Any, ...]) -> bool:
  """Whether every dimension is an int, not symbolic (a shape-polymorphic
  ``jax.export``): a symbolic leaf takes the general form, correct at any
  size."""
  return all(isinstance(dim, int) for shape in shapes for dim in shape)


def _static_size(*shapes: tuple[Any, ...]) -> int | None:
  """Entries of the shapes' broadcast, or None when a dimension is symbolic."""
  if not _is_static(*shapes):
    return None
  return math.prod(np.broadcast_shapes(*shapes))


def _flat(xs: Sequence[jax.Array], acc: np.dtype,
          lanes: int | None) -> jax.Array:
  """The leaves raveled and concatenated (per lane, lanes first)."""
  if lanes is None:
    return jnp.concatenate([jnp.ravel(x).astype(acc) for x in xs])
  # Sizes spelled out, not -1: a vmap may have no lane at all.
  per_lane = lambda x: math.prod(x.shape[1:])
  return jnp.concatenate(
      [jnp.broadcast_to(x.reshape(x.shape[0], per_lane(x)),
                        (lanes, per_lane(x))).astype(acc) for x in xs], axis=1)


def _lane_sums(product: jax.Array, lanes: int | None) -> jax.Array:
  if lanes is None:
    return jnp.sum(product)
  if product.shape[0] == 1:
    # One lane (one seed, or operands no seed has): the scalar reduction.
    # XLA:CPU reduces [1, n] over n about 20x slower (n = 1e6).
    return jnp.sum(product).reshape(1)
  axes = tuple(range(1, product.ndim))
  one_pass = lambda p: jnp.sum(p, axis=axes)
  row = _row_length(product)
  if row is None:
    return one_pass(product)
  return jax.lax.platform_dependent(
      product, cpu=lambda p: rows_first(p, row), default=one_pass)


def rows_first(product: jax.Array, row: int) -> jax.Array:
  """Per-lane sums of ``product`` (lanes first): rows of ``row`` entries,
  then the row sums."""
  rows = product.reshape(product.shape[0], -1, row).sum(axis=-1)
  # Without the barrier XLA merges the two sums back into one pass.
  return jax.lax.optimization_barrier(rows).sum(axis=-1)


def _row_length(product: jax.Array) -> int | None:
  """The row to sum first, or None where one pass is as fast (see above)."""
  if not _is_static(product.shape):
    return None
  lanes, per_lane = product.shape[0], math.prod(product.shape[1:])
  if lanes < TWO_STAGE_LANES or per_lane < TWO_STAGE_LANE_SIZE:
    return None
  last = product.shape[-1] if product.ndim > 2 else 0
  if _MIN_ROW <= last <= _MAX_ROW:
    return last
  # Else the longest row that divides the lane (reshaping a lane is free).
  return next((row for row in range(_MAX_ROW, _MIN_ROW - 1, -1)
               if per_lane % row == 0), None)
