"""Files on disk (issue #14): orphaned temp files of a killed write are cleaned on the next
write, a failed write leaves the destination whole, NaN and wrongly typed weights are refused."""

from __future__ import annotations

import os
import time
import types

import pytest
import torch
from torch import nn

from ldmcore.checkpoint.native import ORPHAN_AGE_S, remove_orphans, save
from ldmcore.checkpoint.report import compare, load_strict
from ldmcore.errors import CheckpointError


class _Spec:
    def model_dump(self, mode="json"):
        return {"spec_version": 1}


def _holder():
    return types.SimpleNamespace(spec=_Spec())


def _safetensors_like(path, age_s: float) -> None:
    path.write_bytes((64).to_bytes(8, "little") + b'{"x": 1}' + b"\0" * 1000)
    old = time.time() - age_s
    os.utime(path, (old, old))


def test_orphans_of_a_killed_write_are_removed_on_the_next_write(tmp_path):
    dst = tmp_path / "m.safetensors"
    stale = tmp_path / ".tmpAb12Cd"  # safetensors' own temp name, killed mid-write
    _safetensors_like(stale, ORPHAN_AGE_S + 5)
    fresh = tmp_path / ".tmpZz99Yy"  # another write still in progress: kept
    _safetensors_like(fresh, 0)
    other = tmp_path / ".tmpQq11Ww"  # not a safetensors file: not ours to remove
    other.write_bytes(b"hello world, not a tensor file")
    os.utime(other, (0, 0))
    ours = tmp_path / ".m.safetensors.tmp"
    ours.write_bytes(b"partial")
    save(_holder(), dst, state_dict={"w": torch.ones(3)})
    assert dst.is_file() and not stale.exists() and not ours.exists()
    assert fresh.exists() and other.exists()
    assert remove_orphans(dst) == []


def test_failed_write_leaves_the_destination_whole(tmp_path, monkeypatch):
    dst = tmp_path / "m.safetensors"
    save(_holder(), dst, state_dict={"w": torch.ones(3)})
    before = dst.read_bytes()

    def disk_full(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("safetensors.torch.save_file", disk_full)
    with pytest.raises(CheckpointError) as err:
        save(_holder(), dst, state_dict={"w": torch.zeros(3)})
    assert str(err.value) == (f"cannot write {dst}: No space left on device (the existing file "
                              "is unchanged)")
    assert dst.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors"]


def test_nan_and_int32_weights_are_refused_by_name():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    good = {k: v.clone() for k, v in net.state_dict().items()}
    assert compare(net, good).ok  # num_batches_tracked (int64) matches its own int buffer
    nan = dict(good)
    nan["0.weight"] = good["0.weight"].clone()
    nan["0.weight"][0, 0] = float("nan")
    report = compare(net, nan)
    assert report.non_finite == ["0.weight"] and not report.ok
    assert "1 holding NaN/inf (0.weight)" in report.summary()
    ints = dict(good)
    ints["0.bias"] = torch.zeros(2, dtype=torch.int32)
    with pytest.raises(CheckpointError) as err:
        load_strict(net, ints, source="x.safetensors")
    assert "0.bias: model float32, checkpoint int32" in str(err.value)
    # non-strict: reported, never loaded
    before = net.state_dict()["0.weight"].clone()
    report = load_strict(net, nan, source="x", strict=False)
    assert report.non_finite == ["0.weight"]
    assert torch.equal(net.state_dict()["0.weight"], before)
