"""Adam as TRAC runs its base, with S fixed at 1: what TRAC's state costs alone.

Not part of the package: ``step_time_rl.py`` and ``results/control/speed.py``
import it by path and time it beside adam and trac(adam).
"""

from __future__ import annotations

from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

NAME = "adam+offset"


class OffsetState(NamedTuple):
  base_state: optax.OptState
  reference: optax.Params
  delta: optax.Updates


def keeping_offset(
    base: optax.GradientTransformation) -> optax.GradientTransformation:
  """``base`` stepping an offset from a reference point, as in TRAC, at S = 1.

  The state holds the params at init (the reference point) and the offset
  ``delta`` (zeros at init) beside the base's own state. Each step adds the
  base's update to ``delta`` and moves the params to ``reference + delta``:
  the buffers TRAC keeps, read and written as TRAC's step does, with no
  inner product, tuner or skip. The params follow the base's own run, up to
  rounding.
  """

  def init(params: optax.Params) -> OffsetState:
    return OffsetState(
        base_state=base.init(params),
        reference=jax.tree.map(lambda p: jnp.array(p, copy=True), params),
        delta=jax.tree.map(jnp.zeros_like, params))

  def update(updates: optax.Updates, state: OffsetState,
             params: optax.Params | None = None) -> tuple[Any, OffsetState]:
    if params is None:
      raise ValueError("keeping_offset needs the params: update(g, s, params)")
    base_updates, base_state = base.update(updates, state.base_state, params)
    delta = jax.tree.map(jnp.add, state.delta, base_updates)
    moved = jax.tree.map(lambda r, d, p: r + d - p, state.reference, delta,
                         params)
    return moved, OffsetState(base_state, state.reference, delta)

  # Optax types `update` as taking any OptState; this one takes its own.
  return optax.GradientTransformation(
      init, update)  # pyright: ignore[reportArgumentType]
