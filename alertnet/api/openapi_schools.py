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
ANSWER: dict[str, Any] = {
    "type": "object",
    "description": "an official's latest answer to the alert's poll",
    "required": ["official_id", "answer", "text", "urgent", "at", "channel"],
    "properties": {
        "official_id": {"type": "string"},
        "name": {"type": "string"},
        "answer": {"type": "integer", "minimum": 1, "maximum": 9, "description": "the answer's number"},
        "text": {"type": "string"},
        "urgent": {"type": "boolean"},
        "at": {"type": "number", "description": "unix time"},
        "channel": {"enum": ["sms", "voice", "email"]},
    },
}
ANSWER_PARAM: list[dict[str, Any]] = [
    {
        "name": "answer",
        "in": "query",
        "required": False,
        "description": "the poll answer the email's link named (shown first; the GET records nothing)",
        "schema": {"type": "string"},
    }
]
ANSWER_FORM: dict[str, Any] = {
    "required": False,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "properties": {"answer": {"type": "string", "description": "the number of a poll answer"}},
            }
        }
    },
}
SCHOOL = {
    "type": "object",
    "required": ["district", "school", "state", "officials", "acknowledged_by"],
    "properties": {
        "district": {"type": "string"},
        "school": {"type": "string"},
        "state": {
            "enum": ["no_answer", "acknowledged", "answered"],
            "description": "answered: someone there answered the alert's poll (the school's answer is the "
            "latest among its officials)",
        },
        "answer": {**ANSWER, "description": "the school's answer: the latest of its officials' answers"},
        "urgent": {"type": "boolean", "description": "the school's answer is urgent (listed first)"},
        "answered_by": {
            "type": "array",
            "description": "each answering official's latest answer, oldest first",
            "items": ANSWER,
        },
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
            "description": "every school the alert targeted (as recorded at send time): those whose latest "
            "poll answer is urgent first, then not reached first",
            "items": SCHOOL,
        },
    },
}


ANSWERS = {
    "type": "object",
    "required": ["id", "poll", "counts", "latest", "history"],
    "properties": {
        "id": {"type": "string"},
        "poll": {"type": ["object", "null"], "description": "the alert's poll as sent (null: it asks none)"},
        "counts": {
            "type": "object",
            "description": "answer number -> officials whose latest answer it is",
            "additionalProperties": {"type": "integer"},
        },
        "latest": {
            "type": "array",
            "description": "each official's latest answer, newest first",
            "items": ANSWER,
        },
        "history": {"type": "array", "description": "every answer given, oldest first", "items": ANSWER},
    },
}


def school_paths() -> dict[str, Any]:
    return {
        "/v1/alerts/{alert_id}/answers": {
            "get": {
                "summary": "The answers to the alert's poll: counts, each official's latest answer, and "
                "every answer given (director and viewer roles)",
                "security": BEARER,
                "parameters": ALERT_ID,
                "responses": {
                    "200": json_body(ANSWERS, "the alert's poll answers"),
                    "401": error_body("missing or bad token"),
                    "403": error_body("this sender's role may not read an alert's answers"),
                    "404": error_body("no such alert"),
                },
            }
        },
        "/v1/alerts/{alert_id}/schools": {
            "get": {
                "summary": "Every school the alert targeted, reached or not, and its poll answer: urgent "
                "answers first, then not reached (director and viewer roles)",
                "security": BEARER,
                "parameters": ALERT_ID,
                "responses": {
                    "200": json_body(SCHOOL_LIST, "the alert's schools"),
                    "401": error_body("missing or bad token"),
                    "403": error_body("this sender's role may not read an alert's schools"),
                    "404": error_body("no such alert"),
                },
            }
        },
    }
