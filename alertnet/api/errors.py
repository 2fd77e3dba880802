"""JSON error responses: every 4xx names the field and the reason."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from alertnet.domain.errors import FieldError


def error_response(status: int, error: str, message: str, **extra: Any) -> web.Response:
    body = {"error": error, "message": message, **extra}
    headers = {"WWW-Authenticate": 'Bearer realm="alertnet"'} if status == 401 else None
    return web.json_response(body, status=status, headers=headers)


def field_errors(errors: list[FieldError], status: int = 422) -> web.Response:
    return error_response(
        status,
        "invalid_request",
        "; ".join(f"{e.field}: {e.reason}" for e in errors),
        errors=[{"field": e.field, "reason": e.reason} for e in errors],
    )


async def read_json(request: web.Request) -> Any:
    """The request's JSON body; raises a 400 response naming the problem."""
    try:
        return json.loads(await request.text())
    except RecursionError:
        raise web.HTTPBadRequest(
            text=json.dumps(
                {
                    "error": "invalid_json",
                    "message": "body: nested too deeply",
                    "errors": [{"field": "body", "reason": "nested too deeply"}],
                }
            ),
            content_type="application/json",
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError, LookupError) as error:
        raise web.HTTPBadRequest(
            text=json.dumps(
                {
                    "error": "invalid_json",
                    "message": f"body: not valid JSON ({error})",
                    "errors": [{"field": "body", "reason": f"not valid JSON: {error}"}],
                }
            ),
            content_type="application/json",
        ) from None
