"""ldm-plugin-unet: the time-conditional UNet eps_theta(z_t, t, tau_theta(y)) of LDM / SD.

Module tree and parameter names follow CompVis `openaimodel.UNetModel` so CompVis LDM and
Stable Diffusion v1/v2 checkpoints (`model.diffusion_model.*`) load strictly.
"""

from .params import UNetParams

__all__ = ["UNetParams"]
