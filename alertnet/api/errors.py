"""JSON error responses: every 4xx names the field and the reason."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from alertnet.domain.errors import FieldError, ValidationError
from alertnet.services.errors import Conflict, Gone, NotFound, NotPermitted


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


def whole_number(raw: str, low: int, high: int) -> int | None:
    """`raw` as a whole number from `low` to `high`, or None: ASCII digits only (str.isdigit also takes
    "³", which int() refuses) and no longer than `high` (int() refuses thousands of digits)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(high)):
        return None
    value = int(raw)
    return value if low <= value <= high else None


def bad_request(error: str, field: str, reason: str, message: str = "") -> web.HTTPBadRequest:
    """A 400 to raise, naming the field and the reason the way every error response does."""
    body = {
        "error": error,
        "message": message or f"{field}: {reason}",
        "errors": [{"field": field, "reason": reason}],
    }
    return web.HTTPBadRequest(text=json.dumps(body), content_type="application/json")


async def read_json(request: web.Request) -> Any:
    """The request's JSON body; raises a 400 response naming the problem."""
    try:
        return json.loads(await request.text())
    except RecursionError:
        raise bad_request("invalid_json", "body", "nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError, LookupError) as error:
        message = f"body: not valid JSON ({error})"
        raise bad_request("invalid_json", "body", f"not valid JSON: {error}", message) from None


ERROR_CODES = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def as_json_error(error: web.HTTPException) -> web.StreamResponse | None:
    """aiohttp's own plain-text answer to an API request (no such route, a body over the size limit) in
    the JSON shape every error has; None for an answer that is already JSON or is not an error."""
    if error.status < 400 or error.content_type == "application/json":
        return None
    response = error_response(error.status, ERROR_CODES.get(error.status, "error"), error.reason)
    for name in ("Allow", "Retry-After"):
        if name in error.headers:
            response.headers[name] = error.headers[name]
    return response


REFUSALS = (NotPermitted, NotFound, Conflict, Gone, ValidationError)
"""What a use case refuses, each turned into its 4xx by `refusal`."""


def refusal(error: Exception) -> web.Response:
    """The 4xx for one of `REFUSALS`, naming the reason (and every bad field for a 422)."""
    if isinstance(error, NotPermitted):
        return error_response(403, "forbidden", str(error))
    if isinstance(error, NotFound):
        return error_response(404, "not_found", str(error))
    if isinstance(error, Conflict):
        return error_response(409, "conflict", str(error))
    if isinstance(error, Gone):
        return error_response(410, "gone", str(error))
    if isinstance(error, ValidationError):
        return field_errors(error.errors)
    raise error
