"""Per-pixel evaluators on the shapes world, where a colour segmentation is exact
(analysis.segment): `shapes_miou` for semantic synthesis, `shapes_inpaint` for inpainting.

Call: evaluator(images=..., batch=...) (fake= accepted for images=) with images (N, C, H, W)
in [-1, 1]; the batch holds the task's input (segmentation map / mask) and, for inpainting,
the ground truth of the dataset (boxes, segmentation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from ldmcore.errors import DataError
from ldmcore.interfaces import Evaluator

from .analysis import detect, iou, segment
from .fidelity import _as_numpy, to_hwc01
from .metric_params import ShapesInpaintParams, ShapesMiouParams
from .vocab import objects_from_rows


def _images(inputs: dict, who: str) -> np.ndarray:
    images = inputs.get("images", inputs.get("fake"))
    if images is None:
        raise DataError(f"{who}: missing input 'images' (or 'fake')")
    return to_hwc01(images)


def _resize_labels(seg: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an (H, W) label map (maps and samples may differ in size)."""
    if seg.shape == shape:
        return seg
    zoom = (shape[0] / seg.shape[0], shape[1] / seg.shape[1])
    return ndimage.zoom(seg, zoom, order=0, mode="nearest", grid_mode=True)


def confusion(pred: np.ndarray, true: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) pixel counts, rows = true, cols = predicted."""
    idx = true.reshape(-1) * num_classes + pred.reshape(-1)
    return np.bincount(idx, minlength=num_classes**2).reshape(num_classes, num_classes)


def miou_from_confusion(conf: np.ndarray, classes: slice = slice(None)) -> float:
    """Mean over classes present (in truth or prediction) of TP / (TP + FP + FN)."""
    tp = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - tp
    tp, union = tp[classes], union[classes]
    present = union > 0
    return float((tp[present] / union[present]).mean()) if present.any() else 0.0


class ShapesMiou(Evaluator):
    notes = {
        "miou": "mean IoU over the 13 map ids (background + 12 object classes) between the "
                "colour segmentation of each sample and its input map, pixels of all images",
        "miou_objects": "mean IoU over the object classes only (background excluded)",
        "pixel_accuracy": "fraction of pixels whose segmented class equals the map's",
    }

    def __init__(self, params: ShapesMiouParams):
        self.p = params

    def __call__(self, **inputs: Any) -> dict[str, float]:
        imgs = _images(inputs, "shapes_miou")
        batch = inputs.get("batch") or {}
        if self.p.key not in batch:
            raise DataError(f"shapes_miou: batch has no '{self.p.key}' map "
                            f"(keys: {', '.join(sorted(batch))})")
        maps = _as_numpy(batch[self.p.key]).astype(np.int64)
        if maps.ndim == 4 and maps.shape[1] == 1:
            maps = maps[:, 0]
        if maps.ndim != 3 or len(maps) != len(imgs):
            raise DataError(f"shapes_miou: '{self.p.key}' must be (N, H, W) with N = "
                            f"{len(imgs)} images, got {maps.shape}")
        if maps.min() < 0 or maps.max() >= self.p.num_classes:
            raise DataError(f"shapes_miou: '{self.p.key}' ids must lie in "
                            f"0..{self.p.num_classes - 1}")
        c = self.p.num_classes
        conf = np.zeros((c, c), np.int64)
        for img, m in zip(imgs, maps):
            pred = segment(img, min_area=self.p.min_area,
                           max_color_distance=self.p.max_color_distance)
            conf += confusion(pred, _resize_labels(m, pred.shape), c)
        return {"miou": miou_from_confusion(conf),
                "miou_objects": miou_from_confusion(conf, slice(1, None)),
                "pixel_accuracy": float(np.trace(conf) / conf.sum()),
                "num_images": float(len(imgs))}


class ShapesInpaint(Evaluator):
    notes = {
        "restored": "of the objects the mask cut through (>= min_cut of their pixels masked), "
                    "the fraction that come back: their class on >= iou_threshold (pixel IoU) "
                    "of their masked part, and found with their colour and shape at box IoU "
                    ">= iou_threshold",
        "masked_pixel_accuracy": "inside the mask: fraction of pixels whose segmented class "
                                 "(background or object) is the ground truth's",
    }

    def __init__(self, params: ShapesInpaintParams):
        self.p = params

    def __call__(self, **inputs: Any) -> dict[str, float]:
        imgs = _images(inputs, "shapes_inpaint")
        batch = inputs.get("batch") or {}
        for key in (self.p.mask_key, "boxes", "segmentation"):
            if key not in batch:
                raise DataError(f"shapes_inpaint: batch has no '{key}' (the mask and the "
                                "shapes world's ground truth boxes + segmentation)")
        masks = _as_numpy(batch[self.p.mask_key]).reshape(len(imgs), *imgs.shape[1:3]) > 0.5
        truth = _as_numpy(batch["segmentation"]).astype(np.int64)
        boxes = _as_numpy(batch["boxes"])
        cut = restored = hit_px = mask_px = 0
        for i, (img, mask, seg) in enumerate(zip(imgs, masks, truth)):
            kw = dict(min_area=self.p.min_area, max_color_distance=self.p.max_color_distance)
            pred = segment(img, **kw)
            hit_px += int((pred[mask] == seg[mask]).sum())
            mask_px += int(mask.sum())
            dets = detect(img, **kw)
            for obj in objects_from_rows(boxes[i], where=f"boxes[{i}]"):
                pix = seg == obj.cls + 1
                if not pix.any() or mask[pix].mean() < self.p.min_cut:
                    continue
                cut += 1
                # its masked part must come back: same class on those pixels (pixel IoU inside
                # the mask), and the whole object recognised with its colour, shape and box
                t, q = pix & mask, (pred == obj.cls + 1) & mask
                inside = (t & q).sum() / max((t | q).sum(), 1)
                restored += bool(inside >= self.p.iou_threshold) and any(
                    d.color == obj.color and d.shape == obj.shape
                    and iou(d.box, obj.box) >= self.p.iou_threshold for d in dets)
        out = {"cut_objects": float(cut),
               "masked_pixel_accuracy": hit_px / mask_px if mask_px else 1.0}
        if cut:
            out["restored"] = restored / cut
        return out


def build_miou(params: ShapesMiouParams, ctx=None) -> ShapesMiou:
    return ShapesMiou(params)


def build_inpaint(params: ShapesInpaintParams, ctx=None) -> ShapesInpaint:
    return ShapesInpaint(params)
