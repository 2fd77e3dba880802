"""Building the real twilio SDK client, pointed at the simulator when no credentials are configured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import quote_plus, urlencode

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from alertnet.channels.base import Envelope, Outcome, Outgoing, SenderPool, SendResult
from alertnet.channels.request_stats import REQUESTS
from alertnet.settings import Settings

# A request with no answer by then is an unknown outcome (looked up before anything is sent again).
REQUEST_TIMEOUT_SECONDS = 10.0


class FormEncoded(str):
    """A form value that carries its own application/x-www-form-urlencoded spelling.

    A call's TwiML is most of its request and the same for every call of a batch but for the delivery
    id in one URL: encoded once per batch (see `CallTwiml`), each request only splices in its own part,
    where `urlencode` would quote the whole document character by character again."""

    form_encoded: str

    def __new__(cls, text: str, encoded: str) -> FormEncoded:
        value = super().__new__(cls, text)
        value.form_encoded = encoded
        return value


def form_body(data: dict[str, object]) -> bytes:
    """The request form as `urlencode(data, doseq=True)` spells it, taking `FormEncoded` values as they
    come (their pairs go last; a form's order means nothing to the provider)."""
    ready = {key: value for key, value in data.items() if isinstance(value, FormEncoded)}
    if not ready:
        return urlencode(data, doseq=True).encode()
    rest = urlencode({key: value for key, value in data.items() if key not in ready}, doseq=True)
    tail = "&".join(f"{quote_plus(key)}={value.form_encoded}" for key, value in ready.items())
    return (f"{rest}&{tail}" if rest else tail).encode()


class TimedHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # the SDK is untyped
    """The SDK's aiohttp client with its timeout applied. The SDK keeps the constructor's `timeout` but
    hands aiohttp only the per-request one, and aiohttp reads None as no timeout at all: a request Twilio
    never answers would hold its delivery, and its batch, for ever.

    The form is encoded here (`urlencode`, as aiohttp's FormData would encode it, and with the SDK's own
    Content-Type header): aiohttp's FormData bookkeeping per field was a tenth of a worker's CPU on a
    statewide fan-out; a `FormEncoded` value is taken as already encoded."""

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        timeout = self.timeout if timeout is None else timeout
        body = form_body(data) if isinstance(data, dict) and data else data
        return await super().request(method, url, params, body, headers, auth, timeout, allow_redirects)

    # The SDK formats its request and response log lines (every header) before the logger decides to drop
    # them; the hub keeps the twilio logger at WARNING, so they are formatted only when it would show them.
    def log_request(self, kwargs: dict[str, Any]) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            super().log_request(kwargs)

    def log_response(self, status_code: int, response: Any) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            super().log_response(status_code, response)


def make_async_client(settings: Settings) -> Client:
    """A twilio Client using the SDK's aiohttp-based client; call inside the event loop that will use it."""
    http = TimedHttpClient(timeout=REQUEST_TIMEOUT_SECONDS)
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http)
    if settings.twilio_simulated:
        client.api.base_url = settings.sim.base_url
    return client


async def close_async_client(client: Client) -> None:
    await client.http_client.close()


async def classify_twilio_call(official_id: str, call: object, *, channel: str = "") -> SendResult:
    """Await a create_async call and turn its outcome into a SendResult (with `channel`, the request's
    time and its failure, if any, are counted for the metrics)."""
    started = time.perf_counter()
    result, status, code = await _classify(official_id, call)
    if channel:
        REQUESTS.note("twilio", channel, time.perf_counter() - started, status, code)
    return result


async def _classify(official_id: str, call: object) -> tuple[SendResult, str, str]:
    """The result, and for a failure its HTTP status (or "connection", "timeout") and Twilio error code."""
    try:
        resource = await call  # type: ignore[misc]
    except TwilioRestException as error:
        reason = f"twilio {error.status} code {error.code}: {without_numbers(str(error.msg))}"
        failure = str(error.status), str(error.code or "")
        if error.status == 429:  # 20429: the request was not processed; safe to send again
            return SendResult(official_id, Outcome.RETRY, reason=reason), *failure
        if error.status >= 500:
            # A 5xx does not say the message was not created (Twilio may have taken it and failed only
            # to answer): like a timeout, it is looked up before anything is sent again.
            return SendResult(official_id, Outcome.AMBIGUOUS, reason=reason), *failure
        return SendResult(official_id, Outcome.PERMANENT, reason=reason), *failure
    except (aiohttp.ClientConnectorError, ConnectionRefusedError) as error:
        reason = f"connection refused: {error.__class__.__name__}"
        return SendResult(official_id, Outcome.RETRY, reason=reason), "connection", ""
    except (TimeoutError, aiohttp.ClientError) as error:
        reason = f"no answer: {error.__class__.__name__}"
        return SendResult(official_id, Outcome.AMBIGUOUS, reason=reason), "timeout", ""
    return SendResult(official_id, Outcome.SENT, provider_id=str(resource.sid)), "", ""


PHONE_NUMBER = re.compile(r"\+?\d{7,15}")


def without_numbers(text: str) -> str:
    """Provider text with every phone number cut to its last 4 digits: Twilio's messages quote the
    number ("'To' number +1573... is not a valid mobile number"), and reasons are logged and kept."""
    return PHONE_NUMBER.sub(lambda m: "..." + m.group()[-4:], text)


# Twilio's clock and ours may disagree a little; a message created this long before the claim still counts.
CLOCK_SKEW_SECONDS = 5.0
LOOKUP_LIMIT = 20


def accepted_since(resources: list[Any], since: float, matches: Callable[[Any], bool]) -> list[Any]:
    """The listed resources (messages or calls) created at or after `since` that `matches`, in the
    provider's order (newest first)."""
    return [
        resource
        for resource in resources
        if (created := resource.date_created) is not None
        and created.timestamp() >= since - CLOCK_SKEW_SECONDS
        and matches(resource)
    ]


async def paced_sends(
    outgoing: Outgoing,
    envelopes: list[Envelope],
    *,
    pool: SenderPool,
    max_in_flight: int,
    create: Callable[[Envelope, str], Awaitable[Any]],
) -> AsyncGenerator[SendResult, None]:
    """One provider request per envelope, at most `max_in_flight` at once, each on a paced sender.

    `create(envelope, sender)` starts the SDK call; results are yielded as they complete.
    """
    gate = asyncio.Semaphore(max_in_flight)
    # Calls book their paced slots one after another, in the batch's order (who matters first).
    in_order: AbstractAsyncContextManager[Any] = (
        asyncio.Lock() if outgoing.slot.startswith("voice") else contextlib.nullcontext()
    )

    async def send_one(envelope: Envelope) -> SendResult:
        async with gate:
            async with in_order:
                sender = await pool.acquire(critical=outgoing.critical)
            channel = outgoing.slot.split("@")[0]
            return await classify_twilio_call(envelope.official_id, create(envelope, sender), channel=channel)

    tasks = [asyncio.ensure_future(send_one(e)) for e in envelopes]
    try:
        for done in asyncio.as_completed(tasks):
            yield await done
    finally:
        # The batch stopped early (an error, a shutdown): what has not started must not start later.
        for task in tasks:
            task.cancel()
