"""A registry upload from the console, pure: whether the bytes look like a CSV at all, the row-by-row report
of `parse_registry` (rows read, valid, refused with line, field and reason), what importing the officials
would change in the registry as it is, and the officials a search finds."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alertnet.domain.contacts import Official

# The registry parser's own record reader: the report counts rows exactly as the parser reads them.
from alertnet.domain.registry_csv import RowError, _records

UPLOAD_ID = re.compile(r"^r_[0-9a-f]{32}$")
MAX_SHOWN_ERRORS = 500  # a report lists this many problems; the rest are counted
SEARCH_FIELDS = ("name", "id", "school", "district", "county", "role")
# Files a spreadsheet or word processor saves, by their first bytes: not CSV, whatever the name says.
_SIGNATURES = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx or OpenDocument workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or Word file"),
    (b"%PDF", "a PDF document"),
    (b"{\\rtf", "an RTF document"),
)
_CSV_NAMES = (".csv", ".txt")


def safe_text(text: str) -> str:
    """Text that can be sent as UTF-8 (a byte that was not UTF-8 shows as U+FFFD)."""
    return text.encode("utf-8", "replace").decode("utf-8", "replace")


def new_upload_id() -> str:
    return "r_" + secrets.token_hex(16)


def not_csv(filename: str, data: bytes) -> str:
    """Why the file cannot be a registry CSV ("" if it may be one: the parser then says what is wrong)."""
    for signature, what in _SIGNATURES:
        if data.startswith(signature):
            return f"'{filename}' is {what}, not a CSV file: save it as CSV UTF-8 and upload that"
    if not filename.lower().endswith(_CSV_NAMES):
        return f"'{filename}' is not a .csv file: save the registry as CSV UTF-8 and upload that"
    return ""


@dataclass(frozen=True)
class Effect:
    """What importing the officials would do (or did) to the registry."""

    added: int
    updated: int
    unchanged: int
    deactivated: int

    def to_dict(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deactivated": self.deactivated,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Effect:
        return cls(int(data["added"]), int(data["updated"]), int(data["unchanged"]), int(data["deactivated"]))


def import_effect(existing: Mapping[str, Official], incoming: Sequence[Official], *, full: bool) -> Effect:
    """What `OfficialStore.import_officials` would count, computed without writing: an id not in the
    registry is added, a different record updated, an equal one unchanged; with `full`, every active
    official missing from `incoming` is deactivated."""
    added = updated = unchanged = 0
    ids = set()
    for official in incoming:
        ids.add(official.id)
        before = existing.get(official.id)
        if before is None:
            added += 1
        elif before == official:
            unchanged += 1
        else:
            updated += 1
    deactivated = sum(1 for i, o in existing.items() if o.active and i not in ids) if full else 0
    return Effect(added, updated, unchanged, deactivated)


@dataclass(frozen=True)
class UploadReport:
    """The validation of one uploaded file. `errors` holds the first MAX_SHOWN_ERRORS problems."""

    filename: str
    full: bool
    rows: int  # data rows read (blank lines are not rows)
    valid: int  # rows with no problem
    error_count: int
    errors: tuple[RowError, ...] = ()
    effect: Effect | None = None  # what applying would do, for a file that may be applied

    @property
    def refused(self) -> int:
        return self.rows - self.valid

    @property
    def applicable(self) -> bool:
        return self.error_count == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "full": self.full,
            "rows": self.rows,
            "valid": self.valid,
            "error_count": self.error_count,
            "errors": [[e.line, e.field, e.reason] for e in self.errors],
            "effect": None if self.effect is None else self.effect.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UploadReport:
        effect = data.get("effect")
        return cls(
            filename=str(data["filename"]),
            full=bool(data["full"]),
            rows=int(data["rows"]),
            valid=int(data["valid"]),
            error_count=int(data["error_count"]),
            errors=tuple(RowError(int(line), str(f), str(r)) for line, f, r in data["errors"]),
            effect=None if effect is None else Effect.from_dict(effect),
        )


def report(
    filename: str, text: str, errors: Sequence[RowError], *, full: bool, effect: Effect | None = None
) -> UploadReport:
    """The report of a file `parse_registry` read from `text` (decoded as the import decodes it), with the
    problems it found (none: every row is valid). A problem on the header line refuses every row."""
    lines = [line for line, _ in _records(text.removeprefix("\ufeff"), [])]
    header, data_lines = (lines[0], lines[1:]) if lines else (1, [])
    bad = {e.line for e in errors}
    valid = 0 if header in bad else sum(1 for line in data_lines if line not in bad)
    return UploadReport(
        filename=safe_text(filename),
        full=full,
        rows=len(data_lines),
        valid=valid,
        error_count=len(errors),
        errors=tuple(
            RowError(e.line, safe_text(e.field), safe_text(e.reason)) for e in errors[:MAX_SHOWN_ERRORS]
        ),
        effect=effect if not errors else None,
    )


@dataclass(frozen=True)
class RegistryUpload:
    """An upload kept for its director until applied or expired."""

    id: str
    owner: str
    created: float
    report: UploadReport
    applied: Mapping[str, Any] = field(default_factory=dict)  # by, at and the Effect's counts, once applied


def search(officials: Iterable[Official], query: str, limit: int) -> tuple[int, list[Official]]:
    """How many officials match `query` (a case-insensitive substring of the name, id, school, district,
    county or role) and the first `limit` of them by name and id."""
    needle = query.strip().casefold()
    if not needle:
        return 0, []
    found = [
        o
        for o in officials
        if any(needle in value.casefold() for value in (o.name, o.id, o.school, o.district, o.county, o.role))
    ]
    found.sort(key=lambda o: (o.name.casefold(), o.id))
    return len(found), found[:limit]
