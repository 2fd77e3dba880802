"""Building the real twilio SDK client, pointed at the simulator when no credentials are configured."""

from __future__ import annotations

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from alertnet.channels.base import Outcome, SendResult
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
