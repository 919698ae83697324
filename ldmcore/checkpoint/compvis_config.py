"""CompVis / Stable Diffusion `config.yaml` -> an ldmcore graph spec (`ldm import`).

    imported = import_config("models/ldm/cin256-v2/config.yaml")
    imported.spec          # a plain spec dict: validates, builds, loads the released .ckpt strictly
    imported.unsupported   # what the config says that the spec cannot express (never dropped)

Covers `ldm.models.diffusion.ddpm.LatentDiffusion` (every config of CompVis/latent-diffusion's
models/ldm/ and configs/latent-diffusion/, SD v1 and v2 inference configs) and the bare first
stages (`ldm.models.autoencoder.VQModel`, `VQModelInterface`, `AutoencoderKL`). The module
layout CompVis uses is kept, so `cond_stage_model.*` lands in the one conditioner with weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError

DDPM = ("ldm.models.diffusion.ddpm.LatentDiffusion",)
VQ = ("ldm.models.autoencoder.VQModel", "ldm.models.autoencoder.VQModelInterface",
      "taming.models.vqgan.VQModel")
KL = ("ldm.models.autoencoder.AutoencoderKL",)
IDENTITY = ("ldm.models.autoencoder.IdentityFirstStage",)

#: LatentDiffusion / DDPM params that only matter for training or logging (listed, not imported)
TRAINING_ONLY = {
    "log_every_t", "monitor", "first_stage_key", "num_timesteps_cond", "original_elbo_weight",
    "l_simple_weight", "learn_logvar", "logvar_init", "ckpt_path", "ignore_keys",
    "load_only_unet", "use_ema", "scheduler_config", "clip_denoised", "cond_stage_trainable",
    "unet_trainable", "finetune_keys", "image_size", "channels", "make_it_fit",
    "reset_ema", "reset_num_ema_updates",
}
_UNET_COPY = ("model_channels", "attention_resolutions", "num_res_blocks", "channel_mult",
              "num_heads", "num_head_channels", "num_heads_upsample", "transformer_depth",
              "use_checkpoint", "legacy", "use_linear_in_transformer", "use_scale_shift_norm",
              "resblock_updown", "dropout", "use_new_attention_order")
_UNET_DEFAULTS = {"dims": 2, "conv_resample": True, "n_embed": None, "disable_self_attentions":
                  None, "num_attention_blocks": None, "disable_middle_self_attn": False,
                  "use_spatial_transformer": None, "use_fp16": None, "image_size": None,
                  "in_channels": None, "out_channels": None, "context_dim": None,
                  "num_classes": None, "adm_in_channels": None, "spatial_transformer_attn_type":
                  None}
_DD_COPY = ("ch", "ch_mult", "num_res_blocks", "attn_resolutions", "resolution", "in_channels",
            "out_ch", "z_channels", "dropout")
_DD_DEFAULTS = {"double_z": None, "attn_type": "vanilla", "resamp_with_conv": True,
                "give_pre_end": False, "tanh_out": False, "use_linear_attn": False}
#: the task and batch key each cond_stage_key means in ldmcore
_TASKS = {"class_label": ("class2img", "class"), "caption": ("txt2img", "caption"),
          "txt": ("txt2img", "caption"), "coordinates_bbox": ("layout2img", "boxes"),
          "segmentation": ("semantic2img", "segmentation"), "LR_image": ("superres", "lowres"),
          "masked_image": ("inpainting", "masked_image")}


@dataclass
class Imported:
    """The spec, what could not be expressed, and facts worth knowing (where, what)."""

    spec: dict[str, Any]
    source: str
    unsupported: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        conds = ", ".join(f"{n}:{c['type']}" for n, c in self.spec["conditioners"].items())
        return (f"{self.spec['task']['type']}: {self.spec['first_stage']['type']} first stage, "
                f"{self.spec['denoiser']['type']} denoiser"
                + (f", conditioners {conds}" if conds else ""))


class _Reader:
    """Walks the config; every key it does not consume is reported (path and value)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.unsupported: list[str] = []
        self.notes: list[str] = []

    def fail(self, path: str, msg: str) -> SpecError:
        return SpecError(f"{self.source}: {path}: {msg}")

    def rest(self, path: str, params: dict, used: set[str], defaults: dict | None = None,
             training: set[str] = frozenset()) -> None:
        for k, v in params.items():
            if k in used:
                continue
            if defaults is not None and k in defaults and (defaults[k] is None
                                                           or defaults[k] == v):
                continue
            if k in training:
                self.notes.append(f"{path}.{k}: training/logging only, not imported")
            else:
                self.unsupported.append(f"{path}.{k}: {v!r}")


