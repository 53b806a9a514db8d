"""Loopback server for the race benchmark and the race engine's tests.

Endpoints (every handler that matters reads the whole body first, so it waits for the release):

* ``/t?hold_us=H``: stamp ``perf_counter_ns()`` once the request is complete, then optionally
  hold H µs before answering, so one handler's answer cannot delay the next one's stamp.
* ``/race/{mode}/{token}?w_us=W``: redeem a single-use token. ``async`` and ``sync`` (threadpool)
  are racy: check unused, wait W, mark used. ``atomic_async`` and ``atomic_sync`` check and mark
  with no gap (under a lock for the threadpool), then wait. 200 = redeemed, 409 = already used.
  The window each winner actually held is returned as ``window_us``.
* test helpers: ``/healthz``, ``/echo/{i}``, ``/ping`` (answers without reading the body),
  ``/stream`` (chunked), ``/close`` (``Connection: close``).

Run: ``python tests/racy_server.py --server uvicorn|hypercorn --port P``; or use
``running_server()`` which starts it in a subprocess on a free loopback port. It lives beside the
self-tests, which import it as ``racy_server``; benchmarks/race_precision.py puts tests/ on its
path to import the same module.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

_USED: set[str] = set()
_LOCK = threading.Lock()


async def _wait_async(w_s: float) -> None:
    """Hold an await point for w_s seconds.

    A bare ``sleep(0)`` for 0. Below 1 ms, spin on perf_counter with yields: uvloop rounds
    sub-0.5 ms sleeps to 0 and the asyncio selector rounds them up to 1 ms.
    """
    if w_s <= 0:
        await asyncio.sleep(0)
    elif w_s < 0.001:
        end = time.perf_counter() + w_s
        await asyncio.sleep(0)
        while time.perf_counter() < end:
            await asyncio.sleep(0)
    else:
        await asyncio.sleep(w_s)


def _wait_sync(w_s: float) -> None:
    if w_s <= 0:
        time.sleep(0)
        return
    end = time.perf_counter() + w_s
    time.sleep(w_s)
    while time.perf_counter() < end:  # nanosleep may wake a hair early
        time.sleep(0)


def _won(t0: int, t1: int) -> JSONResponse:
    return JSONResponse({"won": True, "window_us": (t1 - t0) / 1000, "pid": os.getpid()})


def _lost() -> JSONResponse:
    return JSONResponse({"won": False}, status_code=409)


async def race(request: Request) -> Response:
    mode = request.path_params["mode"]
    tok = request.path_params["tok"]
    w_s = int(request.query_params.get("w_us", "0")) / 1e6
    await request.body()
    if mode == "async":
        if tok in _USED:
            return _lost()
        t0 = time.perf_counter_ns()
        await _wait_async(w_s)
        _USED.add(tok)
        return _won(t0, time.perf_counter_ns())
    if mode == "atomic_async":
        if tok in _USED:
            return _lost()
        _USED.add(tok)
        t0 = time.perf_counter_ns()
        await _wait_async(w_s)
        return _won(t0, time.perf_counter_ns())
    if mode in ("sync", "atomic_sync"):
        work = _racy_sync if mode == "sync" else _atomic_sync
        window = await run_in_threadpool(work, tok, w_s)
        return _lost() if window is None else _won(*window)
    return PlainTextResponse("unknown mode", status_code=404)


def _racy_sync(tok: str, w_s: float) -> tuple[int, int] | None:
    if tok in _USED:
        return None
    t0 = time.perf_counter_ns()
    _wait_sync(w_s)
    _USED.add(tok)
    return t0, time.perf_counter_ns()


def _atomic_sync(tok: str, w_s: float) -> tuple[int, int] | None:
    with _LOCK:
        if tok in _USED:
            return None
        _USED.add(tok)
    t0 = time.perf_counter_ns()
    _wait_sync(w_s)
    return t0, time.perf_counter_ns()


async def stamp(request: Request) -> Response:
    await request.body()
    t_ns = time.perf_counter_ns()
    hold_us = int(request.query_params.get("hold_us", "0"))
    if hold_us:
        await asyncio.sleep(hold_us / 1e6)
    return JSONResponse({"t_ns": t_ns, "pid": os.getpid()})


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "i": int(request.path_params["i"]),
            "method": request.method,
            "body": body.decode("latin-1"),
            "x_echo": request.headers.get("x-echo"),
            "query": request.url.query,
            "http_version": request.scope.get("http_version"),
        }
    )


async def ping(request: Request) -> Response:
    return PlainTextResponse("pong")


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(5):
            yield f"chunk-{i};".encode()
            await asyncio.sleep(0)

    return StreamingResponse(chunks(), media_type="text/plain")


async def close(request: Request) -> Response:
    await request.body()
    return PlainTextResponse("bye", headers={"connection": "close"})


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/t", stamp, methods=["GET", "POST"]),
        Route("/race/{mode}/{tok}", race, methods=["POST", "GET"]),
        Route("/echo/{i:int}", echo, methods=["GET", "POST", "PUT"]),
        Route("/ping", ping, methods=["GET", "POST"]),
        Route("/stream", stream),
        Route("/close", close, methods=["GET", "POST"]),
    ]
)


# --------------------------------------------------------------------------- serving


def serve(
    server: str,
    host: str,
    port: int,
    *,
    h2_max_streams: int = 100,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> None:
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
        )
        return
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.loglevel = "WARNING"
    config.accesslog = None
    # The default of 1000 requests per connection ends a benchmark connection with GOAWAY.
    config.keep_alive_max_requests = 10**9
    config.keep_alive_timeout = 600
    config.h2_max_concurrent_streams = h2_max_streams
    config.graceful_timeout = 0.5  # quick teardown in tests
    if certfile:
        config.certfile = certfile
        config.keyfile = keyfile
    asyncio.run(hypercorn_serve(app, config))  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    kind: str
    base_url: str
    pid: int


@contextmanager
def running_server(
    kind: str,
    *,
    h2_max_streams: int = 100,
    certfile: str | None = None,
    keyfile: str | None = None,
    ready_timeout: float = 30.0,
) -> Iterator[RunningServer]:
    """Start ``kind`` (uvicorn: HTTP/1.1; hypercorn: h2c + HTTP/1.1) in a subprocess."""
    port = free_port()
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--server",
        kind,
        "--port",
        str(port),
        "--h2-max-streams",
        str(h2_max_streams),
    ]
    if certfile:
        cmd += ["--certfile", certfile, "--keyfile", keyfile or ""]
    scheme = "https" if certfile else "http"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            _wait_listening(port, proc, log, ready_timeout)
            yield RunningServer(kind, f"{scheme}://127.0.0.1:{port}", proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _wait_listening(
    port: int, proc: subprocess.Popen[bytes], log: IO[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(
                f"server exited with {proc.returncode}: "
                f"{log.read().decode(errors='replace')[-2000:]}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} not listening after {timeout} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--server", choices=["uvicorn", "hypercorn"], default="uvicorn")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--h2-max-streams", type=int, default=100)
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    args = parser.parse_args(argv)
    serve(
        args.server,
        args.host,
        args.port,
        h2_max_streams=args.h2_max_streams,
        certfile=args.certfile,
        keyfile=args.keyfile,
    )


if __name__ == "__main__":
    main()
