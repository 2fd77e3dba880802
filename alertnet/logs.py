"""structlog JSON logging, configured once at start-up. Phone numbers and emails are masked and
secrets dropped in every record, ours and the libraries' (they go through the same processors)."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

PHONE = re.compile(r"\+\d{8,15}\b|\b\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b")
EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
SECRET_KEYS = ("token", "secret", "password", "authorization", "api_key", "auth")


def mask_phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if len(digits) < 7:
        return match.group(0)
    return "+" + "*" * (len(digits) - 2) + digits[-2:]


def mask_text(text: str) -> str:
    """Mask every phone number and email address in a string."""
    return PHONE.sub(mask_phone, EMAIL.sub(r"\1***@\2", text))


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: ("[redacted]" if _is_secret(k) else _mask(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


def _is_secret(key: object) -> bool:
    name = str(key).lower()
    return any(part in name for part in SECRET_KEYS) and not name.endswith("_hash_prefix")


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: drop secrets, mask phones and emails everywhere in the record."""
    for key in list(event_dict):
        if _is_secret(key):
            event_dict[key] = "[redacted]"
        else:
            event_dict[key] = _mask(event_dict[key])
    return event_dict


def configure_logging(level: str = "INFO") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The SDKs log request bodies (numbers, keys) at INFO/DEBUG; keep them to warnings.
    for noisy in ("twilio", "python_http_client", "aiohttp.access", "rq.worker", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
