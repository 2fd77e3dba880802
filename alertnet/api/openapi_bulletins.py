"""The cyber bulletins' part of the OpenAPI document. The request schema is built from the field lists,
labels, severities, indicator types and limits the validation uses (`alertnet.domain.bulletins`)."""

from __future__ import annotations

from typing import Any

from alertnet.api.openapi_schemas import HTML, TOKEN, error_body, json_body
from alertnet.domain.bulletins import (
    BULLETIN_FIELDS,
    CHANGE_FIELDS,
    INDICATOR_FIELDS,
    MAX_ACTION,
    MAX_BODY,
    MAX_INDICATORS,
    MAX_LIST,
    MAX_REASON,
    MAX_SUMMARY,
    MAX_TITLE,
    REQUIRED_FIELDS,
    IndicatorType,
    Severity,
)
from alertnet.domain.tlp import LABELS

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
LABEL = {
    "type": "string",
    "description": "TLP 2.0 label, exactly as written (or bare: AMBER+STRICT); TLP:WHITE means TLP:CLEAR",
    "examples": list(LABELS),
}
NAMES = {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 200}
INDICATOR_PROPERTIES: dict[str, Any] = {
    "type": {"enum": [t.value for t in IndicatorType]},
    "value": {"type": "string", "minLength": 1},
    "first_seen": {"type": "string", "format": "date-time"},
    "last_seen": {"type": "string", "format": "date-time"},
    "confidence": {"type": "integer", "minimum": 0, "maximum": 100},
    "tlp": {**LABEL, "description": "a stricter label for this indicator alone"},
}
assert set(INDICATOR_PROPERTIES) == set(INDICATOR_FIELDS)
PROPERTIES: dict[str, Any] = {
    "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
    "summary": {"type": "string", "minLength": 1, "maxLength": MAX_SUMMARY},
    "body": {"type": "string", "minLength": 1, "maxLength": MAX_BODY, "description": "Markdown"},
    "tlp": LABEL,
    "severity": {"enum": [s.value for s in Severity]},
    "organizations": {**NAMES, "description": "districts (or the state agency): AMBER, AMBER+STRICT"},
    "officials": {**NAMES, "description": "registry ids of the individuals: RED"},
    "indicators": {
        "type": "array",
        "maxItems": MAX_INDICATORS,
        "items": {
            "type": "object",
            "required": ["type", "value"],
            "additionalProperties": False,
            "properties": INDICATOR_PROPERTIES,
        },
    },
    "actions": {"type": "array", "maxItems": MAX_LIST, "items": {"type": "string", "maxLength": MAX_ACTION}},
    "references": {
        "type": "array",
        "maxItems": MAX_LIST,
        "items": {"type": "string", "pattern": "^https?://"},
    },
}
assert set(PROPERTIES) == set(BULLETIN_FIELDS)
REQUEST = {
    "type": "object",
    "required": list(REQUIRED_FIELDS),
    "additionalProperties": False,
    "properties": PROPERTIES,
}
CHANGE = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {
        "tlp": LABEL,
        "organizations": NAMES,
        "officials": NAMES,
        "reason": {"type": "string", "maxLength": MAX_REASON, "description": "required to widen"},
    },
}
assert set(CHANGE["properties"]) == set(CHANGE_FIELDS)  # type: ignore[call-overload]
BULLETIN = {"type": "object", "required": ["id", "tlp", "state"], "properties": {"id": {"type": "string"}}}
ID = [{"name": "bulletin_id", "in": "path", "required": True, "schema": {"type": "string"}}]
DENIED = {"401": error_body("missing or bad token"), "403": error_body("this sender's role may not")}
MISSING = {"404": error_body("no such bulletin")}
CSV = {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def bulletin_paths() -> dict[str, Any]:
    readable = {**DENIED, **MISSING}
    return {
        "/v1/bulletins": {
            "post": {
                "summary": "Publish a cyber bulletin (cyber_publisher, director): the TLP label decides who",
                "security": BEARER,
                "requestBody": _json(REQUEST),
                "responses": {
                    "201": json_body(BULLETIN, "stored; queued for the digest or sent at once"),
                    **DENIED,
                    "400": error_body("body is not JSON"),
                    "422": error_body("every invalid field, named (recipients outside the label)"),
                },
            },
            "get": {
                "summary": "The bulletins this sender may read, newest first",
                "security": BEARER,
                "responses": {"200": json_body({"type": "object"}, "bulletins"), **DENIED},
            },
        },
        "/v1/bulletins/{bulletin_id}": {
            "get": {
                "summary": "One bulletin (AMBER and stricter: publishers and directors; every read logged)",
                "security": BEARER,
                "parameters": ID,
                "responses": {"200": json_body(BULLETIN, "the bulletin"), **readable},
            },
            "patch": {
                "summary": "Change the label or names (wider: another publisher, with a reason)",
                "security": BEARER,
                "parameters": ID,
                "requestBody": _json(CHANGE),
                "responses": {
                    "200": json_body(BULLETIN, "changed; new recipients queued"),
                    **readable,
                    "409": error_body("retracted, or changed meanwhile"),
                    "422": error_body("every invalid field, named"),
                },
            },
        },
        "/v1/bulletins/{bulletin_id}/retract": {
            "post": {
                "summary": "Retract: links and exports stop; recipients get a notice with the same label",
                "security": BEARER,
                "parameters": ID,
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"reason": {"type": "string", "maxLength": MAX_REASON}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": json_body(BULLETIN, "retracted"),
                    **readable,
                    "409": error_body("changed meanwhile; look at it again"),
                    "422": error_body("reason missing or invalid"),
                },
            }
        },
        "/v1/bulletins/{bulletin_id}/stix": {
            "get": {
                "summary": "A STIX 2.1 bundle with TLP 2.0 marking definitions on every object",
                "security": BEARER,
                "parameters": ID,
                "responses": {
                    "200": json_body({"type": "object"}, "STIX bundle"),
                    **readable,
                    "410": error_body("retracted"),
                },
            }
        },
        "/v1/bulletins/{bulletin_id}/indicators.csv": {
            "get": {
                "summary": "The indicators with their labels, as CSV (formula-safe)",
                "security": BEARER,
                "parameters": ID,
                "responses": {"200": CSV, **readable, "410": error_body("retracted")},
            }
        },
        "/v1/bulletins/{bulletin_id}/access": {
            "get": {
                "summary": "Who opened and downloaded the bulletin (publishers and directors)",
                "security": BEARER,
                "parameters": ID,
                "responses": {"200": json_body({"type": "object"}, "views and downloads"), **readable},
            }
        },
        "/b/{token}": {
            "get": {
                "summary": "An official's personal link to a bulletin (signed, expiring, logged)",
                "parameters": TOKEN,
                "responses": {"200": HTML, "403": HTML, "404": HTML, "410": HTML},
            }
        },
        "/b/{token}/stix": {
            "get": {
                "summary": "The bulletin's STIX bundle, the indicators this official may see",
                "parameters": TOKEN,
                "responses": {
                    "200": json_body({"type": "object"}, "STIX bundle"),
                    "403": HTML,
                    "404": HTML,
                    "410": HTML,
                },
            }
        },
        "/b/{token}/indicators.csv": {
            "get": {
                "summary": "The indicators this official may see, as CSV",
                "parameters": TOKEN,
                "responses": {"200": CSV, "403": HTML, "404": HTML, "410": HTML},
            }
        },
    }
