"""The operator console's and the two-person rule's part of the OpenAPI document. Console pages are HTML
behind a session cookie (`an_console`, signed in at /console/sign-in); their forms carry a CSRF token."""

from __future__ import annotations

from typing import Any

from alertnet.api.openapi_schemas import ACCEPTED, ALERT_ID, HTML, error_body, json_body

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
SESSION: list[dict[str, list[str]]] = [{"console": []}]
SIGN_IN = {"description": "not signed in: to the sign-in page (Location: /console/sign-in)"}
SEE_OTHER = {"description": "done: to the page that shows the result (Location)"}
FORBIDDEN = {**HTML, "description": "the CSRF token is missing or wrong, or the role may not do this"}
GONE_OR_DONE = {"404": HTML, "409": {**HTML, "description": "already closed or decided"}}
DRAFT_ID = [{"name": "draft_id", "in": "path", "required": True, "schema": {"type": "string"}}]
HELD = {
    "type": "object",
    "required": ["id", "state", "author", "officials"],
    "properties": {
        "id": {"type": "string"},
        "state": {"enum": ["pending_approval", "approved", "rejected", "sent_unapproved"]},
        "author": {"type": "string"},
        "status": {"type": "string"},
        "event": {"type": "string"},
        "headline": {"type": "string"},
        "officials": {"type": "integer"},
        "created": {"type": "number"},
        "decided_by": {"type": "string"},
        "reason": {"type": "string"},
        "links": {"type": "object"},
    },
}
REFUSED = {
    "401": error_body("no valid bearer token"),
    "403": error_body("not a director, or the alert's own author (nobody approves their own)"),
    "404": error_body("no alert is or was waiting under this id"),
    "409": error_body("already approved, rejected or sent by the fallback"),
}


def page(
    summary: str, *, params: list[dict[str, Any]] | None = None, responses: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": SESSION,
        "parameters": params or [],
        "responses": {"200": HTML, "303": SIGN_IN, **(responses or {})},
    }


def form(
    summary: str, *, params: list[dict[str, Any]] | None = None, responses: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": SESSION,
        "parameters": params or [],
        "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}},
        "responses": {"303": SEE_OTHER, "403": FORBIDDEN, **(responses or {})},
    }


