"""`ldm generate`: PNG grids from layouts, prompts and images; one-line errors (exit 2)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_specs import TINY

from ldmcore.cli.main import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

FAST = ["--steps", "2", "--no-progress", "-n", "2"]


def generate(config, *args):
    return main(["generate", str(CONFIGS / config), *TINY, *FAST, *args])


def cells(path: Path) -> tuple[int, int]:
    return Image.open(path).size


def test_layout_grid(tmp_path, capsys):
    out = tmp_path / "layout.png"
    layout = "circle red 0.1 0.1 0.5 0.5; square blue 0.5 0.5 0.9 0.9"
    assert generate("layout2img.yaml", "--layout", layout, "--out", str(out)) == 0
    assert "wrote" in capsys.readouterr().out and out.is_file()
    width, height = cells(out)
    assert width > 2 * 16 and height > 16  # two upscaled cells and a caption line


def test_prompt_at_larger_size_is_convolutional(tmp_path):
    out = tmp_path / "big.png"
    assert generate("txt2img.yaml", "--prompt", "a red circle", "--size", "32",
                    "--out", str(out)) == 0
    assert out.is_file()


@pytest.fixture
def picture_and_mask(tmp_path):
    img = np.full((16, 16, 3), 200, np.uint8)
    img[2:8, 2:8] = [220, 40, 40]
    mask = np.zeros((16, 16), np.uint8)
    mask[8:, 8:] = 255
    Image.fromarray(img).save(tmp_path / "in.png")
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return tmp_path / "in.png", tmp_path / "mask.png"


def test_inpainting_model_gets_masked_image_and_mask(tmp_path, picture_and_mask, capsys):
    image, mask = picture_and_mask
    out = tmp_path / "inpaint.png"
    assert generate("inpainting.yaml", "--image", str(image), "--mask", str(mask),
                    "--out", str(out)) == 0
    assert "(2 samples" in capsys.readouterr().out


def test_img2img_strength(tmp_path, picture_and_mask):
    image, _ = picture_and_mask
    assert generate("unconditional.yaml", "--image", str(image), "--strength", "0.5",
                    "--out", str(tmp_path / "i2i.png")) == 0


@pytest.mark.parametrize("args, fragment", [
    (["--layout", "circle purple 0.1 0.1 0.5 0.5"], "unknown object 'purple circle'"),
    (["--layout", "circle red 0.5 0.1 0.2 0.5"], "layout"),
    (["--mask", "m.png"], "--mask needs --image"),
    (["--image", "missing.png"], "--image missing.png: no such file"),
    (["--image", str(CONFIGS.parent / "README.md")], "not a readable image"),
])
def test_bad_inputs_are_one_line_errors(args, fragment, capsys):
    assert generate("layout2img.yaml", *args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("ldm generate: error:") and fragment in err, err


def test_concat_conditioning_is_resized_for_larger_sampling(tmp_path):
    """box_raster comes out at the trained latent size; at --size 32 the wiring resizes it."""
    out = tmp_path / "hybrid.png"
    assert generate("layout2img_hybrid.yaml", "--layout", "circle red 0.1 0.1 0.5 0.5",
                    "--size", "32", "--out", str(out)) == 0
    assert out.is_file()


def test_captions_break_at_spaces():
    from ldmcore.viz import _lines

    assert _lines("a green triangle above a yellow circle", 128) == [
        "a green triangle", "above a yellow circle"]
    assert _lines("", 128) == [""]
