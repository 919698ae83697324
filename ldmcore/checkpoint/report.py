"""Strict state-dict loading with a readable report of missing / unexpected / mis-shaped keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import CheckpointError


@dataclass
class LoadReport:
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    #: checkpoint keys set aside on purpose (loss.*, schedule buffers, unrequested EMA...)
    ignored: list[str] = field(default_factory=list)
    #: facts worth telling (EMA used, scale_factor kept from the spec, schedule differs...)
    notes: list[str] = field(default_factory=list)
    #: what the shapes say about a mismatch ("checkpoint looks like SD v2 (...) but ...")
    hint: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self, limit: int = 3) -> str:
        parts = []
        for label, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                parts.append(f"{len(keys)} {label} ({', '.join(keys[:limit])}"
                             f"{', ...' if len(keys) > limit else ''})")
        if self.mismatched:
            k, want, got = self.mismatched[0]
            parts.append(f"{len(self.mismatched)} mis-shaped ({k}: model {list(want)}, "
                         f"checkpoint {list(got)}{', ...' if len(self.mismatched) > 1 else ''})")
        if self.hint and parts:
            parts.append(self.hint)
        return "; ".join(parts) or "all keys match"


def compare(module, state: dict) -> LoadReport:
    own = module.state_dict()
    report = LoadReport(
        missing=sorted(set(own) - set(state)),
        unexpected=sorted(set(state) - set(own)),
    )
    for k in sorted(set(own) & set(state)):
        if tuple(own[k].shape) != tuple(state[k].shape):
            report.mismatched.append((k, tuple(own[k].shape), tuple(state[k].shape)))
    return report


def load_strict(module, state: dict, *, source: str, strict: bool = True) -> LoadReport:
    """Load `state` into `module`; on any mismatch raise naming the file and first keys.

    With strict=False, mismatches are returned in the report (never silently printed) and only
    the keys that fit are loaded; mis-shaped keys are never loaded.
    """
    report = compare(module, state)
    if strict and not report.ok:
        raise CheckpointError(f"{source}: does not match the model: {report.summary()}")
    bad = {k for k, _, _ in report.mismatched}
    fitting = {k: v for k, v in state.items() if k not in bad and k not in report.unexpected}
    module.load_state_dict(fitting, strict=False)
    return report
