"""The Traffic Light Protocol 2.0 (FIRST, August 2022) as the hub applies it. Pure.

A label decides who may receive what it marks:

- ``TLP:CLEAR``: every official subscribed to cyber bulletins; may appear on public pages.
- ``TLP:GREEN``: every registered official subscribed to cyber bulletins; never on a public page or feed.
- ``TLP:AMBER`` and ``TLP:AMBER+STRICT``: only officials of the organizations named on the bulletin. An
  organization is a school district (the registry's ``district``); the state agency's own officials are
  one more, named in config.
- ``TLP:RED``: only the individual officials named on the bulletin (registry ids).

`Marking` is a bulletin's label with the names it needs; `Marking.allows` is the one check, used when the
audience is computed and again by the worker just before each send.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

CYBER_SUBSCRIPTION = "cyber"  # contacts.Subscription.CYBER (contacts needs messages, which needs this)


class Official(Protocol):
    """What the rule reads of an official (`alertnet.domain.contacts.Official`)."""

    @property
    def id(self) -> str: ...
    @property
    def district(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def subscriptions(self) -> frozenset[Any]: ...


class Tlp(StrEnum):
    CLEAR = "TLP:CLEAR"
    GREEN = "TLP:GREEN"
    AMBER = "TLP:AMBER"
    AMBER_STRICT = "TLP:AMBER+STRICT"
    RED = "TLP:RED"

    @property
    def rank(self) -> int:
        """How restrictive: CLEAR 0 ... RED 4 (AMBER+STRICT is stricter than AMBER)."""
        return _ORDER.index(self)

    def stricter_than(self, other: Tlp) -> bool:
        return self.rank > other.rank

    @property
    def needs_organizations(self) -> bool:
        return self in (Tlp.AMBER, Tlp.AMBER_STRICT)

    @property
    def needs_officials(self) -> bool:
        return self is Tlp.RED

    @property
    def public(self) -> bool:
        """May appear on a public page (the archive) or a feed."""
        return self is Tlp.CLEAR

    @property
    def may_wait_for_digest(self) -> bool:
        return self in (Tlp.CLEAR, Tlp.GREEN)

    @property
    def sharing_rule(self) -> str:
        return SHARING_RULES[self]

    @property
    def colour(self) -> str:
        """FIRST's colour for the label's text, shown on black (#000000)."""
        return COLOURS[self]

    @property
    def slug(self) -> str:
        """The STIX TLP 2.0 extension's value: clear, green, amber, amber+strict, red."""
        return self.value.removeprefix("TLP:").lower()


_ORDER = (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)
LABELS = tuple(t.value for t in _ORDER)

SHARING_RULES: Mapping[Tlp, str] = {
    Tlp.CLEAR: "Recipients may share this information without limit, subject to copyright.",
    Tlp.GREEN: (
        "Limited disclosure: recipients may share this with peers and partner organizations in the school "
        "safety community, but not on publicly accessible channels."
    ),
    Tlp.AMBER: (
        "Limited disclosure: recipients may share this only on a need-to-know basis within their "
        "organization and with its clients."
    ),
    Tlp.AMBER_STRICT: (
        "Limited disclosure: recipients may share this only on a need-to-know basis within their "
        "organization, and with nobody outside it."
    ),
    Tlp.RED: (
        "For the eyes and ears of the individual recipients only: no further disclosure, not even within "
        "their organization."
    ),
}

# FIRST TLP 2.0 colours (RGB), to be shown on a black background.
COLOURS: Mapping[Tlp, str] = {
    Tlp.CLEAR: "#FFFFFF",
    Tlp.GREEN: "#33FF00",
    Tlp.AMBER: "#FFC000",
    Tlp.AMBER_STRICT: "#FFC000",
    Tlp.RED: "#FF2B2B",
}
BACKGROUND = "#000000"


def parse_tlp(value: object) -> Tlp | None:
    """The label from ``TLP:AMBER``, bare ``AMBER``, or ``TLP:WHITE`` (TLP 1.0: CLEAR). Exact capitals,
    no spaces; None when it is not one."""
    if not isinstance(value, str):
        return None
    label = value if value.startswith("TLP:") else f"TLP:{value}"
    if label == "TLP:WHITE":
        return Tlp.CLEAR
    try:
        return Tlp(label)
    except ValueError:
        return None


def _key(text: str) -> str:
    return text.strip().casefold()


@dataclass(frozen=True)
class Marking:
    """A label with the organizations (districts) and officials (ids) it names.

    ``allows`` is membership: an active official subscribed to cyber bulletins whom the label admits.
    Leaving the cyber list (the hub's own unsubscribe) is checked by the caller, which knows that list.
    """

    tlp: Tlp
    organizations: tuple[str, ...] = ()
    officials: tuple[str, ...] = ()

    def allows(self, official: Official) -> bool:
        if not official.active or CYBER_SUBSCRIPTION not in official.subscriptions:
            return False
        if self.tlp.needs_officials:
            return _key(official.id) in {_key(o) for o in self.officials}
        if self.tlp.needs_organizations:
            return _key(official.district) in {_key(o) for o in self.organizations}
        return True

    def why_not(self, official: Official) -> str:
        """Why `allows` refused `official` (for the refusal's record)."""
        if not official.active:
            return "the official is inactive"
        if CYBER_SUBSCRIPTION not in official.subscriptions:
            return "the official is not subscribed to cyber bulletins"
        if self.tlp.needs_officials:
            return f"{self.tlp.value} names only {len(self.officials)} officials and not this one"
        if self.tlp.needs_organizations:
            return f"{self.tlp.value} is limited to {', '.join(self.organizations)}"
        return "allowed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "tlp": self.tlp.value,
            "organizations": list(self.organizations),
            "officials": list(self.officials),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Marking:
        return cls(
            tlp=Tlp(data["tlp"]),
            organizations=tuple(str(o) for o in data.get("organizations", ())),
            officials=tuple(str(o) for o in data.get("officials", ())),
        )

    def widened_by(self, new: Marking, officials: Iterable[Official]) -> list[str]:
        """What `new` lets through that this marking did not (empty: the same or stricter): a less
        restrictive label, or officials of the registry it admits and this one did not."""
        wider: list[str] = []
        if self.tlp.stricter_than(new.tlp):
            wider.append(f"tlp: {self.tlp.value} to the less restrictive {new.tlp.value}")
        added = [o.id for o in officials if new.allows(o) and not self.allows(o)]
        if added:
            shown = ", ".join(sorted(added)[:5]) + (" ..." if len(added) > 5 else "")
            wider.append(f"recipients: admits {len(added)} officials it did not ({shown})")
        return wider


def allowed_recipients(marking: Marking, officials: Iterable[Official], *, left: frozenset[str]) -> list[str]:
    """The ids of the officials `marking` admits who have not left the cyber list, sorted."""
    return sorted(o.id for o in officials if o.id not in left and marking.allows(o))
