"""ldm-plugin-tasks: the paper's seven tasks (unconditional ... superres, inpainting)."""
