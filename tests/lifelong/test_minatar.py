"""The Atari-like suite: channel padding, the full action set, game switching."""

from __future__ import annotations

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import run_lifelong
from trac_optax.lifelong._minatar import FULL_ACTIONS
from trac_optax.lifelong._minatar import MINATAR_GAMES
from trac_optax.lifelong._minatar import minatar_suite
from trac_optax.lifelong._minatar import pad_channels

# Two cheap games keep the compile short; the switch code is the same for five.
GAMES = ("Breakout-MinAtar", "SpaceInvaders-MinAtar")


def test_pad_channels_appends_zero_channels():
  rng = np.random.default_rng(0)
  obs = rng.random((3, 10, 10, 4)) > 0.5
  padded = np.asarray(pad_channels(jnp.asarray(obs), 10))
  assert padded.shape == (3, 10, 10, 10) and padded.dtype == np.float32
  want = np.concatenate([obs.astype(np.float32), np.zeros((3, 10, 10, 6))],
                        axis=-1)
  np.testing.assert_array_equal(padded, want)
  with pytest.raises(ValueError, match="more than the 3 to pad to"):
    pad_channels(jnp.zeros((10, 10, 4)), 3)


def test_suite_shape_and_names():
  suite = minatar_suite()
  # Channels 4, 6, 4, 7, 10: padded to the largest.
  assert suite.obs_shape == (10, 10, 10)
  assert suite.num_actions == len(FULL_ACTIONS) == 6
  assert [int(suite.task_params(jax.random.key(0), jnp.int32(t)).game)
          for t in range(7)] == [0, 1, 2, 3, 4, 0, 1]
  with pytest.raises(ValueError, match="unknown MinAtar game 'Pong'"):
    minatar_suite(("Pong",))
  assert set(MINATAR_GAMES) == {"Breakout-MinAtar", "SpaceInvaders-MinAtar",
                                "Asterix-MinAtar", "Freeway-MinAtar",
                                "Seaquest-MinAtar"}


@pytest.fixture(scope="module")
def rollouts():
  """Every full action in each game, next to the game's own minimal-set env."""
  suite = minatar_suite(GAMES)
  keys = jax.random.split(jax.random.key(7), 12)

  def play(game_index, actions):
    params = suite.task_params(jax.random.key(0), game_index)
    obs, state = suite.env.reset(keys[0], params)

    def step(state, inputs):
      key, action = inputs
      obs, state, reward, *_ = suite.env.step(key, state, action, params)
      return state, (obs, reward)

    return obs, jax.lax.scan(step, state, (keys[1:], actions))[1]

  return jax.jit(play)


@pytest.mark.parametrize("game_index,name", list(enumerate(GAMES)))
def test_full_actions_act_like_the_games_own_actions(rollouts, game_index,
                                                      name):
  """Full action a = the minimal-set action a; unused actions = no-op."""
  env, params = gymnax.make(name)  # gymnax default: minimal action set
  params = params.replace(max_steps_in_episode=1000)
  minimal = [FULL_ACTIONS[int(a)] for a in env.minimal_action_set]
  full = np.array([0, 1, 2, 3, 4, 5, 5, 3, 1, 2, 4], np.int32)
  mapped = np.array([minimal.index(FULL_ACTIONS[a])
                     if FULL_ACTIONS[a] in minimal else minimal.index("no-op")
                     for a in full], np.int32)
  keys = jax.random.split(jax.random.key(7), 12)
  # The suite resets every game with its own split of the reset key.
  game_key = jax.random.split(keys[0], len(GAMES))[game_index]
  want_obs0, state = env.reset(game_key, params)
  want = []
  for key, action in zip(keys[1:], mapped):
    obs, state, reward, *_ = env.step(key, state, int(action), params)
    want.append((np.asarray(obs), float(reward)))

  obs0, (obs, rewards) = rollouts(jnp.int32(game_index), jnp.asarray(full))
  channels = want_obs0.shape[-1]
  np.testing.assert_array_equal(obs0[..., :channels], want_obs0)
  np.testing.assert_array_equal(obs0[..., channels:], 0.0)
  for t, (want_obs, want_reward) in enumerate(want):
    np.testing.assert_array_equal(obs[t, ..., :channels], want_obs)
    np.testing.assert_array_equal(obs[t, ..., channels:], 0.0)
    assert float(rewards[t]) == want_reward


def test_smoke_run_switches_games_and_keeps_weights():
  config = LifelongConfig(env="MinAtar", num_seeds=2, num_tasks=3,
                          iterations_per_task=2, num_envs=4, num_steps=16,
                          max_steps_in_episode=1000, hidden=16, layers=1,
                          epochs=1, minibatch_size=32, learning_rate=1e-3,
                          reward_scale=1.0, protocol="fixed")
  run = run_lifelong(config, "trac", suite=minatar_suite(GAMES),
                     progress=False)
  assert run.returns.shape == (2, 6)
  # Breakout (4 channels), SpaceInvaders (6), then Breakout again: channels
  # 4 and 5 (SpaceInvaders' bullets) are used in the second task only.
  extra = run.obs_mean[..., 4:].sum(axis=(2, 3, 4))
  assert np.all(extra[:, [0, 1, 4, 5]] == 0.0)
  assert np.all(extra[:, [2, 3]] > 0.0)
  finite = run.returns[np.isfinite(run.returns)]
  assert finite.size > 0 and np.all(finite >= 0.0)
  assert np.all(np.isfinite(run.scale)) and np.all(run.scale[:, -1] > 0.0)
