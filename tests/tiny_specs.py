"""Overrides that shrink any configs/*.yaml to a seconds-long model (16² images, tiny nets)."""

TINY = [
    "image_size=16", "first_stage.params.resolution=16", "first_stage.params.ch=8",
    "first_stage.params.norm_groups=8", "denoiser.params.model_channels=16",
    "denoiser.params.channel_mult=[1,2]", "denoiser.params.num_res_blocks=1",
    "denoiser.params.attention_resolutions=[2]", "denoiser.params.num_head_channels=8",
    "denoiser.params.norm_groups=8", "diffusion.timesteps=100",
]
