import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch
from ldm_plugin_conditioners.params import HFTextParams
from ldm_plugin_conditioners.resources import minilm_dir

from ldmcore.errors import CheckpointError, DataError, SpecError
from ldmcore.ports import Context, Latent

CAPTIONS = ["a red circle", "a blue square left of a green triangle"]


def test_bert_transformer_shape_tokens_and_null(make):
    m, port = make("bert_transformer", input="caption", max_length=12, dim=32, depth=1, heads=4)
    assert port == Context(12, 32)
    ids = m.tokenize(CAPTIONS)
    assert ids.shape == (2, 12)
    assert ids[0, 0].item() == 101 and 102 in ids[0].tolist()  # [CLS] ... [SEP] from MiniLM vocab
    assert m.tokenizer.convert_ids_to_tokens(ids[0, 1:4].tolist()) == ["a", "red", "circle"]
    out = m(CAPTIONS)
    assert out.shape == (2, 12, 32)
    assert not torch.allclose(out[0], out[1])
    null = m(m.empty_input(2))
    assert null.shape == (2, 12, 32) and torch.allclose(null[0], null[1])
    long = m(["word " * 50])
    assert long.shape == (1, 12, 32)  # truncated to max_length


def test_bert_transformer_bad_inputs(make, tmp_path):
    m, _ = make("bert_transformer", input="caption", max_length=8, dim=16, depth=1, heads=2)
    with pytest.raises(DataError, match="'caption': empty caption list"):
        m([])
    with pytest.raises(DataError, match="'caption': captions must be str"):
        m(["ok", 3])
    with pytest.raises(SpecError, match="vocab file not found"):
        make("bert_transformer", vocab=str(tmp_path / "nope.txt"), dim=16, heads=2)


def test_bert_transformer_custom_vocab(make, tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "red", "circle"]))
    m, _ = make("bert_transformer", vocab=str(tmp_path), max_length=6, dim=16, depth=1, heads=2)
    assert m.tokenize(["red circle blue"]).tolist() == [[2, 5, 6, 1, 3, 0]]
    assert m.transformer.token_emb.num_embeddings == 7


def test_hf_text_minilm_last_penultimate_and_projection(make):
    assert HFTextParams().output_port("crossattn", Latent(4, 4)) == Context(77, 384)
    m, port = make("hf_text", input="caption", max_length=10)
    assert port == Context(10, 384)
    assert m.transformer.config.model_type == "bert"
    assert not any(p.requires_grad for p in m.transformer.parameters())
    m.train()
    assert not m.transformer.training  # frozen encoder: no dropout
    out = m(CAPTIONS)
    assert out.shape == (2, 10, 384) and not out.requires_grad
    assert torch.allclose(out, m(CAPTIONS))  # deterministic
    pen, _ = make("hf_text", input="caption", max_length=10, layer="penultimate", proj_dim=24)
    assert pen(CAPTIONS).shape == (2, 10, 24)
    assert [n for n, p in pen.named_parameters() if p.requires_grad] == [
        "proj.weight", "proj.bias"]
    assert pen(CAPTIONS).requires_grad
    assert pen(pen.empty_input(1)).shape == (1, 10, 24)


def test_hf_text_trainable(make):
    m, _ = make("hf_text", input="caption", max_length=6, frozen=False)
    m(["a red circle"]).sum().backward()
    assert m.transformer.embeddings.word_embeddings.weight.grad is not None


def test_hf_text_missing_path_is_named(make, tmp_path):
    missing = tmp_path / "no-model"
    with pytest.raises(ValueError, match="text encoder path not found: .*no-model"):
        HFTextParams(path=str(missing)).output_port("crossattn", Latent(4, 4))
    # with proj_dim the port needs no config, so the error comes at build time
    with pytest.raises(CheckpointError, match="no-model"):
        make("hf_text", path=str(missing), proj_dim=8)


def test_minilm_is_bundled():
    assert (minilm_dir() / "vocab.txt").is_file()


def test_hf_text_clip_folder_penultimate_uses_final_norm(make, tmp_path):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(vocab_size=30522, hidden_size=32, intermediate_size=64,
                            num_hidden_layers=2, num_attention_heads=2,
                            max_position_embeddings=16)
    CLIPTextModel(config).save_pretrained(tmp_path / "clip")
    # the CLIP architecture with the MiniLM WordPiece tokenizer (a tokenizer folder of its own)
    last, port = make("hf_text", input="caption", path=str(tmp_path / "clip"),
                      tokenizer=str(minilm_dir()), max_length=16)
    assert port == Context(16, 32) and last.is_clip
    pen, _ = make("hf_text", input="caption", path=str(tmp_path / "clip"),
                  tokenizer=str(minilm_dir()), max_length=16, layer="penultimate")
    pen.transformer.load_state_dict(last.transformer.state_dict())
    ids = last.tokenizer(CAPTIONS, padding="max_length", max_length=16,
                         return_tensors="pt")["input_ids"]
    ref = last.transformer(input_ids=ids, output_hidden_states=True)
    assert torch.allclose(last(CAPTIONS), ref.last_hidden_state, atol=1e-6)
    want = last._final_norm()(ref.hidden_states[-2])
    assert isinstance(last._final_norm(), torch.nn.LayerNorm)
    assert torch.allclose(pen(CAPTIONS), want, atol=1e-6)
    assert not torch.allclose(pen(CAPTIONS), last(CAPTIONS))
