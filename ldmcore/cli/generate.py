"""`ldm generate MODEL_OR_SPEC`: sample a PNG grid, conditioning drawn beside the images."""

from __future__ import annotations

HELP = "sample images from a trained model (.safetensors) or a spec into a PNG grid"

#: CLI option -> batch key it fills
INPUT_OPTIONS = {"prompt": "caption", "class_": "class", "layout": "boxes"}


def configure(parser) -> None:
    parser.add_argument("model", help="a model (.safetensors, a card name in registry/models, a "
                        "training checkpoint .pt) or a spec (.yaml: untrained weights)")
    parser.add_argument("overrides", nargs="*", help="key=value spec overrides")
    parser.add_argument("--checkpoint", help="weights for a spec MODEL (native, CompVis/SD .ckpt "
                        "or .safetensors, diffusers folder, an `ldm train` .pt)")
    parser.add_argument("--prompt", help="text for a txt2img model")
    parser.add_argument("--class", dest="class_", help="class id or name for a class2img model")
    parser.add_argument("--layout", help='boxes: "circle red 0.1 0.1 0.4 0.4; square blue ..."')
    parser.add_argument("--input", action="append", default=[], metavar="KEY=TEXT",
                        help="any other batch key, parsed by the model's dataset")
    parser.add_argument("--image", help="a picture to start from: inpainting with --mask, "
                        "img2img with --strength")
    parser.add_argument("--mask", help="a mask picture, white = region to generate")
    parser.add_argument("--strength", type=float, help="img2img: how much of the image to "
                        "re-generate, in (0, 1]")
    parser.add_argument("-n", "--num-samples", type=int, default=4)
    parser.add_argument("--steps", type=int, help="sampler steps (sampler.params.steps)")
    parser.add_argument("--sampler", help="sampler type, e.g. ddim, plms, dpm_solver_pp")
    parser.add_argument("--scale", type=float, help="guidance scale (guider.params.scale)")
    parser.add_argument("--size", type=int, help="image side; larger than trained = "
                        "convolutional sampling")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="outputs/generate.png", help="PNG path")
    parser.add_argument("--no-progress", action="store_true")


def _overrides(args) -> list[str]:
    out = list(args.overrides)
    if args.sampler:
        out.append(f"sampler.type={args.sampler}")
    if args.steps is not None:
        out.append(f"sampler.params.steps={args.steps}")
    if args.scale is not None:
        out.append(f"guider.params.scale={args.scale}")
    return out


def _texts(args) -> dict[str, str]:
    texts = {key: getattr(args, opt) for opt, key in INPUT_OPTIONS.items() if getattr(args, opt)}
    for item in args.input:
        key, sep, value = item.partition("=")
        if not sep:
            from ..errors import DataError

            raise DataError(f"--input '{item}': expected KEY=TEXT")
        texts[key] = value
    return texts


def make_batch(spec, texts: dict[str, str], n: int) -> dict:
    """Parse each text with the spec's dataset vocabulary and repeat it n times."""
    from torch.utils.data import default_collate

    from ..errors import DataError

    dataset = spec.training.dataset.params if spec.training is not None else None
    items = {}
    for key, text in texts.items():
        try:
            if dataset is None:
                raise ValueError("the spec has no training.dataset to read inputs with")
            items[key] = dataset.parse_input(key, text)
        except (ValueError, DataError) as exc:
            raise DataError(f"--{key}: {exc}") from None
    if not items:
        return {}
    return default_collate([items] * n)


def _image_inputs(model, args, batch: dict) -> tuple[dict, dict]:
    """--image/--mask/--strength -> (batch with an inpainting model's concat inputs, or the
    sampler's image=/mask=/strength= for mask-replacement inpainting and img2img)."""
    from ..errors import SamplingError
    from ..viz import load_image, load_mask

    if not args.image:
        if args.mask or args.strength is not None:
            raise SamplingError("--mask and --strength need --image, the picture to start from")
        return batch, {}
    size = args.size or model.spec.image_size
    n = args.num_samples
    image = load_image(args.image, size, model.spec.image_channels)
    mask = load_mask(args.mask, size) if args.mask else None
    reads = {slot.input_key for slot in model.conditioners.values()}
    if mask is not None and {"mask", "masked_image"} <= reads:
        # an inpainting LDM: the masked image and the mask are its concat conditioning
        return {**batch, "mask": mask.expand(n, -1, -1, -1),
                "masked_image": (image * (1 - mask)).expand(n, -1, -1, -1)}, {}
    start = {"image": image.expand(n, -1, -1, -1), "mask": mask, "strength": args.strength}
    return batch, {k: v for k, v in start.items() if v is not None}


def run(args) -> int:
    import sys

    import torch

    from ..errors import CheckpointError
    from ..sources import open_for_use, resolve
    from ..viz import save_grid

    source = resolve(args.checkpoint or args.model)
    if not source.trained_denoiser:
        raise CheckpointError(f"{source.name}: an autoencoder (first-stage) export has no trained "
                              "denoiser to generate with; `ldm eval` scores its reconstructions")
    opened = open_for_use(args.model, _overrides(args), args.checkpoint)
    for note in opened.notes:
        print(f"note: {note}", file=sys.stderr)
    model = opened.model
    model.eval()
    texts = _texts(args)
    batch = make_batch(model.spec, texts, args.num_samples)
    latent_size = None
    if args.size:
        f = model.spec.first_stage.params.latent_port().factor
        latent_size = (args.size // f, args.size // f)
    batch, start = _image_inputs(model, args, batch)
    generator = torch.Generator().manual_seed(args.seed)
    images = model.sample(batch, num_samples=None if batch else args.num_samples,
                          latent_size=latent_size, generator=generator,
                          progress=not args.no_progress, **start)
    count = images.shape[0]
    captions = ["; ".join(texts.values())] * count if texts else None
    if args.image:  # the input (masked where it will be filled) first, then the samples
        shown = start.get("image", batch.get("masked_image"))[:1]
        images = torch.cat([shown.to(images), images])
        captions = captions and [f"input: {args.image}", *captions]
    path = save_grid(images, args.out, captions=captions, boxes=batch.get("boxes"),
                     upscale=max(1, 128 // images.shape[-1]))
    print(f"wrote {path} ({count} samples, {images.shape[-1]}²)")
    return 0
