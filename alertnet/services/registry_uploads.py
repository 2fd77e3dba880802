"""The registry in the console: directors and viewers search officials and see the email addresses that
bounce or fail; directors upload a registry CSV, read its row-by-row report (the same decoding and parser
as `alertnet contacts import`) and what it would change, and then apply it, once (audited)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from alertnet.domain.console import mask_number
from alertnet.domain.contacts import Official
from alertnet.domain.registry_csv import RegistryError, RowError, parse_registry
from alertnet.domain.registry_report import (
    RegistryUpload,
    UploadReport,
    import_effect,
    new_upload_id,
    not_csv,
    report,
    safe_text,
    search,
)
from alertnet.domain.senders import Sender, SenderRole
from alertnet.services.digest import DigestService
from alertnet.services.errors import BadRequest, Conflict, NotFound, NotPermitted
from alertnet.services.registry import RegistryService, decode_registry
from alertnet.store.audit import AuditLog
from alertnet.store.registry import OfficialStore
from alertnet.store.registry_uploads import UPLOAD_SECONDS, RegistryUploadStore

READERS = frozenset({SenderRole.DIRECTOR, SenderRole.VIEWER})
DIRECTORS = frozenset({SenderRole.DIRECTOR})
SEARCH_LIMIT = 100
MAX_QUERY = 100
MAX_PROBLEMS = 500


def _validate(filename: str, data: bytes, full: bool) -> tuple[UploadReport, list[Official] | None]:
    """The file decoded and parsed as the command line's import does it (run off the event loop)."""
    try:
        text = decode_registry(data)
    except RegistryError as error:
        return report(filename, "", error.errors, full=full), None
    errors: list[RowError] = []
    officials: list[Official] | None = None
    try:
        officials = parse_registry(text)
    except RegistryError as error:
        errors = error.errors
    return report(filename, text, errors, full=full), officials


def _parsed(data: bytes) -> list[Official]:
    return parse_registry(decode_registry(data))


def _row(official: Official, problems: set[str]) -> dict[str, Any]:
    """An official as the search shows them: phone numbers masked, the address flagged if it fails."""
    email = official.email or ""
    return {
        "id": official.id,
        "name": official.name,
        "role": official.role.value,
        "school": official.school,
        "district": official.district,
        "county": official.county,
        "active": official.active,
        "mobile": mask_number(official.mobile or ""),
        "voice": mask_number(official.voice or ""),
        "email": email,
        "email_problem": email.lower() in problems,
    }


