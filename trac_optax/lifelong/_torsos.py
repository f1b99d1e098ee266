"""Policy and value networks for any observation shape: flat MLP or small CNN."""

from __future__ import annotations

import flax.linen as nn
import jax

from trac_optax.lifelong._config import LifelongConfig
from trac_optax.lifelong._networks import MLP


class ObservationNet(nn.Module):
  """A torso for observations of shape ``obs_shape``, then the harness MLP.

  The observation's trailing ``len(obs_shape)`` axes are the observation;
  any leading axes are batch axes. With ``conv_features == 0`` the
  observation is flattened into the MLP. Otherwise the observation must be
  an image ``(height, width, channels)``: one 3x3 convolution with
  ``conv_features`` filters (stride 1, same padding) and the activation run
  first, as in MinAtar's reference network, and its output is flattened into
  the MLP.

  Attributes:
    out: output width (number of actions for the policy, 1 for the value).
    obs_shape: the shape of one observation.
    hidden: hidden width of the MLP.
    layers: hidden layers of the MLP.
    layer_norm: LayerNorm after the convolution and each hidden layer.
    conv_features: filters of the convolution; 0 for none.
    negative_slope: LeakyReLU slope for negative inputs.
  """

  out: int
  obs_shape: tuple[int, ...]
  hidden: int = 128
  layers: int = 3
  layer_norm: bool = False
  conv_features: int = 0
  negative_slope: float = 0.1

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    batch = x.shape[:x.ndim - len(self.obs_shape)]
    if self.conv_features:
      x = nn.Conv(self.conv_features, (3, 3), padding="SAME")(x)
      if self.layer_norm:
        x = nn.LayerNorm(reduction_axes=(-3, -2, -1))(x)
      x = nn.leaky_relu(x, self.negative_slope)
    x = x.reshape(batch + (-1,))
    return MLP(out=self.out, hidden=self.hidden, layers=self.layers,
               negative_slope=self.negative_slope,
               layer_norm=self.layer_norm)(x)


CNN_FEATURES = 16
"""Filters of the ``"cnn"`` network's convolution (MinAtar's reference: 16)."""


def make_networks(config: LifelongConfig, obs_shape: tuple[int, ...],
                  num_actions: int) -> tuple[nn.Module, nn.Module]:
  """The policy and value networks for ``config.network``.

  Vector observations with ``"mlp"`` get the harness :class:`MLP` unchanged;
  other shapes are flattened first. ``"cnn"`` needs image observations.

  Args:
    config: the run's configuration (``network``, ``hidden``, ``layers``,
      ``layer_norm``).
    obs_shape: the shape of one observation.
    num_actions: the policy's output width.

  Returns:
    ``(actor, critic)``, separate networks of the same architecture.

  Raises:
    ValueError: ``"cnn"`` with observations that are not images.
  """
  if config.network == "mlp" and len(obs_shape) == 1:
    actor, critic = (MLP(out=out, hidden=config.hidden, layers=config.layers,
                         layer_norm=config.layer_norm)
                     for out in (num_actions, 1))
    return actor, critic
  if config.network == "cnn" and len(obs_shape) != 3:
    raise ValueError(
        f"network='cnn' needs image observations (height, width, channels); "
        f"this suite's observations have shape {obs_shape}. Use "
        "network='mlp'.")
  conv = CNN_FEATURES if config.network == "cnn" else 0
  actor, critic = (ObservationNet(out=out, obs_shape=tuple(obs_shape),
                                  hidden=config.hidden, layers=config.layers,
                                  layer_norm=config.layer_norm,
                                  conv_features=conv)
                   for out in (num_actions, 1))
  return actor, critic
