"""Reading files safely: refused pickles, corrupt/truncated files, missing files."""

import os
import pickle
import sys
import types

import pytest
import torch

from ldmcore.checkpoint.loading import read_checkpoint
from ldmcore.checkpoint.readers import read_file
from ldmcore.errors import CheckpointError

pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": _Evil(marker)}, path)
    with pytest.raises(CheckpointError) as err:
        read_file(path)
    msg = str(err.value)
    assert str(path) in msg and "refused" in msg and "system" in msg
    assert "\n" not in msg
    assert not marker.exists()


def test_plain_old_pickle_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned2"
    path = tmp_path / "legacy.pt"
    with open(path, "wb") as f:
        pickle.dump({"w": _Evil(marker)}, f)
    with pytest.raises(CheckpointError, match="legacy.pt"):
        read_file(path)
    assert not marker.exists()


def test_lightning_bookkeeping_is_stubbed_not_run(tmp_path, monkeypatch):
    # A CompVis .ckpt carries pytorch_lightning callback objects next to the weights.
    mod = types.ModuleType("pytorch_lightning.callbacks.model_checkpoint")

    class ModelCheckpoint:
        def __init__(self):
            self.best = 1.0

    ModelCheckpoint.__module__ = mod.__name__
    ModelCheckpoint.__qualname__ = "ModelCheckpoint"
    mod.ModelCheckpoint = ModelCheckpoint
    for name in ("pytorch_lightning", "pytorch_lightning.callbacks"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": {"model.diffusion_model.w": torch.ones(3)}, "global_step": 7,
                "callbacks": {"cb": ModelCheckpoint()}}, path)
    for name in ("pytorch_lightning", "pytorch_lightning.callbacks", mod.__name__):
        monkeypatch.delitem(sys.modules, name)  # the real class is not importable at load
    state, _ = read_file(path)
    assert list(state) == ["model.diffusion_model.w"] and torch.equal(state[list(state)[0]],
                                                                     torch.ones(3))


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found: .*nope.ckpt"):
        read_checkpoint(tmp_path / "nope.ckpt")


def test_truncated_safetensors(tmp_path):
    from safetensors.torch import save_file

    good = tmp_path / "good.safetensors"
    save_file({"a": torch.randn(64, 64)}, str(good))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="bad.safetensors: not a readable safetensors"):
        read_file(bad)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 50)
    with pytest.raises(CheckpointError, match="garbage.safetensors"):
        read_file(garbage)


def test_corrupt_ckpt_and_unknown_suffix(tmp_path):
    path = tmp_path / "broken.ckpt"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="broken.ckpt"):
        read_file(path)
    other = tmp_path / "weights.npz"
    other.write_bytes(b"x")
    with pytest.raises(CheckpointError, match="unknown checkpoint type"):
        read_file(other)


def test_state_dict_unwrapped_and_non_tensors_dropped(tmp_path):
    path = tmp_path / "m.ckpt"
    torch.save({"state_dict": {"a": torch.ones(1), "b": 3}, "epoch": 2}, path)
    state, _ = read_file(path)
    assert list(state) == ["a"]


def test_folder_that_is_not_diffusers(tmp_path):
    with pytest.raises(CheckpointError, match="not a diffusers model"):
        read_checkpoint(tmp_path)
