"""A local Twilio REST API (2010-04-01 Messages and Calls) answering the way the real one does.

The real `twilio` SDK is pointed here with `client.api.base_url`; responses are shaped like Twilio's so the
SDK parses them, and status callbacks are signed with the SDK's own RequestValidator so the hub verifies them
with the real validator. Per-request work is kept small: the benchmark drives thousands of creates a second.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from alertnet.sim.context import Sim, json_response
from alertnet.sim.twilio_common import (
    API_VERSION,
    E164,
    FAULTS,
    MAX_BODY,
    UNDELIVERED_CODE,
    Params,
    call_resource,
    count_segments,
    date_filter,
    is_http_url,
    message_resource,
    new_sid,
    parse_form,
    twilio_error,
    valid_sender,
)
from alertnet.sim.twilio_voice import CallFlow, events_page


class TwilioApi:
    """The Messages and Calls endpoints of one simulated account."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        token = base64.b64encode(f"{sim.account_sid}:{sim.auth_token}".encode()).decode()
        self.expected_auth = f"Basic {token}"
        self.account_uri = f"/{API_VERSION}/Accounts/{sim.account_sid}"
        self.in_flight = 0

    def routes(self) -> list[web.RouteDef]:
        """The REST routes, under /2010-04-01/Accounts/{AccountSid}/."""
        prefix = f"/{API_VERSION}/Accounts/{{account_sid}}"
        return [
            web.post(f"{prefix}/Messages.json", self.create_message),
            web.get(f"{prefix}/Messages.json", self.list_messages),
            web.get(f"{prefix}/Messages/{{sid}}.json", self.fetch_message),
            web.post(f"{prefix}/Calls.json", self.create_call),
            web.get(f"{prefix}/Calls.json", self.list_calls),
            web.get(f"{prefix}/Calls/{{sid}}.json", self.fetch_call),
            web.get(f"{prefix}/Calls/{{sid}}/Events.json", self.list_call_events),
        ]

    # -- shared checks ----------------------------------------------------------------------------------

    def _denied(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if header != self.expected_auth and not self._credentials_match(header):
            return twilio_error(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        if request.match_info["account_sid"] != self.sim.account_sid:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        return None

    def _credentials_match(self, header: str) -> bool:
        # Slow path for headers that differ only in form (scheme case, padding); the SDKs send the fast form.
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{self.sim.account_sid}:{self.sim.auth_token}"

    async def _gate(self, request: web.Request) -> web.Response | None:
        """Auth, then injected faults (latency, 503 / 429 / 500): the answer to send now, or None."""
        denied = self._denied(request)
        if denied is not None:
            return denied
        if self.sim.faults.any_request_fault:
            status = await self.sim.injected_fault(request)
            if status:
                code, message = FAULTS[status]
                headers = {"Twilio-Concurrent-Requests": str(self.in_flight)} if status == 429 else None
                return twilio_error(status, code, message, headers)
        return None

    async def _answered(self, request: web.Request, response: web.Response) -> web.Response:
        """A processed request's answer, unless a fault loses it: a 500 although the message or call
        was accepted (it goes out all the same), or an answer held past the client's timeout."""
        if response.status != 201 or not self.sim.faults.any_request_fault:
            return response
        status = await self.sim.accepted_fault(request)
        if status:
            code, message = FAULTS[status]
            return twilio_error(status, code, message)
        return response

    @staticmethod
    async def _form(request: web.Request) -> tuple[Params, list[tuple[str, str]]]:
        # Parsing the raw body ourselves is cheaper than building request.post()'s MultiDict.
        pairs = parse_form(await request.read())
        return dict(pairs), pairs

    # -- Messages ---------------------------------------------------------------------------------------

    async def create_message(self, request: web.Request) -> web.Response:
        """POST Messages.json: validate like Twilio, answer 201 with a queued Message, schedule callbacks."""
        now = time.time()
        self.in_flight += 1
        try:
            response = await self._gate(request)
            if response is None:
                response = await self._answered(request, await self._create_message(request, now))
        finally:
            self.in_flight -= 1
        self.sim.store.request("sms", response.status, now)
        return response

    async def _create_message(self, request: web.Request, now: float) -> web.Response:
        params, pairs = await self._form(request)
        to = params.get("To", "")
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not E164.fullmatch(to):
            return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        sender = params.get("From", "")
        service = params.get("MessagingServiceSid", "")
        if not sender and not service:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if sender and not valid_sender(sender):
            return twilio_error(400, 21212, f"Invalid From Number (caller ID): {sender}")
        body = params.get("Body", "")
        media = [v for k, v in pairs if k == "MediaUrl"]
        if not body and not media and not params.get("ContentSid"):
            return twilio_error(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        validity: int | None = None
        if "ValidityPeriod" in params:
            try:
                validity = int(params["ValidityPeriod"])
            except ValueError:
                validity = 0
            if not 1 <= validity <= 36000:
                return twilio_error(
                    400,
                    21624,
                    "Validity period can only be set to integers between 1 and 36,000 seconds "
                    "(10 hours max).",
                )
        callback = params.get("StatusCallback", "")
        if callback and not is_http_url(callback):
            return twilio_error(400, 21609, f"Invalid StatusCallback url: {callback}")
        faults = self.sim.faults
        if to in faults.fail_numbers:
            return twilio_error(400, 21614, f"'To' number {to} is not a valid mobile number")

        sid = new_sid("SM")
        record: dict[str, Any] = {
            "kind": "sms",
            "sid": sid,
            "to": to,
            "from": sender or None,
            "body": body,
            # A Messaging Service picks the sender later, so Twilio answers "accepted" rather than "queued".
            "status": "queued" if sender else "accepted",
            "received_at": now,
            "sent_at": None,
            "updated_at": now,
            "num_segments": count_segments(body),
            "num_media": len(media),
            "error_code": None,
            "validity_period": validity,
            "status_callback": callback or None,
            "messaging_service_sid": service or None,
            "params": params,
        }
        store = self.sim.store
        store.add("sms", record)
        store.kinds["sms"].recipients += 1
        store.by_sid[sid] = record
        if sender:
            store.last_sender[to] = sender
        final = "undelivered" if to in faults.undelivered_numbers else "delivered"

        async def progress() -> None:
            await self._message_progress(record, final)

        self.sim.dispatcher.submit(self.sim.callback_delay, progress)
        return json_response(message_resource(record, self.sim.account_sid), 201)

    async def _message_progress(self, record: dict[str, Any], final: str) -> None:
        """Move a message to "sent" and then its final status, posting a signed callback for each."""
        callback = record["status_callback"]
        for status in ("sent", final):
            now = time.time()
            record["status"] = status
            record["updated_at"] = now
            if status == "sent":
                record["sent_at"] = now
            failed = status in ("undelivered", "failed")
            if failed:
                record["error_code"] = UNDELIVERED_CODE
            if not callback:
                continue
            params = {
                "AccountSid": self.sim.account_sid,
                "ApiVersion": API_VERSION,
                "MessageSid": record["sid"],
                "MessageStatus": status,
                "SmsSid": record["sid"],
                "SmsStatus": status,
                "To": record["to"],
            }
            if record["from"]:
                params["From"] = record["from"]
            if record["messaging_service_sid"]:
                params["MessagingServiceSid"] = record["messaging_service_sid"]
            if failed:
                params["ErrorCode"] = str(UNDELIVERED_CODE)
            await self.sim.dispatcher.send_form(callback, params)

    async def fetch_message(self, request: web.Request) -> web.Response:
        """GET Messages/{Sid}.json."""
        return self._fetch(request, "SM")

    async def list_messages(self, request: web.Request) -> web.Response:
        """GET Messages.json with To, From, DateSent, DateSent<, DateSent>, PageSize, Page."""
        return self._list(request, "sms", "messages", "DateSent")

    # -- Calls ------------------------------------------------------------------------------------------

    async def create_call(self, request: web.Request) -> web.Response:
        """POST Calls.json: answer 201 with a queued Call, then fetch its TwiML and post status callbacks."""
        now = time.time()
        self.in_flight += 1
        try:
            response = await self._gate(request)
            if response is None:
                response = await self._answered(request, await self._create_call(request, now))
        finally:
            self.in_flight -= 1
        self.sim.store.request("voice", response.status, now)
        return response

    async def _create_call(self, request: web.Request, now: float) -> web.Response:
        params, pairs = await self._form(request)
        to = params.get("To", "")
        if not to:
            return twilio_error(400, 21201, "No 'To' number is specified")
        if not E164.fullmatch(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        sender = params.get("From", "")
        if not sender:
            return twilio_error(400, 21213, "No 'From' number is specified")
        if not E164.fullmatch(sender) and not sender.startswith("client:"):
            return twilio_error(400, 21212, f"The 'From' number {sender} is not a valid phone number.")
        url = params.get("Url", "")
        twiml = params.get("Twiml", "")
        if not url and not twiml and not params.get("ApplicationSid"):
            return twilio_error(400, 21205, "A 'Url', 'Twiml' or 'ApplicationSid' parameter is required.")
        if url and not is_http_url(url):
            return twilio_error(400, 21205, f"Url is not a valid URL: {url}")
        callback = params.get("StatusCallback", "")
        if callback and not is_http_url(callback):
            return twilio_error(400, 21609, f"Invalid StatusCallback url: {callback}")
        # The SDK repeats StatusCallbackEvent per value; Twilio also accepts them space-separated.
        events = {e for k, v in pairs if k == "StatusCallbackEvent" for e in v.split()}

        sid = new_sid("CA")
        record: dict[str, Any] = {
            "kind": "voice",
            "sid": sid,
            "to": to,
            "from": sender,
            "url": url or None,
            "twiml": twiml or None,
            "status": "queued",
            "received_at": now,
            "updated_at": now,
            "started_at": None,
            "ended_at": None,
            "answered_by": None,
            "duration": None,
            "error_code": None,
            "status_callback": callback or None,
            "presses": [],
            "params": params,
        }
        store = self.sim.store
        store.add("voice", record)
        store.kinds["voice"].recipients += 1
        store.by_sid[sid] = record
        outcome = self.sim.faults.call_outcome(to)
        answered_by = self.sim.faults.answered_by(to)

        async def progress() -> None:
            await CallFlow(self.sim, record, events, outcome, answered_by).run()

        self.sim.dispatcher.submit(self.sim.callback_delay, progress)
        return json_response(call_resource(record, self.sim.account_sid), 201)

    async def fetch_call(self, request: web.Request) -> web.Response:
        """GET Calls/{Sid}.json."""
        return self._fetch(request, "CA")

    async def list_calls(self, request: web.Request) -> web.Response:
        """GET Calls.json with To, From, Status, StartTime, StartTime<, StartTime>, PageSize, Page."""
        return self._list(request, "voice", "calls", "StartTime")

    async def list_call_events(self, request: web.Request) -> web.Response:
        """GET Calls/{Sid}/Events.json: the requests made to the hub for the call, with its answers."""
        record = self.sim.store.by_sid.get(request.match_info["sid"])
        found = record is not None and record["kind"] == "voice"
        denied = self._denied(request) or (None if found else self._fetch(request, "CA"))
        return denied or json_response(events_page(record or {}, request.path))

    # -- fetch and list ---------------------------------------------------------------------------------

    def _fetch(self, request: web.Request, prefix: str) -> web.Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        record = self.sim.store.by_sid.get(request.match_info["sid"])
        if record is None or not record["sid"].startswith(prefix):
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        return json_response(self._resource(record))

    def _resource(self, record: dict[str, Any]) -> dict[str, Any]:
        if record["kind"] == "sms":
            return message_resource(record, self.sim.account_sid)
        return call_resource(record, self.sim.account_sid)

    def _list(self, request: web.Request, kind: str, key: str, date_param: str) -> web.Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        query = request.query
        filters = {name: query[name] for name in ("To", "From", "Status") if name in query}
        ranges: list[tuple[float, float]] = []
        for suffix in ("", "<", ">"):
            name = date_param + suffix
            if name in query:
                found = date_filter(query[name], suffix)
                if found is None:
                    return twilio_error(400, 20001, f"Invalid {name}: {query[name]}")
                filters[name] = query[name]
                ranges.append(found)
        try:
            page = max(0, int(query.get("Page", "0")))
            size = min(1000, max(1, int(query.get("PageSize", "50"))))
        except ValueError:
            return twilio_error(400, 20001, "Page and PageSize must be integers")
        store = self.sim.store
        start = page * size
        matching: list[dict[str, Any]] = []
        for record in reversed(store.records[kind]):  # newest first, as Twilio lists
            if "To" in filters and record["to"] != filters["To"]:
                continue
            if "From" in filters and record["from"] != filters["From"]:
                continue
            if "Status" in filters and record["status"] != filters["Status"]:
                continue
            ts = record["received_at"]
            if any(not low <= ts < high for low, high in ranges):
                continue
            matching.append(record)
            if len(matching) > start + size:
                break  # enough for this page and to know there is a next one

        items = [self._resource(r) for r in matching[start : start + size]]
        path = f"{self.account_uri}/{key.capitalize()}.json"

        def page_uri(number: int) -> str:
            return f"{path}?{urlencode({**filters, 'PageSize': size, 'Page': number})}"

        body = {
            "end": start + len(items) - 1 if items else start,
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if start + size < len(matching) else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            key: items,
            "start": start,
            "uri": page_uri(page),
        }
        return json_response(body)
