"""Every route the API serves is described in its OpenAPI document, with each method."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from alertnet.api.app import create_app
from alertnet.api.errors import error_response
from alertnet.api.openapi import document
from alertnet.api.openapi_common import STORELESS
from alertnet.api.openapi_schemas import ERROR
from alertnet.settings import load_settings


def test_every_route_is_documented(tmp_path: Path) -> None:
    app = create_app(load_settings(env={"ALERTNET_DATA_DIR": str(tmp_path)}))
    served = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    paths = document()["paths"]
    documented = {(path, method) for path, methods in paths.items() for method in methods}
    assert served == documented
    for path, method in documented:
        operation = paths[path][method]
        assert operation["summary"] and operation["responses"], (path, method)


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document()["paths"].items()
        for method, operation in item.items()
    ]


def test_every_operation_lists_the_statuses_its_kind_can_give() -> None:
    """401 (with WWW-Authenticate) where a token is needed, 400 and 413 where a body is read, 404 where a
    path parameter names something, 503 with Retry-After wherever Redis is reached; no catch-all."""
    for path, method, operation in _operations():
        responses = operation["responses"]
        label = f"{method.upper()} {path}"
        assert "default" not in responses, label
        assert all(code.isdigit() for code in responses), label
        if {"bearer": []} in operation.get("security", []):
            assert responses["401"]["headers"]["WWW-Authenticate"]["required"], label
        if "requestBody" in operation:
            assert {"400", "413"} <= set(responses), label
        if "{" in path:
            assert "404" in responses, label
        if (path, method) not in STORELESS:
            assert "503" in responses, label
            if path != "/readyz":
                assert responses["503"]["headers"]["Retry-After"]["required"], label


def test_json_errors_are_documented_with_the_shape_the_handlers_send() -> None:
    """Every error response under /v1 is the body of `alertnet.api.errors.error_response`."""
    body = json.loads(error_response(409, "conflict", "alert_id: closed", errors=[]).text or "")
    for path, method, operation in _operations():
        if not path.startswith("/v1/") or path == "/readyz":
            continue
        for code, response in operation["responses"].items():
            if int(code) >= 400 and "application/json" in response.get("content", {}):
                schema = response["content"]["application/json"]["schema"]
                assert schema == ERROR, (method, path, code)
                assert set(schema["required"]) <= set(body), (method, path, code)


# aiohttp_session (the console's sessions) keys the request with a plain string; aiohttp warns about that.
@pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
async def test_with_redis_down_every_operation_answers_its_documented_503(tmp_path: Path) -> None:
    """Nothing listens on port 1: a request that reaches Redis gets a 503 with Retry-After and the error
    body, as documented (a real API, no mock: the store is simply unreachable); every operation that needs
    a bearer token reaches it (the token is looked up). Others may refuse bad input first, as documented."""
    settings = load_settings(env={"ALERTNET_DATA_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:1/0"})
    async with TestClient(TestServer(create_app(settings))) as client:
        for path, method, operation in _operations():
            if (path, method) in STORELESS or path.startswith("/console"):
                continue
            url = path.replace("{number}", "1").replace("{", "").replace("}", "")
            body = b"{}" if method != "get" else None
            response = await client.request(method, url, headers={"Authorization": "Bearer an_x"}, data=body)
            label = f"{method.upper()} {path}"
            assert str(response.status) in operation["responses"], (label, response.status)
            if {"bearer": []} in operation.get("security", []):
                assert response.status == 503, (label, response.status)
            if response.status == 503 and path != "/readyz":  # readiness says which check failed
                assert response.headers.get("Retry-After", "").isdigit(), (label, await response.text())
                assert set(await response.json()) >= {"error", "message"}, label


async def test_a_body_over_the_limit_and_an_unknown_api_path_answer_in_the_documented_json(
    tmp_path: Path,
) -> None:
    """aiohttp's own answers under /v1 (a body over 1 MiB: 413; no such route: 404) have the error body's
    shape, as the document lists them; a page keeps aiohttp's plain text."""
    settings = load_settings(env={"ALERTNET_DATA_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:1/0"})
    responses = document()["paths"]["/v1/webhooks/sendgrid/events"]["post"]["responses"]
    async with TestClient(TestServer(create_app(settings))) as client:
        big = await client.post(
            "/v1/webhooks/sendgrid/events", data=io.BytesIO(b"[" + b" " * (1024 * 1024) + b"]")
        )
        assert big.status == 413 and "413" in responses
        assert (await big.json())["error"] == "too_large"
        missing = await client.get("/v1/no-such-thing")
        assert missing.status == 404 and (await missing.json())["error"] == "not_found"
        page = await client.get("/no-such-page")
        assert page.status == 404 and page.content_type == "text/plain"
