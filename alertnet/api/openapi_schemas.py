"""The schemas of the OpenAPI document: request and response bodies, parameters, error shapes.

The alert request's schema comes from `alertnet.domain.alert_request.request_schema`, the same field
lists and enumerations the validation enforces.
"""

from __future__ import annotations

from typing import Any

from alertnet.domain.alert_request import request_schema

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
ALERT_REQUEST = request_schema()
ITEM_AUDIENCE = ALERT_REQUEST["properties"]["audience"]
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
        "schools": {
            "type": "object",
            "description": "the alert's schools (district, school): targeted, reached (one of its officials "
            "acknowledged), not reached; GET /v1/alerts/{alert_id}/schools lists them",
            "properties": {k: {"type": "integer"} for k in ("targeted", "reached", "not_reached")},
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
PLAIN = {"description": "no such alert", "content": {"text/plain": {"schema": {"type": "string"}}}}
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


def json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_body(description: str) -> dict[str, Any]:
    return json_body(ERROR, description)


SIGNED = {
    "400": error_body("malformed form body, or no d (delivery id) where the URL needs one; nothing recorded"),
    "403": error_body("X-Twilio-Signature missing or wrong; nothing recorded"),
}
