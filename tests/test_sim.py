"""The Twilio and SendGrid simulators, driven through the real SDKs (no mocks).

A small aiohttp app stands in for the hub: it records every webhook the simulators post (checking Twilio
signatures with the SDK's RequestValidator) and serves call TwiML with a <Gather>.
"""

from __future__ import annotations

import ast
import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from python_http_client.exceptions import BadRequestsError, HTTPError, UnauthorizedError
from sendgrid import SendGridAPIClient
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from alertnet.settings import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, SIM_SENDGRID_KEY
from alertnet.sim import create_sim_app, run_sim
from alertnet.sim.event_keys import load_or_create_private_key, public_key_b64, public_key_path
from alertnet.sim.http1 import read_response
from alertnet.sim.settings import SimSettings
from alertnet.sim.twilio_common import count_segments

# twilio 9.13's AsyncTwilioHttpClient passes aiohttp.BasicAuth as `auth=`, which aiohttp 3.14 deprecates.
pytestmark = [
    pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The 'auth' parameter is deprecated:DeprecationWarning"),
]

HUB_SENDER = "+15735550100"
OFFICIAL = "+15735550123"
GATHER_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<Gather action="/v1/webhooks/twilio/gather?d=a1.voice.o1" numDigits="1">'
    "<Say>Lockdown at Central High. Press 1 to acknowledge.</Say></Gather></Response>"
)


@dataclass
class Hit:
    path_qs: str
    params: dict[str, str]
    signature_ok: bool
    json_body: Any = None


@dataclass
class Hub:
    """The stand-in hub: what arrived, per path."""

    url: str = ""
    hits: list[Hit] = field(default_factory=list)

    def at(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path_qs.split("?")[0] == path]


async def _start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    state = Hub()
    validator = RequestValidator(SIM_AUTH_TOKEN)

    async def record(request: web.Request) -> web.Response:
        if request.path == "/v1/webhooks/sendgrid/events":
            state.hits.append(Hit(request.path_qs, {}, True, await request.json()))
            return web.Response(status=204)
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
        signed = validator.validate(
            state.url + request.path_qs, params, request.headers["X-Twilio-Signature"]
        )
        state.hits.append(Hit(request.path_qs, params, bool(signed)))
        if request.path == "/v1/webhooks/twilio/voice":
            return web.Response(text=GATHER_TWIML, content_type="application/xml")
        if request.path == "/v1/webhooks/twilio/gather":
            return web.Response(
                text="<Response><Say>Thank you.</Say></Response>", content_type="application/xml"
            )
        if request.path == "/v1/webhooks/twilio/sms":
            return web.Response(text="<Response><Message>Acknowledged.</Message></Response>")
        return web.Response(status=204)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner, state.url = await _start(app)
    yield state
    await runner.cleanup()


@dataclass
class SimServer:
    url: str
    session: aiohttp.ClientSession

    async def get(self, path: str, **params: Any) -> Any:
        async with self.session.get(self.url + path, params=params) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        async with self.session.post(self.url + path, json=body) as response:
            return response.status, await response.json()

    async def delete(self, path: str) -> None:
        async with self.session.delete(self.url + path) as response:
            assert response.status == 204

    def twilio(self) -> Client:
        """A sync twilio Client pointed here (call it from a thread: the sim shares this event loop)."""
        client = Client(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN)
        client.api.base_url = self.url
        return client

    def sendgrid(self, key: str = SIM_SENDGRID_KEY) -> SendGridAPIClient:
        return SendGridAPIClient(key, host=self.url)


@pytest.fixture
async def sim(hub: Hub) -> AsyncIterator[SimServer]:
    app = create_sim_app(
        SimSettings(callback_delay=0.01),
        account_sid=SIM_ACCOUNT_SID,
        auth_token=SIM_AUTH_TOKEN,
        sendgrid_key=SIM_SENDGRID_KEY,
        hub_url=hub.url,
    )
    runner, url = await _start(app)
    async with aiohttp.ClientSession() as session:
        yield SimServer(url, session)
    await runner.cleanup()


@pytest.fixture
async def async_twilio(sim: SimServer) -> AsyncIterator[Client]:
    http = AsyncTwilioHttpClient(timeout=10)
    client = Client(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, http_client=http)
    client.api.base_url = sim.url
    yield client
    await http.close()


