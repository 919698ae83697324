"""The `training:` section of a spec (read by `ldm train`)."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, Field, create_model


def training_model(dataset_union: Any) -> type[BaseModel]:
    """The TrainingSpec model, with `dataset` a union of the installed dataset components."""
    from .models import Strict

    return create_model(
        "TrainingSpec",
        __base__=Strict,
        dataset=(dataset_union, ...),
        val_dataset=(Optional[dataset_union], None),
        batch_size=(int, Field(8, gt=0)),
        num_workers=(int, Field(0, ge=0)),
        steps=(int, Field(1000, gt=0)),
        lr=(float, Field(1e-4, gt=0)),
        warmup_steps=(int, Field(0, ge=0)),
        grad_clip=(Optional[float], None),
        grad_accum=(int, Field(1, gt=0)),
        precision=(Literal["fp32", "bf16"], "fp32"),
        ema_decay=(Optional[float], Field(0.999, gt=0, lt=1)),
        seed=(int, 0),
        log_every=(int, Field(10, gt=0)),
        checkpoint_every=(int, Field(500, gt=0)),
        sample_every=(int, Field(500, gt=0)),
        keep_last=(int, Field(3, gt=0)),
        output_dir=(str, "runs/default"),
    )
