"""Run under torchrun by test_ddp.py: train both toy stages with this process's rank."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from conftest import load_toys  # noqa: E402

from ldmcore.training.loop import train  # noqa: E402

RUNS = {
    # (output dir, stage, spec overrides)
    "diffusion": ("diffusion", []),
    "first_stage": ("first_stage", ["first_stage.type=toy_ae"]),
    # scale_factor: auto over a sampled posterior: each shard's noise keyed to the shard
    "noisy": ("diffusion", ["first_stage.type=toy_noisy"]),
}


def run_all(out: str, registry, **training) -> dict:
    toys = load_toys()
    results = {}
    for name, (stage, overrides) in RUNS.items():
        spec = toys.toy_spec(str(Path(out) / name), steps=3, checkpoint_every=100,
                             sample_every=100, **training)
        results[name] = train(spec, overrides, stage=stage, registry=registry, progress=False)
    return results


if __name__ == "__main__":
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1)
    import torch.distributed as dist

    # one process group for both runs (train() leaves a group it did not create alone)
    dist.init_process_group("gloo")
    run_all(sys.argv[1], load_toys().make_registry(), grad_accum=int(sys.argv[2]))
    dist.destroy_process_group()
