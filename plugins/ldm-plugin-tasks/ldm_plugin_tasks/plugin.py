"""Registers the paper's seven tasks. Torch loads inside the factories only."""

from __future__ import annotations

from typing import Any

from ldmcore.plugins import hookimpl

from .params import (
    Class2ImgParams,
    InpaintingParams,
    Layout2ImgParams,
    Semantic2ImgParams,
    SuperResParams,
    Txt2ImgParams,
    UnconditionalParams,
)


def unconditional(params: UnconditionalParams, ctx: Any):
    from .tasks import Unconditional

    return Unconditional(params)


def labelled(params: Any, ctx: Any):
    from .tasks import Labelled

    return Labelled(params)


def superres(params: SuperResParams, ctx: Any):
    from .tasks import SuperRes

    return SuperRes(params)


def inpainting(params: InpaintingParams, ctx: Any):
    from .tasks import Inpainting

    return Inpainting(params)


@hookimpl
def ldmcore_register_components(register):
    register("task", "unconditional", UnconditionalParams, unconditional,
             description="p(x): images only")
    register("task", "class2img", Class2ImgParams, labelled,
             description="p(x | class label)")
    register("task", "txt2img", Txt2ImgParams, labelled,
             description="p(x | caption)")
    register("task", "layout2img", Layout2ImgParams, labelled,
             description="p(x | bounding boxes)")
    register("task", "semantic2img", Semantic2ImgParams, labelled,
             description="p(x | segmentation map), concat")
    register("task", "superres", SuperResParams, superres,
             description="p(x | bicubic x4 low-res image), adds 'lowres'")
    register("task", "inpainting", InpaintingParams, inpainting,
             description="p(x | masked image, mask), adds 'mask' and 'masked_image'")
