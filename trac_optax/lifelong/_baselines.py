"""The classic plasticity remedies over Adam, as the harness's named optimizers.

``l2init`` and ``shrink_perturb`` are Optax transforms around the same Adam
as ``adam`` and ``trac``. The ``reset`` baselines are named optimizers whose
runs re-initialise the networks and the optimizer at every task shift (see
:func:`trac_optax.lifelong.reinitialise`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import trac_optax

L2INIT_STRENGTH = 1e-2
"""Default lambda of ``l2init`` (not tuned; the paper's best differs per task)."""

SHRINK = 0.8
"""Default factor on the weights of ``shrink_perturb``."""

PERTURB_SCALE = 1e-2
"""Default standard deviation of ``shrink_perturb``'s noise."""

PERTURB_EVERY = 1000
"""Default updates between two applications of ``shrink_perturb``."""


def l2init_adam(learning_rate: float, *,
                strength: float = L2INIT_STRENGTH) -> optax.GradientTransformation:
  """Adam on the loss plus ``strength / 2 * ||theta - theta_0||^2``.

  ``optax.chain(trac_optax.l2_init(strength), optax.adam(learning_rate))``.
  """
  return optax.chain(trac_optax.l2_init(strength), optax.adam(learning_rate))


def shrink_perturb_adam(learning_rate: float, *, shrink: float = SHRINK,
                        noise_scale: float = PERTURB_SCALE,
                        every: int = PERTURB_EVERY,
                        seed: int = 0) -> optax.GradientTransformation:
  """Adam, then every ``every`` updates ``theta <- shrink * theta + noise``.

  ``optax.chain(optax.adam(learning_rate),
  trac_optax.shrink_and_perturb(shrink, noise_scale, every, seed))``. On its
  own the noise's key comes from ``seed``; the harness then gives each of its
  seeds a key of its own (:func:`independent_noise`), so seeds vmapped
  together draw independent noise.
  """
  return optax.chain(optax.adam(learning_rate),
                     trac_optax.shrink_and_perturb(shrink, noise_scale, every,
                                                   seed))



_NOISE_STREAM = 0x5EED
"""Folded into a seed's key to derive its shrink-and-perturb noise key."""


def independent_noise(opt_state: optax.OptState,
                      seed_key: jax.Array) -> optax.OptState:
  """Gives every ``ShrinkPerturbState`` in ``opt_state`` a key from ``seed_key``.

  Called per seed (under ``vmap``) right after ``init``, so that each seed
  draws its own shrink-and-perturb noise, a stream apart from the seed's
  rollouts and shuffles. The key keeps the format the state had (a typed key
  or raw ``uint32`` key data). Other states pass through unchanged.
  """
  noise_key = jax.random.fold_in(seed_key, _NOISE_STREAM)

  def swap(state):
    if not isinstance(state, trac_optax.ShrinkPerturbState):
      return state
    typed = jnp.issubdtype(state.key.dtype, jax.dtypes.prng_key)
    return state._replace(
        key=noise_key if typed else jax.random.key_data(noise_key))

  return jax.tree.map(
      swap, opt_state,
      is_leaf=lambda x: isinstance(x, trac_optax.ShrinkPerturbState))
