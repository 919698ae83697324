"""The studio's JSON API against a real uvicorn server on loopback: models, jobs, progress over
SSE, cancel, reproducibility of "copy as CLI", and every bad request as a 4xx naming its field."""

from __future__ import annotations

import io
import json
import shlex
import time
import urllib.request

import numpy as np
import pytest

LAYOUT = [{"class": "red circle", "box": [0.1, 0.1, 0.45, 0.45]},
          {"class": "blue square", "box": [0.55, 0.5, 0.9, 0.9]}]


def _generate(studio, **body) -> dict:
    status, out = studio.post("/api/generate", {"model": "shapes-layout2img",
                                                "inputs": {"layout": LAYOUT}, "steps": 4, **body})
    assert status == 202, out
    return studio.wait(out["id"])


def test_models_lists_cards_with_task_inputs_and_vocabulary(studio):
    status, out = studio.get("/api/models")
    assert status == 200
    models = {m["name"]: m for m in out["models"]}
    assert set(models) == {"shapes-layout2img", "shapes-txt2img"}
    layout = models["shapes-layout2img"]
    assert layout["task"] == "layout2img" and layout["image_size"] == 32
    assert [(i["key"], i["option"], i["kind"]) for i in layout["inputs"]] == [
        ("boxes", "--layout", "boxes")]
    names = {c["name"] for c in layout["classes"]}
    assert {"red circle", "blue square", "yellow triangle"} <= names and len(names) == 12
    assert layout["max_objects"] == 3
    assert models["shapes-txt2img"]["inputs"][0]["kind"] == "text"
    assert "ddim" in out["samplers"] and "plms" in out["samplers"]


def test_page_and_openapi_are_served(studio):
    status, html = studio.get("/")
    assert status == 200 and b"/static/app.js" in html
    status, js = studio.get("/static/widgets.js")
    assert status == 200 and b"class BoxEditor" in js
    status, schema = studio.get("/openapi.json")
    assert status == 200 and "/api/generate" in schema["paths"]


def test_generate_layout_png_metadata_and_model_reuse(studio):
    from PIL import Image

    job = _generate(studio, seed=3, num_samples=2)
    assert job["status"] == "done", job
    assert job["progress"] == {"step": 4, "total": 4, "fraction": 1.0}
    opens = studio.app.state.runner.opens
    again = _generate(studio, seed=3, num_samples=2)
    assert studio.app.state.runner.opens == opens  # the loaded model was reused
    status, a = studio.get(job["image"])
    status_b, b = studio.get(again["image"])
    assert status == status_b == 200
    img = Image.open(io.BytesIO(a))
    assert img.size == (64, 32)  # two 32² samples side by side
    assert np.array_equal(np.asarray(img), np.asarray(Image.open(io.BytesIO(b))))
    assert img.text["ldm:seed"] == "3" and img.text["ldm:model"] == "shapes-layout2img"
    spec = json.loads(img.text["ldm:spec"])
    assert spec["task"]["type"] == "layout2img"
    assert json.loads(img.text["ldm:params"])["inputs"]["layout"].startswith("red circle 0.1")
    status, listing = studio.get("/api/jobs")
    assert job["id"] in [j["id"] for j in listing["jobs"]]


def test_copy_as_cli_reproduces_the_image(studio):
    """The job's command, parsed by `ldm`, samples exactly the server's image."""
    import torch

    from ldmcore.cli.generate import given_inputs, sampling_overrides
    from ldmcore.cli.main import parse
    from ldmcore.inputs import paste_known, read_inputs
    from ldmcore.sources import open_for_use

    job = _generate(studio, seed=11, steps=5, sampler="plms", scale=3.0)
    words = shlex.split(job["command"])
    assert words[:3] == ["ldm", "generate", "shapes-layout2img"]
    args = parse(words[1:])
    assert (args.seed, args.steps, args.sampler, args.scale, args.num_samples) == (
        11, 5, "plms", 3.0, 1)
    model = open_for_use(args.model, sampling_overrides(args)).model.eval()
    read = read_inputs(model.spec, given_inputs(args), size=args.size)
    batch = model.task.prepare(read.batch(args.num_samples))
    images = model.sample(batch, latent_size=read.latent_size, progress=False,
                          generator=torch.Generator().manual_seed(args.seed))
    images = paste_known(images, batch)
    from PIL import Image

    from ldmcore.viz import to_uint8

    status, data = studio.get(job["image"])
    served = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(served, to_uint8(images)[0])


