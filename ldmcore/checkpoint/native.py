"""ldmcore's own format: one safetensors file, the resolved spec in its metadata.

    ldmcore.save(model, "model.safetensors"); model = ldmcore.load("model.safetensors")

Layer: checkpoint. Reading a file back into a model needs the builder, so `ldmcore.load` lives
in ldmcore.sources; this module only writes and reads files.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any

from ..errors import CheckpointError

SPEC_KEY = "ldmcore.spec"


def spec_json(spec: Any) -> str:
    # key order kept: the conditioners' order is the order of their concat channels (and
    # cross-attention tokens), so a sorted spec would rebuild another model from the weights
    return json.dumps(spec.model_dump(mode="json"))


def save(model: Any, path: str | Path, *, state_dict: dict | None = None,
         extra_metadata: dict[str, str] | None = None) -> Path:
    """Write `model`'s weights (or `state_dict`) with its spec, atomically (temp + rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    state = state_dict if state_dict is not None else model.state_dict()
    tensors = _plain(state)
    metadata = {SPEC_KEY: spec_json(model.spec), "format": "ldmcore", **(extra_metadata or {})}
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_orphans(path)
        save_file(tensors, str(tmp), metadata=metadata)
        tmp.chmod(0o644)  # safetensors creates 0600; a model file is meant to be shared
        os.replace(tmp, path)
    except Exception as exc:  # noqa: BLE001 - OSError, SafetensorError: disk full, read-only
        tmp.unlink(missing_ok=True)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        kept = " (the existing file is unchanged)" if path.is_file() else ""
        raise CheckpointError(f"cannot write {path}: {why.splitlines()[0]}{kept}") from None
    return path


_SAFETENSORS_TMP = re.compile(r"^\.tmp[A-Za-z0-9_]{6}$")  # safetensors' own temp file name
ORPHAN_AGE_S = 60.0


def remove_orphans(path: Path) -> list[Path]:
    """Delete what a killed write of `path` left beside it: our `.NAME.tmp`, and safetensors'
    `.tmpXXXXXX` files that hold a safetensors header and have not been written to for a
    minute (a write in progress keeps touching its file)."""
    removed = []
    for orphan in path.parent.glob(".tmp*"):
        if _SAFETENSORS_TMP.match(orphan.name) and _stale_safetensors(orphan):
            orphan.unlink(missing_ok=True)
            removed.append(orphan)
    own = path.with_name(f".{path.name}.tmp")
    if own.exists() and not own.is_dir():
        own.unlink(missing_ok=True)
        removed.append(own)
    return removed


def _stale_safetensors(p: Path) -> bool:
    import time

    try:
        if not p.is_file() or time.time() - p.stat().st_mtime < ORPHAN_AGE_S:
            return False
        with open(p, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{"


def _plain(state: dict) -> dict:
    """CPU, contiguous, no two tensors sharing memory (safetensors refuses shared storage)."""
    out, seen = {}, set()
    for k, v in state.items():
        v = v.detach().cpu().contiguous()
        if v.numel() and v.data_ptr() in seen:
            v = v.clone()
        seen.add(v.data_ptr())
        out[k] = v
    return out


def read_metadata(path: str | Path) -> dict[str, str]:
    """The file's metadata, parsed once per file version (a command asks several times)."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: a folder, expected a .safetensors file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    stat = path.stat()
    try:
        return dict(_header(str(path.resolve()), stat.st_mtime_ns, stat.st_size))
    except PermissionError:
        raise CheckpointError(f"{path}: permission denied") from None
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for bad files
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None


@functools.lru_cache(maxsize=64)
def _header(path: str, mtime_ns: int, size: int) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        return f.metadata() or {}


def read_tensors(path: str | Path) -> dict:
    from .readers import read_safetensors

    return read_safetensors(Path(path))[0]


def stored_spec(path: str | Path, metadata: dict[str, str]) -> dict | None:
    """The spec a native file carries (None if it carries none)."""
    text = metadata.get(SPEC_KEY)
    if text is None:
        return None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: metadata '{SPEC_KEY}' is not JSON ({exc.msg})") from None
    if not isinstance(spec, dict):
        raise CheckpointError(f"{path}: metadata '{SPEC_KEY}' is not a spec mapping")
    return spec
