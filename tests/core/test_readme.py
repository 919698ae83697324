"""README.md stays true: its spec example validates with the installed plugins."""

import re
from pathlib import Path

from ldmcore.spec import resolve_spec

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_spec_example_validates(tmp_path):
    block = re.search(r"```yaml\n(.*?)```", README.read_text(), re.S).group(1)
    (tmp_path / "readme.yaml").write_text(block)
    spec = resolve_spec(tmp_path / "readme.yaml")
    assert spec.conditioners["text"].type == "bert_transformer"
    assert spec.denoiser.params.context_dim == spec.conditioners["text"].params.dim


def test_readme_generate_commands_run(tmp_path, monkeypatch):
    """Every `ldm generate` line of the README's Generate section runs as written (tiny nets for
    the configs, 2 steps), with pictures standing in for the files it names."""
    import shlex

    import numpy as np
    from PIL import Image
    from tiny_specs import TINY

    from ldmcore.cli.main import main

    section = README.read_text().split("### Generate", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    lines = [ln.split("  #")[0] for ln in block.splitlines() if ln.startswith("ldm generate")]
    assert len(lines) >= 7  # one per task at least
    seg = np.zeros((16, 16), np.uint8)
    seg[4:10, 4:10] = 3
    files = {"map.png": Image.fromarray(seg, "L"),
             "low.png": Image.fromarray(np.full((4, 4, 3), 90, np.uint8)),
             "photo.png": Image.fromarray(np.full((16, 16, 3), 200, np.uint8)),
             "mask.png": Image.fromarray((np.arange(256).reshape(16, 16) > 128).astype(
                 np.uint8) * 255, "L"),
             "y.png": Image.fromarray(np.full((32, 32, 3), 120, np.uint8))}
    for name, img in files.items():
        img.save(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    root = README.parent
    for i, line in enumerate(lines):
        argv = shlex.split(line)[1:]
        argv = [str(root / a) if a.startswith("configs/") else a for a in argv]
        tiny = TINY if "configs/" in line else []
        fast = ["--steps", "2", "-n", "1", "--no-progress", "--out", f"out{i}.png"]
        assert main([*argv, *tiny, *fast]) == 0, line
        assert (tmp_path / f"out{i}.png").is_file()
