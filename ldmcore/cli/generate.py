"""`ldm generate MODEL`: sample a PNG grid, the conditioning drawn beside the images.

The inputs a model takes are declared by its own components and read by ldmcore.inputs
(`ldm inputs MODEL` lists them). Options and key=value overrides come in any order. Every
input and option is checked before anything is sampled or written.
"""

from __future__ import annotations

import argparse
import math

HELP = "sample images from a model (a card, .safetensors, a run's .pt, or a spec) into a PNG grid"

#: options that give a model input, by the CLI name the input layer knows them by
INPUT_OPTIONS = {
    "prompt": "TEXT for a txt2img model",
    "class_": "class id or name for a class2img model ('red circle')",
    "layout": "boxes for a layout2img model: 'circle red 0.1 0.1 0.4 0.4; square blue ...'",
    "segmentation": "PNG semantic map: class ids in one channel, or RGB in the dataset's "
                    "palette (`ldm inputs MODEL`); a larger map samples larger",
    "lowres": "a low-resolution picture for a super-resolution model",
    "image": "a picture: what an inpainting model fills (with --mask); for other models the "
             "start of mask-replacement inpainting (--mask) or img2img (--strength)",
    "mask": "black/white PNG, white = the region to generate",
}


def add_model_options(parser, *, what: str) -> None:
    """MODEL, overrides, --checkpoint and the sampling options `generate` and `eval` share."""
    parser.add_argument("model", help=f"{what}: a card name in registry/models, a .safetensors, "
                        "a training checkpoint (RUN/checkpoints/step_N.pt), or a spec (.yaml: "
                        "untrained weights unless --checkpoint)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="spec overrides, anywhere on the line")
    parser.add_argument("--checkpoint", help="weights for a spec MODEL (native, CompVis/SD .ckpt "
                        "or .safetensors, diffusers folder, an `ldm train` .pt)")
    parser.add_argument("--steps", type=int, help="sampler steps (sampler.params.steps)")
    parser.add_argument("--sampler", help="sampler type, e.g. ddim, plms, dpm_solver_pp")
    parser.add_argument("--scale", type=float, help="guidance scale (guider.params.scale)")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"),
                        help="the denoiser's dtype while sampling (sampling.precision)")
    parser.add_argument("--compile", action="store_true", help="run the denoiser through "
                        "torch.compile (sampling.compile; the first call compiles)")
    parser.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction, default=None,
                        help="on a GPU, replay the denoiser from CUDA graphs (sampling.cuda_graph,"
                        " on by default; bit-identical, fewer kernel launches)")
    parser.add_argument("--device", default=None,
                        help="where to sample: cpu (default), cuda, cuda:1 ...")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def sampling_overrides(args) -> list[str]:
    """--sampler/--steps/--scale/--precision/--compile/--cuda-graph as spec overrides, after
    the user's."""
    from ..errors import DataError

    if args.steps is not None and args.steps <= 0:
        raise DataError(f"--steps must be positive, got {args.steps}")
    if args.scale is not None and not math.isfinite(args.scale):
        raise DataError(f"--scale must be a finite number, got {args.scale}")
    out = list(args.overrides)
    if args.sampler:
        out.append(f"sampler.type={args.sampler}")
    if args.steps is not None:
        out.append(f"sampler.params.steps={args.steps}")
    if args.scale is not None:
        out.append(f"guider.params.scale={args.scale}")
    if args.precision:
        out.append(f"sampling.precision={args.precision}")
    if args.compile:
        out.append("sampling.compile=true")
    if args.cuda_graph is not None:
        out.append(f"sampling.cuda_graph={str(args.cuda_graph).lower()}")
    return out


def configure(parser) -> None:
    parser.epilog = ("`ldm inputs MODEL` lists the inputs MODEL takes and their formats; options "
                     "and key=value overrides may come in any order.")
    add_model_options(parser, what="the model to sample")
    for option, text in INPUT_OPTIONS.items():
        flag = "--class" if option == "class_" else f"--{option}"
        parser.add_argument(flag, dest=option, help=text)
    parser.add_argument("--input", action="append", default=[], metavar="KEY=VALUE",
                        help="any other input the model declares (`ldm inputs MODEL`)")
    parser.add_argument("--strength", type=float, help="img2img: how much of --image to "
                        "re-generate, in (0, 1]")
    parser.add_argument("--no-paste", action="store_true", help="inpainting: keep the sampled "
                        "known region instead of pasting --image back exactly outside --mask")
    parser.add_argument("--guide-image", metavar="PNG", help="image-guided sampling (Appendix C, "
                        "guider.type=image_l2): the picture y that T(D(z0)) is pulled towards")
    parser.add_argument("-n", "--num-samples", type=int, default=4)
    parser.add_argument("--size", type=int, help="image side; larger than trained = "
                        "convolutional sampling")
    parser.add_argument("--out", default="outputs/generate.png", help="PNG path")


def given_inputs(args) -> dict[str, str]:
    """What the user gave for the model's inputs: option name (or key) -> text or path."""
    from ..errors import DataError

    given = {("class" if opt == "class_" else opt): getattr(args, opt)
             for opt in INPUT_OPTIONS if getattr(args, opt) is not None}
    for item in args.input:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DataError(f"--input '{item}': expected KEY=VALUE")
        given[key] = value
    return given


