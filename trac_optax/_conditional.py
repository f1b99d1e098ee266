"""``step(state, inputs)`` or ``state``: a conditional that stays one in vmap.

``jax.lax.cond`` with a batched predicate (a ``vmap`` over seeds, each with
its own predicate) runs both branches and selects, and XLA then copies every
state buffer the step would have updated in place. :func:`step_or_keep`
batches instead as conditionals on how many lanes keep their state:

1. none: the batched step, in place;
2. exactly one of three or more (a seed whose gradients went non-finite
   while the others train on), where the leaves are not small: that lane is
   saved (a gather of one lane), every lane steps in place, and the saved
   lane is written back (a scatter of one lane, in place);
3. more than one but not all: the lane-by-lane select, from the state that
   (1) and (2) left unchanged;
4. all: nothing.

XLA:CPU updates a conditional's state in place only when its false branch
returns the state unchanged (checked with jax 0.10.2: with the passthrough as
the true branch, or with two computing branches, it copies every output), so
every conditional keeps that form, and neither (1) nor (2) copies the state.
A buffer that is read by one fusion and overwritten in place by another is
copied unless the reader's result feeds the writer, which is why (2) passes
the saved lane into a conditional of its own. The values are those of the
select, lane by lane.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.core
import jax.numpy as jnp

Step = Callable[[Any, Any], Any]

RESTORE_MIN_LEAF_SIZE = 1 << 12
"""A step where exactly one lane keeps its state saves and restores that lane
(2 above) when the state's leaves hold at least this many entries on average
(over all lanes); else it selects lane by lane (3). The select keeps the old
state beside the new one and copies the base state; the restore gathers the
lane before the step and scatters it back after it, two more kernels per
leaf, which cost more than the copy where leaves are small (on XLA:CPU,
``benchmarks/step_time_rl.py``, 8 seeds, entries per state leaf on average:
restore faster for the PPO params, 30k, and at 1e6 params, 19k and 83k; a
tie at 1e5 params in 10 leaves, 8k; select faster in 50 leaves, 1.8k)."""

IN_PLACE_PLATFORM = "cpu"
"""The platform whose compiler updates a state in place through the
conditionals above (XLA:CPU). With ``select_off_cpu`` every other platform
selects; naming no platform here selects everywhere (the tests run the select
form on the CPU that way)."""


def step_or_keep(pred: jax.Array, step: Step, state: Any, inputs: Any, *,
                 select_off_cpu: bool = False) -> Any:
  """``step(state, inputs)`` if ``pred`` holds, else ``state``.

  ``step`` must return a tree typed like ``state``. Traced values it closes
  over (a base optimizer's learning rate that is vmapped over or
  differentiated) are passed to it as inputs. Nested ``vmap`` levels each
  test whether all of their lanes step. Derivatives, forward and reverse, are
  those of ``jax.lax.cond``. Outside a trace (eager calls) ``pred`` is known,
  and only the branch it picks runs.

  With ``select_off_cpu``, a program lowered for any platform but the CPU
  computes the step and selects instead (:func:`selected`): the
  conditionals are XLA:CPU's in-place form, and XLA:GPU and XLA:TPU copy
  the state out of them.
  """
  if not isinstance(pred, jax.core.Tracer):
    return step(state, inputs) if pred else state
  closed, out_shapes = jax.make_jaxpr(step, return_shape=True)(state, inputs)
  state = _laid_out_like(state, out_shapes)
  if any(isinstance(c, jax.core.Tracer) for c in closed.consts):
    # custom_vmap refuses batched values in a closure and custom_jvp's
    # function argument must hold no tangents, so the step gets them as
    # arguments: it becomes its traced program, with the closed-over values
    # as explicit inputs (batched and differentiated like any input).
    step, inputs = _closure_converted(closed, out_shapes), (inputs,
                                                            closed.consts)
  in_place = functools.partial(_step_or_keep, step)
  if _named_axes(closed.jaxpr):
    # A collective over a vmapped axis (e.g. a pmean over seeds inside the
    # base optimizer) must be batched by that vmap itself, which a
    # custom_vmap rule cannot name: such a step keeps lax.cond's select.
    # (Its callers make pred agree over those axes: see agreed_over_collectives.)
    in_place = lambda pred, state, inputs: _cond(pred, step, state, inputs)
  if select_off_cpu:
    return jax.lax.platform_dependent(
        pred, state, inputs, default=functools.partial(selected, step),
        **{IN_PLACE_PLATFORM: in_place})
  return in_place(pred, state, inputs)


def _laid_out_like(state: Any, out_shapes: Any) -> Any:
  """``state``, each leaf resharded to the explicit sharding that ``step``
  gives it, where the two differ.

  With explicit mesh axes a sharding is part of an array's type, and both
  branches must be typed alike. A state laid out otherwise than the step
  leaves it (Adam's moments replicated by a ``jax.jit`` of ``init`` with no
  mesh set, while the gradients are sharded) then takes the step's layout
  here, as it would after one step of the base alone. Where the types agree
  (any step but such a first one, and always without explicit axes) nothing
  is added. A dtype that the step changes is left to the caller.
  """
  if jax.tree.structure(state) != jax.tree.structure(out_shapes):
    return state  # not typed like the state: lax.cond will say so

  def leaf(x: Any, out: Any) -> Any:
    want = getattr(out, "sharding", None)
    # The same spec on another mesh (a scalar made outside any mesh) types
    # alike in lax.cond: only a spec that differs needs the reshard.
    if want is None or jax.typeof(x).sharding.spec == want.spec:
      return x
    return jax.sharding.reshard(x, want)

  return jax.tree.map(leaf, state, out_shapes)


def _closure_converted(closed: Any, out_shapes: Any) -> Step:
  """``step`` as ``(state, (inputs, consts)) -> new state``, from its
  program ``closed`` traced on ``(state, inputs)``."""
  out_tree = jax.tree.structure(out_shapes)

  def step(state: Any, inputs_and_consts: tuple[Any, list[Any]]) -> Any:
    inputs, consts = inputs_and_consts
    out = jax.core.eval_jaxpr(closed.jaxpr, consts,
                              *jax.tree.leaves((state, inputs)))
    return jax.tree.unflatten(out_tree, out)

  return step


def agreed_over_collectives(pred: jax.Array, step: Step, state: Any,
                            inputs: Any) -> jax.Array:
  """``pred`` where it holds for every member of the axes that ``step``'s
  collectives run over, else False for all of them.

  A step whose collective mixes the members of an axis (a pmean of the
  gradients over vmapped seeds, or over the devices of a ``shard_map``)
  spreads one member's non-finite values to every member that steps, and
  under ``shard_map`` members that disagree on whether to step would wait
  for each other in that collective forever. Only axes bound where ``step``
  is called count (an axis the step binds itself is not ours to reduce);
  without any, ``pred`` is returned unchanged and no operation is added.
  """
  if not isinstance(pred, jax.core.Tracer):
    return pred  # eager: no axis is bound, no collective can run
  names = _named_axes(jax.make_jaxpr(step)(state, inputs).jaxpr,
                      mixing_only=True)
  bound = tuple(name for name in names if _is_bound(name))
  if not bound:
    return pred
  failing = jax.lax.psum(jnp.logical_not(pred).astype(jnp.int32), bound)
  return failing == 0


def _is_bound(name: Any) -> bool:
  try:
    jax.lax.axis_size(name)
  except NameError:
    return False
  return True


def _named_axes(jaxpr: Any, mixing_only: bool = False) -> list[Any]:
  """The axis names that ``jaxpr``'s collectives use, in order of use; with
  ``mixing_only``, not those only asked for a member's index (which mixes
  no member's values with another's)."""
  found: dict[Any, None] = {}
  for eqn in jaxpr.eqns:
    if mixing_only and eqn.primitive.name == "axis_index":
      continue
    for key in ("axes", "axis_name"):
      names = eqn.params.get(key, ())
      names = names if isinstance(names, (tuple, list)) else (names,)
      found.update((n, None) for n in names
                   if n is not None and not isinstance(n, int))
    for value in eqn.params.values():
      for sub in value if isinstance(value, (tuple, list)) else (value,):
        sub = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr holds a Jaxpr
        if hasattr(sub, "eqns"):
          found.update((n, None) for n in _named_axes(sub, mixing_only))
  return list(found)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _step_or_keep(step: Step, pred: jax.Array, state: Any, inputs: Any) -> Any:
  return _batched_by_agreement(step)(pred, state, inputs)


@_step_or_keep.defjvp
def _step_or_keep_jvp(step: Step, primals: tuple[Any, ...],
                      tangents: tuple[Any, ...]) -> tuple[Any, Any]:
  # custom_vmap has no reverse mode, so derivatives are written out here, as
  # lax.cond's batching rule would give them (jax issue 1052): the step's
  # tangent is computed from tangents zeroed where ``pred`` fails, so in
  # reverse mode a kept state sends back none of the step's derivatives,
  # not even a NaN one. No conditional touches a tangent (a batched
  # conditional would wrap it in stop_gradient, which has no transpose).
  pred, state, inputs = primals
  _, state_dot, inputs_dot = tangents
  masked = lambda t: t if _is_float0(t) else jnp.where(pred, t, 0)
  stepped, stepped_dot = jax.jvp(step, (state, inputs),
                                 (jax.tree.map(masked, state_dot),
                                  jax.tree.map(masked, inputs_dot)))
  out = jax.tree.map(lambda new, kept: jnp.where(pred, new, kept),
                     stepped, state)
  out_dot = jax.tree.map(
      lambda new, kept: kept if _is_float0(kept) else jnp.where(pred, new, kept),
      stepped_dot, state_dot)
  return out, out_dot


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def selected(step: Step, pred: jax.Array, state: Any, inputs: Any) -> Any:
  """``step(state, inputs)`` where ``pred`` holds, else ``state``: the step
  always computed, then an elementwise select.

  Where the compiler fuses a select into the loops that compute the step
  (XLA:GPU's and XLA:TPU's multi-output fusion), each state buffer is read
  and written once, in place, with no conditional; the conditionals of
  :func:`step_or_keep` make them copy the stepped state at every step
  (``benchmarks/accelerator_hlo.py``).
  Its derivatives are those of :func:`step_or_keep`: a kept state sends
  back none of the step's, not even a NaN one.
  """
  return jax.tree.map(lambda new, kept: jnp.where(pred, new, kept),
                      step(state, inputs), state)


selected.defjvp(_step_or_keep_jvp)


def _is_float0(x: Any) -> bool:
  return jnp.result_type(x) == jax.dtypes.float0


def _cond(pred: jax.Array, step: Step, state: Any, inputs: Any) -> Any:
  return jax.lax.cond(pred, step, lambda s, _: s, state, inputs)


def _batched_by_agreement(step: Step) -> Callable[..., Any]:
  @jax.custom_batching.custom_vmap
  def conditional(pred: jax.Array, state: Any, inputs: Any) -> Any:
    return _cond(pred, step, state, inputs)

  @conditional.def_vmap
  def rule(axis_size: int, in_batched: list[Any], pred: jax.Array,
           state: Any, inputs: Any) -> tuple[Any, Any]:
    pred_batched, state_batched, inputs_batched = in_batched
    # Every lane gets its own copy of the state, so both branches return
    # the same (batched) types.
    state = jax.tree.map(
        lambda x, batched: x if batched else jnp.broadcast_to(
            x, (axis_size,) + jnp.shape(x)), state, state_batched)
    inputs_axes = jax.tree.map(lambda batched: 0 if batched else None,
                               inputs_batched)
    batched_step = jax.vmap(step, in_axes=(0, inputs_axes),
                            axis_size=axis_size)
    if not pred_batched:
      return _step_or_keep(batched_step, pred, state, inputs), _all_true(state)

    def lane_by_lane(state: Any,
                     lanes_and_inputs: tuple[jax.Array, Any]) -> Any:
      lanes, inputs = lanes_and_inputs
      # The step's result comes out of a conditional, so XLA cannot fuse the
      # step into the select below (a fused select recomputes the new state
      # from the old in several fusions, which makes XLA copy the state on
      # every step, this branch taken or not).
      stepped = _step_or_keep(batched_step, jnp.any(lanes), state, inputs)
      return jax.tree.map(
          lambda new, old: jnp.where(
              lanes.reshape(lanes.shape + (1,) * (new.ndim - 1)), new, old),
          stepped, state)

    def all_but_one_lane(state: Any,
                         lanes_and_inputs: tuple[jax.Array, Any]) -> Any:
      lanes, inputs = lanes_and_inputs
      # The one lane that keeps its state, as a sum (over lanes sharded over
      # devices, a sum of one number where an argmax gathers the lanes).
      kept = jnp.sum(jnp.where(lanes, 0, jnp.arange(axis_size, dtype=jnp.int32)))
      saved = jax.tree.map(lambda x: _lane_at(x, kept), state)
      # The saved lane is an input of the conditional below, so it is read
      # before the step overwrites the state in place.
      return _step_or_keep(step_and_restore, jnp.any(lanes), state,
                           (inputs, saved, kept, jnp.any(lanes)))

    def step_and_restore(state: Any, inputs_saved_lane: Any) -> Any:
      inputs, saved, kept, steps = inputs_saved_lane
      # Out of a conditional, as in lane_by_lane, so that XLA cannot fuse the
      # step into the write-back, which then updates one lane in place.
      stepped = _step_or_keep(batched_step, steps, state, inputs)
      return jax.tree.map(lambda new, old: _with_lane_at(new, kept, old),
                          stepped, saved)

    kept_lanes = axis_size - jnp.sum(pred, dtype=jnp.int32)
    # Calling _step_or_keep again (not lax.cond) lets an enclosing vmap
    # batch these conditionals the same way. (The named-axis check of
    # step_or_keep is not repeated: these steps hold the same primitives.)
    state = _step_or_keep(batched_step, kept_lanes == 0, state, inputs)
    restored = int(_restores_one_lane(axis_size, state))
    if restored:
      state = _step_or_keep(all_but_one_lane, kept_lanes == 1, state,
                            (pred, inputs))
    # A symbolic number of lanes (jax.export) may be 2 or more.
    if not isinstance(axis_size, int) or axis_size > 1 + restored:
      state = _step_or_keep(
          lane_by_lane, (kept_lanes > restored) & (kept_lanes < axis_size),
          state, (pred, inputs))
    return state, _all_true(state)

  return conditional


def _restores_one_lane(axis_size: Any, state: Any) -> bool:
  """Whether one kept lane is saved and restored: three lanes or more (with
  two the saved lane is half the state, measured no faster than the select)
  and leaves of at least :data:`RESTORE_MIN_LEAF_SIZE` entries on average.
  Symbolic sizes (a shape-polymorphic ``jax.export``) and lanes sharded by
  explicit mesh axes select."""
  leaves = jax.tree.leaves(state)
  shapes = [jnp.shape(x) for x in leaves]
  if not all(isinstance(d, int) for shape in shapes for d in shape):
    return False
  if any(_lanes_explicitly_sharded(x) for x in leaves):
    return False
  if not isinstance(axis_size, int) or axis_size < 3 or not shapes:
    return False
  entries = sum(math.prod(shape) for shape in shapes)
  return entries >= RESTORE_MIN_LEAF_SIZE * len(shapes)


def _lanes_explicitly_sharded(x: jax.Array) -> bool:
  """Whether ``x``'s type shards its lanes (explicit mesh axes over seeds).

  The gather of one lane then needs an output sharding that no choice makes
  free (jax refuses to pick one), so such a state selects lane by lane, which
  is elementwise and keeps every lane on its device.
  """
  spec = jax.typeof(x).sharding.spec
  return len(spec) > 0 and spec[0] is not None


def _lane_at(x: jax.Array, index: jax.Array) -> jax.Array:
  """Lane ``index`` of ``x`` (lanes first), with a leading axis of 1.

  A gather, not a dynamic slice: with the lanes sharded over devices (seeds
  over devices), XLA partitions the gather without moving any lane between
  devices (``tests/sharded_skip.py``: no collective of more than one number),
  where a dynamic slice at a traced index gathers every lane to every device.
  """
  return jnp.take(x, index[None], axis=0, mode="clip",
                  unique_indices=True, indices_are_sorted=True)


def _with_lane_at(x: jax.Array, index: jax.Array,
                  lane: jax.Array) -> jax.Array:
  """``x`` with lane ``index`` set to ``lane`` (leading axis of 1), in place.

  A scatter, for the reason :func:`_lane_at` is a gather; it writes one lane
  where a select would read and write them all.
  """
  return x.at[index[None]].set(lane, mode="promise_in_bounds",
                               unique_indices=True, indices_are_sorted=True)


def _all_true(tree: Any) -> Any:
  return jax.tree.map(lambda _: True, tree)
