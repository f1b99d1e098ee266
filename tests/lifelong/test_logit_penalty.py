"""The logit penalty: its loss term, its gradient at a saturated policy, its options."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from trac_optax.lifelong import PPO
from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import _cli
from trac_optax.lifelong import _run
from trac_optax.lifelong._suites import make_suite

SMALL = LifelongConfig(num_seeds=1, num_tasks=1, iterations_per_task=1,
                       num_steps=16, max_steps_in_episode=16, hidden=8,
                       layers=1, minibatch_size=8, protocol="fixed")


def _ppo_and_batch(config, rows=16):
  ppo = PPO(config, make_suite(config), optax.adam(1e-3))
  params = ppo._init_one(jax.random.key(0)).params
  keys = jax.random.split(jax.random.key(1), 4)
  batch = (3.0 * jax.random.normal(keys[0], (rows, 4)),
           jax.random.bernoulli(keys[1], shape=(rows,)).astype(jnp.int32),
           jnp.full((rows,), np.log(0.5), jnp.float32),
           jax.random.normal(keys[2], (rows,)),
           jax.random.normal(keys[3], (rows,)))
  return ppo, params, batch


@pytest.mark.parametrize("penalty", [1e-3, 0.5])
@pytest.mark.parametrize("masked", [False, True])
def test_the_penalty_adds_its_weight_times_the_mean_squared_logits(penalty,
                                                                   masked):
  ppo, params, batch = _ppo_and_batch(SMALL)
  penalised = PPO(dataclasses.replace(SMALL, logit_penalty=penalty),
                  make_suite(SMALL), optax.adam(1e-3))
  valid = jnp.arange(16) % 3 != 0 if masked else None
  plain, _ = ppo._loss(params, batch, valid)
  with_penalty, _ = penalised._loss(params, batch, valid)
  # Reference in float64: sum over actions, mean over the (valid) rows.
  logits = np.asarray(ppo.actor.apply(params["actor"], batch[0]), np.float64)
  rows = np.ones(16, bool) if valid is None else np.asarray(valid)
  expected = penalty * np.mean(np.sum(logits**2, axis=-1)[rows])
  np.testing.assert_allclose(float(with_penalty) - float(plain), expected,
                             rtol=1e-4, atol=1e-6)


def test_a_saturated_policy_still_gets_a_gradient():
  # Blow up the policy's last layer: every action probability is 0 or 1,
  # so the PPO and entropy gradients vanish, but the penalty's does not.
  ppo, params, batch = _ppo_and_batch(SMALL)
  penalised = PPO(dataclasses.replace(SMALL, logit_penalty=1e-3),
                  make_suite(SMALL), optax.adam(1e-3))
  last = sorted(params["actor"]["params"])[-1]
  params["actor"]["params"][last] = jax.tree.map(
      lambda x: 1e4 * x, params["actor"]["params"][last])
  logits = ppo.actor.apply(params["actor"], batch[0])
  assert float(jnp.min(jnp.abs(logits[:, 0] - logits[:, 1]))) > 40

  def actor_grad_norm(learner):
    grads = jax.grad(lambda p: learner._loss(p, batch)[0])(params)
    return float(optax.tree.norm(grads["actor"]))

  without, with_penalty = actor_grad_norm(ppo), actor_grad_norm(penalised)
  assert without < 1e-12
  assert with_penalty > 1e-3
  # And it points towards smaller logits: a small step against it shrinks
  # the logit gap, which the policy's probabilities follow.
  grads = jax.grad(lambda p: penalised._loss(p, batch)[0])(params)
  stepped = jax.tree.map(lambda p, g: p - 1e-2 * g / with_penalty, params,
                         grads)
  new_logits = ppo.actor.apply(stepped["actor"], batch[0])
  gap = lambda z: jnp.abs(z[:, 0] - z[:, 1])
  assert float(jnp.mean(gap(new_logits))) < float(jnp.mean(gap(logits)))


def test_off_by_default_and_the_loss_is_unchanged():
  assert LifelongConfig().logit_penalty == 0.0
  ppo, params, batch = _ppo_and_batch(SMALL)
  jaxpr = lambda cfg: str(jax.make_jaxpr(
      lambda p: PPO(cfg, make_suite(cfg), optax.adam(1e-3))._loss(p, batch))(
          params))
  assert jaxpr(SMALL) == jaxpr(dataclasses.replace(SMALL, logit_penalty=0))
  assert jaxpr(SMALL) != jaxpr(dataclasses.replace(SMALL, logit_penalty=1))


@pytest.mark.parametrize("value", [-1e-3, float("nan"), float("inf"), "0.1"])
def test_a_bad_penalty_is_refused_at_construction(value):
  with pytest.raises(ValueError, match="logit_penalty must be a finite"):
    LifelongConfig(logit_penalty=value)


def test_the_command_line_passes_the_penalty(monkeypatch, tmp_path):
  calls = []

  def record(config, optimizer, *, name=None, **kwargs):
    calls.append(config)
    raise SystemExit(0)

  monkeypatch.setattr(_run, "run_lifelong", record)
  with pytest.raises(SystemExit):
    _cli.main(["--optimizers", "trac", "--logit-penalty", "0.01", "--quiet",
               "--out", str(tmp_path)])
  assert calls[0].logit_penalty == 0.01


def test_the_command_line_refuses_a_negative_penalty(tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    _cli.main(["--logit-penalty", "-1", "--out", str(tmp_path)])
  assert exit_info.value.code == 2
  assert "must be non-negative and finite, got -1.0" in capsys.readouterr().err
