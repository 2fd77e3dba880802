"""The weekly update's part of the OpenAPI document. The item schema is built from the same field list,
categories and limits the validation uses (`alertnet.domain.digest`), so the two cannot disagree."""

from __future__ import annotations

from typing import Any

from alertnet.api.openapi_schemas import HTML, ITEM_AUDIENCE, error_body, json_body
from alertnet.domain.digest import CATEGORIES, ITEM_FIELDS, MAX_BODY, MAX_LINK, MAX_TITLE, TEST_MAX_ADDRESSES

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
PLAIN = {"text/plain": {"schema": {"type": "string"}}}
ITEM_PROPERTIES: dict[str, Any] = {
    "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
    "body": {"type": "string", "minLength": 1, "maxLength": MAX_BODY, "description": "Markdown"},
    "link": {"type": "string", "maxLength": MAX_LINK, "pattern": "^https?://"},
    "category": {"enum": list(CATEGORIES)},
    "audience": ITEM_AUDIENCE,
    "position": {"type": "integer", "minimum": 0, "maximum": 10000},
}
assert set(ITEM_PROPERTIES) == set(ITEM_FIELDS)
ITEM_REQUEST = {
    "type": "object",
    "required": ["title", "body", "category"],
    "additionalProperties": False,
    "properties": ITEM_PROPERTIES,
}
ITEM_PATCH = {**ITEM_REQUEST, "required": [], "minProperties": 1}
ITEM = {
    "type": "object",
    "required": ["id", "issue", "title", "body", "category", "audience", "position"],
    "properties": {
        "id": {"type": "string"},
        "issue": {"type": "integer"},
        "title": {"type": "string"},
        "body": {"type": "string"},
        "link": {"type": "string"},
        "category": {"type": "string"},
        "audience": {"type": "object"},
        "position": {"type": "integer"},
        "bulletin": {"type": "string"},
        "tlp": {"type": "string"},
        "links": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
ITEMS = {
    "type": "object",
    "required": ["issue", "items"],
    "properties": {"issue": {"type": "integer"}, "items": {"type": "array", "items": ITEM}},
}
WITHDRAWN = {
    "type": "object",
    "required": ["withdrawn", "issue"],
    "properties": {"withdrawn": {"type": "string"}, "issue": {"type": "integer"}},
}
ISSUE = {
    "type": "object",
    "required": ["number", "state"],
    "properties": {
        "number": {"type": "integer"},
        "state": {"type": "string"},
        "approved": {"type": "boolean"},
        "items": {"type": "array", "items": {"type": "object"}},
    },
}
PREVIEW = {
    "type": "object",
    "required": ["issue", "official", "would_receive", "items", "subject", "html", "text"],
    "properties": {
        "issue": {"type": "integer"},
        "official": {"type": "string"},
        "would_receive": {"type": "boolean"},
        "items": {"type": "array", "items": {"type": "string"}},
        "subject": {"type": "string"},
        "html": {"type": "string"},
        "text": {"type": "string"},
    },
}
TEST_SENT = {
    "type": "object",
    "required": ["issue", "sent_to", "subject", "today"],
    "properties": {
        "issue": {"type": "integer"},
        "sent_to": {"type": "array", "items": {"type": "string"}},
        "subject": {"type": "string"},
        "today": {"type": "integer"},
    },
}
PROBLEMS = {
    "type": "object",
    "required": ["addresses"],
    "properties": {
        "addresses": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["email", "suppressed"],
                "properties": {"email": {"type": "string"}, "suppressed": {"type": "boolean"}},
            },
        }
    },
}
NUMBER = [{"name": "number", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]
ITEM_ID = [{"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}]
DENIED = {"401": error_body("missing or bad token"), "403": error_body("this sender's role may not")}
EDIT = {**DENIED, "400": error_body("body is not JSON"), "422": error_body("every invalid field, named")}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def digest_paths() -> dict[str, Any]:
    return {
        "/v1/digest/items": {
            "get": {
                "summary": "The open issue's items in order (?issue=N for another issue)",
                "security": BEARER,
                "parameters": [
                    {"name": "issue", "in": "query", "required": False, "schema": {"type": "integer"}}
                ],
                "responses": {"200": json_body(ITEMS, "the items"), **DENIED, "422": error_body("bad issue")},
            },
            "post": {
                "summary": "Add an item to the open issue (editor, director)",
                "security": BEARER,
                "requestBody": _json(ITEM_REQUEST),
                "responses": {"201": json_body(ITEM, "the item and the issue it went into"), **EDIT},
            },
        },
        "/v1/digest/items/{item_id}": {
            "patch": {
                "summary": "Change an item (voids its issue's approval)",
                "security": BEARER,
                "parameters": ITEM_ID,
                "requestBody": _json(ITEM_PATCH),
                "responses": {
                    "200": json_body(ITEM, "the item"),
                    **EDIT,
                    "404": error_body("no such item"),
                    "409": error_body("its issue went out"),
                },
            },
            "delete": {
                "summary": "Withdraw an item (voids its issue's approval)",
                "security": BEARER,
                "parameters": ITEM_ID,
                "responses": {
                    "200": json_body(WITHDRAWN, "withdrawn"),
                    **DENIED,
                    "404": error_body("no such item"),
                    "409": error_body("its issue went out"),
                },
            },
        },
        "/v1/digest/issues/next": {
            "get": {
                "summary": "The next issue to go out: items, send time, cut-off, approval",
                "security": BEARER,
                "responses": {"200": json_body(ISSUE, "the issue"), **DENIED},
            }
        },
        "/v1/digest/issues/next/preview": {
            "get": {
                "summary": "Exactly the email one official would get from the next issue",
                "security": BEARER,
                "parameters": [
                    {"name": "official", "in": "query", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": json_body(PREVIEW, "subject, html, text"),
                    **DENIED,
                    "400": error_body("official is required"),
                    "404": error_body("no such official"),
                },
            }
        },
        "/v1/digest/issues/next/approve": {
            "post": {
                "summary": "Approve the next issue as it stands (not by whoever changed it last)",
                "security": BEARER,
                "responses": {"200": json_body(ISSUE, "approved"), **DENIED, "409": error_body("may not")},
            }
        },
        "/v1/digest/issues/next/test": {
            "post": {
                "summary": f"Send the next issue marked [TEST] to at most {TEST_MAX_ADDRESSES} addresses",
                "security": BEARER,
                "requestBody": _json(
                    {
                        "type": "object",
                        "required": ["to"],
                        "properties": {
                            "to": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": TEST_MAX_ADDRESSES,
                                "items": {"type": "string", "format": "email"},
                            }
                        },
                    }
                ),
                "responses": {
                    "202": json_body(TEST_SENT, "sent to those addresses"),
                    **EDIT,
                    "409": error_body("no items, or the daily limit"),
                },
            }
        },
        "/v1/digest/issues/{number}": {
            "get": {
                "summary": "One issue",
                "security": BEARER,
                "parameters": NUMBER,
                "responses": {
                    "200": json_body(ISSUE, "the issue"),
                    **DENIED,
                    "404": error_body("bad number"),
                },
            }
        },
        **{
            f"/v1/digest/issues/{{number}}/{verb}": {
                "post": {
                    "summary": summary,
                    "security": BEARER,
                    "parameters": NUMBER,
                    "responses": {
                        ok: json_body(ISSUE, "done"),
                        **DENIED,
                        "404": error_body("bad number"),
                        "409": error_body("not in a state that allows it"),
                    },
                }
            }
            for verb, summary, ok in (
                ("approve", "Approve a given issue (a held one)", "200"),
                ("release", "Send a held, approved issue now", "202"),
                ("skip", "Skip a held issue: it is never sent", "200"),
            )
        },
        "/v1/registry/email-problems": {
            "get": {
                "summary": "Addresses that bounce or complain, and whether suppressed (director, viewer)",
                "security": BEARER,
                "responses": {"200": json_body(PROBLEMS, "addresses"), **DENIED},
            }
        },
        "/digest/": {"get": {"summary": "The weekly update's public archive", "responses": {"200": HTML}}},
        "/digest/{number}": {
            "get": {
                "summary": "A sent issue's public page (statewide items only)",
                "parameters": NUMBER,
                "responses": {"200": HTML, "404": {"description": "no such issue", "content": PLAIN}},
            }
        },
        "/u/{token}": {
            "get": {
                "summary": "An unsubscribe link's page: one button; opening it changes nothing",
                "parameters": [
                    {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": HTML, "404": HTML},
            },
            "post": {
                "summary": "RFC 8058 one-click unsubscribe (List-Unsubscribe=One-Click), or action=subscribe",
                "parameters": [
                    {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "List-Unsubscribe": {"const": "One-Click"},
                                    "action": {"enum": ["unsubscribe", "subscribe"]},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": HTML,
                    "400": {"description": "neither one-click nor an action", "content": PLAIN},
                    "404": HTML,
                },
            },
        },
    }
