"""Who is in a message's audience. Pure functions over the registry's `Official`s.

Semantics:

- ``statewide`` means every official;
- otherwise the *selectors* regions, counties, districts, schools and officials (ids) form a union: an
  official is in when their region, county, district or school, or their id, is listed;
- ``roles``, when given, narrows the result to officials with one of those roles; roles alone (no
  statewide, no other selector) means those roles statewide;
- names (and ids) match case-insensitively after trimming surrounding whitespace;
- a school is named by its name alone (every school of that name, in any district) or qualified by its
  district, ``"District / School"`` (that one school: two schools of one name in two districts are two
  schools).

`audience_includes` is membership only; `resolve_audience` also drops inactive officials.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from alertnet.domain.contacts import Official
from alertnet.domain.errors import FieldError

GEO_SELECTORS = ("regions", "counties", "districts", "schools", "officials")
"""Audience selectors that pick people by where they are (or who they are); they form a union."""
LIST_SELECTORS = ("regions", "counties", "districts", "schools", "roles", "officials")
AUDIENCE_KEYS = ("statewide", "regions", "counties", "districts", "schools", "roles", "officials")
SCHOOLS_DESCRIPTION = (
    'A school by its name alone ("Lincoln Elementary": every school of that name, in any district) or '
    'qualified by its district ("Columbia 93 / Lincoln Elementary": that one school).'
)


@dataclass(frozen=True)
class Audience:
    """Who a message is for (the semantics are in this module's docstring)."""

    statewide: bool = False
    regions: tuple[str, ...] = ()
    counties: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    schools: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    officials: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Every key, always (so the signed bytes do not depend on which selectors were used)."""
        return {
            "statewide": self.statewide,
            "regions": list(self.regions),
            "counties": list(self.counties),
            "districts": list(self.districts),
            "schools": list(self.schools),
            "roles": list(self.roles),
            "officials": list(self.officials),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Audience:
        """Rebuild from `to_dict` output (trusted data; missing keys mean empty)."""
        return cls(
            statewide=bool(d.get("statewide", False)),
            regions=tuple(str(v) for v in d.get("regions", ())),
            counties=tuple(str(v) for v in d.get("counties", ())),
            districts=tuple(str(v) for v in d.get("districts", ())),
            schools=tuple(str(v) for v in d.get("schools", ())),
            roles=tuple(str(v) for v in d.get("roles", ())),
            officials=tuple(str(v) for v in d.get("officials", ())),
        )


def _key(text: str) -> str:
    return text.strip().casefold()


def _keys(values: Iterable[str]) -> frozenset[str]:
    return frozenset(_key(v) for v in values)


def qualified_school(text: str) -> list[tuple[str, str]]:
    """Every (district, school) reading of a ``"District / School"`` selector, lower-cased (a name with a
    slash of its own may split in more than one place)."""
    readings = []
    for n, char in enumerate(text):
        if char == "/":
            district, school = _key(text[:n]), _key(text[n + 1 :])
            if district and school:
                readings.append((district, school))
    return readings


def _school_pairs(values: Iterable[str]) -> frozenset[tuple[str, str]]:
    return frozenset(pair for v in values for pair in qualified_school(v))


def _school_matches(schools: frozenset[str], pairs: frozenset[tuple[str, str]], official: Official) -> bool:
    school = _key(official.school)
    return school in schools or (bool(pairs) and (_key(official.district), school) in pairs)


@dataclass(frozen=True)
class _Matcher:
    """An audience with its selectors lower-cased once, so matching an official is a few set lookups."""

    everyone: bool  # statewide, or roles alone
    nobody: bool  # no selector at all (not valid input)
    regions: frozenset[str]
    counties: frozenset[str]
    districts: frozenset[str]
    schools: frozenset[str]
    school_pairs: frozenset[tuple[str, str]]
    officials: frozenset[str]
    roles: frozenset[str]

    @classmethod
    def of(cls, audience: Audience) -> _Matcher:
        regions = _keys(audience.regions)
        counties = _keys(audience.counties)
        districts = _keys(audience.districts)
        schools = _keys(audience.schools)
        officials = _keys(audience.officials)
        roles = _keys(audience.roles)
        geographic = bool(regions or counties or districts or schools or officials)
        return cls(
            everyone=audience.statewide or (not geographic and bool(roles)),
            nobody=not (audience.statewide or geographic or roles),
            regions=regions,
            counties=counties,
            districts=districts,
            schools=schools,
            school_pairs=_school_pairs(audience.schools),
            officials=officials,
            roles=roles,
        )

    def includes(self, official: Official) -> bool:
        if self.nobody:
            return False
        if self.roles and _key(official.role) not in self.roles:
            return False
        if self.everyone:
            return True
        return (
            (bool(self.regions) and _key(official.region) in self.regions)
            or (bool(self.counties) and _key(official.county) in self.counties)
            or (bool(self.districts) and _key(official.district) in self.districts)
            or (bool(self.schools) and _school_matches(self.schools, self.school_pairs, official))
            or (bool(self.officials) and _key(official.id) in self.officials)
        )


def audience_includes(audience: Audience, official: Official) -> bool:
    """Whether ``official`` is in ``audience`` (ignores ``official.active``; see `resolve_audience`)."""
    return _Matcher.of(audience).includes(official)


def resolve_audience(audience: Audience, officials: Iterable[Official]) -> list[Official]:
    """The active officials in ``audience``, ordered by id (stable). One pass; selectors lower-cased once."""
    matcher = _Matcher.of(audience)
    if matcher.nobody:
        return []
    if matcher.everyone and not matcher.roles:
        chosen = [o for o in officials if o.active]
    else:
        include = matcher.includes
        chosen = [o for o in officials if o.active and include(o)]
    chosen.sort(key=_by_id)
    return chosen


def _by_id(official: Official) -> str:
    return official.id


_SELECTORS: tuple[tuple[str, str, Callable[[Official], str]], ...] = (
    ("regions", "no official in region {!r}", lambda o: o.region),
    ("counties", "no official in county {!r}", lambda o: o.county),
    ("districts", "no official in district {!r}", lambda o: o.district),
    ("schools", "no official at school {!r}", lambda o: o.school),
    ("officials", "no official with id {!r}", lambda o: o.id),
    ("roles", "no official with role {!r}", lambda o: str(o.role)),
)


def unknown_selectors(audience: Audience, officials: Iterable[Official]) -> list[FieldError]:
    """Selectors that match nobody in the registry (active or not), e.g. a misspelt county.

    Each is named by its JSON path: ``FieldError("audience.counties[0]", "no official in county 'Boon'")``.
    Matching is case-insensitive and trimmed, as in `resolve_audience`. Roles narrowing a selection to
    nobody is not reported here (each selector exists); the caller checks for an empty result.
    """
    wanted = {name: [_key(v) for v in getattr(audience, name)] for name, _, _ in _SELECTORS}
    if not any(wanted.values()):
        return []
    known: dict[str, set[str]] = {name: set() for name, _, _ in _SELECTORS}
    getters = [(known[name], get) for name, _, get in _SELECTORS if wanted[name]]
    pairs: set[tuple[str, str]] = set()
    for official in officials:
        for bucket, get in getters:
            bucket.add(_key(get(official)))
        if wanted["schools"]:
            pairs.add((_key(official.district), _key(official.school)))
    errors: list[FieldError] = []
    for name, reason, _ in _SELECTORS:
        for n, (raw, key) in enumerate(zip(getattr(audience, name), wanted[name], strict=True)):
            if name == "schools" and any(pair in pairs for pair in qualified_school(raw)):
                continue
            if key not in known[name]:
                errors.append(FieldError(f"audience.{name}[{n}]", reason.format(raw.strip())))
    return errors


def audience_summary(audience: Audience) -> str:
    """A short human description of an audience (for logs, emails and pages)."""
    if audience.statewide:
        where = "statewide"
    else:
        parts = [
            f"{name} {', '.join(values)}"
            for name, values in (
                ("regions", audience.regions),
                ("counties", audience.counties),
                ("districts", audience.districts),
                ("schools", audience.schools),
                ("officials", audience.officials),
            )
            if values
        ]
        where = "; ".join(parts) if parts else "statewide"
    if audience.roles:
        return f"{where} ({', '.join(audience.roles)})"
    return where
