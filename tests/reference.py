"""An independent float64 NumPy implementation of TRAC, for the tests.

Written directly from the paper's Algorithms 1 and 2 (TRAC wrapping a base
optimizer; the discounted 1-D erfi tuner), with ``scipy.special.erfi``. It
shares no code with the package: flat float64 vectors, plain loops.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.special

PAPER_BETAS = (0.9, 0.99, 0.999, 0.9999, 0.99999, 0.999999)


@dataclasses.dataclass
class Sgd:
  lr: float

  def step(self, g: np.ndarray, params: np.ndarray) -> np.ndarray:
    del params
    return -self.lr * g


@dataclasses.dataclass
class Adam:
  """Adam; with ``weight_decay`` it is AdamW (decoupled, on the base iterate)."""

  lr: float
  b1: float = 0.9
  b2: float = 0.999
  eps: float = 1e-8
  weight_decay: float = 0.0
  t: int = 0
  m: np.ndarray | None = None
  v: np.ndarray | None = None

  def step(self, g: np.ndarray, params: np.ndarray) -> np.ndarray:
    if self.m is None:
      self.m, self.v = np.zeros_like(g), np.zeros_like(g)
    self.t += 1
    self.m = self.b1 * self.m + (1 - self.b1) * g
    self.v = self.b2 * self.v + (1 - self.b2) * g * g
    m_hat = self.m / (1 - self.b1**self.t)
    v_hat = self.v / (1 - self.b2**self.t)
    direction = m_hat / (np.sqrt(v_hat) + self.eps)
    return -self.lr * (direction + self.weight_decay * params)


@dataclasses.dataclass
class Trac:
  """TRAC in float64: theta = theta_ref + S * delta."""

  theta_ref: np.ndarray
  base: object
  betas: tuple[float, ...] = PAPER_BETAS
  s_init: float = 1e-8
  eps: float = 1e-8

  def __post_init__(self):
    n = len(self.betas)
    self.theta_ref = np.array(self.theta_ref, np.float64)
    self.delta = np.zeros_like(self.theta_ref)
    self.v = np.zeros(n)
    self.sigma = np.zeros(n)
    self.s = np.zeros(n)
    self.scale = 0.0

  @property
  def params(self) -> np.ndarray:
    return self.theta_ref + self.scale * self.delta

  def step(self, g: np.ndarray) -> np.ndarray:
    """One TRAC step given the gradient at ``self.params``; returns new params."""
    h = float(np.dot(g, self.delta))
    self.delta = self.delta + self.base.step(g, self.theta_ref + self.delta)
    norm = self.s_init / scipy.special.erfi(1 / np.sqrt(2))
    for j, beta in enumerate(self.betas):
      self.v[j] = beta**2 * self.v[j] + h**2
      self.sigma[j] = beta * self.sigma[j] - h
      ratio = self.sigma[j] / (np.sqrt(2 * self.v[j]) + self.eps)
      self.s[j] = norm * scipy.special.erfi(ratio)
    self.scale = max(float(np.sum(self.s)), 0.0)
    return self.params


class JumpingQuadratic:
  """0.5 * sum(a * (theta - c_k)**2) whose minimum c_k jumps every `period` steps."""

  def __init__(self, dim: int, period: int, seed: int = 0, jump: float = 3.0):
    rng = np.random.default_rng(seed)
    self.curvature = rng.uniform(0.5, 2.0, dim)
    self.period = period
    self.centers = rng.normal(0.0, jump, (64, dim))

  def center(self, t: int) -> np.ndarray:
    return self.centers[(t // self.period) % len(self.centers)]

  def grad(self, theta: np.ndarray, t: int) -> np.ndarray:
    return self.curvature * (theta - self.center(t))

  def loss(self, theta: np.ndarray, t: int) -> float:
    return 0.5 * float(np.sum(self.curvature * (theta - self.center(t))**2))
