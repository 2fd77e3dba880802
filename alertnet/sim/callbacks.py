"""Outgoing webhooks (status callbacks, TwiML fetches, SendGrid events), on a few workers.

Plain-http webhooks go over shared keep-alive connections (http1.Http1Pool); anything else through one
shared aiohttp session. Jobs wait in one FIFO queue drained by a fixed number of worker tasks, so a burst of
50,000 messages means 50,000 small queue entries, not 50,000 tasks or sockets. Every job is due
`callback_delay` after it was queued, which keeps the queue ordered by due time: a worker sleeps only while
the head job is not yet due.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from urllib.parse import quote_plus, urlsplit

import aiohttp
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator
from yarl import URL

from alertnet.sim.event_keys import sign_events
from alertnet.sim.http1 import Http1Pool
from alertnet.sim.store import Store

WORKERS = 16
ATTEMPTS = 4  # one try and three retries, then the webhook is dropped (counted as failed)
RETRY_BASE_SECONDS = 0.1
# SendGrid retries an Event Webhook POST that failed for up to 72 hours; here about a minute.
EVENT_ATTEMPTS = 8
EVENT_RETRY_BASE_SECONDS = 0.5
TIMEOUT_SECONDS = 10.0
FORM_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
TWILIO_AGENT = "TwilioProxy/1.1"
SENDGRID_AGENT = "SendGrid Event API"
UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")

Job = Callable[[], Awaitable[None]]


class _Form(dict[str, str]):
    """Form parameters with the `getall` RequestValidator looks for first.

    With a plain dict the validator finds its values through two caught AttributeErrors per parameter.
    """

    def getall(self, key: str) -> list[str]:
        return [self[key]]


def encode_form(params: dict[str, str]) -> str:
    """urlencode(params), skipping quote_plus for the many values (SIDs, statuses) that need none."""
    return "&".join(
        f"{k if UNRESERVED.fullmatch(k) else quote_plus(k)}={v if UNRESERVED.fullmatch(v) else quote_plus(v)}"
        for k, v in params.items()
    )


class Reply:
    """What a webhook answered: status and body text (status 0 when it could not be reached)."""

    __slots__ = ("body", "status")

    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 400


async def stop_tasks(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel `tasks` and wait until they have ended. A cancellation can be lost (on Python 3.11, inside
    `asyncio.wait_for`, when what it waits for completes at the same moment): a task still running after
    a short wait is cancelled again, so closing never hangs on an idle worker."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _done, pending = await asyncio.wait(pending, timeout=1.0)
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            task.result()


class Dispatcher:
    """Runs delayed webhook jobs on a few workers and posts signed Twilio forms and SendGrid JSON."""

    def __init__(
        self,
        store: Store,
        auth_token: str,
        *,
        workers: int = WORKERS,
        event_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> None:
        self.store = store
        self.event_key = event_key
        self.validator = RequestValidator(auth_token)
        self.workers = workers
        self.queue: asyncio.Queue[tuple[float, Job]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self.pool = Http1Pool(TIMEOUT_SECONDS)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("dispatcher not started")
        return self._session

    async def start(self) -> None:
        """Open the shared session and start the workers (inside the serving event loop)."""
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
            connector=aiohttp.TCPConnector(limit=self.workers * 4),
        )
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]

    async def close(self) -> None:
        """Stop the workers (queued jobs are dropped) and close the session."""
        await stop_tasks(self._tasks)
        self._tasks = []
        await self.pool.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def backlog(self) -> int:
        return self.queue.qsize()

    def submit(self, delay: float, job: Job) -> None:
        """Run `job` on a worker once `delay` seconds have passed."""
        self.queue.put_nowait((asyncio.get_running_loop().time() + delay, job))

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, job = await self.queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A job must never kill its worker; the failure is visible in /sim/stats.
                self.store.callbacks["job_errors"] += 1

    def sign(self, url: str, params: dict[str, str]) -> str:
        """X-Twilio-Signature for a request to `url` carrying `params`, as Twilio computes it."""
        return str(self.validator.compute_signature(url, _Form(params)))

    async def send_form(
        self, url: str, params: dict[str, str], method: str = "POST", *, retry: bool = True
    ) -> Reply:
        """A signed Twilio webhook request (form POST, or GET with the parameters in the query).

        With `retry`, connection failures and 5xx answers are retried a few times, then the request is
        dropped.
        """
        if method.upper() == "GET":
            full = url + ("&" if "?" in url else "?") + encode_form(params)
            headers = {"User-Agent": TWILIO_AGENT, "X-Twilio-Signature": self.sign(full, {})}
            return await self._send("GET", full, None, headers, ATTEMPTS if retry else 1)
        headers = {
            "User-Agent": TWILIO_AGENT,
            "Content-Type": FORM_TYPE,
            "X-Twilio-Signature": self.sign(url, params),
        }
        return await self._send("POST", url, encode_form(params).encode(), headers, ATTEMPTS if retry else 1)

    async def send_json(self, url: str, body: bytes) -> Reply:
        """A JSON POST (SendGrid Event Webhook), retried as SendGrid does (for longer than a Twilio
        callback); signed like SendGrid's signed Event Webhook."""
        headers = {"User-Agent": SENDGRID_AGENT, "Content-Type": "application/json"}
        if self.event_key is not None:
            stamp = str(int(time.time()))
            headers["X-Twilio-Email-Event-Webhook-Timestamp"] = stamp
            headers["X-Twilio-Email-Event-Webhook-Signature"] = sign_events(self.event_key, stamp, body)
        return await self._send("POST", url, body, headers, EVENT_ATTEMPTS, EVENT_RETRY_BASE_SECONDS)

    async def _request(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, str]:
        parts = urlsplit(url)
        if parts.scheme == "http":
            status, raw = await self.pool.request(method, parts, body, headers)
            return status, raw.decode("utf-8", "replace")
        # encoded=True: request the URL byte for byte as the hub gave it, since the signature covers it.
        async with self.session.request(
            method, URL(url, encoded=True), data=body, headers=headers
        ) as response:
            return response.status, await response.text(errors="replace")

    async def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        attempts: int,
        retry_base: float = RETRY_BASE_SECONDS,
    ) -> Reply:
        stats = self.store.callbacks
        last = Reply(0, "")
        for attempt in range(attempts):
            if attempt:
                stats["retried"] += 1
                await asyncio.sleep(retry_base * 2 ** (attempt - 1))
            try:
                status, text = await self._request(method, url, body, headers)
            except (
                aiohttp.ClientError,
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                ValueError,
            ):
                continue  # OSError covers refused / reset connections and TimeoutError
            last = Reply(status, text)
            if status >= 500:
                continue
            stats["posted" if status < 400 else "rejected"] += 1
            return last
        stats["failed"] += 1
        return last
