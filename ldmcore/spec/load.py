"""Load a spec from YAML or a dict, apply `key=value` overrides, resolve interpolations.

An override that changes a node's `type` replaces that node's params instead of deep-merging
the old type's keys into the new one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
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


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise SpecError(f"{path}: a directory, expected a YAML spec file")
    if not path.is_file():
        raise SpecError(f"spec file not found: {path}")
    try:
        return path.read_text(encoding="utf-8")
    except PermissionError:
        raise SpecError(f"{path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not a text file (byte {exc.start} is not UTF-8); a spec is "
                        "YAML") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _read_yaml(path: Path) -> DictConfig:
    text = _read_text(path)
    try:
        raw = yaml.load(text, Loader=_SpecLoader)
        if not isinstance(raw, dict):
            what = "empty" if raw is None else f"a YAML {type(raw).__name__}"
            raise SpecError(f"{path}: {what}; a spec must be a mapping at the top level")
        cfg = OmegaConf.create(raw)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise SpecError(f"{where}: YAML syntax error: {exc.problem}") from None
    except (yaml.YAMLError, OmegaConfBaseException) as exc:
        raise SpecError(f"{path}: cannot read spec: {exc}".splitlines()[0]) from None
    except SpecError:
        raise
    except Exception as exc:  # noqa: BLE001 - OmegaConf refuses some YAML values (e.g. sets)
        raise SpecError(f"{path}: not a spec: {_first_line(exc)}") from None
    if not isinstance(cfg, DictConfig):
        raise SpecError(f"{path}: a spec must be a mapping at the top level")
    return cfg


def _split(override: str) -> tuple[str, str]:
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"override '{override}': expected key=value")
    return key.strip(), value


def _parse_value(override: str, key: str, value: str) -> DictConfig:
    try:
        return OmegaConf.from_dotlist([f"{key}={value}"])
    except yaml.MarkedYAMLError as exc:
        raise SpecError(f"override '{override}': the value is not valid YAML "
                        f"({exc.problem})") from None
    except Exception as exc:  # noqa: BLE001 - OmegaConf / YAML errors of many types
        raise SpecError(f"override '{override}': {_first_line(exc)}") from None


def _through_list(cfg: DictConfig, key: str, override: str) -> bool:
    """Whether `key` indexes into a list of `cfg` (checked: an index the list has)."""
    node: Any = cfg
    parts = key.split(".")
    for i, part in enumerate(parts[:-1] if len(parts) > 1 else []):
        if isinstance(node, DictConfig):
            node = node.get(part) if part in node else None
        if isinstance(node, ListConfig):
            where, index = ".".join(parts[: i + 1]), parts[i + 1]
            if not index.isdigit() or int(index) >= len(node):
                raise SpecError(f"override '{override}': {where} is a list of {len(node)} "
                                f"item(s); index it with 0..{len(node) - 1}, or give the whole "
                                f"list ({where}=[...])")
            return True
        if node is None:
            return False
    return False


def _apply_overrides(cfg: DictConfig, overrides: Iterable[str]) -> DictConfig:
    for override in overrides:
        key, value = _split(override)
        parsed = _parse_value(override, key, value)
        if key.endswith(".type"):
            node_key = key[: -len(".type")]
            node = OmegaConf.select(cfg, node_key, default=None)
            if isinstance(node, DictConfig) and node.get("type") != OmegaConf.select(parsed, key):
                # A new type means a new params model: drop the old params entirely.
                node.pop("params", None)
        try:
            if _through_list(cfg, key, override):
                OmegaConf.update(cfg, key, OmegaConf.select(parsed, key), merge=True)
            else:
                cfg = OmegaConf.merge(cfg, parsed)
        except SpecError:
            raise
        except Exception as exc:  # noqa: BLE001 - incompatible merges raise many types
            raise SpecError(f"override '{override}': {_first_line(exc)}") from None
    return cfg


def load_raw(
    source: str | Path | Mapping[str, Any], overrides: Iterable[str] = (),
    name: str | None = None,
) -> tuple[dict[str, Any], str]:
    """Return (plain dict, a name for messages) with overrides applied and `${...}` resolved.
    A dict is named `name` in messages (e.g. the file it was stored in), else `<dict>`."""
    if isinstance(source, Mapping):
        name = name or "<dict>"
        try:
            cfg = OmegaConf.create(dict(source))
        except Exception as exc:  # noqa: BLE001 - values OmegaConf cannot hold
            raise SpecError(f"{name}: not a spec: {_first_line(exc)}") from None
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
