"""The OpenAPI 3.1 document served at /v1/openapi.json."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from alertnet import __version__
from alertnet.alerts import example_alert_request

routes = web.RouteTableDef()

ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
        "allowed": {"type": "array", "items": {"type": "string"}},
    },
}
STRINGS = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
AUDIENCE = {
    "type": "object",
    "additionalProperties": False,
    "description": "Geographic selectors are a union; roles narrow it; statewide means everyone.",
    "properties": {
        "statewide": {"type": "boolean"},
        "regions": STRINGS,
        "counties": STRINGS,
        "districts": STRINGS,
        "schools": STRINGS,
        "roles": STRINGS,
        "officials": STRINGS,
    },
}
ALERT_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "status",
        "msgType",
        "severity",
        "urgency",
        "certainty",
        "event",
        "headline",
        "audience",
        "channels",
    ],
    "properties": {
        "status": {"enum": ["Actual", "Exercise", "Test"]},
        "msgType": {"enum": ["Alert", "Update", "Cancel"]},
        "references": {"type": "array", "items": {"type": "string"}, "description": "ids of earlier alerts"},
        "severity": {"enum": ["Extreme", "Severe", "Moderate", "Minor", "Unknown"]},
        "urgency": {"enum": ["Immediate", "Expected", "Future", "Past", "Unknown"]},
        "certainty": {"enum": ["Observed", "Likely", "Possible", "Unlikely", "Unknown"]},
        "event": {"type": "string", "maxLength": 80},
        "headline": {"type": "string", "maxLength": 160},
        "description": {"type": "string", "maxLength": 4000},
        "instruction": {"type": "string", "maxLength": 1000},
        "expires": {"type": "string", "format": "date-time"},
        "audience": AUDIENCE,
        "channels": {"type": "array", "items": {"enum": ["sms", "voice", "email"]}, "minItems": 1},
    },
}
CHANNEL_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
ACCEPTED = {
    "type": "object",
    "required": ["id", "recipients", "signature", "verification_code"],
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string"},
        "msgType": {"type": "string"},
        "priority": {"enum": ["critical", "high", "bulk"]},
        "recipients": CHANNEL_COUNTS,
        "signature": {"type": "string", "description": "base64 Ed25519 signature of the canonical alert"},
        "key_id": {"type": "string"},
        "verification_code": {"type": "string"},
        "links": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
STATUS = {
    "type": "object",
    "required": ["id", "settled", "channels"],
    "properties": {
        "id": {"type": "string"},
        "settled": {"type": "boolean", "description": "every delivery has reached a final state"},
        "alert": {"type": "object"},
        "recipients": CHANNEL_COUNTS,
        "channels": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {"total": {"type": "integer"}, "states": CHANNEL_COUNTS},
            },
        },
        "signature": {"type": "string"},
        "key_id": {"type": "string"},
        "verification_code": {"type": "string"},
    },
}
VERIFY = {
    "type": "object",
    "required": ["id", "valid"],
    "properties": {
        "id": {"type": "string"},
        "valid": {"type": "boolean"},
        "key_id": {"type": "string"},
        "algorithm": {"const": "Ed25519"},
        "signature": {"type": "string"},
        "verification_code": {"type": "string"},
        "sender": {"type": "string"},
    },
}
ACK_REQUEST = {
    "type": "object",
    "required": ["official_id"],
    "properties": {"official_id": {"type": "string"}, "channel": {"enum": ["operator", "web"]}},
}
ACK_RECORDED = {
    "type": "object",
    "properties": {
        "alert_id": {"type": "string"},
        "official_id": {"type": "string"},
        "at": {"type": "number"},
        "channel": {"type": "string"},
        "first": {"type": "boolean", "description": "false when the official had already acknowledged"},
    },
}
RATES = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "properties": {
            "acknowledged": {"type": "integer"},
            "recipients": {"type": "integer"},
            "rate": {"type": "number"},
        },
    },
}
ACK_LIST = {
    "type": "object",
    "properties": {
        "alert_id": {"type": "string"},
        "acknowledged": {"type": "array", "items": {"type": "object"}},
        "pending": {"type": "array", "items": {"type": "object"}},
        "by_district": RATES,
        "by_role": RATES,
    },
}
HTML = {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
TOKEN = [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}]
KEYS = {
    "type": "object",
    "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
}
TWILIO_FORM = {
    "application/x-www-form-urlencoded": {"schema": {"type": "object", "additionalProperties": True}}
}
DELIVERY_PARAM = [{"name": "d", "in": "query", "required": True, "schema": {"type": "string"}}]
ALERT_LIST = {
    "type": "object",
    "required": ["alerts"],
    "properties": {
        "alerts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "sent", "sender", "status", "msgType", "event", "settled"],
                "properties": {
                    "id": {"type": "string"},
                    "sent": {"type": "string", "format": "date-time"},
                    "sender": {"type": "string"},
                    "status": {"enum": ["Actual", "Exercise", "Test"]},
                    "msgType": {"enum": ["Alert", "Update", "Cancel"]},
                    "severity": {"type": "string"},
                    "event": {"type": "string"},
                    "headline": {"type": "string"},
                    "recipients": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "settled": {"type": "boolean"},
                    "verification_code": {"type": "string"},
                },
            },
        }
    },
}
AUDIT = {
    "type": "object",
    "required": ["entries"],
    "properties": {
        "entries": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "ts", "actor", "action", "outcome", "detail"],
                "properties": {
                    "id": {"type": "string", "description": "Redis stream id"},
                    "ts": {"type": "number", "description": "unix seconds"},
                    "actor": {"type": "string", "description": "sender name, official id or number ref"},
                    "action": {"type": "string"},
                    "outcome": {"type": "string"},
                    "detail": {"type": "object"},
                },
            },
        }
    },
}
ALERT_ID = [{"name": "alert_id", "in": "path", "required": True, "schema": {"type": "string"}}]


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _err(description: str) -> dict[str, Any]:
    return _json(ERROR, description)


SIGNED = {"403": _err("X-Twilio-Signature missing or wrong; nothing recorded")}


def document() -> dict[str, Any]:
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AlertNet",
            "version": __version__,
            "description": "School Safety Alert Network hub",
        },
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/v1/alerts": {
                "get": {
                    "summary": "The newest alerts first, with who sent them and whether they have settled",
                    "security": bearer,
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20},
                        }
                    ],
                    "responses": {
                        "200": _json(ALERT_LIST, "recent alerts, newest first"),
                        "401": _err("missing or bad token"),
                        "422": _err("limit out of range"),
                    },
                },
                "post": {
                    "summary": "Send a signed alert (director role)",
                    "security": bearer,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": ALERT_REQUEST, "example": example_alert_request()}
                        },
                    },
                    "responses": {
                        "202": _json(ACCEPTED, "accepted, signed and queued for every recipient"),
                        "400": _err("body is not JSON"),
                        "401": _err("missing or bad token"),
                        "403": _err("this sender's role may not send alerts"),
                        "422": _err("every invalid field, named; nothing stored or sent"),
                    },
                },
            },
            "/v1/audit": {
                "get": {
                    "summary": "The audit trail, newest first (director and viewer roles)",
                    "security": bearer,
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                        }
                    ],
                    "responses": {
                        "200": _json(AUDIT, "audit entries, newest first"),
                        "401": _err("missing or bad token"),
                        "403": _err("this sender's role may not read the audit trail"),
                        "422": _err("limit out of range"),
                    },
                }
            },
            "/v1/alerts/{alert_id}": {
                "get": {
                    "summary": "An alert with delivery counts per channel and state",
                    "security": bearer,
                    "parameters": ALERT_ID,
                    "responses": {
                        "200": _json(STATUS, "the alert"),
                        "401": _err("bad token"),
                        "404": _err("no such alert"),
                    },
                }
            },
            "/v1/alerts/{alert_id}/verify": {
                "get": {
                    "summary": "Check a stored alert against its signature",
                    "parameters": ALERT_ID,
                    "responses": {"200": _json(VERIFY, "verification result"), "404": _err("no such alert")},
                }
            },
            "/v1/alerts/{alert_id}/acks": {
                "get": {
                    "summary": "Who acknowledged and who not, rates by district and role (?format=csv)",
                    "security": bearer,
                    "parameters": [
                        *ALERT_ID,
                        {
                            "name": "format",
                            "in": "query",
                            "required": False,
                            "schema": {"enum": ["json", "csv"]},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "the acknowledgement report",
                            "content": {
                                "application/json": {"schema": ACK_LIST},
                                "text/csv": {"schema": {"type": "string"}},
                            },
                        },
                        "401": _err("bad token"),
                        "404": _err("no such alert"),
                    },
                },
                "post": {
                    "summary": "Record an acknowledgement taken by phone or on the web (director role)",
                    "security": bearer,
                    "parameters": ALERT_ID,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": ACK_REQUEST}},
                    },
                    "responses": {
                        "201": _json(ACK_RECORDED, "recorded"),
                        "200": _json(ACK_RECORDED, "already acknowledged; nothing changed"),
                        "401": _err("bad token"),
                        "403": _err("role may not record acknowledgements"),
                        "404": _err("no such alert"),
                        "422": _err("bad official_id or channel"),
                    },
                },
            },
            "/v1/alerts/{alert_id}/all-clear": {
                "post": {
                    "summary": "Send the all-clear (a signed Update to the same officials), end escalation",
                    "security": bearer,
                    "parameters": ALERT_ID,
                    "responses": {
                        "202": _json(ACCEPTED, "the all-clear, accepted"),
                        "401": _err("bad token"),
                        "403": _err("role may not send alerts"),
                        "404": _err("no such alert"),
                    },
                }
            },
            "/ack/{token}": {
                "get": {
                    "summary": "Email ack page: a confirm button; a GET never acknowledges",
                    "parameters": TOKEN,
                    "responses": {"200": HTML, "400": HTML},
                },
                "post": {
                    "summary": "Acknowledge from the email link",
                    "parameters": TOKEN,
                    "responses": {"200": HTML, "400": HTML},
                },
            },
            "/v1/webhooks/twilio/sms": {
                "post": {
                    "summary": "Inbound SMS: 1/ACK/YES/OK or the code acknowledges; STOP/HELP per carriers",
                    "requestBody": {"content": TWILIO_FORM},
                    "responses": {
                        "200": {
                            "description": "TwiML reply",
                            "content": {"application/xml": {"schema": {"type": "string"}}},
                        },
                        **SIGNED,
                    },
                }
            },
            "/v1/webhooks/twilio/gather": {
                "post": {
                    "summary": "Digit pressed during an alert call (1 acknowledges)",
                    "parameters": DELIVERY_PARAM,
                    "requestBody": {"content": TWILIO_FORM},
                    "responses": {
                        "200": {
                            "description": "TwiML",
                            "content": {"application/xml": {"schema": {"type": "string"}}},
                        },
                        **SIGNED,
                    },
                }
            },
            "/v1/keys": {
                "get": {"summary": "Public signing keys", "responses": {"200": _json(KEYS, "keys")}}
            },
            "/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI")},
                }
            },
            "/a/{alert_id}": {
                "get": {
                    "summary": "The alert's page (linked from every message)",
                    "parameters": ALERT_ID,
                    "responses": {
                        "200": {
                            "description": "HTML",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/healthz": {
                "get": {"summary": "Liveness", "responses": {"200": _json({"type": "object"}, "alive")}}
            },
            "/readyz": {
                "get": {
                    "summary": "Redis reachable and workers alive",
                    "responses": {
                        "200": _json({"type": "object"}, "ready"),
                        "503": _json({"type": "object"}, "not ready, with the failing check"),
                    },
                }
            },
            "/v1/webhooks/twilio/status": {
                "post": {
                    "summary": "Twilio message status callback",
                    "parameters": DELIVERY_PARAM,
                    "requestBody": {"content": TWILIO_FORM},
                    "responses": {"204": {"description": "recorded"}, **SIGNED},
                }
            },
            "/v1/webhooks/twilio/call-status": {
                "post": {
                    "summary": "Twilio call status callback",
                    "parameters": DELIVERY_PARAM,
                    "requestBody": {"content": TWILIO_FORM},
                    "responses": {"204": {"description": "recorded"}, **SIGNED},
                }
            },
            "/v1/webhooks/twilio/voice": {
                "post": {
                    "summary": "TwiML for an alert call",
                    "parameters": DELIVERY_PARAM,
                    "requestBody": {"content": TWILIO_FORM},
                    "responses": {
                        "200": {
                            "description": "TwiML",
                            "content": {"application/xml": {"schema": {"type": "string"}}},
                        },
                        **SIGNED,
                    },
                }
            },
            "/v1/webhooks/sendgrid/events": {
                "post": {
                    "summary": "SendGrid Event Webhook",
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}}
                        }
                    },
                    "responses": {
                        "204": {"description": "recorded"},
                        "400": _err("not an array of events"),
                        "403": _err("ECDSA signature missing, stale or wrong; nothing recorded"),
                    },
                }
            },
        },
    }


@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())