def test_events_stream_progress_until_done(studio):
    status, out = studio.post("/api/generate", {"model": "shapes-txt2img", "steps": 6,
                                                "inputs": {"prompt": "a red circle"}})
    assert status == 202
    events = []
    with urllib.request.urlopen(f"{studio.url}/api/jobs/{out['id']}/events", timeout=120) as r:
        assert r.headers.get_content_type() == "text/event-stream"
        for line in r:
            if line.startswith(b"data: "):
                events.append(json.loads(line[6:]))
    steps = [e["progress"]["step"] for e in events]
    assert events[-1]["status"] == "done" and steps == sorted(steps) and steps[-1] == 6
    assert events[-1]["preview"] is not None
    status, preview = studio.get(events[-1]["preview"])
    assert status == 200 and preview[:8] == b"\x89PNG\r\n\x1a\n"


def test_cancel_queued_and_running_jobs(studio):
    body = {"model": "shapes-txt2img", "steps": 250, "inputs": {"prompt": "a blue square"}}
    _, first = studio.post("/api/generate", body)
    _, second = studio.post("/api/generate", body)
    deadline = time.time() + 120
    while studio.get(f"/api/jobs/{first['id']}")[1]["progress"]["step"] < 1:
        assert time.time() < deadline
        time.sleep(0.05)
    status, queued = studio.post(f"/api/jobs/{second['id']}/cancel")
    assert status == 200 and queued["status"] == "cancelled"  # at once: it never ran
    studio.post(f"/api/jobs/{first['id']}/cancel")
    running = studio.wait(first["id"])
    assert running["status"] == "cancelled" and running["progress"]["step"] < 250
    assert studio.wait(second["id"])["progress"]["step"] == 0
    status, out = studio.post("/api/jobs/0123456789abcdef/cancel")
    assert status == 404 and out["error"].startswith("id:")


def test_mask_replacement_inpainting_pastes_the_picture_back(studio, data_url):
    picture = np.full((32, 32, 3), 224, np.uint8)
    picture[2:12, 2:12] = (40, 60, 220)
    mask = np.zeros((32, 32), np.uint8)
    mask[16:, 16:] = 255
    job = _generate(studio, inputs={"layout": LAYOUT[:1], "image": data_url(picture),
                                    "mask": data_url(mask)})
    assert job["status"] == "done", job
    assert "--image" in job["command"] and "--mask" in job["command"]
    from PIL import Image

    _, data = studio.get(job["image"])
    out = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert np.array_equal(out[mask == 0], picture[mask == 0])
    saved = job["params"]["inputs"]["mask"]
    assert saved.startswith(str(studio.out_dir.resolve())) and saved.endswith("input-mask.png")


@pytest.mark.parametrize("body, status, field", [
    ({"model": "no-such-model"}, 404, "model:"),
    ({"model": "../../etc/passwd"}, 404, "model:"),
    ({"model": "/etc/passwd"}, 404, "model:"),
    ({"model": "shapes-layout2img", "steps": 0}, 422, "steps:"),
    ({"model": "shapes-layout2img", "steps": 100000}, 422, "steps:"),
    ({"model": "shapes-layout2img", "num_samples": 0}, 422, "num_samples:"),
    ({"model": "shapes-layout2img", "size": 4096}, 422, "size:"),
    ({"model": "shapes-layout2img", "size": 30, "inputs": {"layout": LAYOUT}}, 422, "size"),
    ({"model": "shapes-layout2img", "scale": float("inf")}, 422, "scale:"),
    ({"model": "shapes-layout2img", "sampler": "nope", "inputs": {"layout": LAYOUT}}, 422,
     "sampler:"),
    ({"model": "shapes-layout2img", "colour": 1}, 422, "colour:"),
    ({"model": "shapes-layout2img", "inputs": {}}, 422, "inputs.layout:"),
    ({"model": "shapes-layout2img", "inputs": {"layout": [{"class": "red circle",
                                                           "box": [0.5, 0.1, 0.2, 0.4]}]}},
     422, "inputs.layout[0].box:"),
    ({"model": "shapes-layout2img", "inputs": {"layout": [{"class": "red circle",
                                                           "box": [0.1, 0.1]}]}},
     422, "inputs.layout[0].box:"),
    ({"model": "shapes-layout2img", "inputs": {"layout": "circle purple 0.1 0.1 0.4 0.4"}},
     422, "inputs.layout:"),
    ({"model": "shapes-layout2img", "inputs": {"layout": [{"class": "red circle",
                                                           "box": [0, 0, .3, .3]}] * 4}},
     422, "inputs.layout:"),
    ({"model": "shapes-layout2img", "inputs": {"layout": LAYOUT, "prompt": "x"}}, 422,
     "inputs.prompt:"),
    ({"model": "shapes-txt2img", "inputs": {"prompt": ["a", "list"]}}, 422, "inputs.prompt:"),
    ({"model": "shapes-txt2img", "inputs": {"prompt": "a red circle", "image": "@@@"}}, 422,
     "inputs.image:"),
    ({"model": "shapes-txt2img", "inputs": {"prompt": "a red circle",
                                            "image": "data:image/png;base64,aGVsbG8="}}, 422,
     "inputs.image:"),
])
def test_bad_requests_are_4xx_naming_the_field(studio, body, status, field):
    before = sorted(p.name for p in studio.out_dir.iterdir())
    got, out = studio.post("/api/generate", body)
    assert got == status, out
    assert set(out) == {"error"} and out["error"].startswith(field), out
    assert sorted(p.name for p in studio.out_dir.iterdir()) == before  # nothing left behind


