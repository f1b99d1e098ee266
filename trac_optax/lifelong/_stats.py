"""Summary statistics over seeds: means with percentile-bootstrap intervals."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from trac_optax.lifelong._config import checked_count


class Interval(NamedTuple):
  """A mean and its bootstrap confidence interval."""

  mean: float
  low: float
  high: float

  def __str__(self) -> str:
    return f"{self.mean:.1f} [{self.low:.1f}, {self.high:.1f}]"


@contextlib.contextmanager
def empty_slices_are_nan() -> Iterator[None]:
  """NumPy's NaN-ignoring mean and standard deviation of a slice that holds
  only NaN (a seed that completed no episode in a task) are NaN, which is
  the answer here: this silences the RuntimeWarnings that come with them."""
  with warnings.catch_warnings():
    for message in ("Mean of empty slice", "Degrees of freedom <= 0"):
      warnings.filterwarnings("ignore", message, RuntimeWarning)
    yield


def nan_mean(values: np.ndarray, axis: int | None = None) -> np.ndarray:
  """The mean of the values that are not NaN, over ``axis``; NaN (and no
  warning) where there are none."""
  with empty_slices_are_nan():
    return np.nanmean(values, axis=axis)


def check_resampling(confidence: float, n_resamples: int) -> None:
  """Refuses a coverage outside (0, 1) or fewer than one resample."""
  if not 0.0 < confidence < 1.0:
    raise ValueError(f"confidence must be in (0, 1), got {confidence}")
  checked_count("n_resamples", n_resamples)


def check_task_returns(task_returns: dict[str, np.ndarray]) -> int:
  """The number of tasks of ``task_returns``, which must hold one
  ``[num_seeds, num_tasks]`` array per optimizer, with one ``num_tasks``
  (the seed counts may differ); else a ValueError."""
  shapes = {name: np.shape(r) for name, r in task_returns.items()}
  if not shapes:
    raise ValueError("task_returns must hold the returns of at least one "
                     "optimizer")
  if len({shape[1:] for shape in shapes.values()}) != 1 or any(
      len(shape) != 2 for shape in shapes.values()):
    raise ValueError(
        "task_returns must hold one [num_seeds, num_tasks] array per "
        f"optimizer, all with the same number of tasks; got shapes {shapes}")
  return next(iter(shapes.values()))[1]


def bootstrap_ci(values: Sequence[float] | np.ndarray, *,
                 confidence: float = 0.95, n_resamples: int = 10_000,
                 seed: int = 0) -> Interval:
  """Mean of ``values`` with a percentile-bootstrap confidence interval.

  Resamples ``values`` with replacement ``n_resamples`` times and takes the
  ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the
  resampled means. NaN values (e.g. a seed with no completed episode) are
  left out.

  Args:
    values: one number per seed.
    confidence: coverage of the interval, in ``(0, 1)``.
    n_resamples: bootstrap resamples.
    seed: seed of the resampling, so tables are reproducible.

  Returns:
    An :class:`Interval`; all NaN when no value is finite.

  Raises:
    ValueError: if ``values`` is not 1-D, or ``confidence`` or
      ``n_resamples`` is out of range.

  Examples:
    >>> bootstrap_ci([2.0, 2.0, 2.0])
    Interval(mean=2.0, low=2.0, high=2.0)
  """
  check_resampling(confidence, n_resamples)
  x = np.asarray(values, dtype=np.float64)
  if x.ndim != 1:
    raise ValueError(
        f"bootstrap_ci resamples one number per seed (a 1-D array), got shape "
        f"{x.shape}; for [num_seeds, num_tasks] returns pass one task's column "
        "or the mean over tasks per seed")
  x = x[~np.isnan(x)]
  if x.size == 0:
    return Interval(float("nan"), float("nan"), float("nan"))
  rng = np.random.default_rng(seed)
  means = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
  alpha = (1.0 - confidence) / 2.0
  low, high = np.quantile(means, [alpha, 1.0 - alpha])
  return Interval(float(x.mean()), float(low), float(high))


def summary_rows(
    task_returns: dict[str, np.ndarray]) -> list[tuple[str, dict[str, Interval]]]:
  """Rows of the summary table: each task, all tasks, and tasks after the first.

  Args:
    task_returns: optimizer name -> ``[num_seeds, num_tasks]`` mean return
      per task and seed.

  Returns:
    ``(row label, {optimizer: Interval over seeds})`` for task 1, 2, ...,
    then ``all`` (mean over tasks per seed) and, with several tasks,
    ``2-N`` (tasks after the first shift).

  Raises:
    ValueError: if ``task_returns`` is empty, or its arrays are not 2-D with
      one number of tasks.
  """
  num_tasks = check_task_returns(task_returns)
  rows = [(str(t + 1), {name: bootstrap_ci(r[:, t])
                        for name, r in task_returns.items()})
          for t in range(num_tasks)]
  rows.append(("all", {name: bootstrap_ci(nan_mean(r, axis=1))
                       for name, r in task_returns.items()}))
  if num_tasks > 1:
    rows.append((f"2-{num_tasks}", {
        name: bootstrap_ci(nan_mean(r[:, 1:], axis=1))
        for name, r in task_returns.items()}))
  return rows


def summary_table(task_returns: dict[str, np.ndarray], *, title: str = "") -> str:
  """The summary as a Markdown table: tasks as rows, optimizers as columns.

  Each cell is the mean over seeds of the mean return per task, with its
  95% percentile-bootstrap interval over seeds.
  """
  names = list(task_returns)
  lines = [title] if title else []
  lines.append("| task | " + " | ".join(names) + " |")
  lines.append("| --- | " + " | ".join("---:" for _ in names) + " |")
  for label, cells in summary_rows(task_returns):
    lines.append(f"| {label} | " + " | ".join(str(cells[n]) for n in names)
                 + " |")
  return "\n".join(lines)
