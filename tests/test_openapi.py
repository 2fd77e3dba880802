"""Every route the API serves is described in its OpenAPI document, with each method."""

from __future__ import annotations

from pathlib import Path

from alertnet.api.app import create_app
from alertnet.api.openapi import document
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
