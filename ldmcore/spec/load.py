"""Load a spec from YAML or a dict, apply `key=value` overrides, resolve interpolations.

An override that changes a node's `type` replaces that node's params instead of deep-merging
the old type's keys into the new one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..errors import SpecError


class _SpecLoader(yaml.SafeLoader):
    """YAML with one kindness: a bare `null:` key (the conditioner's CFG null mode) stays the
    string "null" instead of becoming None."""

    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep=deep)
        if None in mapping:
            mapping["null"] = mapping.pop(None)
        return mapping


def _read_yaml(path: Path) -> DictConfig:
    if not path.is_file():
        raise SpecError(f"spec file not found: {path}")
    try:
        cfg = OmegaConf.create(yaml.load(path.read_text(), Loader=_SpecLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise SpecError(f"{where}: YAML syntax error: {exc.problem}") from None
    except (yaml.YAMLError, OmegaConfBaseException) as exc:
        raise SpecError(f"{path}: cannot read spec: {exc}".splitlines()[0]) from None
    if not isinstance(cfg, DictConfig):
        raise SpecError(f"{path}: a spec must be a mapping at the top level")
    return cfg


def _split(override: str) -> tuple[str, str]:
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"override '{override}': expected key=value")
    return key.strip(), value


def _apply_overrides(cfg: DictConfig, overrides: Iterable[str]) -> DictConfig:
    for override in overrides:
        key, value = _split(override)
        try:
            parsed = OmegaConf.from_dotlist([f"{key}={value}"])
        except OmegaConfBaseException as exc:
            raise SpecError(f"override '{override}': {exc}".splitlines()[0]) from None
        if key.endswith(".type"):
            node_key = key[: -len(".type")]
            node = OmegaConf.select(cfg, node_key, default=None)
            if isinstance(node, DictConfig) and node.get("type") != OmegaConf.select(parsed, key):
                # A new type means a new params model: drop the old params entirely.
                node.pop("params", None)
        cfg = OmegaConf.merge(cfg, parsed)
    return cfg


def load_raw(
    source: str | Path | Mapping[str, Any], overrides: Iterable[str] = (),
    name: str | None = None,
) -> tuple[dict[str, Any], str]:
    """Return (plain dict, a name for messages) with overrides applied and `${...}` resolved.
    A dict is named `name` in messages (e.g. the file it was stored in), else `<dict>`."""
    if isinstance(source, Mapping):
        name = name or "<dict>"
        cfg = OmegaConf.create(dict(source))
    else:
        name = str(source)
        cfg = _read_yaml(Path(source))
    cfg = _apply_overrides(cfg, overrides)
    try:
        data = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        msg = str(exc).splitlines()[0]
        raise SpecError(f"{name}: {key + ': ' if key else ''}{msg}") from None
    return data, name
