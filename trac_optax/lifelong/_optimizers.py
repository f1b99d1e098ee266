"""The optimizers the harness compares, by name, and how to read their scale."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

import trac_optax
from trac_optax.lifelong import _baselines


def _adam(learning_rate: float) -> optax.GradientTransformation:
  return optax.adam(learning_rate)


def _trac(learning_rate: float) -> optax.GradientTransformation:
  return trac_optax.trac(optax.adam(learning_rate))


def _mechanic(learning_rate: float) -> optax.GradientTransformation:
  return optax.contrib.mechanize(optax.adam(learning_rate))


OPTIMIZERS: dict[str, Callable[[float], optax.GradientTransformation]] = {
    "adam": _adam,
    "trac": _trac,
    "mechanic": _mechanic,
    "l2init": _baselines.l2init_adam,
    "shrink_perturb": _baselines.shrink_perturb_adam,
    "reset": _baselines.reset_adam,
}
"""Named optimizers: each maps a learning rate (and, for ``l2init`` and
``shrink_perturb``, keyword options) to an Optax transform over Adam.
``reset`` is Adam; its runs re-initialise at every task shift."""


def make_optimizer(name: str, learning_rate: float,
                   **options) -> optax.GradientTransformation:
  """The named optimizer of :data:`OPTIMIZERS` at ``learning_rate``.

  ``options`` go to the optimizer's builder, e.g. ``strength`` for
  ``l2init`` or ``shrink``, ``noise_scale``, ``every`` for
  ``shrink_perturb``.

  Raises:
    ValueError: for an unknown name.
  """
  if name not in OPTIMIZERS:
    raise ValueError(f"unknown optimizer {name!r}; choose from "
                     f"{', '.join(OPTIMIZERS)} or pass an Optax transform")
  return OPTIMIZERS[name](learning_rate, **options)


def optimizer_scale(opt_state: optax.OptState) -> jax.Array:
  """The learned scale S of a TRAC or Mechanic state; NaN for any other.

  For TRAC, :func:`trac_optax.scale`. For ``optax.contrib.mechanize``, the
  sum of its per-beta scales ``s`` (the factor on its displacement from the
  reference point). A state holding neither gives NaN.

  Args:
    opt_state: an optimizer state, possibly nested.

  Returns:
    A float32 scalar.
  """
  if optax.tree.get_all_with_path(opt_state, "TracState"):
    return trac_optax.scale(opt_state).astype(jnp.float32)
  mechanic = optax.tree.get_all_with_path(opt_state, "MechanicState")
  if len(mechanic) == 1:
    return jnp.sum(mechanic[0][1].s).astype(jnp.float32)
  return jnp.array(jnp.nan, jnp.float32)
