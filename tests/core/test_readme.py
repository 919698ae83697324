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
