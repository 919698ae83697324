"""Swapping tau_theta is a config edit: txt2img trains with bert_transformer, then with hf_text
from the same spec plus one override (which drops the old type's params)."""

import math
import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "tasks"))
from spec_runs import CONFIGS, TINY, train_and_sample  # noqa: E402

from ldmcore.ports import Context  # noqa: E402


def test_txt2img_swaps_text_encoder_by_one_override():
    spec = CONFIGS / "txt2img.yaml"
    bert, losses_b, changed_b, images_b = train_and_sample(spec, TINY, steps=3)
    hf, losses_h, changed_h, images_h = train_and_sample(
        spec, [*TINY, "conditioners.text.type=hf_text"], steps=3
    )
    tb, th = bert.conditioners["text"], hf.conditioners["text"]
    assert type(tb.conditioner).__name__ == "BertTransformer"
    assert type(th.conditioner).__name__ == "HFText"
    assert tb.port == Context(24, 64)  # the config's own params
    assert th.port == Context(77, 384)  # hf_text defaults: MiniLM, no stale bert params
    assert bert.spec.denoiser.params.context_dim == 64
    assert hf.spec.denoiser.params.context_dim == 384  # derived from the new wiring
    for losses, changed, images in ((losses_b, changed_b, images_b),
                                    (losses_h, changed_h, images_h)):
        assert all(math.isfinite(v) for v in losses) and changed > 0
        assert images.shape == (2, 3, 16, 16) and torch.isfinite(images).all()
    # the pretrained encoder stayed frozen while the UNet trained
    assert not any(p.requires_grad for p in th.conditioner.transformer.parameters())
