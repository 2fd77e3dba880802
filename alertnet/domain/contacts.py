"""Officials: the people the hub can reach, their roles and subscriptions, and their address per channel.

Pure: no Redis, no network, no files. The registry CSV they come from is parsed in
`alertnet.domain.registry_csv` (its format: contacts/README.md).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from alertnet.domain.messages import Channel


class Role(StrEnum):
    """An official's role; the values are the CSV spellings."""

    SUPERINTENDENT = "superintendent"
    PRINCIPAL = "principal"
    SAFETY_COORDINATOR = "safety_coordinator"
    CYBERSECURITY_COORDINATOR = "cybersecurity_coordinator"
    SRO = "sro"
    REGIONAL_COORDINATOR = "regional_coordinator"
    NURSE = "nurse"
    TRANSPORTATION_DIRECTOR = "transportation_director"


class Subscription(StrEnum):
    """What an official receives besides nothing: critical alerts always, cyber bulletins, the digest."""

    ALERTS = "alerts"
    CYBER = "cyber"
    DIGEST = "digest"


#: Roles above a single school: they may leave the school column empty.
SCHOOLLESS_ROLES = frozenset({Role.SUPERINTENDENT, Role.REGIONAL_COORDINATOR})


@dataclass(frozen=True, slots=True)
class Official:
    """One person the hub can alert. Phones are E.164, the email address is normalized.

    Slotted, and parsed with its repeated values shared (`from_json`): a process may hold a whole
    state's registry of them."""

    id: str
    name: str
    role: Role
    school: str
    district: str
    county: str
    region: str
    mobile: str | None  # E.164, SMS
    voice: str | None  # E.164, voice calls
    email: str | None  # normalized
    backup_id: str | None
    subscriptions: frozenset[Subscription]
    active: bool = True

    def to_json(self) -> str:
        """Compact, stable JSON: sorted keys, sorted subscriptions, no whitespace."""
        return json.dumps(
            {
                "id": self.id,
                "name": self.name,
                "role": self.role.value,
                "school": self.school,
                "district": self.district,
                "county": self.county,
                "region": self.region,
                "mobile": self.mobile,
                "voice": self.voice,
                "email": self.email,
                "backup_id": self.backup_id,
                "subscriptions": sorted(s.value for s in self.subscriptions),
                "active": self.active,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Official:
        """The inverse of to_json; raises ValueError on anything else."""
        try:
            data: Any = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return cls(
                id=_str(data["id"]),
                name=_str(data["name"]),
                role=Role(data["role"]),
                school=sys.intern(_str(data["school"])),
                district=sys.intern(_str(data["district"])),
                county=sys.intern(_str(data["county"])),
                region=sys.intern(_str(data["region"])),
                mobile=_opt_str(data.get("mobile")),
                voice=_opt_str(data.get("voice")),
                email=_opt_str(data.get("email")),
                backup_id=_opt_str(data.get("backup_id")),
                subscriptions=_subscriptions(data.get("subscriptions", ["alerts"])),
                active=bool(data.get("active", True)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not an official's JSON: {error}") from error


_SUBSCRIPTION_SETS: dict[tuple[str, ...], frozenset[Subscription]] = {}


def _subscriptions(values: Any) -> frozenset[Subscription]:
    """The set of subscriptions, one shared object per combination (there are a handful)."""
    key = tuple(values)
    found = _SUBSCRIPTION_SETS.get(key)
    if found is None:
        found = frozenset(Subscription(s) for s in key)
        if len(_SUBSCRIPTION_SETS) < 64:
            _SUBSCRIPTION_SETS[key] = found
    return found


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def address_for(channel: Channel, official: Official) -> str | None:
    """The official's address on `channel` (mobile for SMS, voice number, email), or None."""
    if channel is Channel.SMS:
        return official.mobile
    if channel is Channel.VOICE:
        return official.voice
    return official.email