async def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def sync_create(client: Client, **kwargs: Any) -> Any:
    try:
        return client.messages.create(**kwargs)
    finally:
        client.http_client.session.close()


# -- Twilio Messaging ---------------------------------------------------------------------------------------


async def test_message_create_sync_is_logged_fetchable_and_listed(sim: SimServer) -> None:
    since = time.time()
    client = sim.twilio()
    message = await in_thread(sync_create, client, to=OFFICIAL, from_=HUB_SENDER, body="Lockdown drill")
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued" and message.num_segments == "1"
    assert message.account_sid == SIM_ACCOUNT_SID and message.date_created is not None

    log = await sim.get("/sim/messages", kind="sms", since=since)
    assert [(m["sid"], m["to"], m["from"], m["body"]) for m in log] == [
        (message.sid, OFFICIAL, HUB_SENDER, "Lockdown drill")
    ]
    assert log[0]["params"]["To"] == OFFICIAL and log[0]["received_at"] >= since

    def fetch_and_list() -> tuple[Any, list[Any]]:
        try:
            return client.messages(message.sid).fetch(), client.messages.list(to=OFFICIAL)
        finally:
            client.http_client.session.close()

    fetched, listed = await in_thread(fetch_and_list)
    assert fetched.sid == message.sid and fetched.body == "Lockdown drill"
    assert [m.sid for m in listed] == [message.sid]


async def test_message_create_async_and_paged_list(sim: SimServer, async_twilio: Client) -> None:
    created = [
        await async_twilio.messages.create_async(
            to=OFFICIAL, from_=HUB_SENDER, body=f"notice {i}", validity_period=900
        )
        for i in range(5)
    ]
    listed = await async_twilio.messages.list_async(to=OFFICIAL, page_size=2)
    assert [m.sid for m in listed] == [m.sid for m in reversed(created)]  # newest first, across 3 pages
    hour = timedelta(hours=1)
    recent = await async_twilio.messages.list_async(date_sent_after=datetime.now(UTC) - hour)
    assert len(recent) == 5
    assert await async_twilio.messages.list_async(date_sent_after=datetime.now(UTC) + hour) == []
    assert len(await async_twilio.messages.list_async(date_sent=datetime.now(UTC).date())) == 5
    other = await async_twilio.messages.list_async(to="+15735550999")
    assert other == []
    stats = await sim.get("/sim/stats")
    assert stats["counts"]["sms"] == 5
    assert stats["kinds"]["sms"]["status_codes"] == {"201": 5}
    assert stats["kinds"]["sms"]["first_request_at"] <= stats["kinds"]["sms"]["last_request_at"]


async def test_bad_auth_is_401_with_twilio_error(sim: SimServer) -> None:
    http = AsyncTwilioHttpClient(timeout=10)
    client = Client(SIM_ACCOUNT_SID, "wrong-token", http_client=http)
    client.api.base_url = sim.url
    try:
        with pytest.raises(TwilioRestException) as raised:
            await client.messages.create_async(to=OFFICIAL, from_=HUB_SENDER, body="x")
    finally:
        await http.close()
    assert raised.value.status == 401 and raised.value.code == 20003
    assert await sim.get("/sim/messages", kind="sms") == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "5735550123"}, 21211),
        ({"to": "+1573555012345678"}, 21211),
        ({"body": ""}, 21602),
        ({"from_": ""}, 21603),
        ({"validity_period": 0}, 21624),
        ({"validity_period": 36001}, 21624),
    ],
)
async def test_invalid_messages_are_400_like_twilio(
    sim: SimServer, async_twilio: Client, kwargs: dict[str, Any], code: int
) -> None:
    request = {"to": OFFICIAL, "from_": HUB_SENDER, "body": "x", **kwargs}
    with pytest.raises(TwilioRestException) as raised:
        await async_twilio.messages.create_async(**request)
    assert raised.value.status == 400 and raised.value.code == code


