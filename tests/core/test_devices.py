"""`--device` (ldm generate / eval / train): a device that exists here, or one clear line."""

from __future__ import annotations

import pytest
import torch

from ldmcore.cli.main import main
from ldmcore.devices import pick_device
from ldmcore.errors import DataError


def test_default_is_the_cpu_or_this_process_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device(None) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device(None, local_rank=1) == torch.device("cuda", 1)
    assert pick_device(None, default_gpu=False) == torch.device("cpu")


def test_cuda_means_this_process_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device("cuda", local_rank=1) == torch.device("cuda", 1)
    assert pick_device("cuda:0", local_rank=1) == torch.device("cuda", 0)
    with pytest.raises(DataError, match=r"^--device cuda:2: this machine has 2 CUDA device"):
        pick_device("cuda:2")


@pytest.mark.parametrize("text, message", [
    ("gpu0", "not a device (cpu, cuda, cuda:1 ...)"),
    ("meta", "only cpu and cuda are supported"),
])
def test_bad_devices_are_one_line_errors(text, message):
    with pytest.raises(DataError) as info:
        pick_device(text)
    assert str(info.value) == f"--device {text}: {message}"


@pytest.mark.parametrize("command", [["generate", "shapes-class2img", "--class", "1"],
                                     ["eval", "shapes-class2img", "-n", "2"]])
def test_cli_without_cuda_exits_2_before_any_work(command, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / ("o.png" if command[0] == "generate" else "o.json")
    assert main([*command, "--device", "cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ldm {command[0]}: error: --device cuda: CUDA is not available here"]
    assert not out.exists()


def test_generate_on_an_explicit_cpu(tmp_path):
    out = tmp_path / "grid.png"
    assert main(["generate", "shapes-class2img", "--class", "3", "-n", "2", "--steps", "2",
                 "--device", "cpu", "--no-progress", "--out", str(out)]) == 0
    assert out.stat().st_size > 0
