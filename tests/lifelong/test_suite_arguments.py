"""Suite builders, plasticity scores, suites beside configs: bad arguments refused."""

from __future__ import annotations

import importlib.util

import jax
import numpy as np
import pytest

from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import control_suite
from trac_optax.lifelong import craftax_suite
from trac_optax.lifelong import gymnasium_suite
from trac_optax.lifelong import make_suite
from trac_optax.lifelong import minatar_suite
from trac_optax.lifelong import own_reset_scores
from trac_optax.lifelong import plasticity_scores
from trac_optax.lifelong import run_lifelong
from trac_optax.lifelong._suites import check_suite_named


def _needs(module: str) -> pytest.MarkDecorator:
  """Skips a case whose extra (gymnasium, craftax) is not installed."""
  return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                            reason=f"needs {module}")


@pytest.mark.parametrize("build,message", [
    (lambda: control_suite("CartPole-v1", max_steps_in_episode=0),
     "max_steps_in_episode must be a positive integer, got 0"),
    (lambda: control_suite("Acrobot-v1", offset_std=-1.0),
     "offset_std must be a finite number >= 0, got -1.0"),
    (lambda: control_suite("CartPole-v1", offset_std=float("nan")),
     "offset_std must be a finite number >= 0, got nan"),
    (lambda: craftax_suite(max_steps_in_episode=10.5),
     "max_steps_in_episode must be a positive integer, got 10.5"),
    (lambda: minatar_suite("Breakout-MinAtar"),
     "games must be a sequence of game names, e.g. ('Breakout-MinAtar',)"),
    (lambda: minatar_suite(max_steps_in_episode=-1),
     "max_steps_in_episode must be a positive integer, got -1"),
    (lambda: gymnasium_suite("CartPole-v1", max_steps_in_episode=0),
     "max_steps_in_episode must be a positive integer, got 0"),
    pytest.param(  # the cap is checked first; this one needs the env
        lambda: gymnasium_suite("CartPole-v1", offset_std=float("inf")),
        "offset_std must be a finite number >= 0, got inf",
        marks=_needs("gymnasium")),
], ids=["control-cap", "control-offset", "control-offset-nan", "craftax-cap",
        "minatar-string", "minatar-cap", "gymnasium-cap", "gymnasium-offset"])
def test_suites_refuse_bad_arguments(build, message):
  with pytest.raises(ValueError) as error:
    build()
  assert message in str(error.value)


RETURNS = {"adam": np.array([[100.0, 10.0, 30.0], [100.0, 20.0, 40.0]]),
           "reset": np.array([[100.0, 40.0, 60.0], [100.0, 60.0, 40.0]])}


@pytest.mark.parametrize("score", [plasticity_scores, own_reset_scores])
@pytest.mark.parametrize("returns,options,message", [
    ({"adam": RETURNS["adam"], "reset": RETURNS["reset"][:, :2]}, {},
     "same number of tasks; got shapes {'adam': (2, 3), 'reset': (2, 2)}"),
    ({}, {}, "at least one optimizer"),
    (RETURNS, {"floor": float("nan")}, "floor must be a finite return, got nan"),
    (RETURNS, {"n_resamples": 0}, "n_resamples must be a positive int"),
    (RETURNS, {"confidence": 0.0}, "confidence must be in (0, 1)"),
])
def test_plasticity_scores_refuse_bad_arguments(score, returns, options,
                                                message):
  with pytest.raises(ValueError) as error:
    score(returns, **options)
  assert message in str(error.value)


def test_scores_still_take_other_numbers_of_seeds():
  returns = {"adam": RETURNS["adam"], "reset": RETURNS["reset"][:1]}
  # Later-task means: adam 20 and 30; reset 50 (one seed).
  assert plasticity_scores(returns)["adam"].mean == pytest.approx(0.5)


@pytest.mark.parametrize("env", [
    "CartPole-v1", "Acrobot-v1", "MinAtar",
    pytest.param("Craftax-Classic", marks=_needs("craftax")),
    pytest.param("gym:CartPole-v1", marks=_needs("gymnasium")),
])
def test_each_suite_is_named_by_its_own_env(env):
  check_suite_named(env, make_suite(LifelongConfig(env=env)))


def test_a_suite_beside_a_config_naming_another_is_refused(monkeypatch):
  def forbidden(*args, **kwargs):
    raise AssertionError("the run got as far as compiling")

  monkeypatch.setattr(jax, "jit", forbidden)
  # The default config names CartPole-v1: the results would be labelled so,
  # with CartPole's floor of 0 instead of Acrobot's -400.
  with pytest.raises(ValueError, match=r"got the suite 'Acrobot-v1', but "
                     r"config.env is 'CartPole-v1', another environment"):
    run_lifelong(LifelongConfig(num_seeds=1), "adam",
                 suite=control_suite("Acrobot-v1"), progress=False)


def test_a_label_of_ones_own_names_any_suite():
  suite = control_suite("Acrobot-v1")
  check_suite_named("acrobot, my own", suite)
  with pytest.raises(ValueError, match="another environment"):
    check_suite_named("MinAtar", suite)
