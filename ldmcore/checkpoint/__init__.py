"""Checkpoint I/O: native safetensors (spec in metadata), CompVis/SD .ckpt, diffusers folders."""
