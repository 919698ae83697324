"""The `training:` section of a spec (read by `ldm train`).

`batch_size` is the GLOBAL batch of one optimiser step: it is split evenly over the processes
(torchrun) and the `grad_accum` micro-batches, so changing the number of GPUs does not change
the optimisation. `lr` is absolute (not scaled by the batch size, unlike CompVis' `scale_lr`).

One spec trains both stages; `stage_overrides` replaces keys of this section for one stage:

    training:
      lr: 2.0e-4                      # the diffusion stage
      stage_overrides:
        first_stage: {lr: 4.5e-5, betas: [0.5, 0.9], steps: 4000}
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, Field, ValidationError, create_model, model_validator

from .strict import Strict

STAGES = ("first_stage", "diffusion")

#: keys that may change between a run and its resumption (cadence, length, where to write)
_RESUMABLE = ("steps", "output_dir", "log_every", "checkpoint_every", "sample_every",
              "keep_last", "num_workers", "num_samples", "tensorboard")
RESUMABLE_KEYS = tuple(f"training.{k}" for k in _RESUMABLE) + tuple(
    f"training.stage_overrides.{s}.{k}" for s in STAGES for k in _RESUMABLE)


def _check_stage_overrides(self: Any) -> Any:
    """Every per-stage override must name known keys and give a valid section once applied."""
    for stage, values in self.stage_overrides.items():
        bad = sorted(set(values) - set(type(self).model_fields) | {"stage_overrides", "stage"}
                     & set(values))
        if bad:
            raise ValueError(f"stage_overrides.{stage}: unknown or unsupported key(s) {bad}")
        try:
            for_stage(self, stage)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            raise ValueError(f"stage_overrides.{stage}.{where}: {err['msg']}") from None
    return self


def for_stage(training: Any, stage: str) -> Any:
    """The training section as `stage` sees it (its `stage_overrides` applied)."""
    values = training.stage_overrides.get(stage)
    if not values:
        return training
    merged = {**training.model_dump(exclude={"stage_overrides"}), **values}
    return type(training).model_validate(merged)


def training_model(dataset_union: Any) -> type[BaseModel]:
    """The TrainingSpec model, with `dataset` a union of the installed dataset components."""
    return create_model(
        "TrainingSpec",
        __base__=Strict,
        # which stage `ldm train` trains when --stage is absent (null: inferred)
        stage=(Optional[Literal["first_stage", "diffusion"]], None),
        dataset=(dataset_union, ...),
        val_dataset=(Optional[dataset_union], None),
        batch_size=(int, Field(8, gt=0)),
        num_workers=(int, Field(0, ge=0)),
        steps=(int, Field(1000, gt=0)),
        # optimiser (AdamW / Adam) of the trained network: the denoiser (+ trainable
        # conditioners) in the diffusion stage, the autoencoder in the first stage
        optimizer=(Literal["adamw", "adam"], "adamw"),
        lr=(float, Field(1e-4, gt=0)),
        betas=(tuple[float, float], (0.9, 0.999)),
        weight_decay=(float, Field(0.0, ge=0)),
        # the first stage's discriminator (second optimiser); lr defaults to `lr`
        disc_lr=(Optional[float], Field(None, gt=0)),
        disc_betas=(tuple[float, float], (0.5, 0.9)),
        lr_schedule=(Literal["constant", "cosine"], "constant"),
        warmup_steps=(int, Field(0, ge=0)),
        grad_clip=(Optional[float], Field(None, gt=0)),
        grad_accum=(int, Field(1, gt=0)),
        precision=(Literal["fp32", "bf16"], "fp32"),
        # EMA of the denoiser and trainable conditioners (null: off); with warm-up the decay
        # is min(ema_decay, 1 - (1 + step)^-ema_warmup_power)
        ema_decay=(Optional[float], Field(0.999, gt=0, lt=1)),
        ema_warmup=(bool, True),
        ema_warmup_power=(float, Field(2 / 3, gt=0)),
        # latent scale: "auto" = 1/std of E(x) over `scale_factor_batches` batches before the
        # diffusion stage starts; "keep" = the first stage's stored value; or a number
        scale_factor=(Union[Literal["auto", "keep"], float], "auto"),
        scale_factor_batches=(int, Field(4, gt=0)),
        # parameter-name prefixes of the trained network kept frozen, e.g. [encoder, quant_conv]
        # fine-tunes only a first stage's decoder (its latent space, and every LDM trained on
        # it, stay valid), [denoiser.input_blocks] freezes part of a UNet
        freeze=(list[str], Field(default_factory=list)),
        # a NaN/inf loss: stop (default) or skip the update (stops after 10 in a row)
        on_nan=(Literal["stop", "skip"], "stop"),
        seed=(int, 0),
        log_every=(int, Field(10, gt=0)),
        checkpoint_every=(int, Field(500, gt=0)),
        sample_every=(int, Field(500, gt=0)),
        num_samples=(int, Field(8, gt=0)),
        keep_last=(int, Field(3, gt=0)),
        tensorboard=(bool, True),
        output_dir=(str, "runs/default"),
        # keys of this section replaced for one stage, e.g. {first_stage: {lr: 4.5e-5}}
        stage_overrides=(dict[Literal["first_stage", "diffusion"], dict[str, Any]],
                         Field(default_factory=dict)),
        __validators__={"_stage_overrides": model_validator(mode="after")(
            _check_stage_overrides)},
    )
