"""The optimizers the harness compares, by name, and how to read their scale."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Hashable

import jax
import jax.numpy as jnp
import optax

import trac_optax
from trac_optax.lifelong import _baselines
from trac_optax.lifelong._config import checked_real

NETWORKS = ("actor", "critic")
"""The top-level keys of the harness's params: policy and value network."""


def _adam(learning_rate: float) -> optax.GradientTransformation:
  return optax.adam(learning_rate)


def _trac(learning_rate: float) -> optax.GradientTransformation:
  return trac_optax.trac(optax.adam(learning_rate))


def _trac_per_network(learning_rate: float) -> optax.GradientTransformation:
  """One TRAC (over its own Adam) per network: separate S for policy and value."""
  per_network: dict[Hashable, optax.GradientTransformation] = {
      name: trac_optax.trac(optax.adam(learning_rate)) for name in NETWORKS}
  labels = lambda params: {
      name: jax.tree.map(lambda _, label=name: label, params[name])
      for name in NETWORKS}
  return optax.partition(per_network, labels)


def _mechanic(learning_rate: float) -> optax.GradientTransformation:
  return optax.contrib.mechanize(optax.adam(learning_rate))


_BASES: dict[str, Callable[..., optax.GradientTransformation]] = {
    "adam": _adam,
    "trac": _trac,
    "mechanic": _mechanic,
    "l2init": _baselines.l2init_adam,
    "shrink_perturb": _baselines.shrink_perturb_adam,
    "trac-per-network": _trac_per_network,
}

RESET = "reset"
"""The ``reset`` baseline of Adam; ``reset-<name>`` resets any other."""


def reset_name(optimizer: str) -> str:
  """The name of ``optimizer``'s reset baseline: ``reset`` for Adam.

  Examples:
    >>> reset_name("adam"), reset_name("trac")
    ('reset', 'reset-trac')
  """
  return RESET if optimizer == "adam" else f"{RESET}-{optimizer}"


def reset_base(name: str) -> str | None:
  """The optimizer that the reset baseline ``name`` resets, else ``None``.

  Examples:
    >>> reset_base("reset"), reset_base("reset-trac"), reset_base("trac")
    ('adam', 'trac', None)
  """
  for base in _BASES:
    if name == reset_name(base):
      return base
  return None


OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    **_BASES, **{reset_name(base): make for base, make in _BASES.items()}}
"""Named optimizers: each maps a learning rate (and, for ``l2init`` and
``shrink_perturb``, keyword options) to an Optax transform over Adam.
``reset`` is Adam and ``reset-<name>`` is ``<name>``; their runs start fresh
networks and a fresh optimizer state at every task shift (the privileged
baseline of that optimizer)."""


def make_optimizer(name: str, learning_rate: float,
                   **options) -> optax.GradientTransformation:
  """The named optimizer of :data:`OPTIMIZERS` at ``learning_rate``.

  ``options`` go to the optimizer's builder, e.g. ``strength`` for
  ``l2init`` or ``shrink``, ``noise_scale``, ``every`` for
  ``shrink_perturb``.

  Raises:
    ValueError: for an unknown name, or a learning rate that is a number
      but not a finite positive one (a schedule, a callable, is passed on).
  """
  if name not in OPTIMIZERS:
    raise ValueError(f"unknown optimizer {name!r}; choose from "
                     f"{', '.join(OPTIMIZERS)} or pass an Optax transform")
  if not callable(learning_rate):  # a schedule is optax's to check
    learning_rate = checked_real("learning_rate", learning_rate)
  return OPTIMIZERS[name](learning_rate, **options)


def optimizer_scale(opt_state: optax.OptState) -> jax.Array:
  """The learned scale S of a TRAC or Mechanic state; NaN for any other.

  For TRAC, :func:`trac_optax.scale`; with one TRAC per network
  (``trac-per-network``), the policy network's. For
  ``optax.contrib.mechanize``, the sum of its per-beta scales ``s`` (the
  factor on its displacement from the reference point). A state holding
  neither gives NaN.

  Args:
    opt_state: an optimizer state, possibly nested.

  Returns:
    A float32 scalar.
  """
  tracs = optax.tree.get_all_with_path(opt_state, "TracState")
  if len(tracs) == 1:
    return trac_optax.scale(opt_state).astype(jnp.float32)
  policy = [state for path, state in tracs
            if f"'{NETWORKS[0]}'" in jax.tree_util.keystr(path)]
  if len(tracs) == len(NETWORKS) and len(policy) == 1:
    return trac_optax.scale(policy[0]).astype(jnp.float32)
  mechanic = optax.tree.get_all_with_path(opt_state, "MechanicState")
  if len(mechanic) == 1:
    return jnp.sum(mechanic[0][1].s).astype(jnp.float32)
  return jnp.array(jnp.nan, jnp.float32)
