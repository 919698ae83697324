"""The studio in a real browser: Debian's chromium, headless, driven by Playwright for Python.

On the page the test draws two boxes with the mouse, picks their classes, generates with
shapes-layout2img and checks with the shapes fidelity evaluator that the requested objects are
in their boxes; then it paints an inpainting mask over an uploaded picture, sees the live x̂0
preview, cancels, and checks the painted mask and the pasted-back picture. Its screenshots are
the README's (docs/serve-*.png, rewritten by `make screenshots`). `make browser` installs
chromium (apt-get).
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = os.environ.get("LDM_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: where screenshots go: docs/ with LDM_SCREENSHOTS=1 (`make screenshots`), else a temp folder
DOCS = Path(__file__).resolve().parents[2] / "docs"

if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
    pytest.skip(f"no chromium at {CHROMIUM}: `make browser` installs Debian's chromium "
                "(apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright (the `browser` extra) is not installed")


@pytest.fixture(scope="module")
def studio(tmp_path_factory, serve_server):
    """A server of this module's own: its gallery (in the screenshots) starts empty."""
    from ldmcore.serve.app import create_app

    out = tmp_path_factory.mktemp("browser")
    server = serve_server(create_app(["shapes-layout2img", "shapes-txt2img"], out_dir=out))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    """One headless chromium (Playwright's sync API allows one driver per thread)."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


def _open(browser, server):
    """A fresh page on `server`'s studio; errors thrown by its scripts fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    page.wait_for_selector("#model option", state="attached")
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    return DOCS if os.environ.get("LDM_SCREENSHOTS") == "1" else tmp_path_factory.mktemp("shots")


@pytest.fixture(scope="module")
def page(browser, studio):
    yield from _open(browser, studio)


@pytest.fixture(scope="module")
def task_studio(tmp_path_factory, serve_server):
    """The other tasks' widgets, on the shipped configs (untrained weights: the test checks
    what the page sends and that the job runs, not what the pictures show)."""
    from ldmcore.serve.app import create_app
    from ldmcore.serve.catalog import entry

    names = ("semantic2img", "superres", "inpainting", "class2img", "unconditional")
    catalog = {n: entry(n, f"configs/{n}.yaml") for n in names}
    server = serve_server(create_app(catalog=catalog, out_dir=tmp_path_factory.mktemp("tasks")))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def task_page(browser, task_studio):
    yield from _open(browser, task_studio)


def _drag(page, selector: str, start, end, steps: int = 8) -> None:
    """Press at `start`, move to `end`, release; points in [0, 1] of the element's box."""
    box = page.locator(selector).bounding_box()
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in (start, end)]
    page.mouse.move(*at[0])
    page.mouse.down()
    page.mouse.move(*at[1], steps=steps)
    page.mouse.up()


def _generate_and_wait(page) -> None:
    """Press generate; wait until a new result is in the gallery, its picture loaded."""
    before = page.locator("#gallery .result").count()
    page.click("#generate")
    page.wait_for_function(f"document.querySelectorAll('#gallery .result').length > {before}",
                           timeout=240_000)
    page.wait_for_function("document.querySelector('#gallery .result img').complete && "
                           "document.querySelector('#gallery .result img').naturalWidth > 0")


def _png(studio, path: str):
    from PIL import Image

    status, data = studio.get(path)
    assert status == 200
    return Image.open(io.BytesIO(data))


def _job_of_last_result(page, studio) -> dict:
    job_id = page.locator("#gallery .result").first.get_attribute("data-job")
    status, job = studio.get(f"/api/jobs/{job_id}")
    assert status == 200
    return job


