"""Environment steps per second: gymnax CartPole against the Gymnasium backend.

Times the rollout alone (uniformly random actions, no network, no update),
jitted as the harness runs it: a ``lax.scan`` over steps of environments
vmapped over seeds and envs, observation offsets and episode logging
included. Backends alternate, each timed ``REPEATS`` times after a compile;
the medians are printed, by wall time and by this process's CPU time (on a
loaded machine the Gymnasium backend's wall time is mostly waiting: each
step is a round trip to the host that waits for the scheduler). Run from the
repository root:

  python results/gymnasium_cartpole/throughput.py [SEEDS] [ENVS] [STEPS]
"""

import statistics
import sys
import time

import jax
import jax.numpy as jnp

from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import make_suite

REPEATS = 5


def rollout_fn(env_name: str, seeds: int, envs: int, steps: int):
  suite = make_suite(LifelongConfig(env=env_name))
  env, num_actions = suite.env, suite.num_actions

  def one_seed(key):
    params = suite.task_params(key, jnp.int32(1))
    reset_keys = jax.random.split(key, envs)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(reset_keys, params)

    def step(carry, step_key):
      state, total = carry
      action_key, env_key = jax.random.split(step_key)
      action = jax.random.randint(action_key, (envs,), 0, num_actions)
      obs, state, reward, _, _, _ = jax.vmap(
          env.step, in_axes=(0, 0, 0, None))(jax.random.split(env_key, envs),
                                             state, action, params)
      return (state, total + reward.sum() + 0.0 * obs.sum()), None

    (_, total), _ = jax.lax.scan(step, (state, 0.0),
                                 jax.random.split(key, steps))
    return total

  run = jax.jit(jax.vmap(one_seed))
  keys = jax.random.split(jax.random.key(0), seeds)
  jax.block_until_ready(run(keys))  # compile, and a first rollout
  return lambda: jax.block_until_ready(run(keys))


def main(seeds: int = 3, envs: int = 2, steps: int = 400) -> None:
  names = ("CartPole-v1", "gym:CartPole-v1", "LunarLander-v3")
  fns = {name: rollout_fn(name, seeds, envs, steps) for name in names}
  times = {name: [] for name in names}
  cpu = {name: [] for name in names}
  for _ in range(REPEATS):
    for name, fn in fns.items():
      start, start_cpu = time.perf_counter(), time.process_time()
      fn()
      times[name].append(time.perf_counter() - start)
      cpu[name].append(time.process_time() - start_cpu)
  total = seeds * envs * steps
  base = statistics.median(times["CartPole-v1"])
  print(f"{seeds} seeds x {envs} envs x {steps} steps, random actions, "
        f"median of {REPEATS}:")
  for name in names:
    median = statistics.median(times[name])
    median_cpu = statistics.median(cpu[name])
    print(f"  {name:16s} {total / median:10,.0f} env steps/s of wall time "
          f"({median / base:6.1f} x gymnax), {total / median_cpu:10,.0f} "
          "per CPU second")


if __name__ == "__main__":
  main(*map(int, sys.argv[1:]))
