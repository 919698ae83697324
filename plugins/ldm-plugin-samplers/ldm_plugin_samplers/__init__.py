"""Samplers (scheduler kind) and guiders for ldmcore: DDPM, DDIM, PLMS, DPM-Solver++(2M), Euler,
Euler-ancestral; none, CFG, classifier and image (L2) guidance."""