async def test_sync_client_raises_21211_for_a_bad_number(sim: SimServer) -> None:
    with pytest.raises(TwilioRestException) as raised:
        await in_thread(sync_create, sim.twilio(), to="not-a-number", from_=HUB_SENDER, body="x")
    assert raised.value.status == 400 and raised.value.code == 21211
    assert "not-a-number" in raised.value.msg


async def test_injected_429_500_503_and_permanent_failures(sim: SimServer, async_twilio: Client) -> None:
    status, shown = await sim.post("/sim/faults", {"rate_429": 1})
    assert status == 200 and shown["rate_429"] == 1
    with pytest.raises(TwilioRestException) as raised:
        await async_twilio.messages.create_async(to=OFFICIAL, from_=HUB_SENDER, body="x")
    assert raised.value.status == 429 and raised.value.code == 20429

    await sim.post("/sim/faults", {"error_rate": 1})
    with pytest.raises(TwilioRestException) as raised:
        await async_twilio.messages.create_async(to=OFFICIAL, from_=HUB_SENDER, body="x")
    assert raised.value.status == 500

    await sim.post("/sim/faults", {"fail_next": 2, "fail_numbers": ["+15735550666"]})
    for _ in range(2):
        with pytest.raises(TwilioRestException) as raised:
            await async_twilio.messages.create_async(to=OFFICIAL, from_=HUB_SENDER, body="x")
        assert raised.value.status == 503
    with pytest.raises(TwilioRestException) as raised:
        await async_twilio.messages.create_async(to="+15735550666", from_=HUB_SENDER, body="x")
    assert raised.value.status == 400 and raised.value.code == 21614
    ok = await async_twilio.messages.create_async(to=OFFICIAL, from_=HUB_SENDER, body="x")
    assert ok.sid.startswith("SM")

    status, refused = await sim.post("/sim/faults", {"rate_429": 2})
    assert status == 400 and refused["field"] == "rate_429"
    await sim.delete("/sim/faults")
    assert (await sim.get("/sim/faults"))["fail_numbers"] == []
    stats = await sim.get("/sim/stats")
    assert stats["status_codes"] == {"201": 1, "400": 1, "429": 1, "500": 1, "503": 2}


async def test_status_callbacks_are_signed_and_report_sent_then_delivered(
    sim: SimServer, hub: Hub, async_twilio: Client
) -> None:
    await sim.post("/sim/faults", {"undelivered_numbers": ["+15735550777"]})
    callback = f"{hub.url}/v1/webhooks/twilio/status?d=a1.sms.o%2F1"
    good = await async_twilio.messages.create_async(
        to=OFFICIAL, from_=HUB_SENDER, body="x", status_callback=callback
    )
    bad = await async_twilio.messages.create_async(
        to="+15735550777", from_=HUB_SENDER, body="x", status_callback=callback
    )
    await eventually(lambda: len(hub.at("/v1/webhooks/twilio/status")) == 4)
    hits = hub.at("/v1/webhooks/twilio/status")
    assert all(h.signature_ok for h in hits)
    assert all(h.path_qs == "/v1/webhooks/twilio/status?d=a1.sms.o%2F1" for h in hits)
    by_sid: dict[str, list[dict[str, str]]] = {}
    for h in hits:
        by_sid.setdefault(h.params["MessageSid"], []).append(h.params)
    assert [p["MessageStatus"] for p in by_sid[good.sid]] == ["sent", "delivered"]
    assert [p["MessageStatus"] for p in by_sid[bad.sid]] == ["sent", "undelivered"]
    assert by_sid[bad.sid][1]["ErrorCode"] == "30003"
    first = by_sid[good.sid][0]
    assert first["SmsSid"] == good.sid and first["SmsStatus"] == "sent"
    assert (first["To"], first["From"], first["AccountSid"]) == (OFFICIAL, HUB_SENDER, SIM_ACCOUNT_SID)
    assert first["ApiVersion"] == "2010-04-01"
    fetched = await async_twilio.messages(bad.sid).fetch_async()
    assert fetched.status == "undelivered" and fetched.error_code == 30003
    stats = await sim.get("/sim/stats")
    assert stats["callbacks"]["posted"] == 4 and stats["callbacks"]["failed"] == 0


