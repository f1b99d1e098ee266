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


@pytest.mark.parametrize("name", ["s_init", "eps"])
@pytest.mark.parametrize("value", [None, "1e-8", 1e-8 + 1e-9j, True,
                                   np.array(1e-8 + 0j)],
                         ids=["none", "string", "complex", "bool",
                              "complex-array"])
def test_s_init_and_eps_of_the_wrong_type(name, value):
  with pytest.raises(TypeError, match=rf"{name} to be a real number"):
    trac_optax.trac(optax.sgd(0.1), **{name: value})


@pytest.mark.parametrize("kwargs, match", [
    ({"eps": 1e-38}, r"float32.*eps=1e-38 is below the smallest normal"),
    ({"s_init": 1e-40}, r"float32.*s_init=1e-40 is below the smallest normal"),
    ({"s_init": 3.3e38}, r"float32.*s_init=3.3e\+38 overflows"),
], ids=["eps-subnormal", "s_init-subnormal", "s_init-overflows"])
def test_values_checked_in_the_tuner_dtype_at_init(kwargs, match):
  tx = trac_optax.trac(optax.sgd(0.1), **kwargs)  # fine in float64
  with pytest.raises(ValueError, match=match):
    tx.init(PARAMS)
  with jax.enable_x64(True):  # and fine for a float64 tuner
    state = tx.init({"w": jnp.ones(3, jnp.float64)})
    assert state.v.dtype == jnp.float64


def test_largest_allowed_s_init_runs_finite():
  tx = trac_optax.trac(optax.sgd(0.1), s_init=3e38)
  params = PARAMS
  state = tx.init(params)
  for g in (1.0, 1.0, -1.0, 1.0):
    grads = jax.tree.map(lambda p, g=g: jnp.full_like(p, g), params)
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    assert all(np.all(np.isfinite(np.asarray(p)))
               for p in jax.tree.leaves(params))


@pytest.mark.parametrize("make_state, match", [
    (lambda: trac_optax.trac(optax.adam(1e-3), betas=(0.9,)).init(PARAMS),
     r"v has shape \(1,\), but this trac has 6 betas"),
    (lambda: optax.adam(1e-3).init(PARAMS),
     r"state of type tuple, not a TracState"),
    (lambda: trac_optax.trac(optax.adam(1e-3)).init(
        {"w": jnp.ones((4,)), "b": jnp.zeros(())}),
     r"reference at \[.w.\] has shape \(4,\), but that param has shape \(3,\)"),
    (lambda: trac_optax.trac(optax.adam(1e-3)).init(
        {"w": jnp.ones((1,)), "b": jnp.zeros(())}),
     r"reference at \[.w.\] has shape \(1,\).*params of other shapes"),
    (lambda: trac_optax.trac(optax.adam(1e-3)).init({"w": jnp.ones((3,))}),
     r"reference has tree structure"),
], ids=["other-betas", "adam-state", "other-shapes", "broadcastable-shapes",
        "other-tree"])
def test_state_that_does_not_fit_the_params(make_state, match):
  tx = trac_optax.trac(optax.adam(1e-3))
  state = make_state()
  with pytest.raises(ValueError, match=match):
    tx.update(GRADS, state, PARAMS)
  with pytest.raises(ValueError, match=match):
    jax.jit(tx.update)(GRADS, state, PARAMS)


def test_python_float_leaves_work_like_adam():
  params = {"a": 1.0, "b": 2.0}
  for tx in (trac_optax.trac(optax.adam(0.1), s_init=1e-2), optax.adam(0.1)):
    p, state = params, tx.init(params)
    for _ in range(3):
      updates, state = tx.update({"a": 1.0, "b": -1.0}, state, p)
      p = optax.apply_updates(p, updates)
    assert all(jnp.asarray(x).dtype == jnp.float32 for x in jax.tree.leaves(p))
  assert float(p["a"]) < 1.0


def test_numpy_float64_params_without_x64_give_no_warning(recwarn):
  params = {"w": np.ones(3), "b": np.zeros(2)}
  tx = trac_optax.trac(optax.adam(1e-3))
  state = tx.init(params)
  updates, state = tx.update({"w": np.ones(3), "b": np.ones(2)}, state, params)
  optax.apply_updates(params, updates)
  assert [str(w.message) for w in recwarn] == []
  assert updates["w"].dtype == jnp.float32


def test_factory_hint_only_for_factories():
  def user_factory() -> optax.GradientTransformation:
    return optax.sgd(0.1)

  with pytest.raises(TypeError, match=r"`user_factory` returns a transform"):
    trac_optax.trac(user_factory)
  for not_a_factory in (optax.adam(1e-3).init, lambda x: x, print):
    with pytest.raises(TypeError) as error:
      trac_optax.trac(not_a_factory)
    assert "call it first" not in str(error.value)
    assert "returns a transform" not in str(error.value)


@pytest.mark.parametrize("base, match", [
    (lambda: optax.lbfgs(), r"ScaleByZoomLinesearchState.*line search"),
    (lambda: optax.chain(optax.sgd(0.1),
                         optax.scale_by_backtracking_linesearch(
                             max_backtracking_steps=5)),
     r"ScaleByBacktrackingLinesearchState"),
    (lambda: optax.contrib.schedule_free_adamw(1e-3),
     r"ScheduleFreeState.*schedule_free_eval_params"),
    (lambda: optax.MultiSteps(optax.adam(1e-3), every_k_schedule=4),
     r"MultiStepsState.*optax\.MultiSteps\(trac\(base\), every_k_schedule"),
    (lambda: optax.chain(optax.MultiSteps(optax.adam(1e-3), 2)
                         .gradient_transformation()), r"MultiStepsState"),
], ids=["lbfgs", "backtracking", "schedule-free", "multisteps",
        "multisteps-in-chain"])
def test_bases_that_assume_the_params_are_their_iterate(base, match):
  with pytest.raises(ValueError, match=rf"cannot wrap.*{match}"):
    trac_optax.trac(base()).init(PARAMS)
