"""What the harness logs about the optimizer at each iteration, via the public API.

TRAC's skipped-step counter, the size of its offset ``delta`` and the inner
product ``h = <g, delta>`` that drives its tuners; NaN for an optimizer
without exactly one :class:`trac_optax.TracState`. Pure functions of the
state, cheap enough to run inside the jitted training step.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

import trac_optax
from trac_optax._inner_product import inner_product

DIAGNOSTICS = ("skipped", "delta_norm", "h_last", "h_mean", "h_max_abs",
               "entropy", "updates", "transitions")
"""Per-iteration diagnostics of a run, after its return, episodes and S.

``skipped``: TRAC's count of steps skipped for non-finite gradients, since
the start of the run, after the iteration. ``delta_norm``: global L2 norm of
TRAC's offset ``delta`` after the iteration. ``h_last``, ``h_mean``,
``h_max_abs``: the inner product ``h = <g, delta>`` of the loss gradients
with the offset before each optimizer step of the iteration (the ``h`` TRAC
sees when it is the outermost transform): the last step's, the mean and the
largest absolute value. ``entropy``: the policy's entropy, mean over the
iteration's minibatches. ``updates``: optimizer steps in the iteration.
``transitions``: the transitions they learned from (the paper protocol keeps
each environment's first episode only). All float32; the TRAC ones NaN for
other optimizers.
"""


def _single_trac_state(opt_state: optax.OptState) -> Any:
  """The one TracState inside ``opt_state``, or None (none, or several)."""
  found = optax.tree.get_all_with_path(opt_state, "TracState")
  return trac_optax.trac_state(opt_state) if len(found) == 1 else None


def _nan() -> jax.Array:
  return jnp.array(jnp.nan, jnp.float32)


def skipped_steps(opt_state: optax.OptState) -> jax.Array:
  """TRAC's skipped-step counter as float32 (exact below 2**24); else NaN."""
  state = _single_trac_state(opt_state)
  return _nan() if state is None else state.skipped.astype(jnp.float32)


def delta_norm(opt_state: optax.OptState) -> jax.Array:
  """Global L2 norm of TRAC's offset ``delta``, float32; else NaN."""
  state = _single_trac_state(opt_state)
  if state is None:
    return _nan()
  return optax.tree.norm(state.delta).astype(jnp.float32)


def trac_inner_product(grads: optax.Updates,
                       opt_state: optax.OptState) -> jax.Array:
  """``h = <grads, delta>`` with the offset held in ``opt_state``; else NaN.

  Computed by the same function as TRAC's own ``h``, in the same
  accumulation dtype, so that when TRAC is the outermost transform and
  receives ``grads`` unchanged, XLA merges the two computations and the
  diagnostic costs nothing in the training step.

  Args:
    grads: gradients with the structure of the params.
    opt_state: the optimizer state before the step that uses ``grads``.

  Returns:
    A float32 scalar.
  """
  state = _single_trac_state(opt_state)
  if state is None:
    return _nan()
  return inner_product(grads, state.delta, state.v.dtype).astype(jnp.float32)


def summarise_steps(h: jax.Array, entropy: jax.Array,
                    ran: jax.Array) -> dict[str, jax.Array]:
  """Per-iteration summaries of per-step ``h`` and entropy.

  Args:
    h: ``[steps]`` inner products, in the order the steps ran.
    entropy: ``[steps]`` mean policy entropy of each step's minibatch.
    ran: ``[steps]`` bool, whether the step ran (a step that did not run is
      left out of every summary).

  Returns:
    ``h_last``, ``h_mean``, ``h_max_abs`` and ``entropy``, float32 scalars
    (NaN when no step ran).
  """
  count = ran.sum()
  mean = lambda x: jnp.where(count > 0, jnp.sum(jnp.where(ran, x, 0.0))
                             / jnp.maximum(count, 1), jnp.nan)
  last = jnp.max(jnp.where(ran, jnp.arange(h.shape[0]), -1))
  return {
      "h_last": jnp.where(last >= 0, h[jnp.maximum(last, 0)], jnp.nan),
      "h_mean": mean(h),
      # NaN-propagating max over the steps that ran.
      "h_max_abs": jnp.where(
          count > 0, jnp.max(jnp.where(ran, jnp.abs(h), -jnp.inf)), jnp.nan),
      "entropy": mean(entropy),
  }
