"""The Procgen-like suite: one cached Craftax-Classic world per task."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("craftax")

from trac_optax.lifelong import run_lifelong  # noqa: E402
from trac_optax.lifelong._craftax import craftax_suite  # noqa: E402
from trac_optax.lifelong._suites import suite_config  # noqa: E402

CAP = 5


@pytest.fixture(scope="module")
def episodes():
  """Two tasks' worlds, and 12 steps of task 1 with episodes capped at 5."""
  suite = craftax_suite(max_steps_in_episode=CAP)

  def play(task_key):
    worlds = [suite.task_params(task_key, jnp.int32(t)) for t in (1, 2)]
    again = suite.task_params(task_key, jnp.int32(1))
    params = worlds[0]
    obs, state = suite.env.reset(jax.random.key(1), params)

    def step(state, key):
      obs, state, reward, terminated, truncated, info = suite.env.step(
          key, state, jnp.int32(0), params)  # no-op: the player stays put
      return state, (obs, state.env_state.map, state.env_state.timestep,
                     terminated, truncated, info["final_observation"])

    _, trace = jax.lax.scan(step, state, jax.random.split(jax.random.key(2),
                                                          12))
    return worlds, again, obs, trace

  return jax.jit(play)(jax.random.key(0))


def test_a_task_is_one_fixed_world_and_tasks_differ(episodes):
  (first, second), again, _, _ = episodes
  np.testing.assert_array_equal(first.level.map, again.level.map)
  assert np.mean(np.asarray(first.level.map) != np.asarray(second.level.map)
                 ) > 0.2


def test_every_episode_restarts_from_the_cached_world(episodes):
  (level, _), _, obs0, trace = episodes
  obs, maps, timestep, terminated, truncated, final = trace
  np.testing.assert_array_equal(obs0, level.level_obs)
  # Steps 5 and 10 end an episode by the cap: truncated, not terminated.
  ends = np.flatnonzero(np.asarray(truncated)) + 1
  assert ends.tolist() == [CAP, 2 * CAP]
  assert not np.any(terminated)
  for end in ends:
    i = end - 1
    np.testing.assert_array_equal(obs[i], level.level_obs)
    np.testing.assert_array_equal(maps[i], level.level.map)
    assert int(timestep[i]) == 0
  # The step counter runs 1..4 and restarts with the world.
  assert np.asarray(timestep).tolist()[:CAP] == [1, 2, 3, 4, 0]


def test_smoke_run():
  config = suite_config("Craftax-Classic", num_seeds=1, num_tasks=2,
                        iterations_per_task=1, num_envs=2, num_steps=8,
                        max_steps_in_episode=CAP, hidden=8, layers=1,
                        epochs=1, minibatch_size=16)
  run = run_lifelong(config, "adam", progress=False)
  assert run.returns.shape == (1, 2)
  assert np.all(run.episodes == 2 * (8 // CAP))
  assert np.all(np.isfinite(run.returns))
  # A different world in each task: different mean observations.
  assert not np.allclose(run.obs_mean[0, 0], run.obs_mean[0, 1])
