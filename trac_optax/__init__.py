"""TRAC, the parameter-free optimizer for lifelong learning, as an Optax transform."""

from trac_optax._diagnostics import scale
from trac_optax._diagnostics import trac_state
from trac_optax._erfi import erfi
from trac_optax._plasticity import L2InitState
from trac_optax._plasticity import ShrinkPerturbState
from trac_optax._plasticity import l2_init
from trac_optax._plasticity import shrink_and_perturb
from trac_optax._trac import DEFAULT_BETAS
from trac_optax._trac import DEFAULT_RECOVER_AFTER
from trac_optax._trac import TracState
from trac_optax._trac import trac

__version__ = "0.1.0"

__all__ = (
    "DEFAULT_BETAS",
    "DEFAULT_RECOVER_AFTER",
    "L2InitState",
    "ShrinkPerturbState",
    "TracState",
    "erfi",
    "l2_init",
    "scale",
    "shrink_and_perturb",
    "trac",
    "trac_state",
)
