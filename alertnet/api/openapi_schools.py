"""The schools part of the OpenAPI document: an alert's targeted schools and whether each was reached."""

from __future__ import annotations

from typing import Any

from alertnet.api.openapi_schemas import ALERT_ID, error_body, json_body

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
SCHOOL_COUNTS: dict[str, Any] = {
    "type": "object",
    "description": "The alert's schools: a school is identified by (district, school) and is reached when "
    "one of its officials acknowledges (superintendents and regional coordinators count for no school)",
    "required": ["targeted", "reached", "not_reached"],
    "properties": {
        "targeted": {"type": "integer", "minimum": 0},
        "reached": {"type": "integer", "minimum": 0},
        "not_reached": {"type": "integer", "minimum": 0},
    },
}
SCHOOL = {
    "type": "object",
    "required": ["district", "school", "state", "officials", "acknowledged_by"],
    "properties": {
        "district": {"type": "string"},
        "school": {"type": "string"},
        "state": {"enum": ["no_answer", "acknowledged"]},
        "officials": {"type": "integer", "description": "the school's officials the alert first went to"},
        "first_ack_at": {"type": ["number", "null"], "description": "unix time of the school's first ack"},
        "acknowledged_by": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["official_id", "at", "channel"],
                "properties": {
                    "official_id": {"type": "string"},
                    "name": {"type": "string"},
                    "at": {"type": "number", "description": "unix time"},
                    "channel": {"type": "string"},
                },
            },
        },
    },
}
SCHOOL_LIST = {
    "type": "object",
    "required": ["id", "targeted", "reached", "not_reached", "schools"],
    "properties": {
        "id": {"type": "string"},
        **SCHOOL_COUNTS["properties"],
        "schools": {
            "type": "array",
            "description": "every school the alert targeted (as recorded at send time), not reached first",
            "items": SCHOOL,
        },
    },
}


def school_paths() -> dict[str, Any]:
    return {
        "/v1/alerts/{alert_id}/schools": {
            "get": {
                "summary": "Every school the alert targeted, reached or not, not reached first "
                "(director and viewer roles)",
                "security": BEARER,
                "parameters": ALERT_ID,
                "responses": {
                    "200": json_body(SCHOOL_LIST, "the alert's schools"),
                    "401": error_body("missing or bad token"),
                    "403": error_body("this sender's role may not read an alert's schools"),
                    "404": error_body("no such alert"),
                },
            }
        }
    }
