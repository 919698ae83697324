"""Registers the bundled-data datasets (digits, lfw) and the user `image_folder` dataset."""

from __future__ import annotations

from ldmcore.plugins import hookimpl

from .params import DigitsParams, ImageFolderParams, LfwParams


def _digits(params: DigitsParams, ctx):
    from .digits import build_digits

    return build_digits(params, ctx)


def _lfw(params: LfwParams, ctx):
    from .lfw import build_lfw

    return build_lfw(params, ctx)


def _folder(params: ImageFolderParams, ctx):
    from .folder import build_image_folder

    return build_image_folder(params, ctx)


@hookimpl
def ldmcore_register_components(register):
    register("dataset", "digits", DigitsParams, _digits,
             description="scikit-learn 8x8 digits, upsampled; class = digit")
    register("dataset", "lfw", LfwParams, _lfw,
             description="scikit-image LFW subset (faces / non-faces), upsampled")
    register("dataset", "image_folder", ImageFolderParams, _folder,
             description="a folder of png/jpg images with optional class/caption/box sidecars")
