"""The contact registry as operators use it: read a CSV file, validate it, import it all or nothing."""

from __future__ import annotations

import codecs
from pathlib import Path

from alertnet.domain.contacts import Official
from alertnet.domain.registry_csv import RegistryError, RowError, parse_registry
from alertnet.store.audit import AuditLog
from alertnet.store.registry import ImportSummary, OfficialStore


def load_registry(path: str | Path, *, default_region: str = "US") -> list[Official]:
    """Read a registry file (UTF-8, with or without BOM) and parse_registry it.

    A file in UTF-16 (with or without its byte-order mark) is refused on line 1 with the reason; every byte
    that is not UTF-8 is reported on its line, in its column. OSError propagates.
    """
    return read_registry(Path(path).read_bytes(), default_region=default_region)


def decode_registry(data: bytes) -> str:
    """The file's text as the import reads it: RegistryError (line 1) for UTF-16; a byte that is not UTF-8
    stays in the text as a lone surrogate, which parse_registry reports on its line, in its column."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _looks_utf16(data):
        mark = "with" if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "without"
        raise RegistryError(
            [
                RowError(
                    1, "row", f"the file is UTF-16 ({mark} a byte-order mark), not UTF-8; save it as UTF-8"
                )
            ]
        )
    # Bytes that are not UTF-8 stay in the text as lone surrogates: parse_registry names each one's cell.
    return data.decode("utf-8", errors="surrogateescape")


def read_registry(data: bytes, *, default_region: str = "US") -> list[Official]:
    """A registry file's bytes, decoded (`decode_registry`) and validated (`parse_registry`)."""
    text = decode_registry(data)
    del data  # a large file is held once, not twice, while it is parsed
    return parse_registry(text, default_region=default_region)


def _looks_utf16(data: bytes) -> bool:
    """Text in UTF-16 without a byte-order mark: a NUL in about every other byte of the first line."""
    head = data[:200]
    return len(head) >= 4 and head.count(0) * 3 >= len(head)


class RegistryService:
    def __init__(self, officials: OfficialStore, audit: AuditLog) -> None:
        self.officials = officials
        self.audit = audit

    async def import_officials(
        self, officials: list[Official], *, full: bool, actor: str = "cli"
    ) -> ImportSummary:
        """Upsert the officials (with `full`, deactivate those missing) in one transaction; audited."""
        summary = await self.officials.import_officials(officials, full=full)
        await self.audit.record(
            actor=actor,
            action="contacts_import",
            outcome="accepted",
            added=summary.added,
            updated=summary.updated,
            deactivated=summary.deactivated,
        )
        return summary

    async def keep_warm(self) -> None:
        """Reload the registry soon after an import, off the request path (runs until cancelled)."""
        await self.officials.keep_warm()
