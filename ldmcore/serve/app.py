"""The studio's ASGI app: the JSON API (OpenAPI at /docs), SSE progress and the static page.

    GET  /api/models                 served cards: task, inputs, classes, palette; samplers
    POST /api/generate               {"model", "inputs", "steps", "seed", ...} -> 202 {"id"}
    GET  /api/jobs                   every job kept, newest first (the gallery)
    GET  /api/jobs/{id}              status, progress, image, error, params, command
    GET  /api/jobs/{id}/events       server-sent events: the job on every change
    GET  /api/jobs/{id}/image.png    the samples side by side (spec and seed in the metadata)
    GET  /api/jobs/{id}/preview.png  the latest decoded x̂0
    POST /api/jobs/{id}/cancel       cancel a queued or running job

Errors are `{"error": "<field>: ..."}` with a 4xx status; a full queue is 503.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from .catalog import ModelEntry, load_catalog
from .errors import ApiError
from .jobs import Job, JobQueue, QueueFull
from .requests import MAX_SAMPLES, MAX_SIZE, MAX_STEPS, GenerateRequest, plan
from .runner import Runner, params_of
from .uploads import MAX_SIDE, MAX_UPLOAD_BYTES

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 8 * 1024 * 1024
_JOB_ID = re.compile(r"^[0-9a-f]{16}$")


def create_app(names: tuple[str, ...] | list[str] = (), *, out_dir: str | Path = "outputs/serve",
               max_queued: int = 16, catalog: dict[str, ModelEntry] | None = None) -> FastAPI:
    """The app serving the cards `names` (default: every card with a denoiser); job files
    are written under `out_dir` only."""
    from ..plugins import default_registry

    catalog = load_catalog(names) if catalog is None else catalog
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    samplers = default_registry().names("scheduler")
    runner = Runner()
    jobs = JobQueue(runner, max_queued=max_queued)
    # no /docs page: its assets come from a CDN, and the studio works offline
    app = FastAPI(title="ldm serve", summary="a local web studio for ldmcore models",
                  docs_url=None, redoc_url=None)
    app.state.catalog, app.state.jobs, app.state.runner, app.state.out_dir = (
        catalog, jobs, runner, out)
    app.router.on_shutdown.append(jobs.close)
    _handlers(app)

    @app.middleware("http")
    async def body_limit(request: Request, call_next):
        length = request.headers.get("content-length")
        if request.method == "POST" and length is not None:
            if not length.isdigit():
                return _error(400, "Content-Length: not a number")
            if int(length) > MAX_BODY_BYTES:
                return _error(413, f"body: larger than {MAX_BODY_BYTES // 2**20} MiB")
        return await call_next(request)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/models")
    def models():
        return {"models": [e.public() for e in catalog.values()], "samplers": samplers,
                "limits": {"steps": MAX_STEPS, "num_samples": MAX_SAMPLES, "size": MAX_SIZE,
                           "upload_bytes": MAX_UPLOAD_BYTES, "upload_side": MAX_SIDE,
                           "queue": max_queued}}

    @app.post("/api/generate", status_code=202)
    def generate(req: GenerateRequest):
        job = Job(plan=None, folder=None)
        folder = out / job.id
        folder.mkdir()
        try:
            job.plan = plan(req, catalog, folder, samplers)
        except BaseException:  # refused (or a bug): nothing of it stays on disk
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job.folder = folder
        job.command = job.plan.command(f"outputs/{job.id}.png")
        try:
            jobs.submit(job)
        except QueueFull:
            shutil.rmtree(folder, ignore_errors=True)
            raise ApiError(503, f"queue: full ({max_queued} jobs waiting); retry later") from None
        return {"id": job.id, "status": job.status, "url": f"/api/jobs/{job.id}"}

    @app.get("/api/jobs")
    def list_jobs():
        return {"jobs": [_public(j) for j in reversed(jobs.jobs())], "queued": jobs.queued}

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str):
        return _public(_job(jobs, job_id))

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel(job_id: str):
        job = _job(jobs, job_id)
        if not job.terminal:
            jobs.cancel(job)
        return _public(job)

    @app.get("/api/jobs/{job_id}/image.png")
    def image(job_id: str):
        job = _job(jobs, job_id)
        if job.status != "done":
            raise ApiError(404, f"image: job {job_id} is {job.status}, not done")
        return FileResponse(job.folder / "image.png", media_type="image/png")

    @app.get("/api/jobs/{job_id}/preview.png")
    def preview(job_id: str):
        job = _job(jobs, job_id)
        if job.preview is None:
            raise ApiError(404, f"preview: job {job_id} has no preview yet")
        return Response(job.preview, media_type="image/png",
                        headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{job_id}/events")
    async def events(job_id: str, request: Request):
        job = _job(jobs, job_id)

        async def stream():
            sent, idle = -1, 0.0
            while True:
                if job.version != sent:
                    sent = job.version
                    yield f"event: job\ndata: {json.dumps(_public(job))}\n\n"
                    idle = 0.0
                if job.terminal or await request.is_disconnected():
                    return
                await asyncio.sleep(0.1)
                idle += 0.1
                if idle >= 15:  # a comment keeps proxies and the browser from timing out
                    yield ": keep-alive\n\n"
                    idle = 0.0

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    return app


def _job(jobs: JobQueue, job_id: str) -> Job:
    job = jobs.get(job_id) if _JOB_ID.match(job_id) else None
    if job is None:
        raise ApiError(404, f"id: no job '{job_id[:40]}'")
    return job


def _public(job: Job) -> dict:
    base = f"/api/jobs/{job.id}"
    return {
        "id": job.id, "status": job.status,
        "progress": {"step": job.step, "total": job.total,
                     "fraction": round(job.step / job.total, 4) if job.total else 0.0},
        "image": f"{base}/image.png" if job.status == "done" else None,
        "preview": f"{base}/preview.png?step={job.preview_step}" if job.preview else None,
        "error": job.error, "params": params_of(job) if job.plan else None,
        "command": job.command, "created": job.created, "started": job.started,
        "finished": job.finished,
    }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        msg = "unknown field" if err.get("type") == "extra_forbidden" else err.get("msg", "")
        return _error(422, f"{loc}: {msg}")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):  # a bug: JSON, not a bare 500 page
        return _error(500, f"internal error: {type(exc).__name__}: {exc}".splitlines()[0])

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return _error(exc.status_code, f"{request.url.path}: {exc.detail}")
