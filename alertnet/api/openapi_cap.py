"""CAP 1.2's part of the OpenAPI document: the signed CAP document of an alert, the public Atom feed, and
CAP documents taken by ``POST /v1/alerts``."""

from __future__ import annotations

from typing import Any

from alertnet.api.openapi_schemas import ALERT_ID, error_body, json_body

# A bearer token, or none at all for a public alert.
BEARER_OR_NONE: list[dict[str, list[str]]] = [{"bearer": []}, {}]
CAP_BODY = {
    "type": "string",
    "description": "a CAP 1.2 <alert> (OASIS schema); the first English <info> gives the event, urgency, "
    "severity, certainty, headline, description, instruction and expires; <area><geocode>s (FIPS6, SAME) "
    "map to registry counties ([cap.geocodes]); scope Public makes the alert public; no DOCTYPE",
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "JSON requests: the same key from the same sender within 24 hours sends one alert; a "
    "retry of the request gets 200 with the alert it was sent as, the key with another request a 422",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}
TAKEN_BEFORE = {
    "type": "object",
    "required": ["id", "duplicate"],
    "properties": {
        "id": {"type": "string", "description": "the alert the request was sent as the first time"},
        "duplicate": {"const": True},
        "cap": {
            "type": "object",
            "properties": {
                "sender": {"type": "string"},
                "identifier": {"type": "string"},
                "sent": {"type": "string"},
            },
        },
        "links": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def with_cap(paths: dict[str, Any]) -> dict[str, Any]:
    """The document's paths with CAP's added (and CAP input added to ``POST /v1/alerts``)."""
    post = paths["/v1/alerts"]["post"]
    post["requestBody"]["content"]["application/cap+xml"] = {"schema": CAP_BODY}
    post["responses"].update(
        {
            "200": json_body(TAKEN_BEFORE, "sent before, nothing sent again: the same Idempotency-Key "
                             "(JSON), or this CAP message (sender, identifier, sent) taken in before"),
            "400": error_body("the body is not JSON; for CAP, not well-formed XML, or it declares a DOCTYPE"),
            "409": error_body("a Cancel of an alert already closed, or the same CAP message or "
                              "Idempotency-Key being sent now; nothing sent"),
            "422": error_body("every invalid field, named (for CAP: the schema's message, or the geocode "
                              "mapped to no county; an Idempotency-Key used for another request); nothing "
                              "stored or sent"),
        }
    )  # fmt: skip
    paths["/v1/alerts/{alert_id}/cap"] = {
        "get": {
            "summary": "The alert as a signed CAP 1.2 document (XML-DSig, certificate in KeyInfo); no token "
            "needed for a public alert",
            "security": BEARER_OR_NONE,
            "parameters": ALERT_ID,
            "responses": {
                "200": {
                    "description": "the CAP 1.2 document, valid against the OASIS schema, signed",
                    "content": {"application/cap+xml": {"schema": {"type": "string"}}},
                },
                "404": error_body("no such alert (asked with a token)"),
            },
        }
    }
    paths["/v1/alerts.atom"] = {
        "get": {
            "summary": "Atom feed of the public alerts, newest first, linking to their CAP documents",
            "responses": {
                "200": {
                    "description": "the feed",
                    "content": {"application/atom+xml": {"schema": {"type": "string"}}},
                }
            },
        }
    }
    return paths