async def test_callbacks_to_a_dead_url_are_retried_then_dropped(sim: SimServer, async_twilio: Client) -> None:
    await async_twilio.messages.create_async(
        to=OFFICIAL, from_=HUB_SENDER, body="x", status_callback="http://127.0.0.1:9/status"
    )

    async def dropped() -> int:
        return int((await sim.get("/sim/stats"))["callbacks"]["failed"])

    deadline = time.monotonic() + 10
    while await dropped() < 2:  # "sent" and "delivered" each given up on
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    stats = await sim.get("/sim/stats")
    assert stats["callbacks"]["retried"] == 6 and stats["callbacks"]["posted"] == 0


def test_segments_count_gsm7_and_ucs2() -> None:
    assert count_segments("a" * 160) == 1
    assert count_segments("a" * 161) == 2
    assert count_segments("a" * 306) == 2
    assert count_segments("a" * 307) == 3
    assert count_segments("€" * 80) == 1  # extension characters take two septets
    assert count_segments("€" * 81) == 2
    curly = "\u2019"  # a curly apostrophe forces UCS-2
    assert count_segments(curly * 70) == 1
    assert count_segments(curly * 71) == 2
    assert count_segments("😀" * 35) == 1  # surrogate pairs: two code units each
    assert count_segments("😀" * 36) == 2


async def test_http1_client_reads_every_body_framing() -> None:
    async def parse(raw: bytes) -> tuple[int, bytes, bool]:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await read_response(reader, "POST")

    assert await parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello") == (200, b"hello", True)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
    assert await parse(chunked) == (200, b"abcde", True)
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
    assert await parse(interim) == (204, b"", False)
    assert await parse(b"HTTP/1.0 403 Forbidden\r\n\r\nno") == (403, b"no", False)


# -- Twilio Voice -------------------------------------------------------------------------------------------


async def test_call_fetches_twiml_and_posts_completed(sim: SimServer, hub: Hub, async_twilio: Client) -> None:
    call = await async_twilio.calls.create_async(
        to=OFFICIAL,
        from_=HUB_SENDER,
        url=f"{hub.url}/v1/webhooks/twilio/voice?d=a1.voice.o1",
        status_callback=f"{hub.url}/v1/webhooks/twilio/call-status?d=a1.voice.o1",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        machine_detection="Enable",
    )
    assert call.sid.startswith("CA") and len(call.sid) == 34 and call.status == "queued"
    await eventually(lambda: any(h.params.get("CallStatus") == "completed" for h in hub.hits))
    fetch = hub.at("/v1/webhooks/twilio/voice")
    assert len(fetch) == 1 and fetch[0].signature_ok
    assert fetch[0].params["CallSid"] == call.sid and fetch[0].params["CallStatus"] == "in-progress"
    assert fetch[0].params["Direction"] == "outbound-api" and fetch[0].params["To"] == OFFICIAL
    statuses = hub.at("/v1/webhooks/twilio/call-status")
    assert all(h.signature_ok for h in statuses)
    assert [h.params["CallStatus"] for h in statuses] == ["initiated", "ringing", "in-progress", "completed"]
    completed = statuses[-1].params
    assert completed["AnsweredBy"] == "human" and int(completed["CallDuration"]) > 0

    log = await sim.get("/sim/messages", kind="voice")
    assert log[0]["sid"] == call.sid and log[0]["twiml"] == GATHER_TWIML and log[0]["status"] == "completed"
    fetched = await async_twilio.calls(call.sid).fetch_async()
    assert fetched.status == "completed" and fetched.answered_by == "human"
    listed = await async_twilio.calls.list_async(to=OFFICIAL)
    assert [c.sid for c in listed] == [call.sid]


async def test_unanswered_call_reports_no_answer(sim: SimServer, hub: Hub, async_twilio: Client) -> None:
    await sim.post("/sim/faults", {"no_answer_numbers": [OFFICIAL]})
    await async_twilio.calls.create_async(
        to=OFFICIAL,
        from_=HUB_SENDER,
        url=f"{hub.url}/v1/webhooks/twilio/voice?d=x",
        status_callback=f"{hub.url}/v1/webhooks/twilio/call-status?d=x",
    )
    await eventually(lambda: bool(hub.at("/v1/webhooks/twilio/call-status")))
    assert [h.params["CallStatus"] for h in hub.at("/v1/webhooks/twilio/call-status")] == ["no-answer"]
    assert hub.at("/v1/webhooks/twilio/voice") == []