class RegistryUploadService:
    def __init__(
        self,
        *,
        uploads: RegistryUploadStore,
        officials: OfficialStore,
        registry: RegistryService,
        digest: DigestService,
        audit: AuditLog,
    ) -> None:
        self.uploads = uploads
        self.officials = officials
        self.registry = registry
        self.digest = digest
        self.audit = audit

    async def _require(self, actor: Sender, roles: frozenset[SenderRole], action: str) -> None:
        if actor.role not in roles:
            await self.audit.record(actor=actor.name, action=action, outcome="forbidden")
            names = ", ".join(sorted(r.value for r in roles))
            raise NotPermitted(
                f"sender role '{actor.role.value}' may not {action.replace('_', ' ')}; {names} may"
            )

    async def overview(self, actor: Sender, query: str) -> dict[str, Any]:
        """The registry page: totals, the officials `query` finds (at most SEARCH_LIMIT) and the email
        addresses that bounce or fail, with whose they are. Raises NotPermitted (audited)."""
        await self._require(actor, READERS, "read_the_registry")
        query = query.strip()[:MAX_QUERY]
        snapshot = await self.officials.snapshot()
        problems = await self.digest.email_problems(actor)
        failing = {str(p["email"]).lower() for p in problems}
        whose: dict[str, list[str]] = {}
        for official in snapshot.by_id.values():
            if official.email and official.email.lower() in failing:
                whose.setdefault(official.email.lower(), []).append(f"{official.name} ({official.id})")
        matched, found = search(snapshot.by_id.values(), query, SEARCH_LIMIT)
        return {
            "query": query,
            "total": len(snapshot.by_id),
            "active": sum(1 for o in snapshot.by_id.values() if o.active),
            "matched": matched,
            "limit": SEARCH_LIMIT,
            "results": [_row(o, failing) for o in found],
            "problems": [
                {**p, "officials": whose.get(str(p["email"]).lower(), [])} for p in problems[:MAX_PROBLEMS]
            ],
            "problem_count": len(problems),
            "may_upload": actor.role is SenderRole.DIRECTOR,
        }

    async def check_upload(self, actor: Sender) -> None:
        """Raises NotPermitted (audited) unless the sender may upload a registry (directors)."""
        await self._require(actor, DIRECTORS, "upload_contacts")

    async def validate(self, actor: Sender, filename: str, data: bytes, *, full: bool) -> RegistryUpload:
        """Validate an uploaded file and keep it an hour for this director; nothing is imported. Raises
        NotPermitted, or BadRequest (error "not_csv") for a file that is no CSV at all."""
        await self.check_upload(actor)
        filename = safe_text(filename).replace("\\", "/").rsplit("/", 1)[-1][:120] or "upload.csv"
        problem = not_csv(filename, data)
        if problem:
            await self.audit.record(
                actor=actor.name, action="contacts_upload", outcome="refused", why=problem
            )
            raise BadRequest(problem, error="not_csv")
        found, officials = await asyncio.to_thread(_validate, filename, data, full)
        if officials is not None:
            effect = import_effect((await self.officials.snapshot()).by_id, officials, full=full)
            found = replace(found, effect=effect)
        upload = RegistryUpload(id=new_upload_id(), owner=actor.name, created=time.time(), report=found)
        await self.uploads.save(upload, data if found.applicable else None)
        await self.audit.record(
            actor=actor.name,
            action="contacts_upload",
            outcome="validated" if found.applicable else "refused",
            upload=upload.id,
            rows=found.rows,
            refused=found.refused,
            problems=found.error_count,
        )
        return upload

    async def upload(self, actor: Sender, upload_id: str) -> RegistryUpload:
        """One of this director's uploads (others' are not theirs to see or apply). Raises NotPermitted
        or NotFound."""
        await self.check_upload(actor)
        found = await self.uploads.get(upload_id)
        if found is None:
            raise NotFound(
                f"upload: no upload '{upload_id}' (uploads are kept {UPLOAD_SECONDS // 60} minutes); "
                "upload the file again"
            )
        if found.owner != actor.name:
            await self.audit.record(
                actor=actor.name, action="contacts_apply", outcome="forbidden", upload=upload_id
            )
            raise NotPermitted(
                f"upload: '{upload_id}' was uploaded by another director; upload the file yourself"
            )
        return found

    async def apply(self, actor: Sender, upload_id: str) -> RegistryUpload:
        """Import an upload that passed validation, once, through `RegistryService.import_officials`
        (audited as this director). Raises NotPermitted, NotFound, or Conflict (refused rows, or applied
        already: nothing is done)."""
        found = await self.upload(actor, upload_id)
        if not found.report.applicable:
            raise Conflict(
                f"upload: the file has {found.report.error_count} problem(s) in {found.report.refused} "
                "row(s); nothing can be applied: fix them and upload the file again"
            )
        claimed = await self.uploads.claim(upload_id, actor.name)
        if claimed < 0:
            raise NotFound(f"upload: no upload '{upload_id}'; upload the file again")
        if claimed == 0:
            again = await self.uploads.get(upload_id)
            done = again.applied if again is not None else {}
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(done.get("at", time.time()))))
            raise Conflict(
                f"upload: already applied by {done.get('by', actor.name)} at {when}; nothing was done again"
                if done
                else "upload: it is being applied now; nothing was done again"
            )
        try:
            data = await self.uploads.data(upload_id)
            if data is None:
                raise NotFound(f"upload: no upload '{upload_id}'; upload the file again")
            officials = await asyncio.to_thread(_parsed, data)
            summary = await self.registry.import_officials(
                officials, full=found.report.full, actor=actor.name
            )
        except BaseException:
            await self.uploads.release(upload_id)
            raise
        counts = {
            "added": summary.added,
            "updated": summary.updated,
            "unchanged": summary.unchanged,
            "deactivated": summary.deactivated,
        }
        await self.uploads.applied(upload_id, actor.name, counts)
        return await self.upload(actor, upload_id)
