"""Command-line options for the suites beyond control and the baselines."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import trac_optax
from trac_optax.lifelong import _cli
from trac_optax.lifelong import _run


@pytest.fixture
def captured(monkeypatch):
  """Records what the command line would train, without training."""
  calls = []

  def record(config, optimizer, *, name=None, **kwargs):
    calls.append((config, optimizer, name))
    raise SystemExit(0)

  monkeypatch.setattr(_run, "run_lifelong", record)
  return calls


@pytest.mark.parametrize("args,message", [
    (["--network", "cnn"], "--network cnn needs image observations"),
    (["--env", "Craftax-Classic", "--network", "cnn"], "needs image"),
    (["--shrink", "1.5"], "must be in [0, 1], got 1.5"),
    (["--l2init-strength", "-1"], "must be non-negative and finite, got -1.0"),
    (["--l2init-strength", "inf"], "must be non-negative and finite, got inf"),
    (["--perturb-scale", "nan"], "must be non-negative and finite, got nan"),
    # argparse takes it; shrink_and_perturb refuses it, before any training.
    (["--optimizers", "adam,shrink_perturb", "--perturb-every", str(2**40)],
     "`every` to be a positive int below 2**31"),
    (["--perturb-scale", "x"], "'x' is not a number"),
    (["--perturb-every", "0"], "must be a positive integer, got 0"),
    (["--optimizers", "adam,resets"], "unknown optimizer 'resets'"),
    (["--env", "MinAtar", "--num-steps", "8"], "minibatch_size (256) exceeds"),
])
def test_bad_options_exit_2(args, message, tmp_path, capsys, captured):
  with pytest.raises(SystemExit) as exit_info:
    _cli.main([*args, "--out", str(tmp_path)])
  assert exit_info.value.code == 2
  assert message in capsys.readouterr().err
  assert not captured


def test_suite_defaults_and_network_options(tmp_path, captured):
  with pytest.raises(SystemExit):
    _cli.main(["--env", "MinAtar", "--optimizers", "reset", "--layer-norm",
               "--network", "cnn", "--num-envs", "4", "--quiet",
               "--out", str(tmp_path)])
  (config, optimizer, name), = captured
  assert (config.env, config.network, config.layer_norm) == (
      "MinAtar", "cnn", True)
  # MinAtar's own defaults, except what the command line set.
  assert (config.learning_rate, config.reward_scale, config.num_steps,
          config.num_envs, config.max_steps_in_episode) == (
              1e-3, 1.0, 128, 4, 1000)
  # reset goes by name: the name is what asks run_lifelong for the resets.
  assert optimizer == "reset" and name == "reset"


def _one_update(tx, grads, params):
  state = tx.init(params)
  return tx.update(grads, state, params)[0]


@pytest.mark.parametrize("args,reference", [
    (["--l2init-strength", "0.3"],
     lambda lr: optax.chain(trac_optax.l2_init(0.3), optax.adam(lr))),
    (["--shrink", "0.5", "--perturb-scale", "0", "--perturb-every", "1"],
     lambda lr: optax.chain(optax.adam(lr),
                            trac_optax.shrink_and_perturb(0.5, 0.0, 1))),
])
def test_baseline_strengths_reach_the_optimizer(args, reference, tmp_path,
                                                captured):
  name = "l2init" if "--l2init-strength" in args else "shrink_perturb"
  with pytest.raises(SystemExit):
    _cli.main(["--optimizers", name, *args, "--learning-rate", "0.05",
               "--quiet", "--out", str(tmp_path)])
  (_, optimizer, got_name), = captured
  assert got_name == name
  # The same first update as the transform built by hand; params away from
  # their initial values are what l2init pulls back, and shrink halves.
  params = {"w": jnp.array([1.0, -2.0, 0.5])}
  moved = {"w": jnp.array([2.0, 0.0, 0.5])}
  grads = {"w": jnp.array([0.1, -0.2, 0.0])}
  tx_state = optimizer.init(params)
  ref = reference(0.05)
  ref_state = ref.init(params)
  got = optimizer.update(grads, tx_state, moved)[0]
  want = ref.update(grads, ref_state, moved)[0]
  np.testing.assert_allclose(got["w"], want["w"], rtol=1e-6)
  # And it differs from the defaults' update: the option took effect.
  default = _cli._cli_options.optimizer_for(
      name, 0.05, _cli.build_parser().parse_args([]))
  other = default.update(grads, default.init(params), moved)[0]
  assert not np.allclose(other["w"], got["w"])
