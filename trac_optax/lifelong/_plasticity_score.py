"""The plasticity score: return after the first shift, relative to a reset.

For an optimizer with mean return :math:`R` on tasks 2 and later, and a
reset baseline (fresh weights at every shift) with :math:`R_\\text{reset}`
on the same tasks,

.. math:: \\text{score} = \\frac{R - R_\\text{floor}}{R_\\text{reset} - R_\\text{floor}}

where :math:`R_\\text{floor}` is the lowest return the environment allows
when that is not 0 (Acrobot: minus the episode cap), so the score reads the
same way for rewards of either sign: 1 means as plastic as a fresh network,
0 means no better than the floor. Means are over seeds; the interval is a
percentile bootstrap that resamples the seeds of both runs independently.

Two references are reported: ``reset`` (fresh networks and a fresh Adam, the
same denominator for every optimizer) and each optimizer's own reset
(``reset-trac`` for ``trac``: fresh networks and a fresh TRAC), which asks
how much of what that optimizer reaches from scratch it keeps reaching
after shifts, whether or not Adam from scratch collapses by itself.
"""

from __future__ import annotations

import math

import numpy as np

from trac_optax.lifelong._config import LifelongConfig
from trac_optax.lifelong._optimizers import RESET
from trac_optax.lifelong._optimizers import reset_base
from trac_optax.lifelong._optimizers import reset_name
from trac_optax.lifelong._stats import Interval
from trac_optax.lifelong._stats import check_resampling
from trac_optax.lifelong._stats import check_task_returns
from trac_optax.lifelong._stats import nan_mean

ROW_LABEL = "plasticity vs reset, tasks 2+"
"""Label of the row of scores against ``reset`` (Adam) in the summary table."""

OWN_ROW_LABEL = "plasticity vs own reset, tasks 2+"
"""Label of the row of scores against each optimizer's own reset."""

RANDOM_POLICY_RETURNS = {"LunarLander-v3": -181.4}
"""Mean return of uniformly random actions, episodes capped at 400 steps:
the floor of environments whose returns have no lower bound. Measured with
``python results/lunarlander/random_policy_return.py`` (results beside it)."""


def return_floor(config: LifelongConfig) -> float:
  """The floor :math:`R_\\text{floor}` of the score for ``config.env``.

  Acrobot pays -1 per step, so its floor is minus the episode cap.
  LunarLander's returns have no lower bound: its floor is the return of
  random actions (:data:`RANDOM_POLICY_RETURNS`), so 0 means no better than
  chance and a score below 0 worse than chance. The other suites' returns
  are not below 0 (Craftax's health penalties aside), nor assumed to be for
  ``gym:<id>``.
  """
  if config.env == "Acrobot-v1":
    return -float(config.max_steps_in_episode)
  return RANDOM_POLICY_RETURNS.get(config.env, 0.0)


def _later_task_means(returns: np.ndarray) -> np.ndarray:
  """Per-seed mean over tasks 2 and later, NaN seeds dropped."""
  per_seed = nan_mean(np.asarray(returns, np.float64)[:, 1:], axis=1)
  return per_seed[~np.isnan(per_seed)]


def _score(later: np.ndarray, reference: np.ndarray, floor: float,
           alpha: float, n_resamples: int,
           rng: np.random.Generator) -> Interval:
  """The ratio of mean later-task returns, with its bootstrap interval."""
  if later.size == 0:
    return Interval(float("nan"), float("nan"), float("nan"))
  draw = lambda x: x[rng.integers(0, x.size, (n_resamples, x.size))].mean(1)
  ref_means = draw(reference)
  means = draw(later)
  with np.errstate(divide="ignore", invalid="ignore"):
    ratios = (means - floor) / (ref_means - floor)
  low, high = np.quantile(ratios, [alpha, 1.0 - alpha])
  return Interval(float((later.mean() - floor) / (reference.mean() - floor)),
                  float(low), float(high))


def _usable_reference(task_returns: dict[str, np.ndarray], name: str,
                      floor: float) -> np.ndarray | None:
  """``name``'s later-task means, if it ran more than one task above floor."""
  if name not in task_returns or task_returns[name].shape[1] < 2:
    return None
  reference = _later_task_means(task_returns[name])
  if reference.size == 0 or not reference.mean() - floor > 0:
    return None
  return reference


def _check_arguments(task_returns: dict[str, np.ndarray], floor: float,
                     confidence: float, n_resamples: int) -> None:
  check_task_returns(task_returns)
  check_resampling(confidence, n_resamples)
  if not math.isfinite(floor):
    raise ValueError(f"floor must be a finite return, got {floor!r}")


