"""The audit trail as a hash chain (pure): each entry carries the hash of the one before it, so an edited,
inserted or deleted entry shows; signed checkpoints pin the chain so it cannot be rewritten wholesale.

An entry's hash is SHA-256 over the previous entry's hash and the entry's own fields, each written as its
length in UTF-8 bytes, a colon and the bytes (so no field can run into the next). The first entry's
previous hash is `GENESIS`. A checkpoint is the hub's Ed25519 signature over ``"<entry id> <hash>"``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

GENESIS = "genesis"
FIELDS = ("ts", "actor", "action", "outcome", "detail")


def entry_hash(prev: str, fields: Mapping[str, str]) -> str:
    """The hash an entry with these `fields` carries after an entry whose hash is `prev`."""
    digest = hashlib.sha256()
    for value in (prev, *(fields.get(name, "") for name in FIELDS)):
        data = value.encode("utf-8")
        digest.update(f"{len(data)}:".encode() + data)
    return digest.hexdigest()


def checkpoint_bytes(entry_id: str, hash_: str) -> bytes:
    """What a checkpoint's signature covers."""
    return f"{entry_id} {hash_}".encode()


@dataclass(frozen=True)
class ChainProblem:
    """The first place the chain does not hold: ``kind`` is edited, inserted, deleted or rewritten."""

    entry_id: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.entry_id}: {self.kind}: {self.detail}"


def first_problem(
    entries: Iterable[tuple[str, Mapping[str, str]]],
    *,
    head: str | None = None,
    checkpoints: Mapping[str, str] | None = None,
) -> ChainProblem | None:
    """Walk the entries (id, fields) oldest first; the first one that breaks the chain, or None.

    - edited: the entry's fields no longer give the hash it carries;
    - inserted: the entry does not follow the one before it, but the entry after it does (it was put in);
    - deleted: the entry does not follow the one before it (something between them was taken out), or
      the newest entries are gone (the chain ends before `head`, the hash of the last entry appended);
    - rewritten: the chain holds, but not the hash a signed checkpoint (`checkpoints`: id -> hash) pinned.

    Entries older than the chain (written before it existed: no hash) are skipped.
    """
    checkpoints = checkpoints or {}
    listed = list(entries)
    prev = GENESIS  # the hash the next entry must carry as its previous one
    earlier: str | None = None  # the hash before that (of the entry two back)
    previous_id = "start"
    for n, (entry_id, fields) in enumerate(listed):
        carried_prev = fields.get("prev", "")
        carried = fields.get("hash", "")
        if not carried and prev == GENESIS and "prev" not in fields:
            continue  # written before the chain existed
        if entry_hash(carried_prev, fields) != carried:
            return ChainProblem(entry_id, "edited", "its fields do not give the hash it carries")
        if carried_prev != prev:
            if carried_prev == earlier:
                # It follows the entry two back: the one between, however well it is chained, was put in.
                return ChainProblem(previous_id, "inserted", "the entry after it follows the one before it")
            after = listed[n + 1][1] if n + 1 < len(listed) else None
            if after is not None and after.get("prev") == prev:
                return ChainProblem(
                    entry_id, "inserted", "it does not follow the entry before it; the next does"
                )
            return ChainProblem(
                entry_id, "deleted", "an entry before it is missing (it does not follow the one before)"
            )
        pinned = checkpoints.get(entry_id)
        if pinned is not None and pinned != carried:
            return ChainProblem(
                entry_id, "rewritten", "the chain was rebuilt: a signed checkpoint pins another hash"
            )
        earlier, prev, previous_id = prev, carried, entry_id
    if head is not None and head != prev:
        return ChainProblem(
            previous_id, "deleted", "entries after it are missing (the chain ends before its head)"
        )
    return None
