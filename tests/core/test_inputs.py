"""The input layer: every task's conditioning from the command line, declared by the model's own
components, checked before anything is sampled or written."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_specs import TINY

from ldmcore import build
from ldmcore.cli.main import main, parse
from ldmcore.errors import DataError
from ldmcore.inputs import InputFormat, model_inputs, read_inputs

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
FAST = ["--steps", "2", "--no-progress", "-n", "2"]


def spec_of(config: str):
    return build(CONFIGS / config, TINY).spec


@pytest.mark.parametrize("config, expected", [
    ("txt2img.yaml", {"caption": ("text", "--prompt")}),
    ("class2img.yaml", {"class": ("class", "--class")}),
    ("layout2img_hybrid.yaml", {"boxes": ("boxes", "--layout")}),
    ("semantic2img.yaml", {"segmentation": ("label_map", "--segmentation")}),
    ("superres.yaml", {"lowres": ("image", "--lowres")}),
    ("inpainting.yaml", {"image": ("image", "--image"), "mask": ("mask", "--mask")}),
    ("unconditional.yaml", {}),
])
def test_each_task_declares_its_inputs(config, expected):
    formats = model_inputs(spec_of(config))
    assert {k: (f.kind, f.flag) for k, f in formats.items()} == expected


def _png(path: Path, array: np.ndarray, mode: str | None = None) -> str:
    Image.fromarray(array.astype(np.uint8), mode).save(path)
    return str(path)


def _map(side: int) -> np.ndarray:
    ids = np.zeros((side, side), np.uint8)
    ids[side // 4: side // 2, side // 4: side // 2] = 1  # a red circle's id
    ids[side // 2:, side // 2:] = 8  # a yellow square
    return ids


def test_segmentation_as_ids_and_as_palette_colours_read_the_same(tmp_path):
    spec = spec_of("semantic2img.yaml")
    ids = _map(16)
    palette = np.asarray(spec.training.dataset.params.palette(), np.uint8)
    by_ids = read_inputs(spec, {"segmentation": _png(tmp_path / "ids.png", ids, "L")})
    by_rgb = read_inputs(spec, {"segmentation": _png(tmp_path / "rgb.png", palette[ids])})
    assert torch.equal(by_ids.item["segmentation"], torch.from_numpy(ids.astype(np.int64)))
    assert torch.equal(by_rgb.item["segmentation"], by_ids.item["segmentation"])
    assert by_ids.size == (16, 16)


def test_a_larger_map_samples_larger(tmp_path, capsys):
    """Convolutional sampling (paper Fig. 9): the map's size is the sample's."""
    seg = _png(tmp_path / "big.png", _map(32), "L")
    out = tmp_path / "big_out.png"
    assert main(["generate", str(CONFIGS / "semantic2img.yaml"), *TINY, "--segmentation", seg,
                 *FAST, "--out", str(out)]) == 0
    assert "32x32" in capsys.readouterr().out and out.is_file()
    # the map is drawn first, in its palette colours, upscaled 4x like the samples
    palette = spec_of("semantic2img.yaml").training.dataset.params.palette()
    grid = Image.open(out).convert("RGB")
    assert grid.getpixel((2 + 20 * 4, 2 + 20 * 4)) == tuple(palette[8])  # the yellow square
    assert grid.getpixel((2 + 10 * 4, 2 + 10 * 4)) == tuple(palette[1])  # the red circle


@pytest.mark.parametrize("config, args, fragment", [
    ("semantic2img.yaml", ["--segmentation", "{ids99}"], "class ids [99] are not known"),
    ("semantic2img.yaml", ["--segmentation", "{odd_rgb}"], "not in the dataset's palette"),
    ("semantic2img.yaml", ["--segmentation", "{odd_size}"], "must be a multiple of"),
    ("inpainting.yaml", ["--image", "{rgb}", "--mask", "{grey}"], "--mask"),
    ("superres.yaml", ["--lowres", "{wide}"], "aspect ratio"),
    ("superres.yaml", ["--prompt", "x", "--lowres", "{rgb}"], "--prompt: this model takes no"),
    ("txt2img.yaml", [], "--prompt: this model needs it"),
    ("txt2img.yaml", ["--prompt", "x", "--size", "-32"], "--size must be positive"),
    ("txt2img.yaml", ["--prompt", "x", "--size", "30"], "must be a multiple of"),
    ("txt2img.yaml", ["--prompt", "x", "--size", "100000"], "larger than"),
    ("txt2img.yaml", ["--prompt", "x", "-n", "0"], "-n/--num-samples must be positive"),
    ("txt2img.yaml", ["--prompt", "x", "--scale", "nan"], "--scale must be a finite"),
    ("txt2img.yaml", ["--prompt", "x", "--out", "{dir}"], "is a folder"),
    ("txt2img.yaml", ["--prompt", "x", "--out", "{txt}"], "expected a .png"),
])
def test_bad_inputs_are_one_line_and_write_nothing(tmp_path, capsys, config, args, fragment):
    files = {
        "ids99": _png(tmp_path / "ids99.png", np.full((16, 16), 99), "L"),
        "odd_rgb": _png(tmp_path / "odd.png", np.full((16, 16, 3), 77)
                        + np.array([0, 1, 2])),
        "odd_size": _png(tmp_path / "s.png", np.zeros((18, 18)), "L"),
        "rgb": _png(tmp_path / "rgb.png", np.full((16, 16, 3), 128)),
        "grey": _png(tmp_path / "grey.png", np.full((16, 16), 128), "L"),
        "wide": _png(tmp_path / "wide.png", np.zeros((4, 12, 3))),
        "dir": str(tmp_path), "txt": str(tmp_path / "x.txt"),
    }
    out = tmp_path / "never.png"
    has_out = "--out" in args
    args = [a.format(**files) for a in args]
    rc = main(["generate", str(CONFIGS / config), *TINY, *FAST, *args,
               *([] if has_out else ["--out", str(out)])])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("ldm generate: error:") and fragment in err[-1], err
    assert not out.exists() and not (tmp_path / "x.txt").exists()


def test_lowres_of_another_size_is_resized_with_a_note(tmp_path, capsys):
    low = _png(tmp_path / "low.png", np.random.default_rng(0).integers(0, 255, (8, 8, 3)))
    out = tmp_path / "sr.png"
    assert main(["generate", str(CONFIGS / "superres.yaml"), *TINY, "--lowres", low, *FAST,
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "--lowres" in printed and "resized 8x8 -> 4x4" in printed and out.is_file()


def test_inpainting_pastes_the_known_region_back(tmp_path):
    from ldmcore.inputs import paste_known

    image = torch.rand(2, 3, 8, 8) * 2 - 1
    mask = torch.zeros(2, 1, 8, 8)
    mask[..., 2:5, 2:5] = 1
    sample = torch.rand(2, 3, 8, 8)
    pasted = paste_known(sample, {"image": image, "mask": mask})
    assert torch.equal(pasted * (1 - mask), image * (1 - mask))
    assert torch.equal((pasted * mask)[..., 2:5, 2:5], (sample * mask)[..., 2:5, 2:5])
    assert torch.equal(paste_known(sample, {"image": image}), sample)


def test_inpainting_grid_shows_input_mask_and_results(tmp_path, capsys):
    img = _png(tmp_path / "in.png", np.random.default_rng(1).integers(0, 255, (16, 16, 3)))
    mask = np.zeros((16, 16), np.uint8)
    mask[4:12, 4:12] = 255
    m = _png(tmp_path / "m.png", mask, "L")
    out = tmp_path / "inpaint.png"
    assert main(["generate", str(CONFIGS / "inpainting.yaml"), *TINY, "--image", img,
                 "--mask", m, *FAST, "--out", str(out)]) == 0
    width, height = Image.open(out).size  # 2 samples + input + mask, each upscaled to 128²
    assert width * height >= 4 * 128 * 128


def test_options_and_overrides_in_any_order():
    model = str(CONFIGS / "txt2img.yaml")
    a = parse(["generate", model, "--prompt", "x", "guider.params.scale=2", "-n", "3"])
    b = parse(["generate", "guider.params.scale=2", "--prompt", "x", model, "-n", "3"])
    assert (a.model, a.overrides, a.prompt) == (model, ["guider.params.scale=2"], "x")
    assert (b.model, b.overrides) == ("guider.params.scale=2", [model])  # first positional
    c = parse(["eval", model, "-n", "4", "sampler.params.steps=3", "--scale", "2",
               "--sampler", "plms"])
    assert (c.overrides, c.scale, c.sampler, c.num_samples) == (
        ["sampler.params.steps=3"], 2.0, "plms", 4)


def test_generate_with_overrides_after_options(tmp_path):
    out = tmp_path / "o.png"
    assert main(["generate", str(CONFIGS / "txt2img.yaml"), "--prompt", "a red circle",
                 *TINY, *FAST, "guider.params.scale=2", "--out", str(out)]) == 0
    assert out.is_file()
    # the empty caption is an input too: the model's unconditional branch
    assert main(["generate", str(CONFIGS / "txt2img.yaml"), "--prompt", "", *TINY, *FAST,
                 "--out", str(out)]) == 0


def test_ldm_inputs_lists_the_model_inputs(capsys):
    assert main(["inputs", str(CONFIGS / "semantic2img.yaml")]) == 0
    text = capsys.readouterr().out
    assert "--segmentation" in text and "ids 0..12" in text and "palette" in text
    assert main(["inputs", "shapes-txt2img", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["task"] == "txt2img" and info["inputs"][0]["option"] == "--prompt"


def test_a_third_party_input_needs_only_its_declaration(tmp_path):
    """A conditioner declaring an image input `depth` is read by --input depth=PATH."""
    class DepthParams:
        def input_format(self, key):
            return InputFormat(key, "image", help="a depth map picture")

    spec = SimpleNamespace(
        task=SimpleNamespace(params=SimpleNamespace(input_formats=list, added_keys=set)),
        conditioners={"depth": SimpleNamespace(input="depth", params=DepthParams())},
        first_stage=SimpleNamespace(params=SimpleNamespace(
            latent_port=lambda: SimpleNamespace(factor=4))),
        denoiser=SimpleNamespace(params=SimpleNamespace(size_multiple=lambda: 1)),
        image_size=16, image_channels=3, training=None)
    path = _png(tmp_path / "d.png", np.zeros((16, 16, 3)))
    read = read_inputs(spec, {"depth": path})
    assert read.item["depth"].shape == (3, 16, 16) and float(read.item["depth"].min()) == -1
    with pytest.raises(DataError, match="--depth: this model needs it"):
        read_inputs(spec, {})
