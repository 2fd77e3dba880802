"""The responses every operation of a kind can give, added to the OpenAPI document in one place so that no
operation forgets one: 503 while Redis is down (with Retry-After), 401 where a bearer token is needed,
400 and 413 where a body is read, 404 for a path whose parameters name nothing, and aiohttp's own answers
in the shape every error has (`alertnet.api.app.json_errors`)."""

from __future__ import annotations

from typing import Any

from alertnet.api.openapi_schemas import ERROR, error_body

METHODS = ("get", "post", "put", "patch", "delete")
# Answer without reaching Redis, so never 503.
STORELESS = frozenset({("/healthz", "get"), ("/v1/keys", "get"), ("/v1/openapi.json", "get")})
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
UNAVAILABLE = {
    "description": "the hub's store (Redis) is unreachable; nothing recorded; try again after Retry-After",
    "headers": RETRY_AFTER,
    "content": {"application/json": {"schema": ERROR}},
}
UNAUTHORIZED = {
    "description": "no token, not a bearer token, or an unknown or revoked one (audited apart: "
    "GET /v1/audit?stream=refused)",
    "headers": {"WWW-Authenticate": {"required": True, "schema": {"type": "string", "pattern": "^Bearer "}}},
    "content": {"application/json": {"schema": ERROR}},
}
PLAIN = {"text/plain": {"schema": {"type": "string"}}}


def _json_api(path: str) -> bool:
    return path.startswith("/v1/")


def _default(path: str, description: str) -> dict[str, Any]:
    """aiohttp's own answer (no route, a body over the size limit): JSON under /v1, text on pages."""
    if _json_api(path):
        return error_body(description)
    return {"description": description, "content": PLAIN}


def complete(paths: dict[str, Any]) -> dict[str, Any]:
    """Add to every operation the responses its kind can give; what an operation says itself wins."""
    for path, item in paths.items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses: dict[str, Any] = operation["responses"]
            added: dict[str, Any] = {}
            bearer = {"bearer": []} in operation.get("security", [])
            if bearer:
                added["401"] = UNAUTHORIZED
            if "requestBody" in operation:
                added["400"] = _default(path, "the body cannot be read")
                added["413"] = _default(path, "the body is over the size limit (1 MiB); nothing read")
            if "{" in path:
                added["404"] = _default(path, "no such thing (or a path parameter of the wrong form)")
            if (path, method) not in STORELESS:
                added["503"] = UNAVAILABLE
            for status, response in added.items():
                if (status == "401" and bearer) or status not in responses:
                    responses[status] = response
            operation["responses"] = dict(sorted(responses.items()))
    return paths