async def test_press_posts_digits_to_the_gather_action(
    sim: SimServer, hub: Hub, async_twilio: Client
) -> None:
    call = await async_twilio.calls.create_async(
        to=OFFICIAL, from_=HUB_SENDER, url=f"{hub.url}/v1/webhooks/twilio/voice?d=a1.voice.o1"
    )

    async def twiml_recorded() -> bool:
        return bool((await sim.get("/sim/messages", kind="voice"))[0]["twiml"])

    deadline = time.monotonic() + 5
    while not await twiml_recorded():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    status, answer = await sim.post("/sim/press", {"to": OFFICIAL, "digits": "1"})
    assert status == 200 and answer["status"] == 200 and "Thank you" in answer["body"]
    assert answer["url"] == f"{hub.url}/v1/webhooks/twilio/gather?d=a1.voice.o1"
    gather = hub.at("/v1/webhooks/twilio/gather")
    assert len(gather) == 1 and gather[0].signature_ok
    params = gather[0].params
    assert (params["CallSid"], params["Digits"], params["To"], params["From"]) == (
        call.sid,
        "1",
        OFFICIAL,
        HUB_SENDER,
    )
    assert params["CallStatus"] == "in-progress" and params["AccountSid"] == SIM_ACCOUNT_SID
    status, missing = await sim.post("/sim/press", {"to": "+15735550999", "digits": "1"})
    assert status == 404 and missing["error"] == "not_found"


# -- inbound SMS --------------------------------------------------------------------------------------------


async def test_reply_posts_a_signed_inbound_sms_to_the_hub(
    sim: SimServer, hub: Hub, async_twilio: Client
) -> None:
    await async_twilio.messages.create_async(to=OFFICIAL, from_="+15735550101", body="Lockdown")
    status, answer = await sim.post("/sim/reply", {"from": OFFICIAL, "body": "1"})
    assert status == 200 and answer["status"] == 200 and "Acknowledged." in answer["body"]
    inbound = hub.at("/v1/webhooks/twilio/sms")
    assert len(inbound) == 1 and inbound[0].signature_ok
    params = inbound[0].params
    assert (params["From"], params["To"], params["Body"]) == (OFFICIAL, "+15735550101", "1")
    assert params["MessageSid"] == params["SmsSid"] and params["MessageSid"].startswith("SM")
    assert params["AccountSid"] == SIM_ACCOUNT_SID and params["NumMedia"] == "0"
    status, unknown = await sim.post("/sim/reply", {"from": "+15735550999", "body": "1"})
    assert status == 404 and unknown["error"] == "not_found"


# -- SendGrid -----------------------------------------------------------------------------------------------


def mail(personalizations: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "personalizations": personalizations,
        "from": {"email": "alerts@alertnet.example.gov", "name": "Alerts"},
        "subject": "Lockdown",
        "content": [
            {"type": "text/plain", "value": "Acknowledge: -ack_link-"},
            {"type": "text/html", "value": "<a href='-ack_link-'>Acknowledge</a>"},
        ],
        **extra,
    }


def person(email: str, n: int = 0) -> dict[str, Any]:
    return {
        "to": [{"email": email, "name": f"Official {n}"}],
        "substitutions": {"-ack_link-": f"https://hub.example/ack/{n}"},
        "custom_args": {"delivery_id": f"a1.email.o{n}"},
    }


