"""Writing a results folder: per-iteration CSV, summary table, plots."""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
import platform
from collections.abc import Sequence

import numpy as np

from trac_optax.lifelong._config import LifelongConfig
from trac_optax.lifelong._diagnostics import DIAGNOSTICS
from trac_optax.lifelong._plasticity_score import plasticity_records
from trac_optax.lifelong._plasticity_score import plasticity_rows
from trac_optax.lifelong._plasticity_score import return_floor
from trac_optax.lifelong._run import LifelongRun
from trac_optax.lifelong._stats import empty_slices_are_nan
from trac_optax.lifelong._stats import summary_rows
from trac_optax.lifelong._stats import summary_table

CSV_COLUMNS = ("optimizer", "seed", "task", "iteration", "env_steps", "return",
               "episodes", "scale", *DIAGNOSTICS)
"""Columns of ``iterations.csv``: one row per optimizer, seed and iteration
(the diagnostics are :data:`~trac_optax.lifelong._diagnostics.DIAGNOSTICS`;
NaN where a run did not record them)."""


def _versions() -> dict[str, str]:
  import flax
  import gymnax
  import jax
  import optax

  return {"python": platform.python_version(), "jax": jax.__version__,
          "optax": optax.__version__, "flax": flax.__version__,
          "gymnax": getattr(gymnax, "__version__", "?"),
          "machine": f"{platform.machine()} {jax.default_backend()}, "
                     f"{jax.device_count()} device(s)"}


def write_csv(path: pathlib.Path, runs: Sequence[LifelongRun]) -> None:
  """Writes every iteration of every seed of every run to ``path``."""
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(CSV_COLUMNS)
    for run in runs:
      cfg = run.config
      steps = run.env_steps
      missing = np.full((cfg.num_seeds, cfg.num_iterations), np.nan)
      extra = [run.diagnostics.get(k, missing) for k in DIAGNOSTICS]
      for seed in range(cfg.num_seeds):
        for i in range(cfg.num_iterations):
          writer.writerow((
              run.name, seed, i // cfg.iterations_per_task + 1, i + 1,
              int(steps[i]), f"{run.returns[seed, i]:.6g}",
              int(run.episodes[seed, i]), f"{run.scale[seed, i]:.6g}",
              *(f"{x[seed, i]:.6g}" for x in extra)))


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
  """Trailing moving average along the last axis, NaN-aware."""
  if window <= 1:
    return y
  filled = np.nan_to_num(y)
  valid = (~np.isnan(y)).astype(float)
  kernel = np.ones(window)
  conv = lambda a: np.apply_along_axis(
      lambda r: np.convolve(r, kernel)[:r.size], -1, a)
  with np.errstate(invalid="ignore", divide="ignore"):
    return conv(filled) / conv(valid)


