"""What a use case refuses, as exceptions the API, the CLI and the scheduler turn into answers."""

from __future__ import annotations

from alertnet.domain.senders import Sender, SendKind, allowed_kinds


class Forbidden(Exception):
    """The sender's role may not send this kind of message; ``allowed`` lists what it may send."""

    def __init__(self, sender: Sender, kind: SendKind) -> None:
        self.allowed = allowed_kinds(sender.role)
        allowed = ", ".join(self.allowed) or "nothing (read only)"
        super().__init__(
            f"sender role '{sender.role.value}' may not send {kind.value}; it may send: {allowed}"
        )


class NotPermitted(Exception):
    """The sender's role may not do this (the message says which role may); the refusal is audited."""


class Conflict(Exception):
    """The thing is not in a state that allows this (the message names the field and why)."""


class NotFound(Exception):
    """No such thing (the message names the field and the id)."""


class MayNotRead(Exception):
    """The sender's role may not read this (the message says which roles may)."""


class BadSignature(Exception):
    """A provider's webhook request whose signature is missing, stale or does not match."""


class BadRequest(Exception):
    """A request that cannot be read (the message names the field and the reason)."""

    def __init__(self, message: str, error: str = "invalid_request") -> None:
        super().__init__(message)
        self.error = error


class Gone(Exception):
    """It existed and was withdrawn on purpose (a retracted bulletin): its links and exports stop."""
