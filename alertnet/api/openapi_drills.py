"""The drills part of the OpenAPI document: plan a notification drill, send its Exercise alerts, its
after-action report and improvement plan; the plan's figures for a school year."""

from __future__ import annotations

from typing import Any

from alertnet.api.openapi_cap import IDEMPOTENCY_KEY, TAKEN_BEFORE
from alertnet.api.openapi_schemas import ACCEPTED, ALERT_REQUEST, error_body, json_body
from alertnet.domain.drills import DRILL_TYPES, IMPROVEMENT_STATUSES

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
DRILL_ID = [{"name": "drill_id", "in": "path", "required": True, "schema": {"type": "string"}}]
NUMBER = {"type": ["number", "null"]}
DRILL_REQUEST = {
    "type": "object",
    "required": ["name", "type", "window", "audience", "objectives"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 120},
        "type": {"enum": list(DRILL_TYPES)},
        "window": {
            "type": "object",
            "required": ["start", "end"],
            "additionalProperties": False,
            "description": "ISO 8601 date-times with an offset; end in the future, at most 14 days "
            "after start",
            "properties": {
                "start": {"type": "string", "format": "date-time"},
                "end": {"type": "string", "format": "date-time"},
            },
        },
        "audience": ALERT_REQUEST["properties"]["audience"],
        "objectives": {
            "type": "array",
            "minItems": 1,
            "maxItems": 10,
            "items": {"type": "string", "minLength": 1, "maxLength": 300},
        },
    },
}
DRILL = {
    "type": "object",
    "required": ["id", "name", "type", "start", "end", "audience", "objectives", "created_by"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "type": {"type": "string"},
        "start": {"type": "number"},
        "end": {"type": "number"},
        "start_iso": {"type": "string"},
        "end_iso": {"type": "string"},
        "audience": {"type": "object"},
        "objectives": {"type": "array", "items": {"type": "string"}},
        "created_by": {"type": "string"},
        "created_at": {"type": "number"},
    },
}
DRILL_ALERT = {
    **ALERT_REQUEST,
    "description": "as POST /v1/alerts; status Exercise (or left out), msgType Alert (or left out), the "
    "drill's audience unless one is given; sent only inside the drill's window",
    "required": [r for r in ALERT_REQUEST.get("required", []) if r not in ("status", "msgType", "audience")],
}
IMPROVEMENT_FIELDS: dict[str, Any] = {
    "issue": {"type": "string", "minLength": 1, "maxLength": 1000},
    "corrective_action": {"type": "string", "minLength": 1, "maxLength": 1000},
    "owner": {"type": "string", "minLength": 1, "maxLength": 200},
    "due": {"type": "string", "format": "date"},
    "status": {"enum": list(IMPROVEMENT_STATUSES)},
}
IMPROVEMENT = {
    "type": "object",
    "required": ["n", "issue", "corrective_action", "owner", "due", "status"],
    "properties": {"n": {"type": "integer"}, **IMPROVEMENT_FIELDS},
}
REPORT = {
    "type": "object",
    "required": ["drill", "provisional", "schools", "districts", "state", "change", "improvements"],
    "properties": {
        "drill": {"type": "object"},
        "provisional": {"type": "boolean", "description": "the window is still open"},
        "schools": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["district", "school", "participated", "first_ack_seconds"],
                "properties": {"participated": {"type": "boolean"}, "first_ack_seconds": NUMBER},
            },
        },
        "districts": {"type": "array", "items": {"type": "object"}},
        "state": {"type": "object"},
        "change": {"type": ["object", "null"], "description": "against the previous drill of the same type"},
        "improvements": {"type": "array", "items": IMPROVEMENT},
        "definitions": {"type": "object"},
    },
}
PARTICIPATION = {
    "type": "object",
    "required": ["school_year", "figures", "schools", "districts", "state"],
    "properties": {
        "school_year": {"type": "string"},
        "drills": {"type": "integer"},
        "figures": {"type": "object", "description": "what each figure counts, and from what"},
        "schools": {"type": "array", "items": {"type": "object"}},
        "districts": {"type": "array", "items": {"type": "object"}},
        "state": {"type": "object"},
    },
}
CSV = {"schema": {"type": "string"}}
DENIED = {"401": error_body("missing or bad token"), "403": error_body("this sender's role may not")}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _format(values: list[str]) -> dict[str, Any]:
    return {"name": "format", "in": "query", "required": False, "schema": {"enum": values, "default": "json"}}