async def test_sendgrid_202_records_each_recipient_and_posts_events(sim: SimServer, hub: Hub) -> None:
    await sim.post("/sim/faults", {"bounce_emails": ["Bounce@District.example"]})
    body = mail(
        [person("one@school.example", 1), person("bounce@district.example", 2)],
        custom_args={"alert_id": "a1"},
    )
    response = await in_thread(sim.sendgrid().client.mail.send.post, request_body=body)
    assert response.status_code == 202
    message_id = response.headers["X-Message-Id"]
    assert len(message_id) == 22 and response.body == b""

    log = await sim.get("/sim/messages", kind="email")
    assert [m["to"] for m in log] == ["one@school.example", "bounce@district.example"]
    first = log[0]
    assert first["sid"] == first["message_id"] == message_id
    assert first["subject"] == "Lockdown" and first["text"] == "Acknowledge: https://hub.example/ack/1"
    assert first["custom_args"] == {"alert_id": "a1", "delivery_id": "a1.email.o1"}
    assert first["substitutions"] == {"-ack_link-": "https://hub.example/ack/1"}

    def events() -> list[dict[str, Any]]:
        return [e for h in hub.at("/v1/webhooks/sendgrid/events") for e in h.json_body]

    await eventually(lambda: len(events()) == 4)
    got = {(e["email"], e["event"]): e for e in events()}
    assert set(got) == {
        ("one@school.example", "processed"),
        ("one@school.example", "delivered"),
        ("bounce@district.example", "processed"),
        ("bounce@district.example", "bounce"),
    }
    delivered = got[("one@school.example", "delivered")]
    assert delivered["delivery_id"] == "a1.email.o1" and delivered["alert_id"] == "a1"
    assert delivered["sg_message_id"].split(".")[0] == message_id
    assert isinstance(delivered["timestamp"], int) and delivered["sg_event_id"]
    assert got[("bounce@district.example", "bounce")]["delivery_id"] == "a1.email.o2"
    assert [m["status"] for m in await sim.get("/sim/messages", kind="email")] == ["delivered", "bounce"]


async def test_sendgrid_refuses_1001_personalizations(sim: SimServer) -> None:
    body = mail([person(f"o{n}@school.example", n) for n in range(1001)])
    with pytest.raises(BadRequestsError) as raised:
        await in_thread(sim.sendgrid().client.mail.send.post, request_body=body)
    errors = json.loads(raised.value.body)["errors"]
    assert errors[0]["field"] == "personalizations" and "1001" in errors[0]["message"]
    accepted = mail([person(f"o{n}@school.example", n) for n in range(1000)])
    response = await in_thread(sim.sendgrid().client.mail.send.post, request_body=accepted)
    assert response.status_code == 202
    assert (await sim.get("/sim/stats"))["counts"]["email"] == 1000


async def test_sendgrid_refuses_more_than_1000_recipients(sim: SimServer) -> None:
    personalization = {"to": [{"email": f"o{n}@school.example"} for n in range(600)]}
    second = {"to": [{"email": f"p{n}@school.example"} for n in range(401)]}
    with pytest.raises(BadRequestsError) as raised:
        await in_thread(sim.sendgrid().client.mail.send.post, request_body=mail([personalization, second]))
    assert "1000 total recipients" in json.loads(raised.value.body)["errors"][0]["message"]


async def test_sendgrid_refuses_a_duplicate_address_naming_the_field(sim: SimServer) -> None:
    body = mail([person("office@district.example", 1), person("OFFICE@district.example", 2)])
    with pytest.raises(BadRequestsError) as raised:
        await in_thread(sim.sendgrid().client.mail.send.post, request_body=body)
    error = json.loads(raised.value.body)["errors"][0]
    assert error["field"] == "personalizations.1.to"
    assert "[OFFICE@district.example] in the personalizations.1.to field" in error["message"]
    assert await sim.get("/sim/messages", kind="email") == []


async def test_sendgrid_requires_from_subject_and_content(sim: SimServer) -> None:
    body = {"personalizations": [{"to": [{"email": "a@school.example"}]}]}
    with pytest.raises(BadRequestsError) as raised:
        await in_thread(sim.sendgrid().client.mail.send.post, request_body=body)
    fields = {e["field"] for e in json.loads(raised.value.body)["errors"]}
    assert fields == {"from.email", "subject", "content"}


async def test_sendgrid_bad_key_and_injected_faults(sim: SimServer) -> None:
    body = mail([person("a@school.example")])
    with pytest.raises(UnauthorizedError) as raised:
        await in_thread(sim.sendgrid("SG.wrong").client.mail.send.post, request_body=body)
    assert json.loads(raised.value.body)["errors"][0]["message"] == (
        "The provided authorization grant is invalid, expired, or revoked"
    )
    await sim.post("/sim/faults", {"rate_429": 1})
    with pytest.raises(HTTPError) as limited:
        await in_thread(sim.sendgrid().client.mail.send.post, request_body=body)
    assert limited.value.status_code == 429


