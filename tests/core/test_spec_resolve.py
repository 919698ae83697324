"""Spec loading: interpolation, overrides, type replacement, derived ports."""

import yaml

from ldmcore.spec import load_raw, resolve_spec


def test_interpolation_and_dotlist_overrides(registry, spec_dict, tmp_path):
    spec_dict["conditioners"]["label"]["params"] = {"dim": "${denoiser.params.width}"}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec_dict))
    spec = resolve_spec(path, ["denoiser.params.width=12"], registry=registry)
    assert spec.conditioners["label"].params.dim == 12
    assert spec.denoiser.params.context_dim == 12  # derived from the wiring


def test_type_override_replaces_params(spec_dict):
    data, _ = load_raw(spec_dict, ["conditioners.label.type=toy_map",
                                   "conditioners.label.params.channels=2"])
    node = data["conditioners"]["label"]
    assert node["type"] == "toy_map"
    assert node["params"] == {"channels": 2}  # toy_embed's params were dropped, not merged
    assert node["input"] == "class"  # node-level fields stay


def test_same_type_override_merges(spec_dict):
    spec_dict["conditioners"]["label"]["params"] = {"dim": 4, "num_classes": 3}
    data, _ = load_raw(spec_dict, ["conditioners.label.type=toy_embed"])
    assert data["conditioners"]["label"]["params"] == {"dim": 4, "num_classes": 3}


def test_derived_channels_with_concat(registry, spec_dict):
    spec_dict["conditioners"]["map"] = {"type": "toy_map", "input": "map", "wiring": "concat",
                                        "params": {"channels": 2}}
    spec = resolve_spec(spec_dict, registry=registry)
    assert spec.denoiser.params.in_channels == 3 + 2
    assert spec.denoiser.params.out_channels == 3


def test_bare_null_key_in_yaml_is_the_null_mode(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("spec_version: 1\nconditioners:\n  c: {type: x, null: learned}\n")
    data, _ = load_raw(path)
    assert data["conditioners"]["c"]["null"] == "learned"
