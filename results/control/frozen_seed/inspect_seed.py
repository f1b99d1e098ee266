"""Prints one seed's per-iteration diagnostics over a range of a replay's iterations.

Reads the replay's per-task metrics (``<out>/progress/metrics_taskNN.npz``),
so it works while the replay is still running.

  python results/control/frozen_seed/inspect_seed.py \
      results/control/frozen_seed/original_code 4 1800 1830
"""

import pathlib
import sys

import numpy as np

folder, seed, first, last = (pathlib.Path(sys.argv[1]), int(sys.argv[2]),
                             int(sys.argv[3]), int(sys.argv[4]))
tasks = sorted((folder / "progress").glob("metrics_task*.npz"))
metrics = [np.load(path) for path in tasks]
joined = {k: np.concatenate([m[k] for m in metrics], axis=1)
          for k in metrics[0].files if k != "obs_mean"}
columns = ("return", "episodes", "scale", "skipped", "delta_norm", "h_last",
           "h_mean", "h_max_abs", "entropy")
print("| iteration | " + " | ".join(columns) + " |")
print("|" + "---|" * (len(columns) + 1))
for i in range(first, min(last, joined["return"].shape[1]) + 1):
  cells = [f"{joined[k][seed, i - 1]:.4g}" for k in columns]
  print(f"| {i} | " + " | ".join(cells) + " |")
