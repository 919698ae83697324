"""The third-party path, proven: pip-install a separate plugin distribution into a throwaway
environment (offline, no deps) and use it from a config; a plugin that raises on import leaves
everything else working; a plugin that registers a first-party name loses that name only.
The example plugin's sampler and guider (docs/plugins.md) are also run in-process."""

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

# sorts before `conditioners` by entry-point name and claims a first-party name
COLLIDER = {
    "pyproject.toml": """\
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "ldm-plugin-collider"
        version = "0.1"
        [project.entry-points.ldmcore]
        aaa_collider = "ldm_plugin_collider"
        [tool.setuptools]
        packages = ["ldm_plugin_collider"]
        """,
    "ldm_plugin_collider/__init__.py": """\
        from ldmcore.params import ConditionerParams, Context
        from ldmcore.plugins import hookimpl

        class P(ConditionerParams):
            def output_port(self, wiring, latent):
                return Context(1, 8)

        @hookimpl
        def ldmcore_register_components(register):
            register("conditioner", "bert_transformer", P, lambda p, ctx: None)
            register("conditioner", "collider_own", P, lambda p, ctx: None)
        """,
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
    _install(python, FIXTURE, tmp)
    for dist, files in (("ldm-plugin-broken", BROKEN), ("ldm-plugin-collider", COLLIDER)):
        folder = tmp / dist
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(textwrap.dedent(text))
        _install(python, folder, tmp)
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


def test_first_party_name_collision_rejects_that_registration_only(throwaway_env):
    python, _ = throwaway_env
    result = ldm(python, "plugins", "--json", env={"LDMCORE_DISABLE_PLUGINS": "broken"})
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    by_name = {p["name"]: p for p in listing["plugins"]}
    assert "conditioner:bert_transformer" in by_name["conditioners"]["components"]
    assert "conditioner:layout_tokens" in by_name["conditioners"]["components"]
    assert by_name["aaa_collider"]["components"] == ["conditioner:collider_own"]
    assert "PluginWarning: conditioner 'bert_transformer' of plugin 'aaa_collider'" in result.stderr
    [conflict] = listing["conflicts"]
    assert conflict["kept"] == "ldm-plugin-conditioners 0.1.0"
    assert conflict["rejected"] == "ldm-plugin-collider 0.1"
    assert "first-party names take precedence" in conflict["message"]
    # the shipped layout model still validates: its conditioners are all there
    check = ldm(python, "validate", str(ROOT / "configs" / "layout2img.yaml"),
                env={"LDMCORE_DISABLE_PLUGINS": "broken"})
    assert check.returncode == 0, check.stderr
    strict = ldm(python, "plugins", env={"LDMCORE_STRICT_PLUGINS": "1",
                                         "LDMCORE_DISABLE_PLUGINS": "ldm-plugin-broken"})
    assert strict.returncode == 2 and strict.stderr.count("\n") == 1
    assert "ldm-plugin-collider" in strict.stderr and "ldm-plugin-conditioners" in strict.stderr


def test_unknown_type_mentions_the_failed_plugin(throwaway_env, tmp_path):
    python, _ = throwaway_env
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.replace("char_text", "char_textt"))
    result = ldm(python, "validate", str(spec), env={"LDMCORE_DISABLE_PLUGINS": "aaa_collider"})
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "unknown conditioner type 'char_textt'" in result.stderr
    assert "'broken' (ldm-plugin-broken) failed to load" in result.stderr


def test_strict_mode_makes_broken_plugin_fatal(throwaway_env):
    python, _ = throwaway_env
    result = ldm(python, "plugins", env={"LDMCORE_STRICT_PLUGINS": "1",
                                         "LDMCORE_DISABLE_PLUGINS": "aaa_collider"})
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


# ----------------------------------------------------------------------------- in-process
@pytest.fixture(scope="module")
def example_registry():
    """First-party plugins plus the example plugin, registered in-process."""
    sys.path.insert(0, str(FIXTURE))
    try:
        from ldm_plugin_example import plugin
    finally:
        sys.path.remove(str(FIXTURE))
    from ldmcore.plugins.loader import load_registry, register_plugin
    from ldmcore.registry import PluginInfo

    registry = load_registry()
    register_plugin(registry, plugin, PluginInfo("example", "ldm-plugin-example", "0.3.0"))
    assert not registry.failures and not registry.conflicts
    return registry


def _example_model(registry, *overrides):
    import yaml

    import ldmcore

    spec = yaml.safe_load(SPEC)
    spec["sampler"] = {"type": "example_ddim", "params": {"steps": 4}}
    spec["guider"] = {"type": "late_cfg", "params": {"scale": 2.0}}
    return ldmcore.build(spec, list(overrides), registry=registry)


def test_example_sampler_and_guider_sample(example_registry):
    import torch

    model = _example_model(example_registry).eval()
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    batch = {"caption": ["ab", "cd"]}
    out = model.sample(batch, generator=g(), progress=False)
    assert out.shape == (2, 3, 16, 16) and torch.isfinite(out).all()
    # `--steps` is sampler.params.steps; model.sample(steps=) passes the same option
    assert not torch.equal(model.sample(batch, generator=g(), progress=False, steps=2), out)
    # late_cfg with t_min beyond every timestep is the plain conditional prediction
    plain = _example_model(example_registry, "guider.type=none").eval()
    plain.load_state_dict(model.state_dict())
    late = _example_model(example_registry, "guider.params.t_min=100000").eval()
    late.load_state_dict(model.state_dict())
    torch.testing.assert_close(late.sample(batch, generator=g(), progress=False),
                               plain.sample(batch, generator=g(), progress=False))
    # inpainting: the identity first stage makes the known region exact in pixels
    image = torch.rand(2, 3, 16, 16) * 2 - 1
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., :8] = 1
    filled = model.sample(batch, generator=g(), progress=False, image=image, mask=mask)
    torch.testing.assert_close(filled[..., 8:], image[..., 8:])
    # img2img: strength reaches the sampler; a small strength stays close to the image
    near = model.sample(batch, generator=g(), progress=False, image=image, strength=0.25)
    far = model.sample(batch, generator=g(), progress=False, image=image, strength=1.0)
    assert (near - image).abs().mean() < (far - image).abs().mean()
