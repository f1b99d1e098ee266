"""The observation-shift wrapper and the control suite's task offsets."""

from __future__ import annotations

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.wrappers.purerl import LogWrapper

from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import ShiftObservations
from trac_optax.lifelong import ShiftParams
from trac_optax.lifelong import TaskSuite
from trac_optax.lifelong import control_suite
from trac_optax.lifelong import run_lifelong


def _rollout(env, params, key, actions):
  """Steps ``env`` with fixed keys and actions; returns every observation."""
  reset_key, step_key = jax.random.split(key)
  obs0, state = env.reset(reset_key, params)

  def step(state, inputs):
    k, a = inputs
    obs, state, _, terminated, truncated, info = env.step(k, state, a, params)
    return state, (obs, info["final_observation"],
                   jnp.logical_or(terminated, truncated))

  keys = jax.random.split(step_key, actions.shape[0])
  _, (obs, final, done) = jax.lax.scan(step, state, (keys, actions))
  return obs0, obs, final, done


@pytest.mark.parametrize("env_name", ["CartPole-v1", "Acrobot-v1"])
def test_offset_reaches_every_observation_including_after_auto_reset(env_name):
  inner, inner_params = gymnax.make(env_name)
  # A short cap forces automatic resets by truncation, not only by failure.
  inner_params = inner_params.replace(max_steps_in_episode=7)
  dim = inner.observation_space(inner_params).shape[0]
  offset = jnp.asarray(np.linspace(-3.0, 5.0, dim), jnp.float32)
  key = jax.random.key(3)
  actions = jax.random.randint(jax.random.key(4), (60,), 0,
                               inner.action_space(inner_params).n)

  ref_obs0, ref_obs, ref_final, ref_done = jax.jit(
      lambda k, a: _rollout(inner, inner_params, k, a))(key, actions)
  obs0, obs, final, done = jax.jit(lambda k, a: _rollout(
      ShiftObservations(inner), ShiftParams(inner_params, offset), k, a))(
          key, actions)

  assert int(ref_done.sum()) >= 5  # several automatic resets happened
  np.testing.assert_array_equal(done, ref_done)
  np.testing.assert_allclose(obs0, ref_obs0 + offset, rtol=0, atol=1e-6)
  np.testing.assert_allclose(obs, ref_obs + offset, rtol=0, atol=1e-6)
  np.testing.assert_allclose(final, ref_final + offset, rtol=0, atol=1e-6)
  # The first observation of each new episode is a fresh reset observation
  # (CartPole: uniform in [-0.05, 0.05]), shifted.
  if env_name == "CartPole-v1":
    after_reset = np.asarray(obs)[np.asarray(done)] - np.asarray(offset)
    assert np.all(np.abs(after_reset) <= 0.05 + 1e-6)


def test_default_params_have_zero_offset():
  inner, _ = gymnax.make("CartPole-v1")
  params = ShiftObservations(inner).default_params
  np.testing.assert_array_equal(params.offset, np.zeros(4))


@pytest.mark.parametrize("env_name,dim", [("CartPole-v1", 4), ("Acrobot-v1", 6)])
def test_control_suite_offsets(env_name, dim):
  suite = control_suite(env_name, offset_std=2.0)
  assert suite.obs_shape == (dim,)
  assert suite.task_params(jax.random.key(0), 0).env_params.max_steps_in_episode == 400
  offsets = np.stack([
      np.asarray(suite.task_params(jax.random.key(s), jnp.int32(t)).offset)
      for s in range(60) for t in range(4)]).reshape(60, 4, dim)
  np.testing.assert_array_equal(offsets[:, 0], 0.0)  # first task unshifted
  later = offsets[:, 1:].ravel()
  assert np.all(later != 0.0)
  # N(0, 2^2): 60 * 3 * dim draws; the sample std is within ~15% of 2.
  assert abs(later.std() - 2.0) < 0.3
  assert abs(later.mean()) < 0.4
  # Fixed per task: the same key and task give the same offset.
  again = suite.task_params(jax.random.key(5), jnp.int32(2)).offset
  np.testing.assert_array_equal(again, offsets[5, 2])
  assert not np.allclose(offsets[5, 1], offsets[5, 2])


def test_unknown_control_env():
  with pytest.raises(ValueError, match="CartPole-v1"):
    control_suite("Pong-v0")


def test_tasks_switch_at_the_right_iteration():
  """Task k shifts observations by 1000 k: the mean observation shows it."""
  inner, inner_params = gymnax.make("CartPole-v1")

  def task_params(task_key, task):
    del task_key
    return ShiftParams(inner_params, jnp.full((4,), 1000.0) * task)

  suite = TaskSuite(name="probe", env=LogWrapper(ShiftObservations(inner)),
                    task_params=task_params, obs_shape=(4,), num_actions=2)
  config = LifelongConfig(env="probe", num_seeds=2, num_tasks=3,
                          iterations_per_task=2, num_steps=8, hidden=8,
                          layers=1, epochs=1, minibatch_size=16,
                          protocol="fixed")
  run = run_lifelong(config, "adam", suite=suite, progress=False)
  assert run.obs_mean.shape == (2, 6, 4)
  expected = np.repeat(np.arange(3) * 1000.0, 2)  # per iteration
  # CartPole's own state stays within a few units of zero.
  np.testing.assert_allclose(
      run.obs_mean, np.broadcast_to(expected[None, :, None], (2, 6, 4)),
      rtol=0, atol=5.0)
