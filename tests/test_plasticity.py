"""The plasticity baselines against their formulas, written here in NumPy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import trac_optax


def _sgd_loop(tx, params, grads_fn, steps):
  state = tx.init(params)
  history = [np.asarray(params)]
  for t in range(steps):
    updates, state = tx.update(grads_fn(params, t), state, params)
    params = optax.apply_updates(params, updates)
    history.append(np.asarray(params))
  return np.array(history), state


def test_l2_init_matches_formula_with_sgd():
  lam, lr = 0.3, 0.1
  theta0 = np.array([1.0, -2.0, 0.5])
  target = np.array([3.0, 1.0, -1.0])
  grads_fn = lambda p, t: p - jnp.asarray(target, jnp.float32)
  tx = optax.chain(trac_optax.l2_init(lam), optax.sgd(lr))
  got, _ = _sgd_loop(tx, jnp.asarray(theta0, jnp.float32), grads_fn, 150)
  want = [theta0]
  theta = theta0.copy()
  for _ in range(150):
    theta = theta - lr * ((theta - target) + lam * (theta - theta0))
    want.append(theta.copy())
  np.testing.assert_allclose(got, np.array(want), rtol=1e-5, atol=1e-6)
  # The fixed point is pulled between the target and the initial params.
  fixed = (target + lam * theta0) / (1 + lam)
  np.testing.assert_allclose(got[-1], fixed, atol=1e-3)


def test_l2_init_zero_strength_is_identity():
  tx = trac_optax.l2_init(0.0)
  params = {"a": jnp.ones(2)}
  state = tx.init(params)
  grads = {"a": jnp.array([0.5, -1.0])}
  updates, _ = tx.update(grads, state, {"a": jnp.array([4.0, 5.0])})
  np.testing.assert_array_equal(updates["a"], grads["a"])


def test_shrink_and_perturb_matches_formula():
  alpha, sigma, every, lr = 0.8, 0.01, 3, 0.1
  theta0 = np.array([1.0, -2.0, 0.5, 4.0])
  grads_fn = lambda p, t: jnp.ones_like(p)
  tx = optax.chain(optax.sgd(lr),
                   trac_optax.shrink_and_perturb(alpha, sigma, every, seed=7))
  got, state = _sgd_loop(tx, jnp.asarray(theta0, jnp.float32), grads_fn, 9)
  assert int(state[1].count) == 9
  for t in range(9):
    moved = got[t] - lr
    if (t + 1) % every == 0:
      # theta_{t+1} = alpha * (theta_t + u_t) + sigma * noise: recover the
      # noise, which must look standard normal-ish and differ per step.
      noise = (got[t + 1] - alpha * moved) / sigma
      assert np.all(np.abs(noise) < 6) and np.std(noise) > 0.1
    else:
      np.testing.assert_allclose(got[t + 1], moved, rtol=1e-6)


def _unconditional_primitives(jaxpr):
  """Names of the primitives that ``jaxpr`` runs whatever its conditionals
  decide: its equations and those of nested calls (``jit``), but not those
  inside a conditional (``cond``, or the custom rules that hold one)."""
  names = set()
  for eqn in jaxpr.eqns:
    names.add(eqn.primitive.name)
    if eqn.primitive.name in ("cond", "custom_jvp_call", "custom_vmap_call"):
      continue
    for value in eqn.params.values():
      inner = getattr(value, "jaxpr", value)
      if hasattr(inner, "eqns"):
        names |= _unconditional_primitives(inner)
  return names


@pytest.mark.parametrize("vmapped", [False, True], ids=["one", "vmapped"])
def test_shrink_and_perturb_draws_noise_only_under_its_conditional(vmapped):
  """The noise is drawn inside the conditional on whether this step applies,
  not at every step and then discarded by a select (which made an Adam step
  with ``every=1000`` cost 11x as much). Jitted, the same run as eager."""
  tx = trac_optax.shrink_and_perturb(0.8, 0.1, every=3, seed=1)
  params = {"w": jnp.ones((4, 3)), "b": jnp.zeros(3)}
  state = tx.init(params)
  update = lambda u, s, p: tx.update(u, s, p)
  if vmapped:
    params, state = jax.tree.map(lambda x: jnp.stack([x, x]), (params, state))
    update = jax.vmap(update)
  top = _unconditional_primitives(
      jax.make_jaxpr(update)(params, state, params).jaxpr)
  assert "random_split" in top  # the walk reaches the key's split
  assert "random_bits" not in top, top

  def run(step):
    p, s, out = params, state, []
    for _ in range(7):
      u, s = step(jax.tree.map(jnp.ones_like, p), s, p)
      p = optax.apply_updates(p, u)
      out.append(p)
    return out
  jitted, eager = run(jax.jit(update)), run(update)
  for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_shrink_and_perturb_noise_statistics_and_identity():
  n = 20_000
  tx = trac_optax.shrink_and_perturb(0.5, 2.0, every=1, seed=3)
  params = jnp.full((n,), 4.0)
  updates, _ = tx.update(jnp.zeros(n), tx.init(params), params)
  new = np.asarray(optax.apply_updates(params, updates))
  noise = (new - 2.0) / 2.0
  assert abs(noise.mean()) < 0.05 and abs(noise.std() - 1) < 0.05
  # shrink=1, noise=0 is the identity.
  tx = trac_optax.shrink_and_perturb(1.0, 0.0, every=1)
  u, _ = tx.update(jnp.ones(3), tx.init(jnp.ones(3)), jnp.ones(3))
  np.testing.assert_array_equal(u, jnp.ones(3))


@pytest.mark.parametrize("make, match", [
    (lambda: trac_optax.l2_init(-1.0), "strength >= 0"),
    (lambda: trac_optax.shrink_and_perturb(1.5, 0.1, 10), r"shrink in \[0, 1\]"),
    (lambda: trac_optax.shrink_and_perturb(0.5, -0.1, 10), "noise_scale >= 0"),
    (lambda: trac_optax.shrink_and_perturb(0.5, 0.1, 0), "positive int"),
    (lambda: trac_optax.shrink_and_perturb(0.5, 0.1, 2**31), "below 2\\*\\*31"),
    (lambda: trac_optax.shrink_and_perturb(0.5, 0.1, 2.0), "positive int"),
    (lambda: trac_optax.shrink_and_perturb(
        0.5, 0.1, 1, 3, key=jax.random.key(0)), "not both"),
    (lambda: trac_optax.shrink_and_perturb(
        0.5, 0.1, 1, key=jnp.zeros(3, jnp.uint32)), "one random key"),
    (lambda: trac_optax.shrink_and_perturb(
        0.5, 0.1, 1, key=jax.random.split(jax.random.key(0))), "one random key"),
])
def test_bad_arguments(make, match):
  with pytest.raises(ValueError, match=match):
    make()


def test_missing_params():
  for tx in [trac_optax.l2_init(0.1), trac_optax.shrink_and_perturb(0.5, 0.1, 2)]:
    with pytest.raises(ValueError, match="not passing `params`"):
      tx.update(jnp.ones(2), tx.init(jnp.ones(2)))


def test_baselines_jit_and_keep_dtypes():
  params = {"h": jnp.ones(3, jnp.bfloat16), "f": jnp.ones(2)}
  tx = optax.chain(trac_optax.l2_init(0.1), optax.adam(1e-2),
                   trac_optax.shrink_and_perturb(0.9, 0.01, every=2))
  state = tx.init(params)
  step = jax.jit(tx.update)
  for _ in range(3):
    updates, state = step(jax.tree.map(jnp.ones_like, params), state, params)
    params = optax.apply_updates(params, updates)
  assert updates["h"].dtype == jnp.bfloat16 and params["h"].dtype == jnp.bfloat16
  assert step._cache_size() == 1


@pytest.mark.parametrize("make_key", [jax.random.key, jax.random.PRNGKey])
def test_shrink_and_perturb_draws_independent_noise_per_vmapped_seed(make_key):
  """A traced key per seed: each seed's noise is its own, and equals the
  noise of an unbatched run with that key."""
  num_seeds, params = 4, jnp.zeros(5)
  keys = jax.vmap(make_key)(jnp.arange(num_seeds))
  make = lambda k: trac_optax.shrink_and_perturb(0.5, 1.0, 1, key=k)
  states = jax.vmap(lambda k: make(k).init(params))(keys)
  batch = jnp.zeros((num_seeds, 5))
  updates, _ = jax.vmap(make(keys[0]).update)(batch, states, batch)
  updates = np.asarray(updates)
  for i in range(num_seeds):
    tx = make(make_key(i))
    want, _ = tx.update(jnp.zeros(5), tx.init(params), params)
    np.testing.assert_array_equal(updates[i], np.asarray(want))
  assert len({tuple(u) for u in updates.tolist()}) == num_seeds
  # A seed, as before, still gives one key for all.
  same = jax.vmap(lambda _: trac_optax.shrink_and_perturb(0.5, 1.0, 1, 7).init(
      params).key)(jnp.arange(2))
  np.testing.assert_array_equal(same[0], same[1])