def test_pictures_mask_size_and_limits(studio, data_url):
    picture = data_url(np.zeros((32, 32, 3), np.uint8))
    base = {"model": "shapes-txt2img", "inputs": {"prompt": "a red circle", "image": picture}}
    small_mask = data_url(np.zeros((16, 16), np.uint8))
    status, out = studio.post("/api/generate", {**base, "inputs": {**base["inputs"],
                                                                   "mask": small_mask}})
    assert status == 422 and out["error"].startswith("inputs.mask: 16x16, but inputs.image")
    grey = data_url(np.full((32, 32), 128, np.uint8))
    status, out = studio.post("/api/generate", {**base, "inputs": {**base["inputs"],
                                                                   "mask": grey}})
    assert status == 422 and out["error"].startswith("inputs.mask:") and "grey" in out["error"]
    wide = data_url(np.zeros((4, 2000), np.uint8))
    status, out = studio.post("/api/generate", {**base, "inputs": {**base["inputs"],
                                                                   "image": wide}})
    assert status == 413 and out["error"].startswith("inputs.image: 2000x4 is larger")
    status, out = studio.post("/api/generate", {**base, "inputs": {"prompt": "x", "mask":
                                                                   small_mask}})
    assert status == 422 and out["error"].startswith("inputs.mask: needs inputs.image")
    status, out = studio.post("/api/generate", base)
    assert status == 422 and out["error"].startswith("inputs.image:") and "mask" in out["error"]
    # a body over the limit is refused from its Content-Length, before it is read
    import http.client
    from urllib.parse import urlparse

    conn = http.client.HTTPConnection(urlparse(studio.url).netloc, timeout=30)
    conn.putrequest("POST", "/api/generate")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(9 * 2**20))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413 and json.loads(resp.read())["error"].startswith("body:")
    conn.close()


def test_unknown_routes_and_jobs_answer_json_errors(studio):
    status, out = studio.get("/api/jobs/../../etc/passwd")
    assert status == 404 and "error" in out
    status, out = studio.get("/api/jobs/nope")
    assert status == 404 and out["error"].startswith("id:")
    status, out = studio.get("/api/jobs/0123456789abcdef/image.png")
    assert status == 404
    status, out = studio.request("GET", "/api/generate")
    assert status == 405 and "error" in out


def test_readme_curl_example_is_accepted(studio):
    """The README's Web studio section: its curl body is a valid request that completes."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Web studio", 1)[1].split("\n### ", 1)[0]
    body = re.search(r"-d \\\n\s*'(.*?)'", section, re.S).group(1)
    status, out = studio.post("/api/generate", json.loads(body))
    assert status == 202, out
    assert studio.wait(out["id"])["status"] == "done"
    for route in ("/api/models", "/api/generate", "/api/jobs/{id}", "/api/jobs/{id}/events",
                  "/api/jobs/{id}/cancel"):
        assert f"`{route}`" in section or f"`GET {route}`" in section or \
            f"`POST {route}`" in section, route
