"""What differs between two plain spec dicts: 'path: old -> new' per changed leaf."""

from __future__ import annotations

import json
from typing import Any

from ..dotted import under


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    return {prefix: value}


def spec_diff(old: dict, new: dict, ignore: tuple[str, ...] = (), limit: int = 6) -> list[str]:
    """'path: old -> new' for every leaf that differs (keys under `ignore` skipped)."""
    a, b = _flatten(old), _flatten(new)
    lines = []
    for key in sorted(set(a) | set(b)):
        if under(key, ignore) or a.get(key, "<absent>") == b.get(key, "<absent>"):
            continue
        lines.append(f"{key}: {json.dumps(a.get(key, '<absent>'))} -> "
                     f"{json.dumps(b.get(key, '<absent>'))}")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... {len(lines) - limit} more"]
    return lines
