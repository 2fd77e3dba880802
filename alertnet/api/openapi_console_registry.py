"""The console's registry pages in the OpenAPI document: search officials and failing addresses (directors,
viewers); upload a registry CSV, read its report, apply it once (directors). HTML behind the session."""

from __future__ import annotations

from typing import Any

from alertnet.api.openapi_console import FORBIDDEN, SEE_OTHER, SESSION, SIGN_IN, form, page
from alertnet.api.openapi_schemas import HTML

UPLOAD_ID = [{"name": "upload_id", "in": "path", "required": True, "schema": {"type": "string"}}]
QUERY = [
    {
        "name": "q",
        "in": "query",
        "required": False,
        "description": "a case-insensitive part of a name, id, school, district, county or role",
        "schema": {"type": "string"},
    }
]
UPLOAD_FORM = {
    "type": "object",
    "required": ["csrf", "file"],
    "properties": {
        "csrf": {"type": "string"},
        "file": {"type": "string", "format": "binary", "description": "the registry CSV (UTF-8)"},
        "full": {
            "type": "string",
            "enum": ["1"],
            "description": "deactivate officials missing from the file",
        },
    },
}


def console_registry_paths() -> dict[str, Any]:
    return {
        "/console/registry": {
            "get": page(
                "The registry: search officials (numbers masked), failing email addresses, the upload form",
                params=QUERY,
                responses={"403": FORBIDDEN},
            )
        },
        "/console/registry/upload": {
            "post": {
                "summary": "Check a registry CSV: the row-by-row report and what applying would do; nothing "
                "is imported (directors)",
                "security": SESSION,
                "requestBody": {"content": {"multipart/form-data": {"schema": UPLOAD_FORM}}},
                "responses": {
                    "200": {**HTML, "description": "every row valid: the report, with Apply"},
                    "303": SIGN_IN,
                    "400": {**HTML, "description": "no file chosen, or the upload cannot be read"},
                    "403": FORBIDDEN,
                    "413": {**HTML, "description": "the file is over the 1 MiB limit"},
                    "415": {**HTML, "description": "not a CSV file (a workbook, a PDF, another extension)"},
                    "422": {**HTML, "description": "refused rows (line, field, reason): nothing to apply"},
                },
            }
        },
        "/console/registry/uploads/{upload_id}": {
            "get": page(
                "One of the director's uploads: its report, and what the import did once applied",
                params=UPLOAD_ID,
                responses={"403": FORBIDDEN, "404": HTML},
            )
        },
        "/console/registry/uploads/{upload_id}/apply": {
            "post": form(
                "Import the checked file (audited as the director); once",
                params=UPLOAD_ID,
                responses={
                    "303": SEE_OTHER,
                    "404": HTML,
                    "409": {**HTML, "description": "refused rows, or applied already: nothing done"},
                },
            )
        },
    }
