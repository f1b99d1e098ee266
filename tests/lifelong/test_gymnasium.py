"""The Gymnasium backend against plain Gymnasium envs stepped by hand."""

from __future__ import annotations

import dataclasses
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import _cli
from trac_optax.lifelong import run_lifelong
from trac_optax.lifelong._gymnasium import GymnasiumEnv
from trac_optax.lifelong._gymnasium import gymnasium_suite
from trac_optax.lifelong._suites import make_suite

gymnasium = pytest.importorskip("gymnasium")

CAP = 12  # short episodes: truncations and automatic resets within a test
SEEDS, ENVS, STEPS = 2, 3, 40


def _actions() -> np.ndarray:
  """A fixed action sequence ``[steps, seeds, envs]``."""
  return np.random.default_rng(0).integers(0, 2, (STEPS, SEEDS, ENVS))


def _run_backend(env: GymnasiumEnv, keys: jax.Array, actions: np.ndarray):
  """Jitted reset then a scan of steps, vmapped over seeds and envs."""

  def one_seed(seed_keys, seed_actions):
    obs, state = jax.vmap(env.reset)(seed_keys)

    def step(state, action):
      obs, state, reward, term, trunc, info = jax.vmap(
          env.step, in_axes=(None, 0, 0))(jax.random.key(0), state, action)
      return state, (obs, reward, term, trunc, info["final_observation"])

    return obs, jax.lax.scan(step, state, seed_actions)[1]

  return jax.jit(jax.vmap(one_seed, in_axes=(0, 1)))(keys, jnp.asarray(actions))


def _run_by_hand(keys: jax.Array, actions: np.ndarray):
  """The same seeds and actions on plain CartPole envs, reset by hand."""
  first, outs = [], []
  for s in range(SEEDS):
    seed = int.from_bytes(np.asarray(jax.random.key_data(keys[s, 0]),
                                     np.uint32).tobytes(), "little")
    envs = [gymnasium.make("CartPole-v1", max_episode_steps=CAP)
            for _ in range(ENVS)]
    first.append([e.reset(seed=seed + j)[0] for j, e in enumerate(envs)])
    rows = []
    for t in range(STEPS):
      row = []
      for j, e in enumerate(envs):
        obs, reward, term, trunc, _ = e.step(int(actions[t, s, j]))
        final = obs
        if term or trunc:
          obs = e.reset()[0]
        row.append((obs, reward, term, trunc, final))
      rows.append(row)
    outs.append(rows)
  return np.asarray(first), outs


def test_steps_match_plain_gymnasium_with_same_step_resets():
  env = GymnasiumEnv("CartPole-v1", max_steps_in_episode=CAP)
  keys = jax.random.split(jax.random.key(3), (SEEDS, ENVS))
  actions = _actions()
  first, (obs, reward, term, trunc, final) = _run_backend(env, keys, actions)
  want_first, want = _run_by_hand(keys, actions)
  np.testing.assert_array_equal(first, want_first)
  done = 0
  for s in range(SEEDS):
    for t in range(STEPS):
      for j in range(ENVS):
        w_obs, w_reward, w_term, w_trunc, w_final = want[s][t][j]
        np.testing.assert_array_equal(obs[s, t, j], w_obs)
        np.testing.assert_array_equal(final[s, t, j], w_final)
        assert reward[s, t, j] == w_reward
        assert (bool(term[s, t, j]), bool(trunc[s, t, j])) == (w_term, w_trunc)
        done += w_term or w_trunc
  assert done >= SEEDS * ENVS  # episodes ended and restarted in the test


def test_a_stale_state_is_refused():
  env = GymnasiumEnv("CartPole-v1")
  _, state = env.reset(jax.random.key(0))
  env.step(jax.random.key(0), state, jnp.int32(0))
  with pytest.raises(Exception, match="did not just return"):
    jax.block_until_ready(env.step(jax.random.key(0), state, jnp.int32(1)))


