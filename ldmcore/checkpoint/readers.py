"""Read a flat {key: tensor} state dict from a .ckpt/.pt/.pth or .safetensors file, safely.

Pickles are read with ``torch.load(weights_only=True)``: a file that would import or call
anything outside torch's allow-list (``os.system`` in a ``__reduce__``...) is refused. The one
exception is PyTorch Lightning bookkeeping (ModelCheckpoint callbacks in old CompVis .ckpt
files): those classes are replaced by inert stubs that run no code of the original class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import CheckpointError

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
#: class namespaces whose objects may appear in a Lightning .ckpt next to the weights
_BOOKKEEPING = ("pytorch_lightning.", "lightning.", "lightning_fabric.")


def _stub(qualified: str) -> type:
    module, _, name = qualified.rpartition(".")

    def init(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - trivial
        pass

    return type(name, (), {"__module__": module, "__qualname__": name, "__init__": init})


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_pickle(path: Path) -> dict:
    """torch.load(weights_only=True); refuses anything that would execute code."""
    import pickle

    import torch

    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        unsafe = _unsafe_globals(path)
        if unsafe and all(g.startswith(_BOOKKEEPING) for g in unsafe):
            with torch.serialization.safe_globals([_stub(g) for g in unsafe]):
                try:
                    return torch.load(str(path), map_location="cpu", weights_only=True)
                except Exception as again:  # noqa: BLE001
                    raise CheckpointError(
                        f"{path}: unreadable checkpoint ({_first_line(again)})") from None
        bad = next((g for g in unsafe if not g.startswith(_BOOKKEEPING)), None)
        what = f"it references '{bad}'" if bad else _first_line(exc)
        raise CheckpointError(
            f"{path}: refused to unpickle: {what}, which could execute code "
            "(only tensors and plain containers are loaded; convert it to .safetensors)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - zip/EOF/runtime errors for corrupt files
        raise CheckpointError(
            f"{path}: not a readable torch checkpoint ({_first_line(exc)})") from None


def _unsafe_globals(path: Path) -> list[str]:
    import torch

    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:  # noqa: BLE001 - legacy (non-zip) pickles cannot be scanned
        return []


def read_safetensors(path: Path) -> tuple[dict, dict[str, str]]:
    """(tensors, metadata); a truncated or corrupt file raises CheckpointError naming it."""
    from safetensors import safe_open

    try:
        tensors = {}
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            for key in f.keys():
                tensors[key] = f.get_tensor(key)
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for bad files
        raise CheckpointError(
            f"{path}: not a readable safetensors file ({_first_line(exc)})"
        ) from None
    return tensors, metadata


def _flat_tensors(obj: dict, path: Path) -> dict:
    """Unwrap Lightning's {"state_dict": ...}; keep tensors only (drop global_step etc.)."""
    import torch

    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a state dict, found {type(obj).__name__}")
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointError(f"{path}: contains no tensors")
    return tensors


def read_file(path: str | Path) -> tuple[dict, dict[str, str]]:
    """Return (flat state dict, metadata) of one weights file (pickle or safetensors)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, expected a weights file")
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    if path.suffix in PICKLE_SUFFIXES:
        obj = read_pickle(path)
        from .training_format import exported_weights, is_training_state

        if is_training_state(obj):  # an `ldm train` .pt
            return exported_weights(obj), {"format": "ldmcore", "ldmcore.spec": obj["spec"]}
        meta = {}
        if isinstance(obj, dict) and isinstance(obj.get("ldmcore_spec"), str):
            meta["ldmcore.spec"] = obj["ldmcore_spec"]
        return _flat_tensors(obj, path), meta
    raise CheckpointError(
        f"{path}: unknown checkpoint type '{path.suffix}' "
        f"(expected .safetensors, {', '.join(PICKLE_SUFFIXES)} or a diffusers folder)"
    )
