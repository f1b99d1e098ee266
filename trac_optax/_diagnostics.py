"""Reading TRAC's tuner from an optimizer state, however deeply nested."""

from __future__ import annotations

from typing import Any

import jax
import optax

from trac_optax._trac import TracState
from trac_optax._trac import total_scale


def _accessor(path: tuple[Any, ...]) -> str:
  """The Python suffix that reaches ``path``: ``.inner_states['p'][0]``."""
  parts = []
  for key in path:
    if isinstance(key, jax.tree_util.DictKey):
      parts.append(f"[{key.key!r}]")
    elif isinstance(key, jax.tree_util.SequenceKey):
      parts.append(f"[{key.idx}]")
    elif hasattr(key, "name"):  # attribute keys, e.g. a NamedTuple's field
      parts.append(f".{key.name}")
    else:
      parts.append(jax.tree_util.keystr((key,)))
  return "".join(parts)


def trac_state(opt_state: optax.OptState) -> TracState:
  """Finds the one :class:`TracState` inside a (nested) Optax state.

  Works through ``optax.chain``, ``optax.masked``, ``optax.partition``,
  ``optax.inject_hyperparams``, ``optax.MultiSteps`` and any other nesting of
  NamedTuples, tuples and dicts, inside or outside ``jax.jit``.

  Args:
    opt_state: the state returned by ``init``/``update`` of a transform that
      contains exactly one :func:`trac_optax.trac`.

  Returns:
    The :class:`TracState`, as stored: a batched state (vmapped seeds) keeps
    its leading axes in every field. Its fields ``tuner_scales`` (last output of each
    tuner), ``count`` (applied steps) and ``skipped`` (non-finite steps
    skipped) are the tuner diagnostics.

  Raises:
    ValueError: when the state holds no ``TracState``, or more than one (then
      the error lists their paths: pass the sub-state you mean).
  """
  if isinstance(opt_state, TracState):
    return opt_state
  found = optax.tree.get_all_with_path(opt_state, "TracState")
  if not found:
    raise ValueError(
        "no TracState in this optimizer state: was the transform built with "
        "trac_optax.trac(...)? Pass the state returned by its init/update.")
  if len(found) > 1:
    paths = [_accessor(path) for path, _ in found]
    raise ValueError(
        f"{len(found)} TracStates in this optimizer state (at "
        f"{', '.join(paths)}); pass the sub-state of the one you want, e.g. "
        f"trac_optax.scale(opt_state{paths[0]}).")
  return found[0][1]


def scale(opt_state: optax.OptState) -> jax.Array:
  r"""The current scale :math:`S = \max(\sum_j s_j, 0)` of a TRAC state.

  The params in use are :math:`\theta_\text{ref} + S\,\Delta`. A pure
  function of the state, so it can be logged from inside a jitted loop.

  Args:
    opt_state: a state holding exactly one TRAC state (see
      :func:`trac_state`).

  Returns:
    A scalar array in the tuner dtype (float32, or float64 for float64
    params): exactly the S that the last update used. For a batched state
    (e.g. seeds under ``jax.vmap``) one S per seed, with the state's leading
    axes: ``tuner_scales`` of shape ``(..., len(betas))`` gives S of shape
    ``(...)``.

  Examples:
    >>> import jax.numpy as jnp, optax, trac_optax
    >>> tx = optax.chain(optax.clip_by_global_norm(1.0),
    ...                  trac_optax.trac(optax.adam(1e-3)))
    >>> float(trac_optax.scale(tx.init({"w": jnp.zeros(2)})))
    0.0
  """
  state = trac_state(opt_state)
  return total_scale(state.tuner_scales)
