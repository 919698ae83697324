"""`ldm serve` as a user starts it: the URL printed, the API answering, one-line errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request

import pytest

from ldmcore.cli.main import main
from ldmcore.cli.serve import exposure_warning

pytest.importorskip("uvicorn")


def test_serve_prints_its_url_and_answers(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ldmcore.cli.main", "serve", "shapes-txt2img", "--port", "0",
         "--out-dir", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        match = re.match(r"ldm serve: (http://127\.0\.0\.1:\d+/) ", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        with urllib.request.urlopen(match.group(1) + "api/models", timeout=30) as r:
            models = json.loads(r.read())["models"]
        assert [m["name"] for m in models] == ["shapes-txt2img"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert "warning" not in proc.stderr.read()  # loopback: no warning
    assert (tmp_path / "out").is_dir()


@pytest.mark.parametrize("host, warns", [("127.0.0.1", False), ("::1", False),
                                         ("localhost", False), ("0.0.0.0", True),
                                         ("192.168.1.5", True), ("myhost", True)])
def test_another_host_warns_that_there_is_no_authentication(host, warns):
    warning = exposure_warning(host)
    assert (warning is not None) == warns
    if warns:
        assert "no authentication" in warning and host in warning


@pytest.mark.parametrize("argv, message", [
    (["serve", "configs/txt2img.yaml"], "not a model card"),
    (["serve", "../../etc/passwd"], "not a model card"),
    (["serve", "shapes-kl-f4"], "autoencoder"),
    (["serve", "--port", "70000"], "--port"),
    (["serve", "--queue", "0"], "--queue"),
])
def test_bad_arguments_are_one_line_exit_2(argv, message, capsys, tmp_path):
    assert main([*argv, "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
