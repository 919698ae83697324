"""The `ldm` CLI: fast help, one-line errors with exit code 2, registry freshness."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def ldm(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "ldmcore", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    err = result.stderr.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def test_help_does_not_import_torch():
    code = ("import sys; from ldmcore.cli.main import make_parser; make_parser(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
    assert ldm("--help").returncode == 0


def test_nonexistent_spec(tmp_path):
    assert_one_line_error(ldm("validate", str(tmp_path / "nope.yaml")), "spec file not found")


def test_yaml_syntax_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec_version: 1\nfirst_stage: [unclosed\n")
    assert_one_line_error(ldm("validate", str(bad)), f"{bad}:", "YAML syntax error")


def test_unknown_type_lists_known(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec_version: 1\ntask: {type: no_such_task}\n")
    assert_one_line_error(ldm("validate", str(bad)), "task: unknown task type 'no_such_task'",
                          "known:")


def test_unknown_kind_in_components():
    assert_one_line_error(ldm("components", "widgets"), "unknown kind 'widgets'")


def test_plugins_json_lists_first_party():
    result = ldm("plugins", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["failures"] == []
    assert any(p["distribution"].startswith("ldm-plugin-") for p in listing["plugins"])


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_config_validates(config):
    result = ldm("validate", str(config.relative_to(ROOT)))
    assert result.returncode == 0, result.stderr
    assert ": ok" in result.stdout


def test_registry_is_up_to_date():
    result = ldm("registry", "check")
    assert result.returncode == 0, result.stderr


def test_configs_point_editors_at_the_schema():
    for config in CONFIGS:
        first = config.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../registry/graph.schema.json", config
