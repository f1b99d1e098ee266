"""The paper's episode-based collection: masks, targets, skipped minibatches."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import trac_optax
from trac_optax.lifelong import PPO
from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import run_lifelong
from trac_optax.lifelong._episodes import first_episode
from trac_optax.lifelong._episodes import normalise
from trac_optax.lifelong._episodes import rewards_to_go
from trac_optax.lifelong._episodes import valid_first_order
from trac_optax.lifelong._suites import make_suite

# Episodes capped at 64 steps; minibatches of 8 over at most 2 x 64 rows.
PAPER = LifelongConfig(num_seeds=2, num_tasks=2, iterations_per_task=3,
                       num_steps=64, max_steps_in_episode=64, hidden=8,
                       layers=1, epochs=2, minibatch_size=8, protocol="paper")


def test_first_episode_keeps_steps_up_to_the_first_done():
  done = np.array([[0, 0], [1, 0], [0, 0], [1, 1], [0, 1]], bool)
  expected = np.array([[1, 1], [1, 1], [0, 1], [0, 1], [0, 0]], bool)
  np.testing.assert_array_equal(first_episode(jnp.asarray(done)), expected)


def _numpy_rewards_to_go(rewards, next_values, terminated, done, gamma):
  """Reference: float64, episode by episode, bootstrapping only at a cap."""
  returns = np.zeros(len(rewards))
  running = 0.0
  for t in reversed(range(len(rewards))):
    if done[t] or t == len(rewards) - 1:
      running = 0.0 if terminated[t] else next_values[t]
    running = rewards[t] + gamma * running
    returns[t] = running
  return returns


@hypothesis.settings(max_examples=15, deadline=None)
@hypothesis.given(st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_rewards_to_go_matches_a_float64_loop(steps, seed):
  rng = np.random.default_rng(seed)
  rewards = rng.normal(size=steps).astype(np.float32)
  next_values = rng.normal(size=steps).astype(np.float32)
  done = rng.random(steps) < 0.3
  terminated = done & (rng.random(steps) < 0.5)
  got = rewards_to_go(jnp.asarray(rewards), jnp.asarray(next_values),
                      jnp.asarray(terminated), jnp.asarray(done), 0.9)
  np.testing.assert_allclose(
      got, _numpy_rewards_to_go(rewards.astype(float),
                                next_values.astype(float), terminated, done,
                                0.9), rtol=1e-5, atol=1e-5)


def test_rewards_to_go_by_hand():
  # Episode 1: steps 0-1, terminated (no bootstrap). Episode 2: steps 2-3,
  # cut by the cap at step 3 (bootstraps from V' = 8). gamma = 0.5.
  got = rewards_to_go(jnp.array([1.0, 2.0, 4.0, 8.0]),
                      jnp.array([99.0, 99.0, 99.0, 8.0]),
                      jnp.array([False, True, False, False]),
                      jnp.array([False, True, False, True]), 0.5)
  np.testing.assert_array_equal(got, [2.0, 2.0, 10.0, 12.0])


def test_normalise_over_the_valid_entries_only():
  x = jnp.array([1.0, 3.0, 1000.0, 5.0])
  valid = jnp.array([True, True, False, True])
  out = np.asarray(normalise(x, valid))
  ref = np.array([1.0, 3.0, 5.0])
  np.testing.assert_allclose(out[[0, 1, 3]], (ref - ref.mean()) / ref.std(),
                             rtol=1e-6)
  assert out[2] == 0.0


@hypothesis.settings(max_examples=15, deadline=None)
@hypothesis.given(st.lists(st.booleans(), min_size=1, max_size=40),
                  st.integers(0, 2**31 - 1))
def test_order_puts_every_valid_row_first_once(valid, seed):
  valid = np.array(valid)
  order = np.asarray(valid_first_order(jax.random.key(seed),
                                       jnp.asarray(valid)))
  assert sorted(order) == list(range(valid.size))
  count = valid.sum()
  assert valid[order[:count]].all() and not valid[order[count:]].any()


def test_order_shuffles_the_valid_rows():
  valid = jnp.array([True] * 6 + [False] * 2)
  firsts = {int(valid_first_order(jax.random.key(s), valid)[0])
            for s in range(40)}
  assert firsts == set(range(6))


class _CountState(NamedTuple):
  calls: jax.Array
  inner: optax.OptState


def _counting(inner: optax.GradientTransformation, calls: list[int]):
  """``inner``, also counting its update calls: in its state, and on the host
  each time an update really runs."""

  def update(updates, state, params=None):
    jax.debug.callback(lambda: calls.append(1))
    updates, inner_state = inner.update(updates, state.inner, params)
    return updates, _CountState(state.calls + 1, inner_state)

  return optax.GradientTransformation(
      lambda p: _CountState(jnp.zeros((), jnp.int32), inner.init(p)), update)


def _one_seed(config, tx):
  ppo = PPO(config, make_suite(config), tx)
  agent = ppo._init_one(jax.random.key(0))
  n = config.batch_size
  keys = jax.random.split(jax.random.key(1), 4)
  batch = (jax.random.normal(keys[0], (n, 4)),
           jax.random.bernoulli(keys[1], shape=(n,)).astype(jnp.int32),
           jnp.full((n,), np.log(0.5), jnp.float32),
           jax.random.normal(keys[2], (n,)),
           jax.random.normal(keys[3], (n,)))
  return ppo, agent, batch


@pytest.mark.parametrize("count", [1, 8, 9, 37, 128])
def test_updates_per_iteration_are_ceil_valid_over_32_times_epochs(count):
  calls: list[int] = []
  tx = _counting(trac_optax.trac(optax.adam(1e-2)), calls)
  ppo, agent, batch = _one_seed(PAPER, tx)
  valid = jnp.zeros(PAPER.batch_size, bool).at[
      jax.random.permutation(jax.random.key(2), PAPER.batch_size)[:count]
  ].set(True)
  update = jax.jit(ppo._update)  # one seed, no vmap: a real conditional
  params, state, steps = update(agent.params, agent.opt_state, batch,
                                jax.random.key(3), valid)
  jax.effects_barrier()
  expected = -(-count // PAPER.minibatch_size) * PAPER.epochs
  assert len(calls) == expected  # the skipped slots never called update
  assert int(state.calls) == expected
  assert int(steps["updates"]) == expected
  assert int(trac_optax.trac_state(state.inner).count) == expected
  assert np.isfinite(float(steps["h_mean"]))


def _moved_state_and_slots(tx, rows):
  """A state that has moved (so "unchanged" is not "initial") and 2 slots of
  8 rows with the given valid rows."""
  ppo, agent, batch = _one_seed(PAPER, tx)
  carry, _ = ppo._step(agent.params, agent.opt_state,
                       tuple(x[:8] for x in batch))
  slots = tuple(x[8:24].reshape((2, 8) + x.shape[1:]) for x in batch)
  return ppo, carry, slots, jnp.asarray(rows)


def _assert_bit_identical(a, b):
  leaves_a, tree_a = jax.tree.flatten(a)
  leaves_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


def test_a_skipped_minibatch_changes_nothing_bit_for_bit():
  calls: list[int] = []
  tx = _counting(trac_optax.trac(optax.adam(1e-2)), calls)
  # Slot 0 has 3 valid rows, slot 1 none.
  rows = np.zeros((2, 8), bool)
  rows[0, :3] = True
  ppo, carry, slots, rows = _moved_state_and_slots(tx, rows)
  run = jax.jit(ppo._valid_slots)
  calls.clear()
  out, (h, entropy) = run(carry, slots, rows)
  jax.effects_barrier()
  assert calls == [1]  # slot 1 never called the optimizer
  assert np.isfinite(h[0]) and np.isnan(h[1])
  assert np.isfinite(entropy[0]) and np.isnan(entropy[1])
  # Exactly one step on slot 0, nothing after it.
  one_step, _ = jax.jit(ppo._step)(carry[0], carry[1],
                                   jax.tree.map(lambda x: x[0], slots),
                                   rows[0])
  _assert_bit_identical(out, one_step)
  # No valid slot: the state comes back unchanged, bit for bit.
  calls.clear()
  unchanged, (h, _) = run(carry, slots, jnp.zeros_like(rows))
  jax.effects_barrier()
  assert calls == [] and np.all(np.isnan(h))
  _assert_bit_identical(unchanged, carry)


def test_vmapped_seeds_stop_after_their_own_last_slot():
  # Seed 0 has one valid slot, seed 1 two: under vmap the loop runs twice,
  # and each seed's result is its own unbatched run.
  tx = trac_optax.trac(optax.adam(1e-2))
  rows = np.zeros((2, 2, 8), bool)
  rows[0, 0, :5] = True
  rows[1, 0, :] = True
  rows[1, 1, :2] = True
  ppo, carry, slots, rows = _moved_state_and_slots(tx, rows)
  stack = lambda tree: jax.tree.map(lambda x: jnp.stack([x, x]), tree)
  batched, (h, _) = jax.jit(jax.vmap(ppo._valid_slots))(
      stack(carry), stack(slots), rows)
  assert np.isnan(h[0, 1]) and np.all(np.isfinite(h[1]))
  for seed in range(2):
    alone, _ = jax.jit(ppo._valid_slots)(carry, slots, rows[seed])
    for x, y in zip(jax.tree.leaves(alone), jax.tree.leaves(batched)):
      np.testing.assert_allclose(np.asarray(y)[seed], np.asarray(x),
                                 rtol=1e-6, atol=1e-7)
  # Seed 0 really stopped: its state differs from seed 1's.
  assert not all(np.array_equal(np.asarray(x)[0], np.asarray(x)[1])
                 for x in jax.tree.leaves(batched[0]))


def test_partial_minibatch_is_the_mean_over_its_valid_rows():
  ppo, agent, batch = _one_seed(PAPER, optax.sgd(1.0))
  valid = jnp.arange(8) < 3
  padded = tuple(x[:8] for x in batch)
  alone = tuple(x[:3] for x in batch)
  grads = jax.grad(lambda p, b, v: ppo._loss(p, b, v)[0])
  got = grads(agent.params, padded, valid)
  want = grads(agent.params, alone, jnp.ones(3, bool))
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def paper_run():
  return run_lifelong(PAPER, "adam", progress=False)


def test_iterations_learn_from_each_environments_first_episode(paper_run):
  run = paper_run
  # CartPole pays 1 per step: the first episodes' lengths add up to twice
  # the mean return of the iteration's two episodes.
  np.testing.assert_array_equal(run.episodes, 2)
  np.testing.assert_allclose(run.diagnostics["transitions"],
                             2.0 * run.returns, rtol=1e-6)
  slots = np.ceil(run.diagnostics["transitions"] / PAPER.minibatch_size)
  np.testing.assert_array_equal(run.diagnostics["updates"],
                                slots * PAPER.epochs)
  assert np.all(run.returns <= PAPER.max_steps_in_episode)


def test_paper_protocol_needs_whole_episodes():
  with pytest.raises(ValueError, match="num_steps .16. must be at least "
                     "max_steps_in_episode .400."):
    LifelongConfig(num_steps=16, protocol="paper")
  with pytest.raises(ValueError, match="protocol must be one of fixed, paper"):
    LifelongConfig(protocol="episodes")
  dataclasses.replace(PAPER, num_steps=80)  # longer rollouts are fine
