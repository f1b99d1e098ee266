"""Policy and value networks: separate MLPs, as in the paper's control runs."""

from __future__ import annotations

import flax.linen as nn
import jax


class MLP(nn.Module):
  """``layers`` hidden Dense layers of width ``hidden`` with LeakyReLU.

  Attributes:
    out: output width (number of actions for the policy, 1 for the value).
    hidden: hidden width.
    layers: number of hidden layers.
    negative_slope: LeakyReLU slope for negative inputs.
    layer_norm: apply LayerNorm after each hidden Dense layer.
  """

  out: int
  hidden: int = 128
  layers: int = 3
  negative_slope: float = 0.1
  layer_norm: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for _ in range(self.layers):
      x = nn.Dense(self.hidden)(x)
      if self.layer_norm:
        x = nn.LayerNorm()(x)
      x = nn.leaky_relu(x, self.negative_slope)
    return nn.Dense(self.out)(x)