def _figure(height: float):
  """A new Matplotlib figure and axes, headless."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt.subplots(figsize=(10, height))


def _finish(fig, ax, path: pathlib.Path, cfg, ylabel: str, title: str) -> None:
  """Marks the task shifts, labels, saves and closes the figure."""
  import matplotlib.pyplot as plt

  for t in range(1, cfg.num_tasks):
    ax.axvline(t * cfg.iterations_per_task * cfg.batch_size, color="grey",
               ls="--", lw=0.8)
  ax.set_xlabel("environment steps per seed (dashed: task shifts)")
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  if ax.get_legend_handles_labels()[0]:
    ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def plot_returns(path: pathlib.Path, runs: Sequence[LifelongRun],
                 title: str) -> None:
  """Return against environment steps: mean over seeds, +-1 standard error."""
  cfg = runs[0].config
  window = max(1, min(10, cfg.iterations_per_task // 10))
  fig, ax = _figure(4.5)
  for run in runs:
    steps = run.env_steps
    per_seed = _smooth(run.returns, window)
    n = np.maximum(np.sum(~np.isnan(per_seed), axis=0), 1)
    with empty_slices_are_nan():
      mean = np.nanmean(per_seed, axis=0)
      sem = np.nanstd(per_seed, axis=0) / np.sqrt(n)
    line, = ax.plot(steps, mean, label=run.name, lw=1.2)
    ax.fill_between(steps, mean - sem, mean + sem, color=line.get_color(),
                    alpha=0.2, lw=0)
  _finish(fig, ax, path, cfg, "episode return",
          f"{title}: mean over {cfg.num_seeds} seeds (+-1 s.e., "
          f"{window}-iteration moving average)")


def plot_scales(path: pathlib.Path, runs: Sequence[LifelongRun],
                title: str) -> None:
  """S against environment steps: median over seeds, and each seed (log scale)."""
  cfg = runs[0].config
  fig, ax = _figure(4.0)
  for run in runs:
    if np.all(np.isnan(run.scale)):
      continue
    line, = ax.plot(run.env_steps, np.nanmedian(run.scale, axis=0),
                    label=f"{run.name} (median)", lw=1.5)
    for seed_scale in run.scale:
      ax.plot(run.env_steps, seed_scale, color=line.get_color(), lw=0.4,
              alpha=0.35)
  ax.set_yscale("symlog", linthresh=1e-4)  # S is 0 at times: not plain log
  ax.set_ylim(bottom=0.0)
  _finish(fig, ax, path, cfg, "S (thin lines: seeds)",
          f"{title}: learned scale S")


def _check_runs(runs: Sequence[LifelongRun]) -> None:
  """One folder holds runs of one configuration, each under its own name
  (config.json keeps one configuration; names label the CSV's rows)."""
  if not runs:
    raise ValueError("write_results needs at least one run")
  names = [run.name for run in runs]
  repeated = sorted({name for name in names if names.count(name) > 1})
  if repeated:
    raise ValueError(
        f"write_results got more than one run named "
        f"{', '.join(map(repr, repeated))}; names label the rows of "
        "iterations.csv and the columns of the summary, so give each run its "
        "own (run_lifelong's name=)")
  for run in runs:
    want = (run.config.num_seeds, run.config.num_iterations)
    arrays = {"returns": run.returns, "episodes": run.episodes,
              "scale": run.scale, **run.diagnostics}
    wrong = {key: np.shape(x) for key, x in arrays.items()
             if np.shape(x) != want}
    if wrong:
      raise ValueError(
          f"run {run.name!r} has arrays of shapes {wrong}, but its "
          f"configuration gives [num_seeds, num_iterations] = {list(want)}")
  first = runs[0]
  for run in runs[1:]:
    if run.config != first.config:
      fields = [f.name for f in dataclasses.fields(first.config)
                if getattr(first.config, f.name) != getattr(run.config, f.name)]
      raise ValueError(
          f"write_results writes runs of one configuration, but run "
          f"{run.name!r} differs from {first.name!r} in {', '.join(fields)}; "
          "write each configuration to a folder of its own")


def write_results(out: pathlib.Path, runs: Sequence[LifelongRun], *,
                  command: str = "", plots: bool = True) -> str:
  """Writes a results folder and returns the summary table.

  Files: ``config.json`` (configuration, versions, timings),
  ``iterations.csv`` (:data:`CSV_COLUMNS`), ``summary.md`` and
  ``summary.json`` (mean return per task and over the run, per optimizer,
  with 95% bootstrap intervals over seeds, and the plasticity scores against
  ``reset`` and against each optimizer's own reset: the last two table rows,
  ``n/a`` without the reset run), and with ``plots``
  ``returns.png`` and ``scale.png``.

  Args:
    out: the folder, created if missing.
    runs: one run per optimizer, same configuration.
    command: the command line that produced the runs, recorded.
    plots: write the PNG plots.

  Returns:
    The summary table as Markdown.

  Raises:
    ValueError: if ``runs`` is empty, two runs share a name, a run's arrays
      do not have its configuration's shape, or the runs' configurations
      differ (nothing is written then).
  """
  _check_runs(runs)
  out = pathlib.Path(out)
  out.mkdir(parents=True, exist_ok=True)
  cfg = runs[0].config
  title = (f"{cfg.env}, {cfg.num_tasks} tasks x {cfg.iterations_per_task} "
           "iterations")
  task_returns = {run.name: run.task_returns() for run in runs}
  table = summary_table(
      task_returns,
      title=f"Mean episode return per task, {title}, mean over "
      f"{cfg.num_seeds} seeds [95% bootstrap interval]\n")
  floor = return_floor(cfg)
  table += "\n" + plasticity_rows(task_returns, floor=floor)
  meta = {
      "command": command,
      "config": dataclasses.asdict(cfg),
      "versions": _versions(),
      "timings": {run.name: {
          "compile_seconds": round(run.compile_seconds, 2),
          "train_seconds": round(run.train_seconds, 2),
          "env_steps_per_second": round(run.steps_per_second, 1)}
                  for run in runs},
  }
  (out / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
  write_csv(out / "iterations.csv", runs)
  (out / "summary.md").write_text(table + "\n")
  rows = [{"task": label,
           **{name: cell._asdict() for name, cell in cells.items()}}
          for label, cells in summary_rows(task_returns)]
  rows.extend(plasticity_records(task_returns, floor=floor))
  (out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
  if plots:
    plot_returns(out / "returns.png", runs, title)
    plot_scales(out / "scale.png", runs, title)
  return table


def read_results(folder: pathlib.Path) -> list[LifelongRun]:
  """Reads back the runs of a results folder written by :func:`write_results`.

  Returns, per optimizer, returns, episodes, S and the diagnostics its CSV
  has (older folders have none) per seed and iteration (from
  ``iterations.csv``), the configuration and timings (from
  ``config.json``). The mean observations are not saved: ``obs_mean`` has a
  zero-length last axis. Runs from several folders with the same
  configuration can be written together again with :func:`write_results`.

  Args:
    folder: a results folder.

  Returns:
    One :class:`LifelongRun` per optimizer, in the order of the CSV.
  """
  folder = pathlib.Path(folder)
  meta = json.loads((folder / "config.json").read_text())
  config = LifelongConfig(**meta["config"])
  columns: dict[str, dict[str, list[float]]] = {}
  with open(folder / "iterations.csv", newline="") as f:
    reader = csv.DictReader(f)
    recorded = [k for k in DIAGNOSTICS if k in (reader.fieldnames or ())]
    for row in reader:
      run = columns.setdefault(row["optimizer"], {
          k: [] for k in ("return", "episodes", "scale", *recorded)})
      for key in run:
        run[key].append(float(row[key]))
  shape = (config.num_seeds, config.num_iterations)
  return [LifelongRun(
      name=name, config=config,
      returns=np.asarray(c["return"]).reshape(shape),
      episodes=np.asarray(c["episodes"]).astype(np.int64).reshape(shape),
      scale=np.asarray(c["scale"]).reshape(shape),
      obs_mean=np.zeros(shape + (0,)),
      compile_seconds=meta["timings"][name]["compile_seconds"],
      train_seconds=meta["timings"][name]["train_seconds"],
      diagnostics={k: np.asarray(c[k]).reshape(shape) for k in recorded})
          for name, c in columns.items()]
