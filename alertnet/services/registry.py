"""The contact registry as operators use it: read a CSV file, validate it, import it all or nothing."""

from __future__ import annotations

from pathlib import Path

from alertnet.domain.contacts import Official
from alertnet.domain.registry_csv import RegistryError, RowError, parse_registry
from alertnet.store.audit import AuditLog
from alertnet.store.registry import ImportSummary, OfficialStore


def load_registry(path: str | Path, *, default_region: str = "US") -> list[Official]:
    """Read a registry file (UTF-8, with or without BOM) and parse_registry it.

    Bytes that are not UTF-8 are reported as a RegistryError on their line; OSError propagates.
    """
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise RegistryError(
            [
                RowError(
                    line, "row", f"the file is not UTF-8 (byte 0x{data[error.start]:02x}); save it as UTF-8"
                )
            ]
        ) from None
    return parse_registry(text, default_region=default_region)


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
