"""The OpenAPI 3.1 document served at /v1/openapi.json."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from alertnet import __version__
from alertnet.api.openapi_bulletins import bulletin_paths
from alertnet.api.openapi_cap import IDEMPOTENCY_KEY, with_cap
from alertnet.api.openapi_common import complete
from alertnet.api.openapi_console import console_paths
from alertnet.api.openapi_console_editors import console_editor_paths
from alertnet.api.openapi_console_registry import console_registry_paths
from alertnet.api.openapi_digest import digest_paths
from alertnet.api.openapi_drills import drill_paths
from alertnet.api.openapi_metrics import metrics_paths
from alertnet.api.openapi_schemas import (
    ACCEPTED,
    ACK_LIST,
    ACK_RECORDED,
    ACK_REQUEST,
    ALERT_ID,
    ALERT_LIST,
    ALERT_REQUEST,
    AUDIT,
    DELIVERY_PARAM,
    HTML,
    KEYS,
    PLAIN,
    SIGNED,
    STATUS,
    TOKEN,
    TWILIO_FORM,
    VERIFY,
    error_body,
    json_body,
)
from alertnet.api.openapi_schools import ANSWER_FORM, ANSWER_PARAM, school_paths
from alertnet.domain.alert_request import example_alert_request

routes = web.RouteTableDef()


def document() -> dict[str, Any]:
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "AlertNet",
            "version": __version__,
            "description": "School Safety Alert Network hub",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "console": {"type": "apiKey", "in": "cookie", "name": "an_console"},
            }
        },
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
                        "200": json_body(ALERT_LIST, "recent alerts, newest first"),
                        "401": error_body("missing or bad token"),
                        "422": error_body("limit out of range"),
                    },
                },
                "post": {
                    "summary": "Send a signed alert (director role)",
                    "security": bearer,
                    "parameters": [IDEMPOTENCY_KEY],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": ALERT_REQUEST,
                                "example": example_alert_request(),
                            }
                        },
                    },
                    "responses": {
                        "202": json_body(ACCEPTED, "accepted, signed and queued for every recipient"),
                        "400": error_body("body is not JSON"),
                        "401": error_body("missing or bad token"),
                        "403": error_body("this sender's role may not send alerts"),
                        "409": error_body("a Cancel of an alert already closed; nothing sent"),
                        "422": error_body("every invalid field, named; nothing stored or sent"),
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
                        },
                        {
                            "name": "stream",
                            "in": "query",
                            "required": False,
                            "description": "trail: every accepted or refused action; refused: requests "
                            "refused for missing or bad credentials (capped, rate-limited per client)",
                            "schema": {"enum": ["trail", "refused"], "default": "trail"},
                        },
                    ],
                    "responses": {
                        "200": json_body(AUDIT, "audit entries, newest first"),
                        "401": error_body("missing or bad token"),
                        "403": error_body("this sender's role may not read the audit trail"),
                        "422": error_body("limit or stream out of range"),
                    },
                }
            },
            "/v1/alerts/{alert_id}": {
                "get": {
                    "summary": "An alert with delivery counts per channel and state",
                    "security": bearer,
                    "parameters": ALERT_ID,
                    "responses": {
                        "200": json_body(STATUS, "the alert"),
                        "401": error_body("bad token"),
                        "404": error_body("no such alert"),
                    },
                }
            },
            "/v1/alerts/{alert_id}/verify": {
                "get": {
                    "summary": "Check a stored alert against its signature",
                    "parameters": ALERT_ID,
                    "responses": {
                        "200": json_body(VERIFY, "verification result"),
                        "404": error_body("no such alert"),
                    },
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
                        "401": error_body("bad token"),
                        "404": error_body("no such alert"),
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
                        "201": json_body(ACK_RECORDED, "recorded"),
                        "200": json_body(ACK_RECORDED, "already acknowledged; nothing changed"),
                        "400": error_body("body is not JSON"),
                        "401": error_body("bad token"),
                        "403": error_body("role may not record acknowledgements"),
                        "404": error_body("no such alert"),
                        "422": error_body("bad official_id or channel"),
                    },
                },
            },
            "/v1/alerts/{alert_id}/all-clear": {
                "post": {
                    "summary": "Send the all-clear (a signed Update to the same officials), end escalation",
                    "security": bearer,
                    "parameters": ALERT_ID,
                    "responses": {
                        "202": json_body(ACCEPTED, "the all-clear, accepted"),
                        "401": error_body("bad token"),
                        "403": error_body("role may not send alerts"),
                        "404": error_body("no such alert"),
                        "409": error_body("the alert is already closed (cancelled or cleared); nothing sent"),
                        "422": error_body("nobody the alert reached is still active"),
                    },
                }
            },
            "/ack/{token}": {
                "get": {
                    "summary": "Email ack page: a confirm button (a poll: one per answer, `answer` first); "
                    "a GET never acknowledges",
                    "parameters": TOKEN + ANSWER_PARAM,
                    "responses": {"200": HTML, "400": HTML, "404": PLAIN},
                },
                "post": {
                    "summary": "Acknowledge from the email link; a form field `answer` answers the poll",
                    "parameters": TOKEN,
                    "requestBody": ANSWER_FORM,
                    "responses": {
                        "200": HTML,
                        "400": HTML,
                        "404": PLAIN,
                        "409": {**PLAIN, "description": "the alert no longer takes acknowledgements"},
                    },
                },
            },
            "/v1/webhooks/twilio/sms": {
                "post": {
                    "summary": "Inbound SMS: a bare digit answers the newest open poll; 1/ACK/YES/OK or "
                    "the code acknowledges; STOP/HELP per carriers",
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
                "get": {"summary": "Public signing keys", "responses": {"200": json_body(KEYS, "keys")}}
            },
            "/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": json_body({"type": "object"}, "OpenAPI")},
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
                        },
                        "404": {
                            "description": "no such alert",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "responses": {"200": json_body({"type": "object"}, "alive")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Redis reachable and workers alive",
                    "responses": {
                        "200": json_body({"type": "object"}, "ready"),
                        "503": json_body({"type": "object"}, "not ready, with the failing check"),
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
                        "404": error_body("no such delivery, or its message has no call script"),
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
                        "400": error_body("not an array of events"),
                        "403": error_body("ECDSA signature missing, stale or wrong; nothing recorded"),
                    },
                }
            },
            **school_paths(),
            **drill_paths(),
            **digest_paths(),
            **metrics_paths(),
            **bulletin_paths(),
            **console_paths(),
            **console_registry_paths(),
            **console_editor_paths(),
        },
    }
    complete(with_cap(doc["paths"]))
    return doc


@routes.get("/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document())
