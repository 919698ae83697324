"""Named schedule presets for the spec's `diffusion:` section (no torch here).

    diffusion: {preset: sd}                 # Stable Diffusion v1 (ε-prediction)
    diffusion: {preset: sd_v}               # SD 2.x 768-v (v-prediction)
    diffusion: {preset: ldm}                # CompVis LDM configs (the field defaults)

Fields written next to `preset` override it.
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    # CompVis LDM (e.g. cin256, layout, semantic configs): linear 0.0015 → 0.0195, T = 1000.
    "ldm": {"timesteps": 1000, "schedule": "linear", "linear_start": 0.0015,
            "linear_end": 0.0195, "prediction": "eps"},
    # Stable Diffusion v1 (diffusers "scaled_linear"): 0.00085 → 0.012, T = 1000.
    "sd": {"timesteps": 1000, "schedule": "scaled_linear", "linear_start": 0.00085,
           "linear_end": 0.012, "prediction": "eps"},
    # Stable Diffusion 2.x 768-v: the SD betas with v-prediction.
    "sd_v": {"timesteps": 1000, "schedule": "scaled_linear", "linear_start": 0.00085,
             "linear_end": 0.012, "prediction": "v"},
}


def preset_fields(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ValueError(f"unknown diffusion preset '{name}' (known: {', '.join(PRESETS)})")
    return dict(PRESETS[name])
