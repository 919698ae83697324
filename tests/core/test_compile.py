"""`sampling.compile` / `--compile`: torch.compile of the denoiser while sampling (issue #15)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_specs import TINY
from torch._dynamo.utils import counters

import ldmcore
from ldmcore.cli.generate import sampling_overrides
from ldmcore.cli.main import main, parse
from ldmcore.errors import SamplingError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _sample(model) -> torch.Tensor:
    return model.sample({"class": torch.tensor([1, 2])}, progress=False, return_latents=True,
                        generator=torch.Generator().manual_seed(0))


def _graphs() -> int:
    return counters["stats"]["unique_graphs"]


@pytest.fixture
def no_compiler():
    """A platform without a working C++ compiler for inductor, and no compiled code cached."""
    import torch._functorch.config
    import torch._inductor.config

    torch._dynamo.reset()
    with (torch._inductor.config.patch({"cpp.cxx": (None, "/nonexistent/g++"),
                                        "fx_graph_cache": False}),
          torch._functorch.config.patch(enable_autograd_cache=False)):
        yield
    torch._dynamo.reset()


def test_compiled_samples_match_eager_and_compile_once(registry, spec_dict):
    eager = ldmcore.build(spec_dict, registry=registry).eval()
    compiled = ldmcore.build({**spec_dict, "sampling": {"compile": True}}, registry=registry)
    compiled.load_state_dict(eager.state_dict())
    ref = _sample(eager)
    before = _graphs()
    first = _sample(compiled.eval())
    after_first = _graphs()
    second = _sample(compiled)
    assert after_first > before  # the denoiser went through torch.compile
    assert _graphs() == after_first  # and was not compiled again by the second call
    torch.testing.assert_close(first, ref, rtol=1e-4, atol=1e-5)
    assert torch.equal(first, second)


def test_compile_failure_is_one_sampling_error(registry, spec_dict, no_compiler):
    model = ldmcore.build({**spec_dict, "sampling": {"compile": True}}, registry=registry)
    with pytest.raises(SamplingError, match=r"^sampling\.compile: .*C\+\+ compiler") as info:
        _sample(model.eval())
    assert "\n" not in str(info.value)


def test_generate_compile_without_compiler_exits_2(tmp_path, capsys, no_compiler):
    out = tmp_path / "grid.png"
    rc = main(["generate", str(CONFIGS / "class2img.yaml"), *TINY, "--steps", "2", "-n", "1",
               "--no-progress", "--class", "1", "--out", str(out), "--compile"])
    err = capsys.readouterr().err.splitlines()  # a note on the untrained weights, the error
    assert rc == 2
    assert [line for line in err if "error" in line] == err[-1:]
    assert err[-1].startswith("ldm generate: error: sampling.compile: torch.compile does not")
    assert not out.exists()


@pytest.mark.parametrize("command", [["generate", "m.yaml"], ["eval", "m.yaml", "-n", "2"]])
def test_compile_flag_sets_the_spec_key(command):
    assert "sampling.compile=true" in sampling_overrides(parse([*command, "--compile"]))
    assert not any("compile" in o for o in sampling_overrides(parse(command)))
