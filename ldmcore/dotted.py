"""Dotted names (state-dict keys, spec paths): `decoder` covers `decoder` and `decoder.*`."""

from __future__ import annotations

from collections.abc import Iterable


def under(name: str, prefixes: Iterable[str]) -> bool:
    """Whether `name` is one of `prefixes` or lies below one (`a.b` is under `a`, `ab` is not)."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)