def console_paths() -> dict[str, Any]:
    alert = ALERT_ID
    return {
        "/console": {"get": {"summary": "To /console/", "responses": {"301": {"description": "/console/"}}}},
        "/console/": {"get": page("The console's home: recent alerts, alerts waiting for approval")},
        "/console/sign-in": {
            "get": {"summary": "The sign-in page", "responses": {"200": HTML}},
            "post": {
                **form("Sign in (name, password, csrf)"),
                "security": [],
                "responses": {
                    "303": SEE_OTHER,
                    "401": {**HTML, "description": "wrong name or password"},
                    "403": FORBIDDEN,
                    "429": {**HTML, "description": "too many failures: wait (Retry-After)"},
                },
            },
        },
        "/console/sign-out": {"post": form("Sign out: the session ends at the server")},
        "/console/people": {
            "get": page(
                "Every sender, and a form to add a console user (directors)", responses={"403": FORBIDDEN}
            ),
            "post": form(
                "Add a console user (name, role, password, email); shows the API token once",
                responses={"200": HTML, "422": {**HTML, "description": "a bad name, role or password"}},
            ),
        },
        "/console/people/{name}/unlock": {
            "post": form(
                "Clear a sender's failed sign-ins",
                params=[{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                responses={"404": HTML},
            )
        },
        "/console/alerts/new": {
            "get": page("Choose the new alert's status first", responses={"403": FORBIDDEN})
        },
        "/console/drafts": {
            "post": form("Start a draft with its status fixed (status, csrf)", responses={"409": HTML})
        },
        "/console/drafts/{draft_id}": {
            "get": page("Compose the draft", params=DRAFT_ID, responses={"403": FORBIDDEN, "404": HTML}),
            "post": form(
                "Save the draft (action: template, count or review)",
                params=DRAFT_ID,
                responses={
                    "200": HTML,
                    "404": HTML,
                    "409": HTML,
                    "422": {**HTML, "description": "fields to fix"},
                },
            ),
        },
        "/console/drafts/{draft_id}/count": {
            "get": page(
                "The live recipient count and coverage gap (HTML fragment)",
                params=DRAFT_ID,
                responses={"404": HTML},
            )
        },
        "/console/drafts/{draft_id}/review": {
            "get": page(
                "What each channel will carry, and to how many", params=DRAFT_ID, responses={"404": HTML}
            )
        },
        "/console/drafts/{draft_id}/send": {
            "post": form(
                "Send (an Actual alert needs its event name typed in confirm)",
                params=DRAFT_ID,
                responses={"404": HTML, "409": {**HTML, "description": "not confirmed; nothing sent"}},
            )
        },
        "/console/alerts/{alert_id}": {
            "get": page("An alert's live view", params=alert, responses={"404": HTML})
        },
        "/console/alerts/{alert_id}/events": {
            "get": {
                **page("Server-sent events: the live figures whenever they change", params=alert),
                "responses": {
                    "200": {"description": "text/event-stream", "content": {"text/event-stream": {}}},
                    "303": SIGN_IN,
                    "404": HTML,
                },
            }
        },
        "/console/alerts/{alert_id}/report": {
            "get": page(
                "The after-action report (printable; ?format=csv for CSV)",
                params=alert,
                responses={"404": HTML},
            )
        },
        "/console/alerts/{alert_id}/acks.csv": {
            "get": page("The acknowledgements as CSV", params=alert, responses={"404": HTML})
        },
        "/console/alerts/{alert_id}/remind": {
            "post": form(
                "Send the alert again to those who have not acknowledged",
                params=alert,
                responses={"404": HTML, "409": HTML},
            )
        },
        "/console/alerts/{alert_id}/update": {
            "post": form(
                "A draft Update pre-filled from the alert, with its status (to the draft's page)",
                params=alert,
                responses={"404": HTML, "409": HTML},
            )
        },
        "/console/alerts/{alert_id}/cancel": {
            "post": form(
                "The prepared Cancel: sent in error", params=alert, responses={"404": HTML, "409": HTML}
            )
        },
        "/console/alerts/{alert_id}/all-clear": {
            "post": form("The prepared all-clear", params=alert, responses=GONE_OR_DONE)
        },
        "/console/alerts/{alert_id}/approve": {
            "post": form(
                "A second director approves a held alert", params=alert, responses={"404": HTML, "409": HTML}
            )
        },
        "/console/alerts/{alert_id}/reject": {
            "post": form(
                "A second director rejects a held alert", params=alert, responses={"404": HTML, "409": HTML}
            )
        },
        "/console/static": {
            "get": {
                "summary": "The console's CSS and JavaScript",
                "parameters": [
                    {"name": "filename", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {"description": "the file"},
                    "403": {"description": "the folder itself is not listed"},
                    "404": {"description": "no such file"},
                },
            }
        },
        "/v1/approvals": {
            "get": {
                "summary": "Alerts waiting for a second director, oldest first (director, viewer)",
                "security": BEARER,
                "responses": {
                    "200": json_body(
                        {"type": "object", "properties": {"pending": {"type": "array", "items": HELD}}},
                        "held alerts",
                    ),
                    "401": REFUSED["401"],
                    "403": error_body("role may not see held alerts"),
                },
            }
        },
        "/v1/approvals/{alert_id}": {
            "get": {
                "summary": "One held alert and what became of it",
                "security": BEARER,
                "parameters": alert,
                "responses": {"200": json_body(HELD, "the held alert"), **REFUSED},
            }
        },
        "/v1/alerts/{alert_id}/approve": {
            "post": {
                "summary": "A second director (never the author) sends the held alert",
                "security": BEARER,
                "parameters": alert,
                "responses": {"202": json_body(ACCEPTED, "sent"), **REFUSED},
            }
        },
        "/v1/alerts/{alert_id}/reject": {
            "post": {
                "summary": "A second director refuses the held alert: it is never sent",
                "security": BEARER,
                "parameters": alert,
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"reason": {"type": "string", "maxLength": 500}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": json_body(HELD, "rejected"),
                    "400": error_body("body is not JSON"),
                    **REFUSED,
                },
            }
        },
    }
