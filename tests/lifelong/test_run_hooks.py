"""run_lifelong's per-task hook: partial results of a long run."""

from __future__ import annotations

import numpy as np

from trac_optax.lifelong import LifelongConfig
from trac_optax.lifelong import run_lifelong


def test_on_task_end_sees_each_task_once_with_its_own_iterations():
  config = LifelongConfig(num_seeds=2, num_tasks=3, iterations_per_task=2,
                          num_steps=16, hidden=8, epochs=1, minibatch_size=16,
                          protocol="fixed")
  seen = []
  run = run_lifelong(config, "trac", progress=False,
                     on_task_end=lambda task, metrics: seen.append(
                         (task, {k: np.copy(v) for k, v in metrics.items()})))
  assert [task for task, _ in seen] == [0, 1, 2]
  per_task = config.iterations_per_task
  for task, metrics in seen:
    window = slice(task * per_task, (task + 1) * per_task)
    np.testing.assert_array_equal(metrics["return"], run.returns[:, window])
    np.testing.assert_array_equal(metrics["scale"], run.scale[:, window])
    np.testing.assert_array_equal(metrics["skipped"],
                                  run.diagnostics["skipped"][:, window])
