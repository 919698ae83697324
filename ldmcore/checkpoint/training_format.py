"""What an `ldm train` checkpoint (.pt) holds, as far as reading its weights goes. Writing,
resuming and verifying them is ldmcore.training.checkpointing; this layer only needs to
recognise one (`denoiser.checkpoint=step_N.pt`) and take its weights."""

from __future__ import annotations

from typing import Any

FORMAT = "ldmcore-train/1"


def is_training_state(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def exported_weights(state: dict[str, Any]) -> dict[str, Any]:
    """A training checkpoint's weights as its run's export would hold them, in the keys of the
    whole model: the EMA where one is kept, a first stage's keys under `first_stage.`."""
    if state["stage"] == "first_stage":
        return {f"first_stage.{k}": v for k, v in state["model"].items()}
    return {**state["model"], **(state.get("ema") or {})}
