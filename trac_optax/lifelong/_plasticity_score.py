"""The plasticity score: return after the first shift, relative to ``reset``.

For an optimizer with mean return :math:`R` on tasks 2 and later, and the
``reset`` baseline (fresh weights at every shift) with :math:`R_\\text{reset}`
on the same tasks,

.. math:: \\text{score} = \\frac{R - R_\\text{floor}}{R_\\text{reset} - R_\\text{floor}}

where :math:`R_\\text{floor}` is the lowest return the environment allows
when that is not 0 (Acrobot: minus the episode cap), so the score reads the
same way for rewards of either sign: 1 means as plastic as a fresh network,
0 means no better than the floor. Means are over seeds; the interval is a
percentile bootstrap that resamples the seeds of both runs independently.
"""

from __future__ import annotations

import numpy as np

from trac_optax.lifelong._config import LifelongConfig
from trac_optax.lifelong._reset import RESET
from trac_optax.lifelong._stats import Interval

ROW_LABEL = "plasticity vs reset, tasks 2+"
"""Label of the score's row in the summary table."""


def return_floor(config: LifelongConfig) -> float:
  """The lowest episode return of ``config.env`` when it is negative, else 0.

  Acrobot pays -1 per step, so its floor is minus the episode cap; the other
  suites' returns are not below 0 (Craftax's health penalties aside).
  """
  if config.env == "Acrobot-v1":
    return -float(config.max_steps_in_episode)
  return 0.0


def _later_task_means(returns: np.ndarray) -> np.ndarray:
  """Per-seed mean over tasks 2 and later, NaN seeds dropped."""
  per_seed = np.nanmean(np.asarray(returns, np.float64)[:, 1:], axis=1)
  return per_seed[~np.isnan(per_seed)]


def plasticity_scores(task_returns: dict[str, np.ndarray], *,
                      floor: float = 0.0, confidence: float = 0.95,
                      n_resamples: int = 10_000,
                      seed: int = 0) -> dict[str, Interval] | None:
  """Each optimizer's plasticity score against :data:`RESET`.

  Args:
    task_returns: optimizer name -> ``[num_seeds, num_tasks]`` mean return
      per task and seed; must include ``"reset"`` for a score.
    floor: :math:`R_\\text{floor}` (see :func:`return_floor`).
    confidence: coverage of the bootstrap interval.
    n_resamples: bootstrap resamples.
    seed: seed of the resampling.

  Returns:
    Name -> score with its interval (``reset`` itself scores exactly 1), or
    ``None`` without a ``reset`` run, with one task only, or when ``reset``
    does not beat the floor.

  Examples:
    >>> import numpy as np
    >>> returns = {"adam": np.array([[50.0, 30.0], [50.0, 30.0]]),
    ...            "reset": np.array([[50.0, 60.0], [50.0, 60.0]])}
    >>> plasticity_scores(returns)["adam"]
    Interval(mean=0.5, low=0.5, high=0.5)
  """
  if RESET not in task_returns or task_returns[RESET].shape[1] < 2:
    return None
  reference = _later_task_means(task_returns[RESET])
  if reference.size == 0 or not reference.mean() - floor > 0:
    return None
  rng = np.random.default_rng(seed)
  ref_means = reference[rng.integers(0, reference.size,
                                     (n_resamples, reference.size))].mean(1)
  alpha = (1.0 - confidence) / 2.0
  scores = {}
  for name, returns in task_returns.items():
    if name == RESET:
      scores[name] = Interval(1.0, 1.0, 1.0)
      continue
    later = _later_task_means(returns)
    if later.size == 0:
      scores[name] = Interval(float("nan"), float("nan"), float("nan"))
      continue
    means = later[rng.integers(0, later.size, (n_resamples, later.size))].mean(1)
    with np.errstate(divide="ignore", invalid="ignore"):
      ratios = (means - floor) / (ref_means - floor)
    low, high = np.quantile(ratios, [alpha, 1.0 - alpha])
    scores[name] = Interval(
        float((later.mean() - floor) / (reference.mean() - floor)),
        float(low), float(high))
  return scores


def plasticity_row(task_returns: dict[str, np.ndarray], *,
                   floor: float = 0.0) -> str:
  """The score as one more row of :func:`~trac_optax.lifelong.summary_table`.

  Cells read ``0.52 [0.40, 0.61]``; ``n/a`` in every cell without a
  ``reset`` run (or with one task).
  """
  names = list(task_returns)
  scores = plasticity_scores(task_returns, floor=floor)
  cells = ["n/a" if scores is None else
           f"{scores[n].mean:.2f} [{scores[n].low:.2f}, {scores[n].high:.2f}]"
           for n in names]
  return f"| {ROW_LABEL} | " + " | ".join(cells) + " |"
