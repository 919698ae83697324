"""First-stage autoencoders for ldmcore (Rombach et al. 2022, Sec. 3.1 and Appendix G).

Components (kind ``first_stage``): ``kl`` (KL-regularised, diagonal Gaussian posterior),
``vq`` (vector-quantised; diffusion runs on the pre-quantisation latent) and ``identity``
(pixel space, "LDM-1"). Module names follow the CompVis tree so that CompVis / Stable Diffusion
``first_stage_model.*`` weights load strictly.
"""

__version__ = "0.1.0"
