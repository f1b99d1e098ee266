"""Lifelong RL in JAX: PPO on task sequences, to compare optimizers' plasticity.

An optional part of ``trac_optax`` (``pip install "trac-optax[rl]"``); the
optimizer itself never imports it. The command line is
``trac-optax-lifelong``; from Python, :func:`run_lifelong` takes any Optax
transform.
"""

from trac_optax.lifelong._config import LifelongConfig
from trac_optax.lifelong._optimizers import OPTIMIZERS
from trac_optax.lifelong._optimizers import make_optimizer
from trac_optax.lifelong._optimizers import optimizer_scale
from trac_optax.lifelong._ppo import PPO
from trac_optax.lifelong._ppo import AgentState
from trac_optax.lifelong._ppo import gae
from trac_optax.lifelong._report import read_results
from trac_optax.lifelong._report import write_results
from trac_optax.lifelong._run import LifelongRun
from trac_optax.lifelong._run import run_lifelong
from trac_optax.lifelong._stats import Interval
from trac_optax.lifelong._stats import bootstrap_ci
from trac_optax.lifelong._stats import summary_table
from trac_optax.lifelong._tasks import CONTROL_ENVS
from trac_optax.lifelong._tasks import TaskSuite
from trac_optax.lifelong._tasks import control_suite
from trac_optax.lifelong._wrappers import ShiftObservations
from trac_optax.lifelong._wrappers import ShiftParams

__all__ = (
    "AgentState",
    "CONTROL_ENVS",
    "Interval",
    "LifelongConfig",
    "LifelongRun",
    "OPTIMIZERS",
    "PPO",
    "ShiftObservations",
    "ShiftParams",
    "TaskSuite",
    "bootstrap_ci",
    "control_suite",
    "gae",
    "make_optimizer",
    "optimizer_scale",
    "read_results",
    "run_lifelong",
    "summary_table",
    "write_results",
)
