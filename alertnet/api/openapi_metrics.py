"""`GET /metrics`'s part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from alertnet.api.openapi_schemas import error_body


def metrics_paths() -> dict[str, Any]:
    return {
        "/metrics": {
            "get": {
                "summary": "The deployment's metrics in the Prometheus text format (deliveries by channel "
                "and state, provider request times and errors, queue depths, acks and time to ack, "
                "escalation lateness, webhook rejections, messages by kind)",
                "description": "With [metrics] token set, send it as 'Authorization: Bearer <token>' (not a "
                "sender's token); without one, only clients on the API's own host, connecting directly, "
                "may scrape.",
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format 0.0.4",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "401": error_body("[metrics] token is set and this request did not carry it"),
                    "403": error_body("no [metrics] token is set and the client is not on the API's host"),
                },
            }
        }
    }
