"""image_folder: scanning, resize policies, sidecars, splits and every user error."""

import json

import numpy as np
import pytest
import torch
from ldm_plugin_data.folder import build_image_folder
from ldm_plugin_data.params import ImageFolderParams
from PIL import Image

from ldmcore.errors import DataError


def save(path, w=20, h=12, color=(255, 0, 0)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), color, np.uint8)).save(path)


def make(root, **kw):
    return build_image_folder(ImageFolderParams(root=str(root), size=8, split="all", **kw))


def test_recursive_center_crop_and_dir_labels(tmp_path):
    save(tmp_path / "cats" / "a.png")
    save(tmp_path / "cats" / "deep" / "b.jpg", 10, 30, (0, 0, 255))
    save(tmp_path / "dogs" / "c.PNG", 16, 16, (0, 255, 0))
    ds = make(tmp_path, labels="dirs")
    assert len(ds) == 3 and ds.class_names == ["cats", "dogs"]
    items = [ds[i] for i in range(3)]
    assert all(it["image"].shape == (3, 8, 8) for it in items)
    assert [int(it["class"]) for it in items] == [0, 0, 1]
    assert torch.allclose(items[0]["image"][0], torch.ones(8, 8), atol=1e-2)  # red stays red
    with pytest.raises(DataError, match="no .*images in"):
        make(tmp_path, recursive=False)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["image"].shape == (3, 3, 8, 8)


def test_resize_none_needs_one_size(tmp_path):
    save(tmp_path / "a.png", 8, 8)
    save(tmp_path / "b.png", 8, 8)
    ds = make(tmp_path, resize="none", channels=1)
    assert ds[1]["image"].shape == (1, 8, 8)
    save(tmp_path / "c.png", 9, 8)
    with pytest.raises(DataError, match=r"mixed sizes.*a\.png.*c\.png"):
        make(tmp_path, resize="none")
    assert make(tmp_path, resize="resize")[2]["image"].shape == (3, 8, 8)


def test_sidecars_csv_captions_boxes(tmp_path):
    save(tmp_path / "x.png")
    save(tmp_path / "sub" / "y.png")
    (tmp_path / "labels.csv").write_text("file,class,caption\nx.png,3,a red thing\nsub/y.png,5,\n")
    (tmp_path / "sub" / "y.txt").write_text("  another\nred thing ")
    (tmp_path / "x.json").write_text(json.dumps([[2, 0.1, 0.1, 0.5, 0.5]]))
    (tmp_path / "sub" / "y.json").write_text(json.dumps({"boxes": []}))
    p = dict(labels="csv", captions=True, boxes=True, max_objects=2)
    assert ImageFolderParams(root="r", **p).provided_keys() == {"image", "class", "caption",
                                                                "boxes"}
    ds = make(tmp_path, **p)
    x, y = ds[1], ds[0]  # sorted: sub/y.png before x.png
    assert int(x["class"]) == 3 and x["caption"] == "a red thing"
    assert int(y["class"]) == 5 and y["caption"] == "another red thing"
    assert torch.allclose(x["boxes"], torch.tensor([[2, 0.1, 0.1, 0.5, 0.5], [-1, 0, 0, 0, 0]]))
    assert (y["boxes"][:, 0] == -1).all()


@pytest.mark.parametrize(
    "boxes, match",
    [([[0, 0.5, 0.1, 0.2, 0.4]], "x0 < x1"), ([[0, 0.1, 0.1, 1.5, 0.4]], "outside"),
     ("nope", "list")],
)
def test_bad_boxes_name_the_file(tmp_path, boxes, match):
    save(tmp_path / "x.png")
    (tmp_path / "x.json").write_text(json.dumps(boxes))
    with pytest.raises(DataError, match=rf"x\.json.*{match}"):
        make(tmp_path, boxes=True, on_error="fail")


def test_unreadable_skip_or_fail_and_missing_sidecars(tmp_path):
    save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    ds = make(tmp_path)
    assert len(ds) == 1 and ds.skipped[0][0] == "bad.png"
    with pytest.raises(DataError, match=r"bad\.png: unreadable"):
        make(tmp_path, on_error="fail")
    (tmp_path / "bad.png").unlink()
    with pytest.raises(DataError, match=r"good\.png: missing caption sidecar good\.txt"):
        make(tmp_path, captions=True, on_error="fail")
    with pytest.raises(DataError, match=r"labels\.csv"):
        make(tmp_path, labels="csv")


def test_truncated_image_skipped_at_load(tmp_path):
    save(tmp_path / "a.png", 64, 64)
    save(tmp_path / "b.png", 64, 64, (0, 255, 0))
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.png").write_bytes(data[: len(data) // 2])  # header intact, pixels cut
    ds = make(tmp_path)
    assert ds[0]["image"][1].mean() > 0.9  # served b.png (green) instead
    assert any("a.png" in f for f, _ in ds.skipped)
    with pytest.raises(DataError, match=r"a\.png: unreadable"):
        make(tmp_path, on_error="fail")[0]


def test_missing_folder_and_split(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "nope")):
        make(tmp_path / "nope")
    for i in range(40):
        save(tmp_path / f"{i}.png", 4, 4)
    train = build_image_folder(ImageFolderParams(root=str(tmp_path), size=4, val_fraction=0.25))
    val = build_image_folder(ImageFolderParams(root=str(tmp_path), size=4, val_fraction=0.25,
                                               split="val"))
    names = {p["path"].name for p in train.items}
    assert len(train) + len(val) == 40 and 3 <= len(val) <= 20
    assert names.isdisjoint(p["path"].name for p in val.items)
