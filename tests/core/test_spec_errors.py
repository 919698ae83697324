"""Every kind of bad spec gives one clear line naming the path (issue: Core framework)."""

import pytest

from ldmcore.errors import SpecError
from ldmcore.spec import resolve_spec


def error_of(source, registry, overrides=()):
    with pytest.raises(SpecError) as info:
        resolve_spec(source, overrides, registry=registry)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_component_type_lists_known(registry, spec_dict):
    spec_dict["guider"]["type"] = "cgf"
    msg = error_of(spec_dict, registry)
    assert "guider: unknown guider type 'cgf'" in msg
    assert "toy_cfg" in msg and "toy_none" in msg


def test_misspelt_param_names_full_path(registry, spec_dict):
    spec_dict["conditioners"]["label"]["params"] = {"num_clases": 3}
    msg = error_of(spec_dict, registry)
    assert "conditioners.label.params.num_clases" in msg
    assert "extra_forbidden" in msg


def test_wrong_type(registry, spec_dict):
    msg = error_of(spec_dict, registry, ["first_stage.params.f=two"])
    assert "first_stage.params.f" in msg and "int" in msg


def test_missing_required_field(registry, spec_dict):
    del spec_dict["conditioners"]["label"]["input"]
    msg = error_of(spec_dict, registry)
    assert "conditioners.label.input" in msg and "missing" in msg.lower()


def test_missing_spec_version(registry, spec_dict):
    del spec_dict["spec_version"]
    assert "spec_version" in error_of(spec_dict, registry)


def test_port_dim_mismatch(registry, spec_dict):
    msg = error_of(spec_dict, registry, ["denoiser.params.context_dim=768"])
    assert msg.endswith("conditioners.label: context dim 8 != denoiser.params.context_dim 768")


def test_in_channels_mismatch(registry, spec_dict):
    msg = error_of(spec_dict, registry, ["denoiser.params.in_channels=7"])
    assert "denoiser.params.in_channels 7 != 3" in msg


def test_wiring_port_kind_mismatch(registry, spec_dict):
    msg = error_of(spec_dict, registry, ["conditioners.label.wiring=concat",
                                         "conditioners.label.null=zeros"])
    assert "conditioners.label" in msg and "concat" in msg


def test_yaml_syntax_error_has_line_number(registry, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("spec_version: 1\ntask: {type: toy_task\nfirst_stage: x\n")
    msg = error_of(path, registry)
    assert msg.startswith(f"{path}:") and "YAML syntax error" in msg
    assert msg.split(":")[1].isdigit()


def test_unresolved_interpolation(registry, spec_dict):
    spec_dict["image_size"] = "${nowhere.size}"
    msg = error_of(spec_dict, registry)
    assert "nowhere" in msg and "image_size" in msg


def test_nonexistent_spec_file(registry, tmp_path):
    msg = error_of(tmp_path / "missing.yaml", registry)
    assert msg == f"spec file not found: {tmp_path / 'missing.yaml'}"


def test_bad_override_syntax(registry, spec_dict):
    assert "expected key=value" in error_of(spec_dict, registry, ["denoiser.params.width"])
