"""Params of the bundled-data and user-folder datasets (pydantic, no torch)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ldmcore.params import DatasetParams


class ImageParams(DatasetParams):
    """What every image dataset here shares: output size/channels and a train/val split."""

    size: int | None = Field(None, gt=0, description="image side; default: the spec's image_size")
    channels: Literal[1, 3] | None = Field(None, description="default: the spec's image_channels")
    split: Literal["train", "val", "all"] = "train"
    val_fraction: float = Field(0.1, ge=0, lt=1, description="share of items held out for val")
    seed: int = Field(0, description="seed of the deterministic train/val assignment")


class DigitsParams(ImageParams):
    """scikit-learn's 8x8 handwritten digits (1797 images), upsampled; class = the digit."""

    def provided_keys(self) -> set[str]:
        return {"image", "class", "caption"}


class LfwParams(ImageParams):
    """scikit-image's LFW subset: 100 faces and 100 non-face patches, 25x25 grey."""

    content: Literal["faces", "nonfaces", "all"] = "faces"

    def provided_keys(self) -> set[str]:
        return {"image", "class", "caption"}


class ImageFolderParams(ImageParams):
    """A user's folder of png/jpg images, with optional sidecar labels.

    labels: `csv` reads ROOT/labels.csv (columns `file`, `class`, optional `caption`; file
    relative to ROOT); `dirs` uses the first-level sub-folder name (sorted -> class id).
    captions: each image's caption from `<stem>.txt` next to it (or the csv `caption` column).
    boxes: each image's boxes from `<stem>.json`: [[class, x0, y0, x1, y1], ...] normalised,
    or {"boxes": [...]}; padded to `max_objects` rows with class -1.
    """

    root: str
    recursive: bool = True
    extensions: list[str] = Field(default_factory=lambda: [".png", ".jpg", ".jpeg"])
    resize: Literal["center_crop", "resize", "none"] = Field(
        "center_crop",
        description="center_crop: crop the largest centred square, then resize; resize: "
        "squash to size x size; none: images must already share one size",
    )
    labels: Literal["none", "csv", "dirs"] = "none"
    captions: bool = False
    boxes: bool = False
    max_objects: int = Field(8, gt=0)
    on_error: Literal["skip", "fail"] = Field(
        "skip", description="unreadable images or missing sidecars: skip and count, or fail"
    )

    def provided_keys(self) -> set[str]:
        keys = {"image"}
        if self.labels != "none":
            keys.add("class")
        if self.captions:
            keys.add("caption")
        if self.boxes:
            keys.add("boxes")
        return keys