def check_out(path: str, suffix: str = ".png") -> None:
    """An output path that can be written, checked before any work is done."""
    from pathlib import Path

    from ..errors import DataError

    out = Path(path)
    if out.is_dir():
        raise DataError(f"--out {path}: is a folder")
    if out.suffix.lower() != suffix:
        raise DataError(f"--out {path}: expected a {suffix} file name")
    parent = next((p for p in [out.parent, *out.parent.parents] if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise DataError(f"--out {path}: {parent} is a file, not a folder")


def _check_options(args) -> None:
    from ..errors import DataError

    if args.num_samples <= 0:
        raise DataError(f"-n/--num-samples must be positive, got {args.num_samples}")
    if args.size is not None and args.size <= 0:
        raise DataError(f"--size must be positive, got {args.size}")
    if args.strength is not None and not 0 < args.strength <= 1:
        raise DataError(f"--strength must be in (0, 1], got {args.strength}")
    check_out(args.out)


def _sampler_start(model, given: dict, formats: dict, size, n: int, args) -> dict:
    """--image/--mask/--strength for a model that does not take them as conditioning: the
    sampler's x0 (img2img) and mask (mask-replacement inpainting)."""
    from ..errors import DataError
    from ..inputs import read_image, read_mask

    if "image" in formats or "image" not in given:
        if args.strength is not None:
            raise DataError("--strength needs --image, the picture to start from, and a model "
                            "that does not fill in images itself")
        if "mask" in given and "mask" not in formats:
            raise DataError("--mask needs --image, the picture to fill in")
        return {}
    notes: list[str] = []
    start = {"image": read_image(given.pop("image"), size, model.spec.image_channels,
                                 "--image", notes)[None].expand(n, -1, -1, -1)}
    if "mask" in given and "mask" not in formats:
        start["mask"] = read_mask(given.pop("mask"), size, "--mask", notes)[None]
    if args.strength is not None:
        start["strength"] = args.strength
    for note in notes:
        print(f"note: {note}")
    return start


def _guidance(model, args) -> dict | None:
    """--guide-image: y at its own size (T maps the decoded sample to it)."""
    from ..errors import DataError
    from ..inputs import read_image

    if args.guide_image is None:
        return None
    if model.spec.guider.type != "image_l2":
        raise DataError("--guide-image needs the image-guided sampler: add guider.type=image_l2")
    return {"y": read_image(args.guide_image, None, model.spec.image_channels,
                            "--guide-image")[None]}


def run(args) -> int:
    import sys

    import torch

    from ..devices import pick_device
    from ..errors import CheckpointError
    from ..inputs import label_palette, model_inputs, paste_known, read_inputs
    from ..sources import open_for_use, resolve
    from ..training.data import to_device
    from ..viz import save_grid

    _check_options(args)
    device = pick_device(args.device, default_gpu=False)
    overrides = sampling_overrides(args)
    given = given_inputs(args)
    source = resolve(args.model)  # each name is read once, here; open_for_use reuses it
    weights = resolve(args.checkpoint) if args.checkpoint else None
    if not (weights or source).trained_denoiser:
        raise CheckpointError(f"{(weights or source).name}: an autoencoder (first-stage) export "
                              "has no trained denoiser to generate with; `ldm eval` scores its "
                              "reconstructions")
    opened = open_for_use(source, overrides, weights)
    for note in opened.notes:
        print(f"note: {note}", file=sys.stderr)
    model = opened.model.eval().to(device)
    formats = model_inputs(model.spec)
    n = args.num_samples
    side = args.size or model.spec.image_size
    start = _sampler_start(model, given, formats, (side, side), n, args)
    read = read_inputs(model.spec, given, size=args.size)
    for note in read.notes:
        print(f"note: {note}")
    guidance = _guidance(model, args)
    batch = model.task.prepare(read.batch(n)) if read.item else {}  # shown and pasted on CPU
    generator = torch.Generator().manual_seed(args.seed)
    images = model.sample(to_device(batch, device), num_samples=None if batch else n,
                          latent_size=read.latent_size, generator=generator,
                          progress=not args.no_progress, guidance=guidance, **start).cpu()
    if not args.no_paste:
        images = paste_known(images, start or batch)
    captions = _captions(given, images.shape[0])
    shown = _shown_inputs(batch, start, images, label_palette(model.spec))
    if shown is not None:  # the input and the mask first, then the samples
        images = torch.cat([shown.to(images), images])
        captions = captions and [*(["input", "mask"][: shown.shape[0]]), *captions]
    path = save_grid(images, args.out, captions=captions, boxes=batch.get("boxes"),
                     upscale=max(1, 128 // images.shape[-1]))
    print(f"wrote {path} ({n} samples, {read.size[1]}x{read.size[0]})")
    return 0


def _captions(given: dict, count: int) -> list[str] | None:
    texts = [v for k, v in given.items() if k in ("prompt", "class", "layout", "caption",
                                                  "boxes")]
    return ["; ".join(texts)] * count if texts else None


def _shown_inputs(batch: dict, start: dict, images, palette):
    """The conditioning picture(s) shown before the samples: a label map in its palette
    colours, a low-res image, or the input with the region to fill greyed out and the mask."""
    import torch
    from torch.nn import functional as F

    from ..viz import label_picture

    source = start or batch
    if source.get("segmentation") is not None and palette:
        shown = label_picture(source["segmentation"][:1], palette)
    elif source.get("lowres") is not None:
        shown = source["lowres"][:1].float()
    elif source.get("image") is not None:
        image, mask = source["image"][:1].to(images), source.get("mask")
        if mask is None:
            return image
        mask = mask[:1].to(images)
        return torch.cat([image * (1 - mask), (mask * 2 - 1).expand_as(image)])
    else:
        return None
    return F.interpolate(shown.to(images), size=images.shape[-2:], mode="nearest")
