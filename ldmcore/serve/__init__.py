"""`ldm serve`: a local web studio over the same input layer and model sources as the CLI.

    catalog.py   which models are served: card names -> task, inputs, vocabulary (no torch)
    requests.py  the JSON body of POST /api/generate, checked field by field
    uploads.py   pictures sent as data URLs: size-limited, decoded safely, written to the job
    jobs.py      jobs kept in memory, a bounded queue and the one worker thread
    runner.py    one job: open (cached) model, sample with live x̂0 previews, save the PNG
    app.py       the FastAPI app: JSON API, SSE progress, the static page

Models are chosen by card name only; everything a client sends is written under the
server's own output folder.
"""

from __future__ import annotations

__all__ = ["create_app"]


def create_app(*args, **kwargs):
    """`ldmcore.serve.app.create_app` (imported lazily: starting the CLI stays light)."""
    from .app import create_app as make

    return make(*args, **kwargs)
