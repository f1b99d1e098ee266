"""Classic plasticity baselines as Optax transforms: L2-init and shrink-and-perturb."""

from __future__ import annotations

import numbers
from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from trac_optax import _conditional
from trac_optax import _validation


class L2InitState(NamedTuple):
  """State of :func:`l2_init`: the initial params."""

  initial_params: optax.Params


def l2_init(strength: float | jax.Array) -> optax.GradientTransformation:
  r"""Adds the gradient of an L2 penalty towards the initial params.

  The regulariser :math:`\frac{\lambda}{2}\lVert\theta - \theta_0\rVert^2`
  of Kumar et al. (L2-init), whose gradient is added to the incoming one:

  .. math:: g_t \leftarrow g_t + \lambda\,(\theta_t - \theta_0)

  Put it before the optimizer: ``optax.chain(l2_init(1e-2), optax.adam(lr))``.
  Unlike TRAC, the strength :math:`\lambda` is fixed; the paper found the best
  value to differ from one environment to the next.

  Args:
    strength: :math:`\lambda \ge 0`.

  Returns:
    An ``optax.GradientTransformation`` whose ``update`` requires ``params``.

  References:
    Kumar, Marklund, Van Roy, `Maintaining Plasticity in Continual Learning
    via Regenerative Regularization <https://arxiv.org/abs/2308.11958>`_, 2023.

  Examples:
    >>> import jax.numpy as jnp, optax, trac_optax
    >>> tx = trac_optax.l2_init(0.5)
    >>> state = tx.init(jnp.zeros(2))
    >>> updates, _ = tx.update(jnp.zeros(2), state, jnp.array([2.0, -4.0]))
    >>> updates
    Array([ 1., -2.], dtype=float32)
  """
  _validation.check_non_negative("l2_init", "strength", strength)

  def init_fn(params: optax.Params) -> L2InitState:
    return L2InitState(
        initial_params=jax.tree.map(lambda p: jnp.array(p, copy=True), params))

  def update_fn(
      updates: optax.Updates,
      state: L2InitState,
      params: optax.Params | None = None,
  ) -> tuple[optax.Updates, L2InitState]:
    if params is None:
      raise ValueError(_validation.missing_params_message("l2_init"))
    updates = jax.tree.map(
        lambda g, p, p0: (g + strength * (p - p0)).astype(g.dtype),
        updates, params, state.initial_params)
    return updates, state

  # Optax types `update` as taking any OptState; this one takes its own state.
  return optax.GradientTransformation(
      init_fn, update_fn)  # pyright: ignore[reportArgumentType]


class ShrinkPerturbState(NamedTuple):
  """State of :func:`shrink_and_perturb`: step count and random key."""

  # Shadows tuple.count, as the step counters of Optax's own states do.
  count: jax.Array  # pyright: ignore[reportIncompatibleMethodOverride]
  key: jax.Array


def shrink_and_perturb(
    shrink: float | jax.Array,
    noise_scale: float | jax.Array,
    every: int,
    seed: int | jax.Array | None = None,
    *,
    key: jax.Array | None = None,
) -> optax.GradientTransformation:
  r"""Every ``every`` steps, shrinks the params and adds Gaussian noise.

  After the incoming update :math:`u_t` is applied, on steps
  :math:`t = k \cdot \text{every}` (:math:`k \ge 1`, counting from 1) the
  params become

  .. math:: \theta_{t+1} = \alpha\,(\theta_t + u_t) + \sigma\,\xi,
            \qquad \xi \sim \mathcal N(0, I)

  and on every other step :math:`\theta_{t+1} = \theta_t + u_t`. Put it after
  the optimizer: ``optax.chain(optax.adam(lr), shrink_and_perturb(...))``.
  With ``shrink=1`` and ``noise_scale=0`` it changes nothing. The noise is
  drawn only on the steps that apply it (a conditional, which stays one
  under ``jax.vmap`` while the seeds' step counts agree).

  Args:
    shrink: :math:`\alpha`, in ``[0, 1]``.
    noise_scale: :math:`\sigma \ge 0`, the standard deviation of the noise.
    every: apply every this many steps (a positive int below ``2**31``).
    seed: seed of the noise's random key (default 0).
    key: the noise's random key itself, instead of ``seed``: a key from
      ``jax.random.key`` or ``jax.random.PRNGKey``. It may be traced, so
      seeds vmapped together can each draw their own noise:
      ``jax.vmap(lambda k: shrink_and_perturb(..., key=k).init(p))(keys)``.

  Returns:
    An ``optax.GradientTransformation`` whose ``update`` requires ``params``.

  References:
    Ash, Adams, `On Warm-Starting Neural Network Training
    <https://arxiv.org/abs/1910.08475>`_, NeurIPS 2020.
  """
  _validation.check_non_negative("shrink_and_perturb", "noise_scale",
                                 noise_scale)
  _validation.check_unit_interval("shrink_and_perturb", "shrink", shrink)
  if (not isinstance(every, numbers.Integral) or isinstance(every, bool)
      or not 1 <= every <= np.iinfo(np.int32).max):
    raise ValueError(
        "shrink_and_perturb expects `every` to be a positive int below 2**31 "
        f"(steps between applications, counted in int32); got {every!r}.")
  every = int(every)
  if key is not None and seed is not None:
    raise ValueError("shrink_and_perturb takes `seed` or `key`, not both.")
  if key is not None:
    _validation.check_random_key("shrink_and_perturb", key)

  def init_fn(params: optax.Params) -> ShrinkPerturbState:
    del params
    return ShrinkPerturbState(
        count=jnp.zeros((), jnp.int32),
        key=jax.random.PRNGKey(0 if seed is None else seed)
        if key is None else key)

  def update_fn(
      updates: optax.Updates,
      state: ShrinkPerturbState,
      params: optax.Params | None = None,
  ) -> tuple[optax.Updates, ShrinkPerturbState]:
    if params is None:
      raise ValueError(_validation.missing_params_message("shrink_and_perturb"))
    count = jnp.asarray(optax.safe_increment(state.count))
    apply = (count % every) == 0
    key, noise_key = jax.random.split(state.key)

    def perturbed(updates: optax.Updates, inputs: Any) -> optax.Updates:
      params, noise_key = inputs
      leaves, treedef = jax.tree.flatten(params)
      keys = jax.tree.unflatten(
          treedef, list(jax.random.split(noise_key, len(leaves))))

      def leaf(u: jax.Array, p: jax.Array, k: jax.Array) -> jax.Array:
        moved = p + u
        noise = jax.random.normal(k, jnp.shape(p), jnp.result_type(moved))
        return (shrink * moved + noise_scale * noise - p).astype(u.dtype)

      return jax.tree.map(leaf, updates, params, keys)

    # The noise is drawn only on the steps that use it: a select between the
    # perturbed and the plain update drew it for every param at every step
    # (with every=1000, an Adam step then cost 11x as much). Under vmap the
    # conditional stays one while all seeds agree, as their counts do.
    updates = _conditional.step_or_keep(apply, perturbed, updates,
                                        (params, noise_key))
    return updates, ShrinkPerturbState(count=count, key=key)

  # Optax types `update` as taking any OptState; this one takes its own state.
  return optax.GradientTransformation(
      init_fn, update_fn)  # pyright: ignore[reportArgumentType]
