"""`shapes_fidelity`: is what was asked for actually in the generated image?

Call: ``evaluator(images=..., batch=...)`` (``fake=`` is accepted for ``images=``; other inputs
such as ``real=`` are ignored), where
    images  (N, C, H, W) tensor or array in [-1, 1] (C = 3; C = 1 is treated as grey)
    batch   dict with the conditioning the images were generated from:
            boxes (N, M, 5) for layout, class (N,) for class, caption (list of N str) for caption.
Modes (param `mode`, or chosen from the spec's task / the batch keys):
    layout   per requested box: an object of the requested colour whose bounding box has
             IoU >= iou_threshold with it, classified as the requested shape -> recalled.
             -> recall, mean_iou (best same-colour IoU per box, 0 if none), precision
                (detected objects that match some requested box), num_boxes
    class    -> accuracy: fraction of images containing the requested shape and colour
    caption  -> accuracy: fraction of images containing every object the caption names;
                relation_accuracy: among two-object captions, fraction with both objects present
                and the stated relation (above / below / left of / right of) holding for some
                pair of them: right sign along the stated axis, and that offset at least half
                the offset across it (so near-diagonal placements count)
    objects  (no conditioning, e.g. unconditional) -> shape_rate: the fraction of detected
             colour blobs that are recognisable shapes
Always: object_rate, the fraction of images with at least one recognised object.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ldmcore.errors import DataError
from ldmcore.interfaces import Evaluator

from .analysis import Detection, detect, iou
from .params import ShapesFidelityParams
from .vocab import class_name, objects_from_rows, parse_caption

TASK_MODES = {"layout2img": "layout", "class2img": "class", "txt2img": "caption",
              "unconditional": "objects"}


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def to_hwc01(images: Any) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> (N, H, W, 3) in [0, 1]."""
    arr = _as_numpy(images)
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise DataError(f"shapes_fidelity: images must be (N, 1|3, H, W), got {arr.shape}")
    if arr.shape[1] == 1:
        arr = np.repeat(arr, 3, axis=1)
    return np.clip((arr.transpose(0, 2, 3, 1) + 1.0) / 2.0, 0.0, 1.0)


def _present(dets: list[Detection], cls: int) -> list[Detection]:
    shape, color = class_name(cls)
    return [d for d in dets if d.color == color and d.shape == shape]


def _holds(rel: str, a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether box a is `rel` (above / below / left of / right of) box b, leniently."""
    dx = (a[0] + a[2] - b[0] - b[2]) / 2
    dy = (a[1] + a[3] - b[1] - b[3]) / 2
    along, across = {
        "above": (-dy, dx), "below": (dy, dx), "left of": (-dx, dy), "right of": (dx, dy)
    }[rel]
    return along > 0 and along >= 0.5 * abs(across)


class ShapesFidelity(Evaluator):
    def __init__(self, params: ShapesFidelityParams, task_type: str | None = None):
        self.p = params
        self.default_mode = TASK_MODES.get(task_type or "", None)

    def detect(self, images: Any) -> list[list[Detection]]:
        return [
            detect(img, min_area=self.p.min_area, max_color_distance=self.p.max_color_distance)
            for img in to_hwc01(images)
        ]

    def _mode(self, batch: dict) -> str:
        if self.p.mode != "auto":
            return self.p.mode
        if self.default_mode is not None:
            return self.default_mode
        for key, mode in (("boxes", "layout"), ("caption", "caption"), ("class", "class")):
            if key in batch:
                return mode
        return "objects"

    def __call__(self, **inputs: Any) -> dict[str, float]:
        images = inputs.get("images", inputs.get("fake"))
        if images is None:
            raise DataError("shapes_fidelity: missing input 'images' (or 'fake')")
        batch = inputs.get("batch") or {}
        mode = self._mode(batch)
        if mode == "objects":
            dets = self.detect(images)
            found = [d for ds in dets for d in ds]
            return {
                "object_rate": float(np.mean([any(d.cls >= 0 for d in ds) for ds in dets])),
                "shape_rate": float(np.mean([d.cls >= 0 for d in found])) if found else 0.0,
                "num_images": float(len(dets)),
            }
        key = {"layout": "boxes", "class": "class", "caption": "caption"}[mode]
        if key not in batch:
            raise DataError(f"shapes_fidelity: mode '{mode}' needs batch key '{key}'")
        if len(batch[key]) == 0:
            raise DataError(f"shapes_fidelity: batch '{key}' is an empty list")
        dets = self.detect(images)
        n = len(dets)
        if len(batch[key]) != n:
            raise DataError(f"shapes_fidelity: batch '{key}' has {len(batch[key])} entries, "
                            f"images has {n}")
        out = {"object_rate": float(np.mean([any(d.cls >= 0 for d in ds) for ds in dets]))}
        if mode == "layout":
            out.update(self._layout(dets, _as_numpy(batch["boxes"])))
        elif mode == "class":
            classes = _as_numpy(batch["class"]).reshape(-1).astype(int)
            out["accuracy"] = float(np.mean([bool(_present(d, c)) for d, c in zip(dets, classes)]))
        else:
            out.update(self._caption(dets, list(batch["caption"])))
        out["num_images"] = float(n)
        return out

    def _layout(self, dets: list[list[Detection]], boxes: np.ndarray) -> dict[str, float]:
        ious, hits, matched, detected = [], 0, 0, 0
        for i, (ds, rows) in enumerate(zip(dets, boxes)):
            used: set[int] = set()
            for obj in objects_from_rows(rows, where=f"boxes[{i}]"):
                cands = [(iou(d.box, obj.box), j) for j, d in enumerate(ds) if d.color == obj.color]
                best, j = max(cands, default=(0.0, -1))
                ious.append(best)
                if best >= self.p.iou_threshold and ds[j].shape == obj.shape:
                    hits += 1
                    used.add(j)
            detected += sum(d.cls >= 0 for d in ds)
            matched += len(used)
        if not ious:
            raise DataError("shapes_fidelity: batch 'boxes' holds no objects (all padding)")
        return {
            "recall": hits / len(ious),
            "mean_iou": float(np.mean(ious)),
            "precision": matched / detected if detected else 0.0,
            "num_boxes": float(len(ious)),
        }

    def _caption(self, dets: list[list[Detection]], captions: list[str]) -> dict[str, float]:
        if not captions:
            raise DataError("shapes_fidelity: batch 'caption' is an empty list")
        ok, rel_ok, rel_n = 0, 0, 0
        for i, (ds, cap) in enumerate(zip(dets, captions)):
            try:
                classes, rel = parse_caption(cap)
            except DataError as e:
                raise DataError(f"shapes_fidelity: caption[{i}]: {e}") from None
            found = [_present(ds, c) for c in classes]
            ok += all(found)
            if rel is not None:
                rel_n += 1
                if all(found):
                    rel_ok += any(
                        _holds(rel, a.box, b.box) for a in found[0] for b in found[1] if a is not b
                    )
        out = {"accuracy": ok / len(captions)}
        if rel_n:
            out["relation_accuracy"] = rel_ok / rel_n
        return out


def build_fidelity(params: ShapesFidelityParams, ctx=None) -> ShapesFidelity:
    spec = getattr(ctx, "spec", None)
    task = getattr(getattr(spec, "task", None), "type", None)
    return ShapesFidelity(params, task)