def test_layout_drawn_with_the_mouse_is_generated_in_its_boxes(page, studio, shots):
    from ldm_plugin_shapes.fidelity import ShapesFidelity
    from ldm_plugin_shapes.params import ShapesFidelityParams
    from ldm_plugin_shapes.vocab import layout_rows, parse_layout

    page.select_option("#model", "shapes-layout2img")
    page.select_option("#class-picker", "red circle")
    _drag(page, "#layout-canvas", (0.08, 0.08), (0.46, 0.46))
    _drag(page, "#layout-canvas", (0.55, 0.52), (0.92, 0.9))  # drawn red, then re-classed
    page.locator(".box-row .box-class").nth(1).select_option("blue square")
    _drag(page, "#layout-canvas", (0.6, 0.1), (0.85, 0.3))  # a third box, moved, then deleted
    _drag(page, "#layout-canvas", (0.7, 0.2), (0.75, 0.25))
    assert page.locator(".box-row").count() == 3
    page.locator(".box-row .box-delete").nth(2).click()
    assert page.locator(".box-row").count() == 2
    # resize the first box by its bottom-right corner (it is selected after a click on it)
    _drag(page, "#layout-canvas", (0.2, 0.2), (0.2, 0.2), steps=1)
    _drag(page, "#layout-canvas", (0.46, 0.46), (0.45, 0.45))
    page.fill("#steps", "50")
    page.fill("#seed", "0")
    page.screenshot(path=str(shots / "serve-layout.png"))
    _generate_and_wait(page)
    page.screenshot(path=str(shots / "serve-result.png"))
    assert (shots / "serve-result.png").read_bytes()[:4] == b"\x89PNG"

    job = _job_of_last_result(page, studio)
    assert job["status"] == "done" and job["progress"]["step"] == 50
    layout = job["params"]["inputs"]["layout"]
    objects = parse_layout(layout)
    assert [(o.color, o.shape) for o in objects] == [("red", "circle"), ("blue", "square")]
    assert objects[0].box == pytest.approx((0.08, 0.08, 0.45, 0.45), abs=0.01)
    assert objects[1].box == pytest.approx((0.55, 0.52, 0.92, 0.9), abs=0.01)
    image = _png(studio, job["image"])
    assert image.size == (32, 32)
    assert image.text["ldm:seed"] == "0" and '"layout2img"' in image.text["ldm:spec"]
    assert image.text["ldm:command"] == job["command"]
    assert page.locator("#gallery .result code.cli").first.inner_text() == job["command"]

    import torch

    pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1)
    evaluator = ShapesFidelity(ShapesFidelityParams(mode="layout", iou_threshold=0.5,
                                                    min_area=0.008, max_color_distance=0.45))
    boxes = torch.tensor([layout_rows(objects, len(objects))])
    scores = evaluator(images=pixels.permute(2, 0, 1)[None], batch={"boxes": boxes})
    assert scores["recall"] == 1.0, scores


def test_inpainting_mask_painted_progress_preview_and_cancel(page, studio, tmp_path, shots):
    from PIL import Image

    page.select_option("#model", "shapes-txt2img")
    picture = np.full((32, 32, 3), 224, np.uint8)
    picture[4:14, 4:14] = (220, 40, 40)  # a red square, top left
    Image.fromarray(picture).save(tmp_path / "picture.png")
    page.locator("#start-section summary").click()
    page.set_input_files("#start-file", str(tmp_path / "picture.png"))
    page.wait_for_selector("#start-mask-canvas")
    page.fill("#start-brush", "4")
    page.dispatch_event("#start-brush", "input")
    _drag(page, "#start-mask-canvas", (0.55, 0.55), (0.85, 0.85), steps=12)
    _drag(page, "#start-mask-canvas", (0.85, 0.55), (0.55, 0.85), steps=12)
    page.fill("#input-caption", "a blue circle")
    page.fill("#steps", "250")
    page.click("#generate")
    page.wait_for_function(  # the preview of this job (not the last one's), decoded
        "(() => { const p = document.querySelector('#preview');"
        " return !p.hidden && p.dataset.job && p.complete && p.naturalWidth > 0 &&"
        " document.querySelector('#cancel').disabled === false; })()", timeout=120_000)
    page.wait_for_function(  # a few previews in: x̂0 has taken shape
        "/step ([4-9][0-9]|[0-9]{3}) /.test(document.querySelector('#progress-text').textContent)",
        timeout=120_000)
    running = page.locator("#preview").get_attribute("data-job")
    page.screenshot(path=str(shots / "serve-inpaint.png"))
    page.click("#cancel")
    page.wait_for_function(
        "document.querySelector('#progress-text').textContent.startsWith('cancelled')",
        timeout=60_000)
    status, job = studio.get(f"/api/jobs/{running}")
    assert job["params"]["model"] == "shapes-txt2img"
    assert job["status"] == "cancelled" and 0 < job["progress"]["step"] < 250
    mask = np.asarray(Image.open(job["params"]["inputs"]["mask"]).convert("L"))
    assert mask.shape == (32, 32) and set(np.unique(mask)) == {0, 255}
    assert mask[22, 22] == 255 and mask[5, 5] == 0 and mask[:14].max() == 0

    # the same request, short: outside the painted mask the picture is pasted back exactly
    page.fill("#steps", "10")
    _generate_and_wait(page)
    job = _job_of_last_result(page, studio)
    result = np.asarray(_png(studio, job["image"]).convert("RGB"))
    keep = mask == 0
    assert np.array_equal(result[keep], picture[keep])


