"""Load: 50 concurrent generate requests against a local server with a queue of 8. Every one
completes or gets a clear 503, none is lost; p50/p95 latencies are printed (never asserted)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ldmcore.serve.jobs import Job, JobQueue, QueueFull

QUEUE = 8
REQUESTS = 50


def _percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    p50, p95 = np.percentile(values, [50, 95])
    return f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (n={len(values)})"


BODY = {"model": "shapes-layout2img", "steps": 2,
        "inputs": {"layout": "circle red 0.1 0.1 0.45 0.45; square blue 0.55 0.5 0.9 0.9"}}


def _fire(studio) -> tuple[list[dict], list[dict]]:
    """REQUESTS concurrent POSTs, each followed to its end; checks that none is lost."""

    def one(seed: int) -> dict:
        t0 = time.perf_counter()
        status, out = studio.post("/api/generate", {**BODY, "seed": seed})
        answered = time.perf_counter() - t0
        if status != 202:
            return {"status": status, "out": out, "answered": answered}
        job = studio.wait(out["id"])
        return {"status": status, "out": out, "job": job, "answered": answered,
                "completed": time.perf_counter() - t0}

    with ThreadPoolExecutor(REQUESTS) as pool:
        results = list(pool.map(one, range(REQUESTS)))
    accepted = [r for r in results if r["status"] == 202]
    refused = [r for r in results if r["status"] != 202]
    assert len(results) == REQUESTS and accepted
    for r in refused:  # the only refusal is a clear 503
        assert r["status"] == 503 and r["out"]["error"].startswith("queue: full"), r
    for r in accepted:  # none lost: every accepted job finished and is listed
        assert r["job"]["status"] == "done", r["job"]
        assert r["job"]["image"].endswith("/image.png")
    listed = {j["id"] for j in studio.get("/api/jobs")[1]["jobs"]}
    assert {r["out"]["id"] for r in accepted} <= listed
    return accepted, refused


def _report(what: str, accepted: list[dict], refused: list[dict]) -> None:
    every = accepted + refused
    print(f"load test ({what}): {REQUESTS} concurrent requests, queue {QUEUE}: "
          f"{len(accepted)} accepted and done, {len(refused)} answered 503, 0 lost")
    print(f"  answer latency (all): {_percentiles([r['answered'] for r in every])}")
    print(f"  completion latency (accepted): {_percentiles([r['completed'] for r in accepted])}")


def test_fifty_concurrent_requests_complete_or_get_503(studio_factory, capsys):
    studio = studio_factory(max_queued=QUEUE)
    studio.wait(studio.post("/api/generate", BODY)[1]["id"])  # the model loaded once
    idle = _fire(studio)
    # again with the worker busy on a longer job: the 50 arrive while the queue fills
    status, first = studio.post("/api/generate", {**BODY, "steps": 100})
    assert status == 202
    while studio.get(f"/api/jobs/{first['id']}")[1]["status"] == "queued":
        time.sleep(0.02)
    busy = _fire(studio)
    assert len(busy[0]) >= QUEUE  # at least a full queue was taken
    assert studio.wait(first["id"])["status"] == "done"
    with capsys.disabled():
        print()
        _report("idle worker", *idle)
        _report("worker busy with a 100-step job", *busy)


def test_job_queue_is_bounded_ordered_and_cancels_queued_jobs():
    release = threading.Event()
    ran: list[str] = []

    def run(job: Job) -> None:
        ran.append(job.id)
        release.wait(10)

    jobs = JobQueue(run, max_queued=2)
    first = jobs.submit(Job(plan=None, folder=None))
    while first.status != "running":
        time.sleep(0.01)
    second, third = jobs.submit(Job(None, None)), jobs.submit(Job(None, None))
    with pytest.raises(QueueFull):
        jobs.submit(Job(None, None))
    jobs.cancel(second)
    assert second.status == "cancelled"
    release.set()
    deadline = time.time() + 10
    while third.status != "done":
        assert time.time() < deadline
        time.sleep(0.01)
    assert ran == [first.id, third.id]  # in order; the cancelled one never ran
    jobs.close()


def test_close_cancels_what_is_left():
    started = threading.Event()

    def run(job: Job) -> None:
        started.set()
        while True:  # a long sampling run: stops only through its step callback
            job.check_cancel()
            time.sleep(0.01)

    jobs = JobQueue(run, max_queued=4)
    running, waiting = jobs.submit(Job(None, None)), jobs.submit(Job(None, None))
    assert started.wait(10)
    jobs.close()
    assert (running.status, waiting.status) == ("cancelled", "cancelled")
