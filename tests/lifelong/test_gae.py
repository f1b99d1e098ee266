"""GAE against a hand-computed example and an independent NumPy loop."""

from __future__ import annotations

import numpy as np
import pytest

from trac_optax.lifelong import gae


def _numpy_gae(rewards, values, next_values, terminated, done, gamma, lam):
  """Reference: float64, a plain backward loop per environment."""
  rewards, values, next_values = (np.asarray(a, np.float64)
                                  for a in (rewards, values, next_values))
  advantages = np.zeros_like(rewards)
  running = np.zeros(rewards.shape[1:])
  for t in reversed(range(rewards.shape[0])):
    delta = (rewards[t] + gamma * (1.0 - np.asarray(terminated[t], float))
             * next_values[t] - values[t])
    running = delta + gamma * lam * (1.0 - np.asarray(done[t], float)) * running
    advantages[t] = running
  return advantages, advantages + values


def test_hand_computed_example():
  # Three steps: step 1 terminates its episode, step 2 is the last of the
  # rollout. gamma = 0.5, lambda = 0.5 so every number is exact in binary.
  rewards = np.array([1.0, 2.0, 4.0], np.float32)
  values = np.array([0.5, 1.0, 2.0], np.float32)
  next_values = np.array([1.0, 8.0, 4.0], np.float32)  # 8 ignored: terminal
  terminated = np.array([False, True, False])
  done = terminated
  # deltas: 1 + .5*1 - .5 = 1;  2 + 0 - 1 = 1;  4 + .5*4 - 2 = 4
  # A2 = 4;  A1 = 1 (episode ended, nothing flows back);  A0 = 1 + .25*1
  want_adv = np.array([1.25, 1.0, 4.0])
  adv, targets = gae(rewards, values, next_values, terminated, done, 0.5, 0.5)
  np.testing.assert_allclose(adv, want_adv, rtol=0, atol=1e-6)
  np.testing.assert_allclose(targets, want_adv + values, rtol=0, atol=1e-6)


def test_truncation_bootstraps_but_cuts_the_trace():
  rewards = np.array([1.0, 1.0], np.float32)
  values = np.array([0.0, 0.0], np.float32)
  next_values = np.array([2.0, 0.0], np.float32)
  # Step 0 is truncated: its delta bootstraps from V(final obs) = 2, but the
  # advantage of the next episode does not flow back into it.
  adv, _ = gae(rewards, values, next_values, np.array([False, False]),
               np.array([True, False]), 0.5, 1.0)
  np.testing.assert_allclose(adv, [2.0, 1.0], rtol=0, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_numpy_loop(seed):
  rng = np.random.default_rng(seed)
  shape = (37, 3)
  rewards = rng.normal(size=shape).astype(np.float32)
  values = rng.normal(size=shape).astype(np.float32)
  next_values = rng.normal(size=shape).astype(np.float32)
  done = rng.random(shape) < 0.15
  terminated = done & (rng.random(shape) < 0.5)
  got_adv, got_targets = gae(rewards, values, next_values, terminated, done,
                             0.99, 0.95)
  want_adv, want_targets = _numpy_gae(rewards, values, next_values,
                                      terminated, done, 0.99, 0.95)
  np.testing.assert_allclose(got_adv, want_adv, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(got_targets, want_targets, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shapes", [
    {"values": (5,)},  # rewards [5, 2] against values [5]: would broadcast
    {"done": (4, 2)},
    {"rewards": (), "values": (), "next_values": (), "terminated": (),
     "done": ()},  # no time axis
])
def test_arrays_of_other_shapes_are_refused(shapes):
  arrays = {name: np.zeros(shapes.get(name, (5, 2)), dtype)
            for name, dtype in (("rewards", np.float32), ("values", np.float32),
                                ("next_values", np.float32),
                                ("terminated", bool), ("done", bool))}
  with pytest.raises(ValueError, match=r"gae needs arrays of one shape"):
    gae(**arrays, gamma=0.99, gae_lambda=0.95)
