"""The CompVis-compatible conditioners: compvis_bert (BERTEmbedder), taming's bbox tokens,
SpatialRescaler's stages, the inpainting mask in {-1, 1}, clip_text, cin's 1001 classes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from ldmcore.errors import DataError

RELEASED = Path(__file__).resolve().parents[1] / "fixtures" / "compvis" / "released"


def _released_keys(name: str, prefix: str = "cond_stage_model.") -> dict[str, list[int]]:
    with gzip.open(RELEASED / f"{name}.json.gz", "rt") as fh:
        return {k[len(prefix):]: v for k, v in json.load(fh).items() if k.startswith(prefix)}


def test_bert_is_the_txt2img_1p4b_encoder_key_for_key(make):
    """n_embed 1280 (the 1.4B model) on the meta device: names and shapes of the original,
    attention inner width 8 x 64 = 512, not 1280."""
    with torch.device("meta"):
        module, port = make("compvis_bert", input="caption", n_embed=1280, n_layer=32)
    ours = {k: list(v.shape) for k, v in module.state_dict().items()}
    assert ours == _released_keys("txt2img-1p4B-eval")
    assert ours["transformer.attn_layers.layers.0.1.to_q.weight"] == [512, 1280]
    assert (port.tokens, port.dim) == (77, 1280)


def test_bert_tokens_and_token_ids(make):
    module, _ = make("compvis_bert", input="caption", n_embed=32, n_layer=1)
    ids = module.tokenize(["a cat"])
    assert ids.shape == (1, 77) and ids[0, :4].tolist() == [101, 1037, 4937, 102]
    out = module(["a cat", ""])
    assert out.shape == (2, 77, 32) and torch.isfinite(out).all()
    assert module.empty_input(2) == ["", ""]
    raw, _ = make("compvis_bert", input="tokens", n_embed=32, n_layer=1, vocab_size=50,
                  max_seq_len=8, use_tokenizer=False)
    assert raw(torch.randint(0, 50, (3, 8))).shape == (3, 8, 32)
    with pytest.raises(DataError, match="token ids must be in"):
        raw(torch.full((1, 8), 50))


def _layout(make, **kw):
    params = dict(n_embed=32, n_layer=1, vocab_size=8192, max_seq_len=92, use_tokenizer=False,
                  layout={})
    params.update(kw)
    return make("compvis_bert", input="boxes", **params)[0]


def test_layout_text_gives_taming_tokens(make):
    """OpenImages names (taming's category order), S = 90 sections, pads 8191, crop 0 / 8099."""
    module = _layout(make)
    names = module.layout.names
    assert len(names) == 340 and names[0] == "Tortoise"
    ids = module.tokenize("Person 0.1 0.2 0.5 0.9; human face 0 0 1 1")
    person, face = names.index("Person"), names.index("Human face")
    pos = lambda x, y: round(y * 89) * 90 + round(x * 89)  # noqa: E731
    assert ids[0, :6].tolist() == [person, pos(0.1, 0.2), pos(0.5, 0.9), face, 0, 8099]
    assert ids[0, 6:90].eq(8191).all() and ids[0, 90:].tolist() == [0, 8099]
    # taming folds Man/Woman/Boy/Girl into Person
    assert module.tokenize("man 0.1 0.2 0.5 0.9")[0, 0] == person
    boxes = torch.tensor([[[person, 0.1, 0.2, 0.5, 0.9], [-1, 0, 0, 0, 0]]])
    assert torch.equal(module.tokenize(boxes)[0, :3], ids[0, :3])
    assert module(["Tree 0 0 1 1"]).shape == (1, 92, 32)


@pytest.mark.parametrize(("text", "words"), [
    ("Dragon 0 0 1 1", "unknown class 'Dragon'"),
    ("Tree 0 0 1", "expected 'class x0 y0 x1 y1'"),
    ("Tree 0 0 one 1", "coordinates must be numbers"),
    ("Tree 0.5 0 0.2 1", "x1 >= x0"),
])
def test_layout_text_errors(make, text, words):
    with pytest.raises(DataError, match=words):
        _layout(make).tokenize(text)


def test_layout_must_fit_the_sequence(make):
    with pytest.raises(ValueError, match="layout gives 92 tokens"):
        _layout(make, max_seq_len=77)


def test_spatial_rescaler_stages_are_two_plain_bilinear_halvings(make):
    module, port = make("spatial_rescale", wiring="concat", input="segmentation", f=4,
                        num_classes=5, in_channels=5, out_channels=3, n_stages=2)
    ids = torch.randint(0, 5, (2, 32, 32))
    onehot = F.one_hot(ids, 5).permute(0, 3, 1, 2).float()
    want = onehot
    for _ in range(2):
        want = F.interpolate(want, scale_factor=0.5, mode="bilinear")
    assert torch.allclose(module(ids), module.channel_mapper(want), atol=1e-6)
    assert torch.allclose(module(onehot), module(ids))  # one-hot maps are taken as they are
    with pytest.raises(DataError, match="2 stages x 0.5 give"):
        make("spatial_rescale", wiring="concat", input="s", f=8, num_classes=5, in_channels=5,
             out_channels=3, n_stages=2)[0](ids)


def test_inpainting_mask_in_plus_minus_one(make):
    module, _ = make("spatial_mask", wiring="concat", input="mask", f=4, values="pm1")
    m = (torch.rand(1, 1, 16, 16) > 0.5).float()
    out = module(m)
    assert set(out.unique().tolist()) <= {-1.0, 1.0}
    assert torch.equal(out, F.interpolate(m, size=(4, 4)) * 2 - 1)


def test_clip_text_hf_is_transformers_clip(make):
    """SD v1's FrozenCLIPEmbedder is transformers' CLIPTextModel: same ids, same output."""
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = CLIPTextConfig(vocab_size=100, hidden_size=32, intermediate_size=128,
                         num_hidden_layers=3, num_attention_heads=2, max_position_embeddings=77,
                         hidden_act="quick_gelu", bos_token_id=98, eos_token_id=99,
                         pad_token_id=1)
    torch.manual_seed(0)
    theirs = CLIPTextModel(cfg).eval()
    for layer in ("last", "penultimate"):
        ours, _ = make("clip_text", input="caption", vocab_size=100, width=32, layers=3,
                       heads=2, layer=layer)
        sd = {k if k.startswith("text_model.") else "text_model." + k: v
              for k, v in theirs.state_dict().items() if not k.endswith("position_ids")}
        ours.transformer.load_state_dict(sd)
        ids = torch.randint(0, 100, (2, 77))
        with torch.no_grad():
            out = theirs(input_ids=ids, output_hidden_states=True)
            want = (out.last_hidden_state if layer == "last" else
                    getattr(theirs, "text_model", theirs).final_layer_norm(
                        out.hidden_states[-2]))
            assert torch.allclose(ours(ids), want, atol=1e-5)
    with pytest.raises(DataError, match="no tokenizer"):
        ours(["a cat"])


def test_clip_text_open_clip_is_sd2_key_for_key(make):
    with torch.device("meta"):
        module, port = make("clip_text", input="caption", flavour="open_clip", width=1024,
                            layers=24, heads=16, activation="gelu", layer="penultimate")
    ours = {k: list(v.shape) for k, v in module.state_dict().items()}
    assert ours == _released_keys("v2-inference-v")
    assert (port.tokens, port.dim) == (77, 1024)


def test_cin256_v2_class_embedder_has_1001_rows():
    from ldmcore.checkpoint.compvis_config import import_config

    node = import_config(RELEASED / "cin256-v2.yaml").spec["conditioners"]["class"]
    assert node["params"] == {"num_classes": 1000, "null_class": True, "dim": 512}
    assert node["null"] == "empty-input"
    assert _released_keys("cin256-v2")["embedding.weight"] == [1001, 512]
