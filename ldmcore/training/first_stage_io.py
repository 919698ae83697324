"""The trainer's view of first-stage exports; the format lives in ldmcore.checkpoint.first_stage
(the builder reads it too, and the builder must not import the trainer)."""

from ..checkpoint.first_stage import EXPORT_NAME, PART_KEY, export_first_stage, load_first_stage

__all__ = ["EXPORT_NAME", "PART_KEY", "export_first_stage", "load_first_stage"]