# -- control ------------------------------------------------------------------------------------------------


async def test_messages_filters_and_reset(sim: SimServer, async_twilio: Client) -> None:
    await async_twilio.messages.create_async(to=OFFICIAL, from_=HUB_SENDER, body="first")
    middle = time.time()
    await asyncio.sleep(0.01)
    await async_twilio.messages.create_async(to="+15735550124", from_=HUB_SENDER, body="second")
    assert [m["body"] for m in await sim.get("/sim/messages", since=middle)] == ["second"]
    assert [m["body"] for m in await sim.get("/sim/messages", kind="sms", to=OFFICIAL)] == ["first"]
    async with sim.session.get(f"{sim.url}/sim/messages", params={"kind": "fax"}) as response:
        assert response.status == 400
    async with sim.session.get(f"{sim.url}/healthz") as response:
        assert response.status == 200
    await sim.delete("/sim/messages")
    assert await sim.get("/sim/messages") == []
    assert (await sim.get("/sim/stats"))["counts"] == {"sms": 0, "voice": 0, "email": 0}


# -- run_sim and independence -------------------------------------------------------------------------------


async def test_run_sim_publishes_the_event_key_before_serving(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    private = tmp_path / "keys" / "sim-sendgrid-event-key.pem"
    task = asyncio.create_task(
        run_sim(
            SimSettings(port=port),
            account_sid=SIM_ACCOUNT_SID,
            auth_token=SIM_AUTH_TOKEN,
            sendgrid_key=SIM_SENDGRID_KEY,
            hub_url="http://127.0.0.1:9",
            event_key_path=private,
        )
    )
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 5
            while True:
                assert not task.done(), task
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        assert response.status == 200
                        break
                except aiohttp.ClientConnectionError:
                    assert time.monotonic() < deadline, "simulator did not start"
                    await asyncio.sleep(0.01)
        published = public_key_path(private)
        assert published == tmp_path / "keys" / "sim-sendgrid-event-key.pub"
        assert published.read_text() == public_key_b64(load_or_create_private_key(private)) + "\n"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


SIM_DIR = Path(__file__).resolve().parent.parent / "alertnet" / "sim"


def _outside_imports(source: str, package: str = "alertnet.sim") -> list[str]:
    """The alertnet modules outside alertnet.sim that `source` (a module of `package`) imports.

    Relative imports are resolved against `package` first, so `from .. import settings` counts too.
    """
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            names = [".".join([*base, *([node.module] if node.module else [])])]
        else:
            continue
        found += [
            name
            for name in names
            if name.split(".")[0] == "alertnet"
            and name != "alertnet.sim"
            and not name.startswith("alertnet.sim.")
        ]
    return found


def test_sim_imports_nothing_from_the_hub() -> None:
    assert _outside_imports("from alertnet.settings import SimSettings\nimport alertnet.event_keys") == [
        "alertnet.settings",
        "alertnet.event_keys",
    ]
    assert _outside_imports("from .. import settings\nimport alertnet\nfrom alertnet.simx import y") == [
        "alertnet",
        "alertnet",
        "alertnet.simx",
    ]
    assert _outside_imports("from ..settings import S", "alertnet.sim.sub") == []
    assert _outside_imports("from alertnet.sim.store import Store\nfrom . import faults\nimport os") == []
    modules = sorted(SIM_DIR.rglob("*.py"))
    assert {"app.py", "callbacks.py", "context.py", "event_keys.py", "settings.py"} <= {
        m.name for m in modules
    }
    outside: dict[str, list[str]] = {}
    for module in modules:
        package = ".".join(module.relative_to(SIM_DIR.parent.parent).parent.parts)  # __init__ too
        outside[str(module.relative_to(SIM_DIR))] = _outside_imports(module.read_text(), package)
    assert {name: found for name, found in outside.items() if found} == {}


def test_sim_modules_stay_small() -> None:
    sizes = {str(m.relative_to(SIM_DIR)): len(m.read_text().splitlines()) for m in SIM_DIR.rglob("*.py")}
    assert {name: lines for name, lines in sizes.items() if lines > 400} == {}
