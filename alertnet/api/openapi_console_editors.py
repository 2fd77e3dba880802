"""The console's pages for editors of the weekly update and cyber bulletin publishers, in the OpenAPI
document: HTML behind the console's session cookie; every form carries the session's CSRF token."""

from __future__ import annotations

from typing import Any

from alertnet.api.openapi_console import FORBIDDEN, form, page
from alertnet.api.openapi_schemas import HTML

REFUSED_ROLE = {**HTML, "description": "the role may not use this page (the console's refused page)"}
INVALID = {**HTML, "description": "fields to fix, each named on the form"}
NOT_DONE = {**HTML, "description": "not done (the service's reason on the page)"}


def console_editor_paths() -> dict[str, Any]:
    item_id = [{"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    official = [
        {
            "name": "official",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "maxLength": 200},
            "description": "the registry id of the official to preview as",
        }
    ]
    return {
        "/console/digest": {
            "get": page(
                "The weekly update's editor: the next issue, its items, preview, test send, approval "
                "(editors, directors)",
                responses={"403": REFUSED_ROLE},
            )
        },
        "/console/digest/items": {
            "post": form(
                "Add an item (title, body, link, category, audience_kind, audience_values, roles)",
                responses={"422": INVALID},
            )
        },
        "/console/digest/items/{item_id}/withdraw": {
            "post": form(
                "Withdraw an item from its issue", params=item_id, responses={"404": HTML, "409": NOT_DONE}
            )
        },
        "/console/digest/preview": {
            "get": page(
                "The email a chosen official would get from the next issue (sanitized, in a sandbox)",
                params=official,
                responses={
                    "403": REFUSED_ROLE,
                    "404": {**HTML, "description": "no such official"},
                    "422": {**HTML, "description": "no official given"},
                },
            )
        },
        "/console/digest/test": {
            "post": form(
                "Send the next issue, marked [TEST], to up to 5 addresses (to: one a line)",
                responses={"200": HTML, "409": NOT_DONE, "422": INVALID},
            )
        },
        "/console/digest/approve": {
            "post": form(
                "Approve the issue shown (issue); never by the editor who made its last change",
                responses={"409": NOT_DONE},
            )
        },
        "/console/bulletins/new": {
            "get": page(
                "The cyber bulletin form and the recent bulletins (cyber publishers, directors)",
                responses={"403": REFUSED_ROLE},
            )
        },
        "/console/bulletins/check": {
            "post": form(
                "The recipients the TLP label implies, by channel, digest or at once; nothing sent",
                responses={"200": HTML, "422": INVALID},
            )
        },
        "/console/bulletins": {
            "post": form(
                "Publish the checked bulletin (to the form, ?published=id); a form changed since its "
                "check shows its recipients again",
                responses={
                    "403": FORBIDDEN,
                    "409": {**HTML, "description": "changed since checked"},
                    "422": INVALID,
                },
            )
        },
    }
