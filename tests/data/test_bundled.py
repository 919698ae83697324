"""digits and lfw: bundled data, upsampled, labelled, split deterministically."""

import torch
from ldm_plugin_data.digits import build_digits
from ldm_plugin_data.lfw import build_lfw
from ldm_plugin_data.params import DigitsParams, LfwParams


def test_digits_items_and_splits():
    train = build_digits(DigitsParams(size=16, channels=3))
    val = build_digits(DigitsParams(size=16, split="val"))
    everything = build_digits(DigitsParams(size=16, split="all"))
    assert len(everything) == 1797 and len(train) + len(val) == 1797
    assert 150 < len(val) < 210
    item = train[0]
    assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.float32
    assert -1 <= item["image"].min() and item["image"].max() <= 1
    assert item["image"].max() > 0.5 and item["image"].min() < -0.9  # ink on black
    assert item["caption"] == f"the digit {item['class'].item()}"
    assert {int(val[i]["class"]) for i in range(len(val))} == set(range(10))
    # the split is a partition and deterministic
    again = build_digits(DigitsParams(size=16, split="val"))
    assert torch.equal(again[3]["image"], val[3]["image"])


def test_digits_grey_and_size_from_spec():
    class Spec:
        image_size = 24
        image_channels = 1

    class Ctx:
        spec = Spec()

    item = build_digits(DigitsParams(), Ctx())[5]
    assert item["image"].shape == (1, 24, 24)


def test_lfw_faces_and_nonfaces():
    faces = build_lfw(LfwParams(size=32, split="all"))
    assert len(faces) == 100
    item = faces[0]
    assert item["image"].shape == (3, 32, 32) and item["class"].item() == 1
    assert item["caption"] == "a face"
    both = build_lfw(LfwParams(size=32, content="all", split="train"))
    classes = torch.stack([both[i]["class"] for i in range(len(both))])
    assert len(both) == 180 and set(classes.tolist()) == {0, 1}
    assert item["image"].std() > 0.1  # a real picture, not a constant
