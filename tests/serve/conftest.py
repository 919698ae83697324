"""A real `ldm serve` app on a loopback port (uvicorn in a thread), and a tiny JSON client."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")


class Server:
    """The app served by uvicorn on 127.0.0.1:<free port> until the fixture ends."""

    def __init__(self, app) -> None:
        self.app = app
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def request(self, method: str, path: str, body=None, raw: bytes | None = None,
                headers: dict | None = None) -> tuple[int, object]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                status, payload, kind = resp.status, resp.read(), resp.headers.get_content_type()
        except urllib.error.HTTPError as err:
            status, payload, kind = err.code, err.read(), err.headers.get_content_type()
        return status, json.loads(payload) if kind == "application/json" else payload

    def get(self, path: str):
        return self.request("GET", path)

    def post(self, path: str, body=None):
        return self.request("POST", path, body if body is not None else {})

    def wait(self, job_id: str, timeout: float = 300) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, job = self.get(f"/api/jobs/{job_id}")
            assert status == 200, job
            if job["status"] in ("done", "failed", "cancelled"):
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish in {timeout} s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def serve_server():
    """`serve_server(app)`: that app on a loopback port (the caller stops it)."""
    return Server


@pytest.fixture(scope="session")
def studio(tmp_path_factory):
    """One server for the session (the models load once), output in a temporary folder."""
    from ldmcore.serve.app import create_app

    out = tmp_path_factory.mktemp("serve")
    server = Server(create_app(["shapes-layout2img", "shapes-txt2img"], out_dir=out,
                               max_queued=8))
    server.out_dir = Path(out)
    yield server
    server.stop()


@pytest.fixture
def studio_factory(tmp_path):
    """`studio_factory(**create_app_options)`: a server of its own, stopped after the test."""
    from ldmcore.serve.app import create_app

    servers = []

    def make(**options) -> Server:
        server = Server(create_app(["shapes-layout2img"], out_dir=tmp_path / "serve", **options))
        server.out_dir = tmp_path / "serve"
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def png_data_url(array) -> str:
    """A numpy uint8 array (H, W) or (H, W, 3) as a PNG data URL."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.fixture
def data_url():
    """`data_url(array)`: a picture as the page sends it."""
    return png_data_url
