"""The third-party path, proven: pip-install a separate plugin distribution into a throwaway
environment (offline, no deps) and use it from a config; a plugin that raises on import leaves
everything else working."""

import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "ldm-plugin-example"

SPEC = """\
spec_version: 1
image_size: 16
task: {type: txt2img}
first_stage: {type: identity}
conditioners:
  text: {type: char_text, input: caption, wiring: crossattn, params: {max_length: 8, dim: 32}}
denoiser:
  type: unet
  params: {model_channels: 32, channel_mult: [1, 2], num_res_blocks: 1,
           attention_resolutions: [2], num_head_channels: 16}
diffusion: {timesteps: 100}
sampler: {type: ddim, params: {steps: 2}}
guider: {type: cfg, params: {scale: 2.0}}
"""

BROKEN = {
    "pyproject.toml": """\
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "ldm-plugin-broken"
        version = "9.9"
        [project.entry-points.ldmcore]
        broken = "ldm_plugin_broken"
        [tool.setuptools]
        packages = ["ldm_plugin_broken"]
        """,
    "ldm_plugin_broken/__init__.py": "raise ImportError('this plugin is broken on purpose')\n",
}


def _install(python: Path, source: Path, workdir: Path) -> None:
    copy = workdir / "src" / source.name
    shutil.copytree(source, copy)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-index", "--no-build-isolation", str(copy)],
        check=True, capture_output=True, timeout=300,
    )


@pytest.fixture(scope="module")
def throwaway_env(tmp_path_factory):
    """A fresh venv that sees this environment's packages (ldmcore, torch) through a .pth,
    with the example plugin and a broken plugin pip-installed into it."""
    tmp = tmp_path_factory.mktemp("env")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip()
    parent = site.getsitepackages()[0]
    Path(purelib, "_parent_env.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    broken = tmp / "ldm-plugin-broken"
    for name, text in BROKEN.items():
        (broken / name).parent.mkdir(parents=True, exist_ok=True)
        (broken / name).write_text(textwrap.dedent(text))
    _install(python, FIXTURE, tmp)
    _install(python, broken, tmp)
    return python, tmp


def ldm(python, *args, env=None):
    return subprocess.run([str(python), "-m", "ldmcore", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def test_plugin_listed_and_broken_one_reported(throwaway_env):
    python, _ = throwaway_env
    result = ldm(python, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    example = [p for p in listing["plugins"] if p["name"] == "example"]
    assert example and example[0]["distribution"] == "ldm-plugin-example"
    assert example[0]["version"] == "0.3.0"
    assert "conditioner:char_text" in example[0]["components"]
    [failure] = [f for f in listing["failures"] if f["name"] == "broken"]
    assert "broken on purpose" in failure["error"]


def test_strict_mode_makes_broken_plugin_fatal(throwaway_env):
    python, _ = throwaway_env
    result = ldm(python, "plugins", env={"LDMCORE_STRICT_PLUGINS": "1"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "broken on purpose" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_selects_plugin_and_model_runs(throwaway_env):
    python, tmp = throwaway_env
    spec = tmp / "char.yaml"
    spec.write_text(SPEC)
    result = ldm(python, "validate", str(spec))
    assert result.returncode == 0, result.stderr
    assert "text:char_text->crossattn" in result.stdout
    script = f"""
import torch, ldmcore
model = ldmcore.build({str(spec)!r})
loss = model.loss({{"image": torch.rand(2, 3, 16, 16) * 2 - 1, "caption": ["ab", "cd"]}})
loss.backward()
out = model.sample({{"caption": ["a red circle", "x"]}}, progress=False,
                   generator=torch.Generator().manual_seed(0))
print(type(model.conditioners["text"].conditioner).__module__, float(loss), tuple(out.shape))
"""
    run = subprocess.run([str(python), "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    module, loss, shape = run.stdout.split(" ", 2)
    assert module == "ldm_plugin_example.char_text"
    assert float(loss) > 0 and shape.strip() == "(2, 3, 16, 16)"