def test_every_task_has_its_widget(task_page, task_studio, tmp_path, shots):
    """class list, palette brush, low-res upload, a result picked as the picture with a mask
    painted over it, and nothing at all: each sent through the one input layer and sampled."""
    from PIL import Image

    page, studio = task_page, task_studio
    page.fill("#steps", "3")
    page.select_option("#model", "class2img")
    page.fill("#steps", "3")
    page.select_option("#input-class", "green triangle")
    _generate_and_wait(page)
    job = _job_of_last_result(page, studio)
    assert job["status"] == "done" and job["params"]["inputs"] == {"class": "green triangle"}

    page.select_option("#model", "semantic2img")
    page.fill("#steps", "3")
    page.click(".palette button[data-id='5']")
    _drag(page, "#map-canvas", (0.2, 0.2), (0.6, 0.6))
    page.screenshot(path=str(shots / "serve-semantic.png"))
    _generate_and_wait(page)
    job = _job_of_last_result(page, studio)
    painted = np.asarray(Image.open(job["params"]["inputs"]["segmentation"]).convert("RGB"))
    palette = studio.get("/api/models")[1]["models"][0]["palette"]
    colours = {tuple(c) for c in painted.reshape(-1, 3).tolist()}
    assert colours == {tuple(palette[0]), tuple(palette[5])}  # exactly the palette, no blending
    assert tuple(painted[12, 12]) == tuple(palette[5]) and tuple(painted[30, 30]) == (0, 0, 0)

    page.select_option("#model", "superres")
    page.fill("#steps", "3")
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(tmp_path / "low.png")
    page.set_input_files("#input-lowres-file", str(tmp_path / "low.png"))
    page.wait_for_selector("#input-lowres-area img")
    _generate_and_wait(page)
    job = _job_of_last_result(page, studio)
    assert job["status"] == "done" and _png(studio, job["image"]).size == (32, 32)

    page.select_option("#model", "inpainting")
    page.fill("#steps", "3")
    semantic = page.locator("#gallery .result").nth(1).get_attribute("data-job")
    page.locator("#gallery .result .use-picture").nth(1).click()  # the semantic2img result
    page.wait_for_selector("#input-image-mask-canvas")
    _drag(page, "#input-image-mask-canvas", (0.1, 0.5), (0.9, 0.5))
    _generate_and_wait(page)
    job = _job_of_last_result(page, studio)
    mask = np.asarray(Image.open(job["params"]["inputs"]["mask"]).convert("L"))
    assert mask[16, 16] == 255 and mask[2, 2] == 0
    picked = np.asarray(Image.open(job["params"]["inputs"]["image"]).convert("RGB"))
    source = np.asarray(_png(studio, f"/api/jobs/{semantic}/image.png").convert("RGB"))
    assert np.array_equal(picked, source)  # "use as picture" sent that result's pixels
    result = np.asarray(_png(studio, job["image"]).convert("RGB"))
    assert np.array_equal(result[mask == 0], picked[mask == 0])

    page.select_option("#model", "unconditional")
    page.fill("#steps", "3")
    assert page.locator("#inputs .field").count() == 0
    _generate_and_wait(page)
    assert _job_of_last_result(page, studio)["params"]["inputs"] == {}
