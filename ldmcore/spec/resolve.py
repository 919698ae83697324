"""From a source (path, dict) to a validated, port-checked Spec: one entry point, one error type."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import SpecError
from ..registry import Registry
from .load import load_raw
from .models import spec_model
from .wiring import check_wiring

# Where each kind's nodes sit in the spec: a path, with "*" for a dict of named nodes.
NODE_PATHS: dict[str, list[tuple[str, ...]]] = {
    "task": [("task",)],
    "first_stage": [("first_stage",)],
    "conditioner": [("conditioners", "*")],
    "denoiser": [("denoiser",)],
    "scheduler": [("sampler",)],
    "guider": [("guider",)],
    "dataset": [("training", "dataset"), ("training", "val_dataset")],
    "evaluator": [("evaluators", "*")],
}


def _nodes(data: Mapping[str, Any], path: tuple[str, ...]):
    """Yield (dotted path, node dict) for every node at `path` ("*" expands a mapping)."""
    items: list[tuple[str, Any]] = [("", data)]
    for part in path:
        nxt = []
        for prefix, node in items:
            if not isinstance(node, Mapping):
                continue
            keys = list(node) if part == "*" else [part]
            nxt += [(f"{prefix}.{k}".lstrip("."), node[k]) for k in keys if k in node]
        items = nxt
    return [(p, n) for p, n in items if isinstance(n, Mapping)]


def _check_types(data: Mapping[str, Any], registry: Registry, name: str) -> None:
    """Unknown `type`s first, with the list of known ones (clearer than a union error)."""
    for kind, paths in NODE_PATHS.items():
        for path in paths:
            for where, node in _nodes(data, path):
                if "type" not in node:
                    raise SpecError(f"{name}: {where}.type: field required")
                registry.get(kind, str(node["type"]), where=f"{name}: {where}")


def _loc_to_path(loc: tuple, data: Any) -> str:
    """Dotted path of a pydantic error location, without discriminator tags."""
    parts, node = [], data
    for elem in loc:
        if isinstance(node, Mapping) and elem not in node and node.get("type") == elem:
            continue  # the union tag pydantic inserts, e.g. first_stage.<kl>.params
        parts.append(str(elem))
        if isinstance(node, Mapping):
            node = node.get(elem)
        elif isinstance(node, list) and isinstance(elem, int) and elem < len(node):
            node = node[elem]
        else:
            node = None
    return ".".join(parts)


#: the registry kind of the node under each top-level spec key
_KIND_AT = {path[0]: kind for kind, paths in NODE_PATHS.items() for path in paths}
_KIND_AT["training"] = "dataset"


def _required_params(loc: tuple, registry: Registry | None) -> list[str]:
    """`guider.<cfg>.params` missing: the fields of cfg's params that must be given."""
    if registry is None or len(loc) < 2 or loc[-1] != "params":
        return []
    kind, tag = _KIND_AT.get(str(loc[0])), str(loc[-2])
    info = registry.components.get(kind, {}).get(tag) if kind else None
    if info is None:
        return []
    return [n for n, f in info.params_model.model_fields.items() if f.is_required()]


def format_validation_error(exc: ValidationError, data: Any, name: str,
                            registry: Registry | None = None) -> str:
    errors = exc.errors()
    first = errors[0]
    path = _loc_to_path(first["loc"], data) or "<root>"
    if first["type"] == "missing":  # name the field, not only the node that lacks it
        required = _required_params(first["loc"], registry)
        if required:
            path = f"{path}.{required[0]}"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{name}: {path}: {msg} [{first['type']}]{more}"


def validate_data(data: Mapping[str, Any], registry: Registry, name: str = "<dict>") -> BaseModel:
    if not isinstance(data.get("spec_version"), int):
        raise SpecError(f"{name}: spec_version: field required (this ldmcore reads version 1)")
    _check_types(data, registry, name)
    try:
        spec = spec_model(registry).model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, data, name, registry)) from None
    wiring = check_wiring(spec, name)
    factor = wiring.latent.factor
    if spec.image_size % factor:  # the first stage would silently crop (30 -> 28 at f=4)
        raise SpecError(f"{name}: image_size: {spec.image_size} is not a multiple of the first "
                        f"stage's downsampling factor f={factor}")
    return spec


def resolve_spec(
    source: str | Path | Mapping[str, Any],
    overrides: Iterable[str] = (),
    *,
    registry: Registry | None = None,
    name: str | None = None,
) -> BaseModel:
    """Load, override, validate and port-check a spec. Raises SpecError with a one-line message
    naming the spec (`name` names a dict source: the file it came from)."""
    if registry is None:
        from ..plugins import default_registry

        registry = default_registry()
    data, name = load_raw(source, overrides, name)
    return validate_data(data, registry, name)
