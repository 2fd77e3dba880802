"""Building the real twilio SDK client, pointed at the simulator when no credentials are configured."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from alertnet.channels.base import Envelope, Outcome, Outgoing, SenderPool, SendResult
from alertnet.settings import Settings


def make_async_client(settings: Settings) -> Client:
    """A twilio Client using the SDK's aiohttp-based client; call inside the event loop that will use it."""
    http = AsyncTwilioHttpClient(timeout=10)
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http)
    if settings.twilio_simulated:
        client.api.base_url = settings.sim.base_url
    return client


async def close_async_client(client: Client) -> None:
    await client.http_client.close()


async def classify_twilio_call(official_id: str, call: object) -> SendResult:
    """Await a create_async call and turn its outcome into a SendResult."""
    try:
        resource = await call  # type: ignore[misc]
    except TwilioRestException as error:
        reason = f"twilio {error.status} code {error.code}: {error.msg}"
        if error.status == 429 or error.status >= 500:
            return SendResult(official_id, Outcome.RETRY, reason=reason)
        return SendResult(official_id, Outcome.PERMANENT, reason=reason)
    except (aiohttp.ClientConnectorError, ConnectionRefusedError) as error:
        return SendResult(
            official_id, Outcome.RETRY, reason=f"connection refused: {error.__class__.__name__}"
        )
    except (TimeoutError, aiohttp.ClientError) as error:
        return SendResult(official_id, Outcome.AMBIGUOUS, reason=f"no answer: {error.__class__.__name__}")
    return SendResult(official_id, Outcome.SENT, provider_id=str(resource.sid))


# Twilio's clock and ours may disagree a little; a message created this long before the claim still counts.
CLOCK_SKEW_SECONDS = 5.0
LOOKUP_LIMIT = 20


def accepted_since(resources: list[Any], since: float, matches: Callable[[Any], bool]) -> Any | None:
    """The newest listed resource (message or call) created at or after `since` that `matches`."""
    for resource in resources:
        created = resource.date_created
        if created is not None and created.timestamp() >= since - CLOCK_SKEW_SECONDS and matches(resource):
            return resource
    return None


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

    async def send_one(envelope: Envelope) -> SendResult:
        async with gate:
            sender = await pool.acquire(critical=outgoing.critical)
            return await classify_twilio_call(envelope.official_id, create(envelope, sender))

    tasks = [asyncio.ensure_future(send_one(e)) for e in envelopes]
    try:
        for done in asyncio.as_completed(tasks):
            yield await done
    finally:
        # The batch stopped early (an error, a shutdown): what has not started must not start later.
        for task in tasks:
            task.cancel()
