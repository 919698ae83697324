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


# ----------------------------------------------------------------------------- issue #14
def test_spec_of_random_bytes(registry, tmp_path):
    path = tmp_path / "noise.yaml"
    path.write_bytes(bytes(range(128, 256)) * 3)
    msg = error_of(path, registry)
    assert msg.startswith(f"{path}: not a text file")


def test_spec_that_is_a_directory(registry, tmp_path):
    assert error_of(tmp_path, registry) == f"{tmp_path}: a directory, expected a YAML spec file"


def test_unreadable_spec_says_permission_denied(registry, tmp_path):
    import os

    path = tmp_path / "locked.yaml"
    path.write_text("spec_version: 1\n")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read mode-000 files")
        assert error_of(path, registry) == f"{path}: permission denied"
    finally:
        path.chmod(0o644)


def test_override_with_bad_yaml_value(registry, spec_dict):
    msg = error_of(spec_dict, registry, ["denoiser.params.channel_mult=[1,2"])
    assert msg.startswith("override 'denoiser.params.channel_mult=[1,2': the value is not valid "
                          "YAML")


@pytest.mark.parametrize("override", ["conditioners.label.extra.7=3",
                                      "conditioners.label.extra.x=3"])
def test_override_list_index_out_of_range(registry, spec_dict, override):
    spec_dict["conditioners"]["label"]["extra"] = [1, 2]
    msg = error_of(spec_dict, registry, [override])
    assert msg.startswith(f"override '{override}': conditioners.label.extra is a list of 2 "
                          "item(s); index it with 0..1")


def test_override_list_index_in_range_sets_the_item(spec_dict):
    from ldmcore.spec.load import load_raw

    spec_dict["extra"] = [1, {"a": 2}]
    data, _ = load_raw(spec_dict, ["extra.0=5", "extra.1.a=7"])
    assert data["extra"] == [5, {"a": 7}]


def test_missing_required_param_names_the_field(registry, spec_dict):
    from ldmcore.params import Params
    from ldmcore.plugins import hookimpl, loader
    from ldmcore.registry import PluginInfo

    class NeedsScale(Params):
        scale: float
        other: float

    class Plugin:
        @hookimpl
        def ldmcore_register_components(self, register):
            register("guider", "needs_scale", NeedsScale, lambda p, ctx: None)

    loader.register_plugin(registry, Plugin(), PluginInfo("ns", "dist-ns", "1"))
    spec_dict["guider"] = {"type": "needs_scale"}
    msg = error_of(spec_dict, registry)
    assert "guider.params.scale: Field required" in msg
    spec_dict["guider"] = {"type": "needs_scale", "params": {"other": 1.0}}
    assert "guider.params.scale: Field required" in error_of(spec_dict, registry)