def plasticity_scores(task_returns: dict[str, np.ndarray], *,
                      floor: float = 0.0, confidence: float = 0.95,
                      n_resamples: int = 10_000, seed: int = 0,
                      reference: str = RESET) -> dict[str, Interval] | None:
  """Each optimizer's plasticity score against one reset run.

  Args:
    task_returns: optimizer name -> ``[num_seeds, num_tasks]`` mean return
      per task and seed; must include ``reference`` for a score.
    floor: :math:`R_\\text{floor}` (see :func:`return_floor`).
    confidence: coverage of the bootstrap interval.
    n_resamples: bootstrap resamples.
    seed: seed of the resampling.
    reference: the run in the denominator, :data:`RESET` (Adam) by default.

  Returns:
    Name -> score with its interval (``reference`` itself scores exactly
    1), or ``None`` without a ``reference`` run, with one task only, or when
    ``reference`` does not beat the floor.

  Raises:
    ValueError: if ``task_returns`` is empty or its arrays are not
      ``[num_seeds, num_tasks]`` with one number of tasks, ``floor`` is not
      finite, or ``confidence`` or ``n_resamples`` is out of range.

  Examples:
    >>> import numpy as np
    >>> returns = {"adam": np.array([[50.0, 30.0], [50.0, 30.0]]),
    ...            "reset": np.array([[50.0, 60.0], [50.0, 60.0]])}
    >>> plasticity_scores(returns)["adam"]
    Interval(mean=0.5, low=0.5, high=0.5)
  """
  _check_arguments(task_returns, floor, confidence, n_resamples)
  ref = _usable_reference(task_returns, reference, floor)
  if ref is None:
    return None
  rng = np.random.default_rng(seed)
  alpha = (1.0 - confidence) / 2.0
  return {name: Interval(1.0, 1.0, 1.0) if name == reference else
          _score(_later_task_means(returns), ref, floor, alpha, n_resamples,
                 rng)
          for name, returns in task_returns.items()}


def own_reset_scores(task_returns: dict[str, np.ndarray], *,
                     floor: float = 0.0, confidence: float = 0.95,
                     n_resamples: int = 10_000,
                     seed: int = 0) -> dict[str, Interval | None]:
  """Each optimizer's plasticity score against the reset of that optimizer.

  ``trac`` is scored against ``reset-trac``, ``adam`` against ``reset``; a
  reset run scores 1 against itself.

  Args:
    task_returns: optimizer name -> ``[num_seeds, num_tasks]`` mean return.
    floor, confidence, n_resamples, seed: as in :func:`plasticity_scores`.

  Returns:
    Name -> score with its interval, or ``None`` where the optimizer's reset
    did not run (or ran one task, or did not beat the floor). Names that are
    not among the harness's optimizers have no reset: ``None``.

  Raises:
    ValueError: as :func:`plasticity_scores`.

  Examples:
    >>> import numpy as np
    >>> returns = {"trac": np.array([[50.0, 30.0], [50.0, 30.0]]),
    ...            "reset-trac": np.array([[50.0, 40.0], [50.0, 40.0]]),
    ...            "adam": np.array([[50.0, 30.0], [50.0, 30.0]])}
    >>> own_reset_scores(returns)["trac"]
    Interval(mean=0.75, low=0.75, high=0.75)
    >>> own_reset_scores(returns)["adam"] is None
    True
  """
  _check_arguments(task_returns, floor, confidence, n_resamples)
  rng = np.random.default_rng(seed)
  alpha = (1.0 - confidence) / 2.0
  scores: dict[str, Interval | None] = {}
  for name, returns in task_returns.items():
    own = name if reset_base(name) is not None else reset_name(name)
    ref = _usable_reference(task_returns, own, floor)
    if ref is None:
      scores[name] = None
    elif name == own:
      scores[name] = Interval(1.0, 1.0, 1.0)
    else:
      scores[name] = _score(_later_task_means(returns), ref, floor, alpha,
                            n_resamples, rng)
  return scores


def _cell(score: Interval | None) -> str:
  if score is None:
    return "n/a"
  return f"{score.mean:.2f} [{score.low:.2f}, {score.high:.2f}]"


def plasticity_row(task_returns: dict[str, np.ndarray], *,
                   floor: float = 0.0) -> str:
  """The score against ``reset`` as one more row of the summary table.

  Cells read ``0.52 [0.40, 0.61]``; ``n/a`` in every cell without a
  ``reset`` run (or with one task).
  """
  scores = plasticity_scores(task_returns, floor=floor) or {}
  cells = [_cell(scores.get(name)) for name in task_returns]
  return f"| {ROW_LABEL} | " + " | ".join(cells) + " |"


def own_reset_row(task_returns: dict[str, np.ndarray], *,
                  floor: float = 0.0) -> str:
  """The score against each optimizer's own reset, as a table row.

  ``n/a`` where that reset did not run.
  """
  scores = own_reset_scores(task_returns, floor=floor)
  cells = [_cell(scores[name]) for name in task_returns]
  return f"| {OWN_ROW_LABEL} | " + " | ".join(cells) + " |"


def plasticity_rows(task_returns: dict[str, np.ndarray], *,
                    floor: float = 0.0) -> str:
  """Both scores' rows (against ``reset``, against the own reset)."""
  return (plasticity_row(task_returns, floor=floor) + "\n"
          + own_reset_row(task_returns, floor=floor))


def plasticity_records(task_returns: dict[str, np.ndarray], *,
                       floor: float = 0.0) -> list[dict]:
  """Both scores as ``summary.json`` rows: ``{"task": label, name: cell}``.

  A cell is the interval as a dict, or ``None`` (no reference run); a row
  without any score is left out.
  """
  against_reset = plasticity_scores(task_returns, floor=floor) or {}
  own = own_reset_scores(task_returns, floor=floor)
  as_dict = lambda s: None if s is None else s._asdict()
  rows = [{"task": ROW_LABEL, **{n: as_dict(against_reset.get(n))
                                 for n in task_returns}},
          {"task": OWN_ROW_LABEL, **{n: as_dict(own[n])
                                     for n in task_returns}}]
  return [row for row in rows
          if any(cell is not None for key, cell in row.items()
                 if key != "task")]