def _load_yaml(path: str | Path) -> dict:
    from omegaconf import OmegaConf

    path = Path(path)
    if not path.is_file():
        raise SpecError(f"config not found: {path}")
    try:
        conf = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except Exception as exc:  # noqa: BLE001 - yaml/omegaconf raise many types
        raise SpecError(f"{path}: not a readable YAML config ({exc})") from None
    if not isinstance(conf, dict) or not isinstance(conf.get("model"), dict):
        raise SpecError(f"{path}: model: missing (a CompVis config has model.target/params)")
    return conf


# ---------------------------------------------------------------------- first stage
def _first_stage(r: _Reader, node: Any, path: str, scale_factor: float) -> dict:
    if not isinstance(node, dict) or "target" not in node:
        raise r.fail(path, "expected {target, params}")
    target, p = node["target"], dict(node.get("params") or {})
    if target in IDENTITY:
        return {"type": "identity", "params": {"channels": 3, "scale_factor": scale_factor}}
    if target not in VQ + KL:
        raise r.fail(f"{path}.target", f"unknown first stage '{target}'")
    dd = dict(p.get("ddconfig") or {})
    out: dict[str, Any] = {k: dd[k] for k in _DD_COPY if k in dd}
    out["embed_dim"] = p.get("embed_dim", dd.get("z_channels"))
    attn_type = dd.get("attn_type", "vanilla")
    if attn_type == "none":  # no attention anywhere: mid.attn_1 absent
        out["mid_attention"] = False
    elif attn_type not in ("vanilla", "vanilla-xformers"):
        r.unsupported.append(f"{path}.params.ddconfig.attn_type: {attn_type!r}")
    r.rest(f"{path}.params.ddconfig", dd, set(_DD_COPY) | {"attn_type"}, _DD_DEFAULTS)
    if target in VQ:
        kind = "vq"
        out["n_embed"] = p.get("n_embed", 8192)
        if dd.get("double_z"):
            raise r.fail(f"{path}.params.ddconfig.double_z", "a VQ model has double_z: false")
    else:
        kind = "kl"
    out["scale_factor"] = scale_factor
    r.rest(f"{path}.params", p, {"ddconfig", "embed_dim", "n_embed"},
           {"sane_index_shape": None, "image_key": "image", "remap": None},
           training={"lossconfig", "monitor", "ckpt_path", "ignore_keys", "base_learning_rate",
                     "batch_resize_range", "scheduler_config", "lr_g_factor", "use_ema"})
    return {"type": kind, "checkpoint": None, "params": out}


# ---------------------------------------------------------------------- conditioners
def _class_embed(r: _Reader, p: dict, path: str) -> dict:
    n = int(p.get("n_classes", 1000))
    # cin256-v2: 1001 rows, the last (1000) is the unconditional class its sampling uses
    params = ({"num_classes": n - 1, "null_class": True} if n == 1001
              else {"num_classes": n, "null_class": False})
    params["dim"] = int(p.get("embed_dim", 512))
    r.rest(path, p, {"n_classes", "embed_dim", "key"})
    return {"type": "class_embed", "params": params,
            "null": "empty-input" if params["null_class"] else "zeros"}


