"""A minimal keep-alive HTTP/1.1 client for the simulators' plain-http webhooks.

Status callbacks are the simulators' heaviest work (two per SMS, several per call); on asyncio streams a
request costs about a third of the CPU of aiohttp's client. Only what a local hub needs is handled: http
(not https), Content-Length / chunked / close-delimited bodies, keep-alive reuse. Anything else goes through
aiohttp (see callbacks.Dispatcher).
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import SplitResult

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Http1Pool:
    """Idle keep-alive connections per (host, port), reused by whichever worker needs one next."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._idle: dict[tuple[str, int], list[Connection]] = {}
        self._closed = False

    async def request(
        self, method: str, url: SplitResult, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        """Send one request and return (status, body); raises OSError / TimeoutError on failure."""
        host = url.hostname or "127.0.0.1"
        key = (host, url.port or 80)
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {url.netloc}"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        payload = body or b""
        if body is not None or method == "POST":
            lines.append(f"Content-Length: {len(payload)}")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        idle = self._idle.get(key)
        if idle:
            try:
                return await self._exchange(key, idle.pop(), message, method)
            except TimeoutError:
                raise  # the hub is slow, not gone: sending again now could act twice
            except (OSError, asyncio.IncompleteReadError):
                pass  # the server closed the idle connection; a fresh one below
        connection = await asyncio.wait_for(asyncio.open_connection(*key), self.timeout)
        try:
            return await self._exchange(key, connection, message, method)
        except asyncio.IncompleteReadError as error:
            raise ConnectionResetError("connection closed mid-response") from error

    async def _exchange(
        self, key: tuple[str, int], connection: Connection, message: bytes, method: str
    ) -> tuple[int, bytes]:
        reader, writer = connection
        try:
            async with asyncio.timeout(self.timeout):
                writer.write(message)
                status, body, keep = await read_response(reader, method)
        except BaseException:
            writer.close()  # never leave a half-used connection open (or in the pool)
            raise
        if keep and not self._closed:
            self._idle.setdefault(key, []).append(connection)
        else:
            writer.close()
        return status, body

    async def close(self) -> None:
        """Close every idle connection."""
        self._closed = True
        writers = [writer for idle in self._idle.values() for _, writer in idle]
        self._idle.clear()
        for writer in writers:
            writer.close()
        for writer in writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def read_response(reader: asyncio.StreamReader, method: str) -> tuple[int, bytes, bool]:
    """(status, body, keep-alive) of one response; 1xx interim responses are skipped."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        status = int(rest[:3])
        if status >= 200 or status == 101:
            break
    length: int | None = None
    chunked = False
    keep = version == "HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif name == "connection":
            token = value.strip().lower()
            keep = token == "keep-alive" or (keep and token != "close")
    if method == "HEAD" or status in (204, 304):
        return status, b"", keep
    if chunked:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass  # trailers
                return status, b"".join(parts), keep
            parts.append((await reader.readexactly(size + 2))[:-2])
    if length is not None:
        return status, await reader.readexactly(length), keep
    return status, await reader.read(), False  # close-delimited
