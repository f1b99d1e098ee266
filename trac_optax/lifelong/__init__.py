"""Lifelong RL in JAX: PPO on task sequences, to compare optimizers' plasticity.

An optional part of ``trac_optax`` (``pip install "trac-optax[rl]"``); the
optimizer itself never imports it. The command line is
``trac-optax-lifelong``; from Python, :func:`run_lifelong` takes any Optax
transform.
"""

from trac_optax.lifelong._config import LifelongConfig
from trac_optax.lifelong._craftax import craftax_suite
from trac_optax.lifelong._gymnasium import GymnasiumEnv
from trac_optax.lifelong._gymnasium import gymnasium_suite
from trac_optax.lifelong._minatar import MINATAR_GAMES
from trac_optax.lifelong._minatar import minatar_suite
from trac_optax.lifelong._optimizers import OPTIMIZERS
from trac_optax.lifelong._optimizers import make_optimizer
from trac_optax.lifelong._optimizers import optimizer_scale
from trac_optax.lifelong._plasticity_score import own_reset_scores
from trac_optax.lifelong._plasticity_score import plasticity_scores
from trac_optax.lifelong._ppo import PPO
from trac_optax.lifelong._ppo import AgentState
from trac_optax.lifelong._ppo import gae
from trac_optax.lifelong._report import read_results
from trac_optax.lifelong._report import write_results
from trac_optax.lifelong._reset import reinitialise
from trac_optax.lifelong._run import LifelongRun
from trac_optax.lifelong._run import run_lifelong
from trac_optax.lifelong._sharding import seed_sharding
from trac_optax.lifelong._stats import Interval
from trac_optax.lifelong._stats import bootstrap_ci
from trac_optax.lifelong._stats import summary_table
from trac_optax.lifelong._suites import SUITES
from trac_optax.lifelong._suites import make_suite
from trac_optax.lifelong._suites import suite_config
from trac_optax.lifelong._tasks import CONTROL_ENVS
from trac_optax.lifelong._tasks import TaskSuite
from trac_optax.lifelong._tasks import control_suite
from trac_optax.lifelong._wrappers import ShiftObservations
from trac_optax.lifelong._wrappers import ShiftParams

__all__ = (
    "AgentState",
    "CONTROL_ENVS",
    "GymnasiumEnv",
    "Interval",
    "LifelongConfig",
    "LifelongRun",
    "MINATAR_GAMES",
    "OPTIMIZERS",
    "PPO",
    "SUITES",
    "ShiftObservations",
    "ShiftParams",
    "TaskSuite",
    "bootstrap_ci",
    "control_suite",
    "craftax_suite",
    "gae",
    "gymnasium_suite",
    "make_optimizer",
    "make_suite",
    "minatar_suite",
    "optimizer_scale",
    "own_reset_scores",
    "plasticity_scores",
    "read_results",
    "reinitialise",
    "run_lifelong",
    "seed_sharding",
    "suite_config",
    "summary_table",
    "write_results",
)