def _bert(r: _Reader, p: dict, path: str, key: str, tokenizer: bool | None = None) -> dict:
    use_tok = bool(p.get("use_tokenizer", True)) if tokenizer is None else tokenizer
    params: dict[str, Any] = {"n_embed": p["n_embed"], "n_layer": p["n_layer"],
                              "vocab_size": p.get("vocab_size", 30522),
                              "max_seq_len": p.get("max_seq_len", 77), "use_tokenizer": use_tok}
    if key == "coordinates_bbox":  # taming's bbox builder tokens: 3 per object (+ 2 crop)
        length = params["max_seq_len"]
        crop = length % 3 == 2
        params["layout"] = {"no_tokens": params["vocab_size"], "max_objects": (length - 2 * crop)
                            // 3, "encode_crop": crop}
        r.notes.append(f"{path}: layout tokens follow taming's OpenImages builder (340 classes, "
                       "class names from its category list)")
    drop = p.get("embedding_dropout", 0.0)
    if drop:
        r.notes.append(f"{path}.embedding_dropout: {drop} (training only, not imported)")
    r.rest(path, p, {"n_embed", "n_layer", "vocab_size", "max_seq_len", "use_tokenizer",
                     "embedding_dropout"}, {"device": None})
    return {"type": "compvis_bert", "params": params,
            "null": "empty-input" if use_tok else "zeros"}


def _rescaler(r: _Reader, p: dict, path: str, key: str) -> dict:
    method = p.get("method", "bilinear")
    if method not in ("nearest", "bilinear", "bicubic", "area"):
        r.unsupported.append(f"{path}.method: {method!r}")
        method = "bilinear"
    cin, cout = int(p.get("in_channels", 3)), p.get("out_channels")
    params: dict[str, Any] = {"n_stages": int(p.get("n_stages", 1)), "mode": method,
                              "multiplier": float(p.get("multiplier", 0.5)),
                              "bias": bool(p.get("bias", False)), "in_channels": cin,
                              "out_channels": int(cout) if cout is not None else cin,
                              "channel_map": cout is not None}
    if key == "segmentation":  # a class-id map, one-hot encoded (CompVis' datasets give one-hot)
        params["num_classes"] = cin
    r.rest(path, p, {"n_stages", "method", "multiplier", "in_channels", "out_channels", "bias"})
    return {"type": "spatial_rescale", "params": params, "null": "zeros"}


def _clip(r: _Reader, p: dict, path: str, flavour: str) -> dict:
    if flavour == "hf":
        version = p.get("version", "openai/clip-vit-large-patch14")
        if version != "openai/clip-vit-large-patch14":
            r.unsupported.append(f"{path}.version: {version!r} (only ViT-L/14's shape is known)")
        params: dict[str, Any] = {"flavour": "hf", "layer": p.get("layer", "last")}
        r.rest(path, p, {"version", "layer"}, {"device": None, "max_length": 77, "freeze": True})
    else:
        arch = p.get("arch", "ViT-H-14")
        if arch != "ViT-H-14":
            r.unsupported.append(f"{path}.arch: {arch!r} (only ViT-H-14's shape is known)")
        params = {"flavour": "open_clip", "width": 1024, "layers": 24, "heads": 16,
                  "activation": "gelu", "layer": p.get("layer", "last")}
        r.rest(path, p, {"arch", "layer"}, {"device": None, "max_length": 77, "freeze": True,
                                            "version": "laion2b_s32b_b79k"})
    r.notes.append(f"{path}: give the CLIP tokenizer folder as params.tokenizer to feed text "
                   "(without it the conditioner takes token ids)")
    return {"type": "clip_text", "params": params, "null": "empty-input", "trainable": False}


def _conditioners(r: _Reader, mp: dict, latent_c: int, f: int) -> tuple[dict, str, str | None]:
    """(conditioners, task type, conditioning key) from cond_stage_config + conditioning_key."""
    node = mp.get("cond_stage_config", "__is_unconditional__")
    path = "model.params.cond_stage_config"
    ckey = mp.get("cond_stage_key", "image")
    conditioning = mp.get("conditioning_key")
    if conditioning is None:  # LatentDiffusion's rule
        conditioning = "concat" if mp.get("concat_mode", True) else "crossattn"
    if node == "__is_unconditional__":
        return {}, "unconditional", None
    task, key = _TASKS.get(ckey, (None, None))
    if task is None:
        raise r.fail("model.params.cond_stage_key", f"unknown key '{ckey}' (known: "
                     f"{', '.join(_TASKS)})")
    if conditioning not in ("crossattn", "concat"):
        r.unsupported.append(f"model.params.conditioning_key: {conditioning!r}")
    trainable = bool(mp.get("cond_stage_trainable", False))
    if node == "__is_first_stage__":
        r.notes.append("model.params.cond_stage_config: __is_first_stage__: scripts/inpaint.py "
                       "feeds masked_image = ((1 - mask) * x01) * 2 - 1 (holes at -1, x01 the "
                       "image in [0, 1]) and the mask in {-1, 1} (spatial_mask values: pm1)")
        # inpainting: E(masked image) ++ the mask resized (nearest) to the latent grid, in
        # {-1, 1} as scripts/inpaint.py feeds it
        return ({"masked_image": {"type": "spatial_first_stage", "input": "masked_image",
                                  "wiring": "concat", "null": "zeros"},
                 "mask": {"type": "spatial_mask", "input": "mask", "wiring": "concat",
                          "null": "zeros", "params": {"mode": "nearest", "values": "pm1"}}},
                "inpainting", conditioning)
    if not isinstance(node, dict) or "target" not in node:
        raise r.fail(path, "expected {target, params} or __is_unconditional__/__is_first_stage__")
    target, p = node["target"], dict(node.get("params") or {})
    name = {"class2img": "class", "txt2img": "text", "layout2img": "layout",
            "semantic2img": "segmentation", "superres": "lowres"}.get(task, "cond")
    if target == "torch.nn.Identity":  # the input is concatenated as it is (bsr_sr)
        c = {"type": "spatial_rescale", "null": "zeros",
             "params": {"in_channels": 3, "out_channels": 3, "channel_map": False,
                        "input_factor": f}}
        r.notes.append(f"{path}: torch.nn.Identity -> the {key} input must come at 1/{f} of "
                       "the image size")
    elif target.endswith("modules.ClassEmbedder"):
        c = _class_embed(r, p, f"{path}.params")
    elif target.endswith("modules.BERTEmbedder"):
        c = _bert(r, p, f"{path}.params", ckey)
    elif target.endswith("modules.TransformerEmbedder"):
        c = _bert(r, p, f"{path}.params", ckey, tokenizer=False)
    elif target.endswith("modules.SpatialRescaler"):
        c = _rescaler(r, p, f"{path}.params", ckey)
    elif target.endswith("modules.FrozenCLIPEmbedder"):
        c = _clip(r, p, f"{path}.params", "hf")
    elif target.endswith("modules.FrozenOpenCLIPEmbedder"):
        c = _clip(r, p, f"{path}.params", "open_clip")
    else:
        raise r.fail(f"{path}.target", f"unknown conditioner '{target}'")
    c = {"input": key, "wiring": conditioning if conditioning in ("crossattn", "concat")
         else "crossattn", "trainable": trainable, **c}
    return {name: c}, task, conditioning


# ---------------------------------------------------------------------- denoiser
def _unet(r: _Reader, node: dict, path: str, context_dim: int | None) -> dict:
    target, p = node.get("target", ""), dict(node.get("params") or {})
    if not target.endswith("openaimodel.UNetModel"):
        raise r.fail(f"{path}.target", f"unknown denoiser '{target}'")
    out = {k: p[k] for k in _UNET_COPY if k in p}
    if p.get("context_dim") is not None and context_dim is not None \
            and p["context_dim"] != context_dim:
        raise r.fail(f"{path}.params.context_dim", f"{p['context_dim']} but the conditioner "
                     f"gives {context_dim}")
    if p.get("use_spatial_transformer") and p.get("context_dim") is None:
        r.unsupported.append(f"{path}.params.use_spatial_transformer without context_dim")
    if p.get("num_classes") is not None:
        out["num_classes"] = p["num_classes"]
    if p.get("use_fp16"):
        r.notes.append(f"{path}.params.use_fp16: the dtype is chosen at run time "
                       "(model.half() / .to(torch.float16)), not by the spec")
    r.rest(f"{path}.params", p, set(_UNET_COPY) | {"num_classes", "use_fp16"}, _UNET_DEFAULTS)
    return {"type": "unet", "checkpoint": None, "params": out}


# ---------------------------------------------------------------------- whole model
def _diffusion(r: _Reader, mp: dict) -> dict:
    schedule = mp.get("beta_schedule", "linear")
    if schedule not in ("linear", "cosine", "sqrt_linear"):
        r.unsupported.append(f"model.params.beta_schedule: {schedule!r}")
        schedule = "linear"
    prediction = mp.get("parameterization", "eps")
    if prediction not in ("eps", "v", "x0"):
        raise r.fail("model.params.parameterization", f"unknown '{prediction}'")
    loss = mp.get("loss_type", "l2")
    if loss not in ("l1", "l2"):
        r.unsupported.append(f"model.params.loss_type: {loss!r}")
        loss = "l2"
    out = {"timesteps": int(mp.get("timesteps", 1000)), "schedule": schedule,
           "linear_start": float(mp.get("linear_start", 1e-4)),
           "linear_end": float(mp.get("linear_end", 2e-2)), "prediction": prediction,
           "loss": loss}
    if "cosine_s" in mp:
        out["cosine_s"] = float(mp["cosine_s"])
    if float(mp.get("v_posterior", 0.0)) != 0.0:
        r.unsupported.append(f"model.params.v_posterior: {mp['v_posterior']!r}")
    return out


def _model(r: _Reader, mp: dict) -> dict:
    scale = float(mp.get("scale_factor", 1.0))
    if mp.get("scale_by_std"):
        r.notes.append("model.params.scale_by_std: the checkpoint's scale_factor buffer is "
                       "loaded (the spec's 1.0 is only its initial value)")
    fs = _first_stage(r, mp.get("first_stage_config"), "model.params.first_stage_config", scale)
    fp = fs["params"]
    f = 2 ** (len(fp.get("ch_mult", [1])) - 1) if fs["type"] != "identity" else 1
    latent_c = fp.get("embed_dim", 3)
    conds, task, conditioning = _conditioners(r, mp, latent_c, f)
    context = None
    for c in conds.values():
        if c["wiring"] == "crossattn":
            cp = c.get("params", {})
            context = cp.get("n_embed") or cp.get("dim") or (
                1024 if cp.get("flavour") == "open_clip" else 768 if "flavour" in cp else None)
    want = (mp["unet_config"].get("params") or {}).get("context_dim")
    for c in conds.values():  # a CLIP's width is the pretrained model's; the UNet states it
        if c["type"] == "clip_text" and want is not None and want != context:
            cp = c["params"]
            cp["width"] = context = int(want)
            heads = cp.get("heads", 12)
            while context % heads:  # the most heads (up to the named CLIP's) that divide it
                heads -= 1
            cp["heads"] = heads
            r.unsupported.append(f"model.params.cond_stage_config: the UNet's context_dim {want}"
                                 " is not the named CLIP's width; width set to it, "
                                 f"{heads} heads; set conditioners.text.params.layers/heads "
                                 "to the text tower's")
    unet = _unet(r, mp["unet_config"], "model.params.unet_config", context)
    size = int(mp.get("image_size", mp["unet_config"].get("params", {}).get("image_size", 32)))
    guided = task in ("txt2img", "class2img") and any(
        c.get("null") == "empty-input" for c in conds.values())
    spec = {
        "spec_version": 1, "image_size": size * f,
        "image_channels": fp.get("in_channels", 3) if fs["type"] != "identity" else 3,
        "task": _task(task, f), "first_stage": fs, "conditioners": conds, "denoiser": unet,
        "diffusion": _diffusion(r, mp),
        "sampler": {"type": "ddim", "params": {"steps": 50, "eta": 0.0}},
        "guider": {"type": "cfg", "params": {"scale": 7.5 if context in (768, 1024) else 5.0}}
        if guided else {"type": "none"},
    }
    r.rest("model.params", mp, {"first_stage_config", "cond_stage_config", "unet_config",
                                "cond_stage_key", "conditioning_key", "concat_mode",
                                "scale_factor", "scale_by_std", "beta_schedule",
                                "parameterization", "loss_type", "timesteps", "linear_start",
                                "linear_end", "cosine_s", "v_posterior", "image_size",
                                "channels", "cond_stage_trainable"},
           {"cond_stage_forward": None, "use_positional_encodings": False},
           training=TRAINING_ONLY)
    return spec


def _task(task: str, f: int) -> dict:
    if task == "superres":
        return {"type": "superres", "params": {"factor": f}}
    if task == "inpainting":  # scripts/inpaint.py: holes of the masked image at -1
        return {"type": "inpainting", "params": {"masked_fill": -1.0}}
    return {"type": task}


def _first_stage_only(r: _Reader, conf: dict) -> dict:
    """A bare autoencoder config: its first stage in a spec whose UNet is ldmcore's default."""
    node = conf["model"]
    fs = _first_stage(r, node, "model", float(node.get("params", {}).get("scale_factor", 1.0)))
    r.unsupported.append("model: a first-stage model only; the spec's denoiser is ldmcore's "
                         "default and untrained (load the checkpoint with parts=first_stage)")
    res = fs["params"].get("resolution", 256)
    return {"spec_version": 1, "image_size": res, "task": {"type": "unconditional"},
            "first_stage": fs, "conditioners": {}, "denoiser": {"type": "unet"},
            "diffusion": {"preset": "ldm"},
            "sampler": {"type": "ddim", "params": {"steps": 50, "eta": 0.0}},
            "guider": {"type": "none"}}


def import_config(path: str | Path) -> Imported:
    """Translate one CompVis / SD config; SpecError names the file and the YAML path."""
    conf = _load_yaml(path)
    r = _Reader(str(path))
    target = conf["model"].get("target")
    if target in DDPM:
        spec = _model(r, dict(conf["model"].get("params") or {}))
    elif target in VQ + KL:
        spec = _first_stage_only(r, conf)
    else:
        raise r.fail("model.target", f"unknown target '{target}' (known: "
                     f"{', '.join(DDPM + VQ[:2] + KL)})")
    for k in conf:
        if k not in ("model",):
            r.notes.append(f"{k}: training/data setup, not imported")
    imported = Imported(spec, str(path), r.unsupported, r.notes)
    if target in DDPM:
        _check_channels(imported, conf["model"]["params"]["unet_config"].get("params") or {})
    return imported


def _check_channels(imported: Imported, unet: dict) -> None:
    """The UNet's in/out_channels in the config must be what the wiring derives."""
    wiring = _wiring(imported)
    where = "model.params.unet_config.params"
    for field_name, derived in (("in_channels", wiring.in_channels),
                                ("out_channels", wiring.out_channels)):
        given = unet.get(field_name)
        if given is not None and given != derived:
            raise SpecError(f"{imported.source}: {where}.{field_name}: {given}, but the first "
                            f"stage and conditioners give {derived}")


def _wiring(imported: Imported, registry: Any = None) -> Any:
    from ..spec.resolve import resolve_spec
    from ..spec.wiring import check_wiring

    spec = resolve_spec(imported.spec, registry=registry, name=imported.source)
    return check_wiring(spec, imported.source)


def validate(imported: Imported, registry: Any = None) -> Any:
    """The validated Spec (SpecError naming the YAML path on any problem)."""
    from ..spec.resolve import resolve_spec

    _wiring(imported, registry)
    return resolve_spec(imported.spec, registry=registry, name=imported.source)


def write_spec(imported: Imported, out: str | Path) -> Path:
    """The spec as YAML, headed by comments listing what was not expressed."""
    import yaml

    validate(imported)
    out = Path(out)
    lines = [f"# imported by `ldm import` from {imported.source}"]
    lines += [f"# not expressed: {u}" for u in imported.unsupported]
    lines += [f"# note: {n}" for n in imported.notes]
    text = "\n".join(lines) + "\n" + yaml.safe_dump(imported.spec, sort_keys=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
