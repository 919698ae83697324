"""Strict state-dict loading with a readable report of missing / unexpected / mis-shaped keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import CheckpointError


@dataclass
class LoadReport:
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    #: keys whose dtype cannot stand for the model's (an int32 tensor for a float weight)
    wrong_dtype: list[tuple[str, str, str]] = field(default_factory=list)
    #: float tensors holding NaN or inf: loading them would sample NaN images
    non_finite: list[str] = field(default_factory=list)
    #: checkpoint keys set aside on purpose (loss.*, schedule buffers, unrequested EMA...)
    ignored: list[str] = field(default_factory=list)
    #: facts worth telling (EMA used, scale_factor kept from the spec, schedule differs...)
    notes: list[str] = field(default_factory=list)
    #: what the shapes say about a mismatch ("checkpoint looks like SD v2 (...) but ...")
    hint: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched or self.wrong_dtype
                    or self.non_finite)

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
        if self.wrong_dtype:
            k, want, got = self.wrong_dtype[0]
            parts.append(f"{len(self.wrong_dtype)} of the wrong dtype ({k}: model {want}, "
                         f"checkpoint {got}{', ...' if len(self.wrong_dtype) > 1 else ''})")
        if self.non_finite:
            shown = ", ".join(self.non_finite[:limit])
            parts.append(f"{len(self.non_finite)} holding NaN/inf ({shown}"
                         f"{', ...' if len(self.non_finite) > limit else ''})")
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
        mine, theirs = own[k], state[k]
        if tuple(mine.shape) != tuple(theirs.shape):
            report.mismatched.append((k, tuple(mine.shape), tuple(theirs.shape)))
        elif not hasattr(theirs, "dtype"):
            continue
        elif mine.is_floating_point() != theirs.is_floating_point():
            report.wrong_dtype.append((k, _dtype(mine), _dtype(theirs)))
        elif theirs.is_floating_point() and not _finite(theirs):
            report.non_finite.append(k)
    return report


def _dtype(t) -> str:
    return str(t.dtype).removeprefix("torch.")


def _finite(t) -> bool:
    import torch

    return bool(torch.isfinite(t).all()) if t.numel() else True


def load_strict(module, state: dict, *, source: str, strict: bool = True) -> LoadReport:
    """Load `state` into `module`; on any mismatch raise naming the file and first keys.

    With strict=False, mismatches are returned in the report (never silently printed) and only
    the keys that fit are loaded; mis-shaped, wrongly typed or non-finite keys never are.
    """
    report = compare(module, state)
    if strict and not report.ok:
        raise CheckpointError(f"{source}: does not match the model: {report.summary()}")
    bad = {k for k, _, _ in report.mismatched + report.wrong_dtype} | set(report.non_finite)
    fitting = {k: v for k, v in state.items() if k not in bad and k not in report.unexpected}
    module.load_state_dict(fitting, strict=False)
    return report
