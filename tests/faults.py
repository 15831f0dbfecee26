"""A fault-injecting TCP/HTTP proxy on loopback, in front of the moto server.

Per request (HTTP/1.1, one at a time per connection) it may, on command:

* ``cut``: forward the request, relay part of the response, then drop the connection;
* ``503``: answer ``503 Service Unavailable`` without forwarding;
* ``reset``: drop the connection as soon as the request arrives;
* ``flip``: relay the response with one body byte flipped;
* ``stall``: wait ``stall_seconds`` before forwarding.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
from collections import Counter
from collections.abc import Sequence

MODES = ("cut", "503", "reset", "flip")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FaultProxy:
    def __init__(self, upstream_port: int, *, seed: int = 1234) -> None:
        self.upstream_port = upstream_port
        self.port = _free_port()
        self.rate = 0.0
        self.modes: Sequence[str] = MODES
        self.only: bytes | None = None
        self.budget: int | None = None
        self.stall_seconds = 0.2
        self.counts: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set(
        self,
        rate: float,
        modes: Sequence[str] = MODES,
        *,
        only: bytes | None = None,
        budget: int | None = None,
    ) -> None:
        """From now on, fault requests with probability ``rate``, by one of ``modes``.

        ``only``: fault just the requests whose first line contains it (b"PUT ",
        b"partNumber="); ``budget``: stop after that many faults.
        """
        with self._lock:
            self.rate, self.modes, self.only, self.budget = rate, tuple(modes), only, budget
            self.counts.clear()

    def _decide(self, first_line: bytes) -> str | None:
        with self._lock:
            self.counts["requests"] += 1
            if self.only is not None and self.only not in first_line:
                return None
            if self.budget is not None and self.budget <= 0:
                return None
            if self._random.random() >= self.rate:
                return None
            if self.budget is not None:
                self.budget -= 1
            mode = self._random.choice(list(self.modes))
            self.counts[mode] += 1
            return mode

    def start(self) -> FaultProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=256)
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
        conn = _Connection(self, client_r, client_w, up_r, up_w)
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await asyncio.gather(conn.upstream(), conn.downstream())


class _Connection:
    """One proxied keep-alive connection: requests one at a time, a fault per request."""

    def __init__(
        self,
        proxy: FaultProxy,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        up_r: asyncio.StreamReader,
        up_w: asyncio.StreamWriter,
    ) -> None:
        self.proxy = proxy
        self.client_r, self.client_w, self.up_r, self.up_w = client_r, client_w, up_r, up_w
        self.new_request = True
        self.mode: str | None = None
        self.head = b""
        self.done = False

    def drop(self) -> None:
        self.done = True
        self.client_w.close()
        self.up_w.close()

    async def upstream(self) -> None:
        while not self.done and (data := await self.client_r.read(65536)):
            if self.new_request:
                self.new_request = False
                self.mode, self.head = self.proxy._decide(data.split(b"\r\n", 1)[0]), b""
                if self.mode == "reset":
                    self.drop()
                    return
                if self.mode == "503":
                    self.client_w.write(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                        b"Connection: close\r\n\r\n"
                    )
                    await self.client_w.drain()
                    self.drop()
                    return
                if self.mode == "stall":
                    await asyncio.sleep(self.proxy.stall_seconds)
            self.up_w.write(data)
            await self.up_w.drain()
        self.up_w.close()

    async def downstream(self) -> None:
        while not self.done and (data := await self.up_r.read(65536)):
            self.new_request = True
            if self.mode == "flip-body" and data:  # headers went by; flip the body's first byte
                data = bytes([data[0] ^ 0x01]) + data[1:]
                self.mode = None
            elif self.mode in ("cut", "flip"):
                self.head += data
                end = self.head.find(b"\r\n\r\n")
                if end < 0:
                    continue  # keep buffering until the headers are complete
                body_at, data = end + 4, self.head
                if self.mode == "cut":
                    keep = body_at + 3 if len(data) > body_at + 3 else max(1, end // 2)
                    self.client_w.write(data[:keep])
                    await self.client_w.drain()
                    self.drop()
                    return
                if len(data) > body_at:
                    flipped = bytearray(data)
                    flipped[body_at] ^= 0x01
                    data = bytes(flipped)
                    self.mode = None
                else:
                    self.mode = "flip-body"  # the body comes in a later read
            self.client_w.write(data)
            await self.client_w.drain()
        self.client_w.close()
