"""A simulated outbound call after Twilio accepted it: ring, fetch TwiML, complete, post status callbacks."""

from __future__ import annotations

import math
import re
import time
from typing import Any

from alertnet.sim.callbacks import Reply
from alertnet.sim.context import Sim
from alertnet.sim.twilio_common import API_VERSION, Params, rfc2822


class CallFlow:
    """One simulated call after it was created: ring, fetch TwiML, complete, with status callbacks."""

    def __init__(
        self,
        sim: Sim,
        record: dict[str, Any],
        events: set[str],
        outcome: str,
        answered_by: str = "human",
    ) -> None:
        self.sim = sim
        self.answered_by = answered_by
        self.record = record
        self.params: Params = record["params"]
        self.events = events
        self.outcome = outcome
        self.sequence = 0
        self.callback = self.params.get("StatusCallback", "")
        self.callback_method = self.params.get("StatusCallbackMethod", "POST") or "POST"
        self.base: Params = {
            "AccountSid": sim.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": record["sid"],
            "Called": record["to"],
            "Caller": record["from"],
            "Direction": "outbound-api",
            "From": record["from"],
            "To": record["to"],
        }

    def _set_status(self, status: str) -> None:
        self.record["status"] = status
        self.record["updated_at"] = time.time()

    async def _request(self, url: str, params: Params, method: str) -> Reply:
        """A webhook request for this call, kept as Twilio's Call Events resource shows it."""
        started = time.time()
        reply = await self.sim.dispatcher.send_form(url, params, method)
        self.record.setdefault("events", []).append(
            {
                "request": {
                    "method": method.upper(),
                    "url": url,
                    "parameters": {_snake(key): value for key, value in params.items()},
                },
                "response": {
                    "date_created": rfc2822(started),
                    "request_duration": int((time.time() - started) * 1000),
                    "response_code": reply.status,
                    "content_type": None,
                    "response_body": reply.body,
                },
            }
        )
        return reply

    async def _status_callback(self, status: str, extra: Params | None = None) -> None:
        if not self.callback:
            return
        params = {
            **self.base,
            "CallStatus": status,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(self.sequence),
            "Timestamp": rfc2822(time.time()),
            **(extra or {}),
        }
        self.sequence += 1
        await self._request(self.callback, params, self.callback_method)

    async def run(self) -> None:
        """Play the call out; the final status callback is always sent, the others only when requested."""
        self._set_status("initiated")
        if "initiated" in self.events:
            await self._status_callback("initiated")
        self._set_status("ringing")
        if "ringing" in self.events:
            await self._status_callback("ringing")
        if self.outcome != "completed":
            self._finish(self.outcome, 0)
            await self._status_callback(self.outcome, {"CallDuration": "0", "Duration": "0"})
            return
        self._set_status("in-progress")
        self.record["started_at"] = time.time()
        # Twilio reports AnsweredBy only when answering machine detection was asked for.
        detect = self.params.get("MachineDetection")
        answered_by = {"AnsweredBy": self.answered_by} if detect else {}
        url = self.params.get("Url", "")
        if url:
            reply = await self._request(
                url,
                {**self.base, "CallStatus": "in-progress", **answered_by},
                self.params.get("Method") or "POST",
            )
            if reply.ok:
                self.record["twiml"] = reply.body
            else:
                self.record["error_code"] = 11200  # Twilio's "HTTP retrieval failure"
        if "answered" in self.events:
            await self._status_callback("in-progress", answered_by)
        # Roughly the time it takes to speak the document.
        duration = 1 + len(self.record["twiml"] or "") // 15
        self._finish("completed", duration)
        if answered_by:
            self.record["answered_by"] = self.answered_by
        await self._status_callback(
            "completed",
            {"CallDuration": str(duration), "Duration": str(math.ceil(duration / 60)), **answered_by},
        )

    def _finish(self, status: str, duration: int) -> None:
        self._set_status(status)
        self.record["duration"] = duration
        self.record["ended_at"] = time.time()


def _snake(name: str) -> str:
    """A webhook parameter's name as the Call Events resource shows it (CallSid -> call_sid)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def events_page(record: dict[str, Any], path: str) -> dict[str, Any]:
    """The Call Events list of one call (Twilio shows it some minutes after the call ended; here at
    once), newest last, in one page."""
    events = list(record.get("events", []))
    return {
        "events": events,
        "start": 0,
        "end": max(0, len(events) - 1),
        "page": 0,
        "page_size": 50,
        "first_page_uri": f"{path}?PageSize=50&Page=0",
        "previous_page_uri": None,
        "next_page_uri": None,
        "uri": f"{path}?PageSize=50&Page=0",
    }
