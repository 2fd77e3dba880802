"""Signing in to the console: passwords (argon2), sign-in with failures slowing further tries per
account and per client address (audited), and `senders unlock` for the night it is needed."""

from __future__ import annotations

import asyncio
import math
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from alertnet.domain.accounts import password_problem, wait_seconds
from alertnet.domain.senders import Sender, SenderRole, validate_sender_name
from alertnet.services.errors import BadRequest, NotFound, NotPermitted
from alertnet.services.senders import SenderService
from alertnet.settings import ConsoleSettings
from alertnet.store.accounts import AccountStore
from alertnet.store.audit import AuditLog
from alertnet.store.registry import SenderStore


class SignInRefused(Exception):
    """Wrong name or password (never which), a disabled account, or a try that must wait `retry_after`."""

    def __init__(self, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AccountService:
    def __init__(
        self, settings: ConsoleSettings, *, accounts: AccountStore, senders: SenderStore, audit: AuditLog
    ) -> None:
        self.settings = settings
        self.accounts = accounts
        self.senders = senders
        self.audit = audit
        self.sender_service = SenderService(senders, audit)
        self.hasher = PasswordHasher()
        # Verified when the name is unknown, so a wrong name costs as long as a wrong password.
        self._decoy = self.hasher.hash("not a password of anyone's")

    async def set_password(self, name: str, password: str, *, actor: str) -> None:
        """Give a sender a console password. Raises NotFound or BadRequest (names the problem)."""
        if await self.senders.get(name) is None:
            raise NotFound(f"name: no sender '{name}'")
        problem = password_problem(password)
        if problem:
            raise BadRequest(f"password: {problem}")
        hashed = await asyncio.to_thread(self.hasher.hash, password)
        await self.accounts.set_password_hash(name, hashed)
        await self.audit.record(actor=actor, action="sender_password_set", outcome="accepted", sender=name)

    async def sign_in(self, name: str, password: str, client: str) -> Sender:
        """The sender these credentials belong to. Raises SignInRefused (audited)."""
        scopes = (f"account:{name}", f"client:{client}")
        now = time.time()
        wait = 0.0
        for scope, free in zip(
            scopes, (self.settings.free_failures, self.settings.client_free_failures), strict=True
        ):
            failures, last = await self.accounts.failures(scope)
            wait = max(
                wait, wait_seconds(failures, last, now, free=free, max_wait=self.settings.max_wait_seconds)
            )
        if wait > 0:
            await self.audit.record(
                actor=name, action="console_sign_in", outcome="throttled", client=client, wait=round(wait, 1)
            )
            raise SignInRefused(
                f"too many failed sign-ins: try again in {math.ceil(wait)} s", retry_after=math.ceil(wait)
            )
        sender = await self.senders.get(name)
        hashed = await self.accounts.password_hash(name) if sender else None
        if not await asyncio.to_thread(self._verify, hashed or self._decoy, password) or hashed is None:
            await self.accounts.fail(*scopes)
            await self.audit.record(actor=name, action="console_sign_in", outcome="refused", client=client)
            raise SignInRefused("wrong name or password")
        if sender is None or not sender.active:
            await self.audit.record(actor=name, action="console_sign_in", outcome="disabled", client=client)
            raise SignInRefused("this account is disabled")
        await self.accounts.clear(*scopes)
        if self.hasher.check_needs_rehash(hashed):
            await self.accounts.set_password_hash(name, await asyncio.to_thread(self.hasher.hash, password))
        await self.audit.record(actor=name, action="console_sign_in", outcome="accepted", client=client)
        return sender

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(hashed, password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def unlock(self, name: str, *, actor: str) -> None:
        """Clear an account's failures (its client addresses' fade on their own)."""
        if await self.senders.get(name) is None:
            raise NotFound(f"name: no sender '{name}'")
        await self.accounts.clear(f"account:{name}")
        await self.audit.record(actor=actor, action="sender_unlock", outcome="accepted", sender=name)

    async def people(self, actor: Sender) -> list[Sender]:
        """Every sender, for a director's console page. Raises NotPermitted (audited) for other roles."""
        await self._require_director(actor, "senders_read")
        return await self.senders.all()

    async def _require_director(self, actor: Sender, action: str) -> None:
        if actor.role is not SenderRole.DIRECTOR:
            await self.audit.record(actor=actor.name, action=action, outcome="forbidden")
            raise NotPermitted(f"sender role '{actor.role.value}' may not manage senders; director may")

    async def create(
        self, actor: Sender, name: str, role: str, password: str, email: str = "", *, official: str = ""
    ) -> str:
        """A director creates a console user (a sender with a password); returns the new API token, shown
        once. Raises NotPermitted or BadRequest (a bad name, role, email or password creates nothing)."""
        await self._require_director(actor, "sender_add")
        try:
            chosen = SenderRole(role)
        except ValueError:
            raise BadRequest(f"role: must be one of {', '.join(r.value for r in SenderRole)}") from None
        problem = password_problem(password) or validate_sender_name(name)
        if problem:
            raise BadRequest(f"{'password' if password_problem(password) else 'name'}: {problem}")
        if await self.senders.get(name) is not None:
            raise BadRequest(f"name: a sender '{name}' exists already (the CLI replaces one)")
        created = await self.sender_service.add(
            name, chosen, actor=actor.name, email=email, official=official
        )
        await self.set_password(name, password, actor=actor.name)
        return created.token

    async def unlock_as(self, actor: Sender, name: str) -> None:
        """`unlock` from the console: directors only."""
        await self._require_director(actor, "sender_unlock")
        await self.unlock(name, actor=actor.name)

    async def signed_in(self, name: str) -> Sender | None:
        """The session's sender while it is still active (a revoked sender's sessions end at once)."""
        sender = await self.senders.get(name)
        return sender if sender is not None and sender.active else None

    async def sign_out(self, sender: Sender, client: str) -> None:
        await self.audit.record(
            actor=sender.name, action="console_sign_out", outcome="accepted", client=client
        )