def drill_paths() -> dict[str, Any]:
    return {
        "/v1/drills": {
            "post": {
                "summary": "Plan a notification drill (director role)",
                "security": BEARER,
                "requestBody": _body(DRILL_REQUEST),
                "responses": {
                    "201": json_body(DRILL, "the drill as planned"),
                    "400": error_body("body is not JSON"),
                    **DENIED,
                    "422": error_body("every invalid field, named"),
                },
            }
        },
        "/v1/drills/{drill_id}/alerts": {
            "post": {
                "summary": "Send one of the drill's Exercise alerts inside its window (director role)",
                "security": BEARER,
                "parameters": [*DRILL_ID, IDEMPOTENCY_KEY],
                "requestBody": _body(DRILL_ALERT),
                "responses": {
                    "200": json_body(
                        TAKEN_BEFORE, "sent before with this Idempotency-Key: nothing sent again"
                    ),
                    "202": json_body(ACCEPTED, "accepted, signed, queued and linked to the drill"),
                    "400": error_body("body is not JSON"),
                    **DENIED,
                    "404": error_body("no such drill"),
                    "409": error_body(
                        "the alert could not be sent as asked, or the request with this "
                        "Idempotency-Key is being sent now"
                    ),
                    "422": error_body(
                        "every invalid field, named (drill_id: the window is not open; an "
                        "Idempotency-Key used for another request)"
                    ),
                },
            }
        },
        "/v1/drills/{drill_id}/report": {
            "get": {
                "summary": "The drill's after-action report from recorded events: per school, district "
                "and state; JSON, CSV or printable HTML (HSEEP AAR/IP) (director and viewer roles)",
                "security": BEARER,
                "parameters": [*DRILL_ID, _format(["json", "csv", "html"])],
                "responses": {
                    "200": {
                        "description": "the report (provisional while the window is open)",
                        "content": {
                            "application/json": {"schema": REPORT},
                            "text/csv": CSV,
                            "text/html": CSV,
                        },
                    },
                    **DENIED,
                    "404": error_body("no such drill"),
                    "422": error_body("format out of range"),
                },
            }
        },
        "/v1/drills/{drill_id}/improvements": {
            "post": {
                "summary": "Add a row to the drill's improvement plan (director role; audited)",
                "security": BEARER,
                "parameters": DRILL_ID,
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["issue", "corrective_action", "owner", "due"],
                        "additionalProperties": False,
                        "properties": IMPROVEMENT_FIELDS,
                    }
                ),
                "responses": {
                    "201": json_body(IMPROVEMENT, "the row as stored"),
                    "400": error_body("body is not JSON"),
                    **DENIED,
                    "404": error_body("no such drill"),
                    "422": error_body("every invalid field, named"),
                },
            }
        },
        "/v1/drills/{drill_id}/improvements/{improvement}": {
            "patch": {
                "summary": "Change a row of the drill's improvement plan (director role; audited)",
                "security": BEARER,
                "parameters": [
                    *DRILL_ID,
                    {"name": "improvement", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                "requestBody": _body(
                    {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": False,
                        "properties": IMPROVEMENT_FIELDS,
                    }
                ),
                "responses": {
                    "200": json_body(IMPROVEMENT, "the row as changed"),
                    "400": error_body("body is not JSON"),
                    **DENIED,
                    "404": error_body("no such drill or row"),
                    "422": error_body("every invalid field, named"),
                },
            }
        },
        "/v1/reports/participation": {
            "get": {
                "summary": "The plan's figures for a school year (July to June), per school, district and "
                "state, each labelled with what it counts (director and viewer roles)",
                "security": BEARER,
                "parameters": [
                    {
                        "name": "school_year",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "example": "2026-27"},
                    },
                    _format(["json", "csv"]),
                ],
                "responses": {
                    "200": {
                        "description": "the figures",
                        "content": {"application/json": {"schema": PARTICIPATION}, "text/csv": CSV},
                    },
                    **DENIED,
                    "422": error_body("school_year or format out of range"),
                },
            }
        },
    }
