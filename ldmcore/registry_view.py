"""The registry's published view (registry/): components.json and graph.schema.json.

Generated from the installed plugins by `ldm registry build`, committed, and compared by
`ldm registry check` so CI fails when it is stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import SpecError
from .ports import Latent
from .registry import Registry

#: a latent used only to describe conditioner ports in the published view
_PROBE_LATENT = Latent(channels=4, factor=4)


def _ports(kind: str, params_model: type) -> Any:
    try:
        params = params_model()
    except Exception:  # noqa: BLE001 - required params: ports depend on them
        return "depends on params"
    if kind == "first_stage":
        return repr(params.latent_port())
    if kind == "conditioner":
        out = {}
        for wiring in ("crossattn", "concat", "vector"):
            try:
                out[wiring] = repr(params.output_port(wiring, _PROBE_LATENT))
            except Exception:  # noqa: BLE001 - this wiring is not supported
                continue
        return out
    if kind == "task":
        return {"requires": sorted(params.required_keys()), "adds": sorted(params.added_keys())}
    if kind == "dataset":
        return {"provides": sorted(params.provided_keys())}
    if kind == "denoiser":
        return "in: Latent (+ concat Spatial), context: Context, vector: Vector; out: Latent"
    return None


def component_entries(registry: Registry) -> dict[str, dict[str, dict]]:
    return {
        kind: {
            name: {
                "plugin": info.plugin.name,
                "distribution": info.plugin.distribution,
                "version": info.plugin.version,
                "description": info.description,
                "params_schema": info.params_model.model_json_schema(),
                "ports": _ports(kind, info.params_model),
            }
            for name, info in sorted(named.items())
        }
        for kind, named in registry.components.items()
    }


def graph_schema(registry: Registry) -> dict:
    from .spec.models import spec_model

    schema = spec_model(registry).model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ldmcore graph spec"
    return schema


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def rendered(registry: Registry) -> dict[str, str]:
    """File name (relative to registry/) -> content."""
    return {
        "components.json": _dump(component_entries(registry)),
        "graph.schema.json": _dump(graph_schema(registry)),
    }


def write(registry: Registry, root: Path) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered(registry).items():
        path = root / name
        path.write_text(text)
        written.append(path)
    return written


def check(registry: Registry, root: Path) -> None:
    """Raise SpecError naming the first stale file."""
    for name, text in rendered(registry).items():
        path = root / name
        if not path.is_file():
            raise SpecError(f"{path} is missing; run `ldm registry build`")
        if path.read_text() != text:
            raise SpecError(f"{path} is stale (plugins changed); run `ldm registry build`")
