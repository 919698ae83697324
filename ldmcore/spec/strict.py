"""The base of every spec model: unknown keys are errors, never silently dropped."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())