def test_task_offsets_reach_the_observations():
  suite = gymnasium_suite("CartPole-v1", offset_std=2.0)
  key, task_key = jax.random.key(1), jax.random.key(2)
  obs0, _ = suite.env.reset(key, suite.task_params(task_key, jnp.int32(0)))
  params1 = suite.task_params(task_key, jnp.int32(1))
  obs1, _ = suite.env.reset(key, params1)
  # Same reset key, same host seed: the raw observations agree.
  np.testing.assert_allclose(obs1 - obs0, params1.offset, atol=1e-6)
  assert np.all(np.abs(params1.offset) > 0)


class _ImageEnv(gymnasium.Env):
  """A stand-in with image observations."""

  observation_space = gymnasium.spaces.Box(0, 1, (4, 4, 1), np.float32)
  action_space = gymnasium.spaces.Discrete(2)


@pytest.mark.parametrize("env,message", [
    ("Pendulum-v1", "discrete action space"),
    (_ImageEnv, "flat Box"),
])
def test_unsupported_envs_fail_at_construction(env, message):
  with pytest.raises(ValueError, match=message):
    GymnasiumEnv(env)
  with pytest.raises(TypeError, match="Gymnasium id or a function"):
    GymnasiumEnv(3)  # pyright: ignore[reportArgumentType]


def test_missing_box2d_names_the_extra(monkeypatch):
  for name in list(sys.modules):
    if name.startswith("gymnasium.envs.box2d"):
      monkeypatch.delitem(sys.modules, name)
  monkeypatch.setitem(sys.modules, "Box2D", None)
  with pytest.raises(ImportError, match=r"trac-optax\[gym\]"):
    GymnasiumEnv("LunarLander-v3")
  # CartPole needs no Box2D.
  assert GymnasiumEnv("CartPole-v1").num_actions == 2


TINY = LifelongConfig(env="gym:CartPole-v1", num_seeds=2, num_tasks=2,
                      iterations_per_task=2, num_steps=32, hidden=8, layers=1,
                      epochs=1, minibatch_size=32, protocol="fixed")


def test_runs_are_a_function_of_the_seed():
  first = run_lifelong(TINY, "trac", progress=False)
  again = run_lifelong(TINY, "trac", progress=False)
  np.testing.assert_array_equal(first.returns, again.returns)
  np.testing.assert_array_equal(first.episodes, again.episodes)
  # The two seeds of a run see different episodes.
  assert not np.array_equal(first.episodes[0], first.episodes[1])
  assert first.episodes.min() >= 1  # 64 steps: CartPole episodes end


def test_a_constructor_from_python():
  suite = gymnasium_suite(lambda: gymnasium.make("Acrobot-v1"),
                          max_steps_in_episode=TINY.max_steps_in_episode)
  assert suite.obs_shape == (6,) and suite.num_actions == 3
  run = run_lifelong(dataclasses.replace(TINY, env="acrobot, my own"), "adam",
                     suite=suite, progress=False)
  assert run.returns.shape == (2, 4)
  finite = run.returns[np.isfinite(run.returns)]
  assert np.all((finite >= -400) & (finite <= 0))


def test_lunar_lander_smoke(tmp_path):
  pytest.importorskip("Box2D")
  out = tmp_path / "out"
  code = _cli.main(["--env", "LunarLander-v3", "--optimizers", "trac",
                    "--seeds", "1", "--tasks", "2", "--iterations-per-task",
                    "1", "--num-steps", "64", "--quiet", "--no-plots",
                    "--out", str(out)])
  assert code == 0
  assert "LunarLander-v3" in (out / "summary.md").read_text()
  assert make_suite(LifelongConfig(env="LunarLander-v3")).obs_shape == (8,)


def test_unknown_gymnasium_id_exits_2(tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    _cli.main(["--env", "gym:NoSuchEnv-v0", "--out", str(tmp_path)])
  assert exit_info.value.code == 2
  assert "NoSuchEnv" in capsys.readouterr().err
