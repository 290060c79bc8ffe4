"""Jobs in every BullMQ state, made by the real Python BullMQ client on a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib

from bullmq import FlowProducer, Queue, Worker


def opts(url: str) -> dict:
    return {"connection": url}


async def wait_until(pred, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await pred():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def queue(url: str, name: str):
    q = Queue(name, opts(url))
    try:
        yield q
    finally:
        await q.close()


async def fill_every_state(url: str, name: str) -> Worker:
    """A queue with waiting, prioritized (several priorities), delayed, completed, failed,
    waiting-children and one active job held by the returned (still running) Worker."""
    release = asyncio.Event()

    async def process(job, token):
        if job.name == "bad":
            raise Exception("ETIMEDOUT talking to graph.facebook.com")
        if job.name == "hold":
            await release.wait()
        return "ok"

    async with queue(url, name) as q:
        for n in ("ok", "ok", "bad"):
            await q.add(n, {})
        w = Worker(name, process, {**opts(url), "concurrency": 1})
        w.release = release
        await wait_until(lambda: _finished(q, 3))
        await q.add("hold", {})
        await wait_until(lambda: _count(q, "active", 1))
        # Added while the worker is busy with "hold" (concurrency 1): they stay put.
        for i in range(3):
            await q.add("send_text", {"i": i})
        for p, n in ((1, 2), (2, 1), (3, 1), (7, 2)):
            for _ in range(n):
                await q.add("send_text", {}, {"priority": p})
        await q.add("later", {}, {"delay": 600_000})
        flow = FlowProducer(opts(url))
        await flow.add({"name": "parent", "queueName": name, "data": {},
                        "children": [{"name": "child", "queueName": f"{name}-children",
                                      "data": {}}]})
        await flow.close()
    return w


async def _finished(q, n):
    c = await q.getJobCounts("completed", "failed")
    return c["completed"] + c["failed"] >= n


async def _count(q, state, n):
    return (await q.getJobCounts(state))[state] >= n


async def stop_worker(w: Worker) -> None:
    w.release.set()
    await close_worker(w)


async def close_worker(w: Worker, timeout: float = 5.0) -> None:
    """Close a BullMQ Worker within ``timeout``, forcing it past that: the Python client's
    close() waits for its processing tasks and once in a few hundred runs never returned
    (a test then hung until CI gave up)."""
    try:
        await asyncio.wait_for(asyncio.shield(w.close()), timeout)
    except asyncio.TimeoutError:
        await asyncio.wait_for(w.close(force=True), timeout)
