"""Bad input fails early with an error that names the problem and the fix."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import trac_optax

PARAMS = {"w": jnp.ones((3,)), "b": jnp.zeros(())}
GRADS = {"w": jnp.full((3,), 0.5), "b": jnp.ones(())}


@pytest.mark.parametrize(
    "base, match",
    [
        (optax.adam, r"`adam` is a function.*trac\(optax\.adam\(learning_rate"),
        (optax.sgd, r"`sgd` is a function.*call it first"),
        ("adam", r"GradientTransformation.*got str"),
        (None, r"GradientTransformation.*got NoneType"),
        ((optax.adam(1e-3),), r"GradientTransformation.*got tuple"),
    ],
    ids=["adam-uncalled", "sgd-uncalled", "string", "none", "tuple"])
def test_base_that_is_not_a_transform(base, match):
  with pytest.raises(TypeError, match=match):
    trac_optax.trac(base)


@pytest.mark.parametrize(
    "betas, error, match",
    [
        ((), ValueError, r"non-empty 1-D.*got shape \(0,\)"),
        (0.9, ValueError, r"non-empty 1-D.*got shape \(\)"),
        ([[0.9, 0.99]], ValueError, r"non-empty 1-D.*got shape \(1, 2\)"),
        ((0.9, 1.5), ValueError, r"every beta in \(0, 1\].*\[1\.5\]"),
        ((0.0, 0.9), ValueError, r"every beta in \(0, 1\].*\[0\.0\]"),
        ((-0.5,), ValueError, r"every beta in \(0, 1\].*\[-0\.5\]"),
        ((0.9, float("nan")), ValueError, r"every beta in \(0, 1\]"),
        (("0.9", "0.99"), TypeError, r"real numbers as betas"),
    ],
    ids=["empty", "scalar", "2-D", "above-one", "zero", "negative", "nan",
         "strings"])
def test_bad_betas(betas, error, match):
  with pytest.raises(error, match=match):
    trac_optax.trac(optax.sgd(0.1), betas=betas)


def test_beta_of_one_is_allowed():
  tx = trac_optax.trac(optax.sgd(0.1), betas=(1.0,))
  assert tx.init(PARAMS).v.shape == (1,)


@pytest.mark.parametrize("name", ["s_init", "eps"])
@pytest.mark.parametrize("value", [0.0, -1e-8, float("nan"), float("inf")])
def test_non_positive_s_init_and_eps(name, value):
  with pytest.raises(ValueError, match=rf"{name} > 0 and finite.*{name}="):
    trac_optax.trac(optax.sgd(0.1), **{name: value})


@pytest.mark.parametrize("name", ["s_init", "eps"])
def test_non_scalar_s_init_and_eps(name):
  with pytest.raises(ValueError, match=rf"{name} to be a scalar.*\(2,\)"):
    trac_optax.trac(optax.sgd(0.1), **{name: np.array([1e-8, 1e-8])})


def test_missing_params():
  tx = trac_optax.trac(optax.adam(1e-3))
  state = tx.init(PARAMS)
  with pytest.raises(ValueError, match=r"call `update\(grads, state, params\)`"):
    tx.update(GRADS, state)
  # Through a chain, which passes params=None on.
  chained = optax.chain(optax.clip_by_global_norm(1.0), tx)
  with pytest.raises(ValueError, match=r"needs the current parameters"):
    chained.update(GRADS, chained.init(PARAMS))


@pytest.mark.parametrize(
    "grads, match",
    [
        ({"w": jnp.ones((3,))}, r"tree structure differs from the params"),
        ({"w": jnp.ones((3,)), "b": jnp.ones(()), "c": jnp.ones(())},
         r"tree structure differs"),
        ([jnp.ones((3,)), jnp.ones(())], r"tree structure differs"),
        ({"w": jnp.ones((4,)), "b": jnp.ones(())},
         r"shape \(4,\) for the param at \['w'\] of shape \(3,\)"),
    ],
    ids=["missing-leaf", "extra-leaf", "list-not-dict", "wrong-shape"])
def test_grads_that_do_not_match_params(grads, match):
  tx = trac_optax.trac(optax.adam(1e-3))
  state = tx.init(PARAMS)
  with pytest.raises(ValueError, match=match):
    tx.update(grads, state, PARAMS)
  with pytest.raises(ValueError, match=match):  # and under jit
    jax.jit(tx.update)(grads, state, PARAMS)


def test_integer_params_are_refused_with_the_fix():
  tx = trac_optax.trac(optax.sgd(0.1))
  with pytest.raises(TypeError, match=r"\['step'\] has dtype int32.*optax\.masked"):
    tx.init({"w": jnp.ones(2), "step": jnp.zeros((), jnp.int32)})


def test_validation_accepts_traced_hyperparameters():
  """Under inject_hyperparams (and jit) the values arrive as tracers."""
  factory = optax.inject_hyperparams(trac_optax.trac)

  @jax.jit
  def init_and_step(s_init, eps, betas):
    tx = factory(optax.sgd(0.1), betas=betas, s_init=s_init, eps=eps)
    state = tx.init(PARAMS)
    for _ in range(3):
      _, state = tx.update(GRADS, state, PARAMS)
    return trac_optax.scale(state)

  got = init_and_step(1e-4, 1e-8, jnp.array([0.9, 0.99]))
  want_tx = trac_optax.trac(optax.sgd(0.1), betas=(0.9, 0.99), s_init=1e-4)
  state = want_tx.init(PARAMS)
  for _ in range(3):
    _, state = want_tx.update(GRADS, state, PARAMS)
  np.testing.assert_allclose(float(got), float(trac_optax.scale(state)),
                             rtol=1e-6)
  assert float(got) > 0

  # A schedule for s_init: a traced value at every step.
  tx = factory(optax.sgd(0.1), s_init=lambda count: 1e-4 * (count + 1))
  state = tx.init(PARAMS)
  _, state = jax.jit(tx.update)(GRADS, state, PARAMS)
  assert np.isfinite(float(trac_optax.scale(state)))


def test_injected_concrete_bad_value_is_still_caught():
  with pytest.raises(ValueError, match=r"s_init > 0"):
    optax.inject_hyperparams(trac_optax.trac)(
        optax.sgd(0.1), s_init=-1.0).init(PARAMS)
