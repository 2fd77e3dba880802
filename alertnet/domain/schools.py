"""Schools as the hub counts them (pure).

A school is identified by (district, school): two schools of the same name in different districts are two
schools. Officials above a school (superintendents, regional coordinators) count for their district or
region, never for a school, whatever their school column says. Names compare case-insensitively after
trimming; the names shown are the registry's, as they were when the alert was sent.

A school is *reached* when one of its officials acknowledges the alert. Which school each of an alert's
first recipients belongs to is recorded when the alert is sent (`school_map`), so later registry edits do
not change an alert's list of schools.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from alertnet.domain.acks import Ack
from alertnet.domain.contacts import SCHOOLLESS_ROLES, Official
from alertnet.domain.polls import PollAnswer, latest_answer

SchoolKey = tuple[str, str]
"""(district, school) as the registry writes them."""


def school_of(official: Official | None) -> SchoolKey | None:
    """The official's school, or None for officials above a school (and rows without a school)."""
    if official is None or official.role in SCHOOLLESS_ROLES or not official.school.strip():
        return None
    return official.district.strip(), official.school.strip()


def same_school(key: SchoolKey) -> SchoolKey:
    """The key two spellings of one school share (case and surrounding spaces ignored)."""
    return key[0].strip().casefold(), key[1].strip().casefold()


def encode_school(key: SchoolKey) -> str:
    return json.dumps(list(key), ensure_ascii=False, separators=(",", ":"))


def decode_school(raw: str | bytes) -> SchoolKey:
    district, school = json.loads(raw)
    return str(district), str(school)


def school_map(officials: Iterable[Official]) -> dict[str, str]:
    """Official id -> encoded school, for the officials who belong to a school (stored with the alert).
    Each school is encoded once (a statewide alert has ~20 officials per school, on its POST's path)."""
    encoded: dict[SchoolKey, str] = {}
    found: dict[str, str] = {}
    for o in officials:
        key = school_of(o)
        if key is not None:
            text = encoded.get(key)
            if text is None:
                text = encoded[key] = encode_school(key)
            found[o.id] = text
    return found


def schools_of_acks(
    acked: Iterable[str], targeted: Mapping[str, SchoolKey], registry: Mapping[str, Official]
) -> dict[str, SchoolKey]:
    """Official id -> school for each acknowledging official who belongs to one: as recorded at send time,
    else (someone escalation reached beyond the first recipients) as the registry says now."""
    found: dict[str, SchoolKey] = {}
    for official_id in acked:
        key = targeted.get(official_id) or school_of(registry.get(official_id))
        if key is not None:
            found[official_id] = key
    return found


def reached_schools(ack_schools: Mapping[str, SchoolKey]) -> set[SchoolKey]:
    """The schools (as `same_school` keys) one of whose officials acknowledged."""
    return {same_school(key) for key in ack_schools.values()}


@dataclass
class SchoolState:
    """One targeted school of an alert: its officials the alert went to, and who of it acknowledged."""

    district: str
    school: str
    officials: int = 0
    acks: list[Ack] = field(default_factory=list)

    @property
    def reached(self) -> bool:
        return bool(self.acks)

    def to_dict(self, names: Mapping[str, str], answers: Sequence[PollAnswer] = ()) -> dict[str, object]:
        """`answers`: the latest answer of each of the school's officials who answered the alert's poll;
        the school's own is the latest of them (its state is then "answered")."""
        ordered = sorted(self.acks, key=lambda a: (a.at, a.official_id))
        latest = latest_answer(answers)
        poll: dict[str, object] = {}
        if latest is not None:
            poll = {
                "answer": latest.view(names.get(latest.official_id, "")),
                "urgent": latest.urgent,
                "answered_by": [
                    a.view(names.get(a.official_id, "")) for a in sorted(answers, key=lambda a: a.at)
                ],
            }
        return {
            "district": self.district,
            "school": self.school,
            "state": "answered" if latest else "acknowledged" if self.reached else "no_answer",
            **poll,
            "officials": self.officials,
            "first_ack_at": ordered[0].at if ordered else None,
            "acknowledged_by": [
                {
                    "official_id": a.official_id,
                    "name": names.get(a.official_id, ""),
                    "at": a.at,
                    "channel": a.channel.value,
                }
                for a in ordered
            ],
        }

    def to_json(self, names: Mapping[str, str], answers: Sequence[PollAnswer] = ()) -> str:
        """`to_dict` as JSON text (one element of the view's "schools" array)."""
        return json.dumps(self.to_dict(names, answers))


def school_states(
    targeted: Mapping[str, SchoolKey], acks: Mapping[str, Ack], ack_schools: Mapping[str, SchoolKey]
) -> list[SchoolState]:
    """Every targeted school with its acknowledgements: not reached first, then by district and school.
    An ack by an official of a school the alert did not target (a backup elsewhere) counts for no school."""
    states: dict[SchoolKey, SchoolState] = {}
    for key in targeted.values():
        state = states.setdefault(same_school(key), SchoolState(key[0], key[1]))
        state.officials += 1
    for official_id, key in ack_schools.items():
        found = states.get(same_school(key))
        ack = acks.get(official_id)
        if found is not None and ack is not None:
            found.acks.append(ack)
    return sorted(states.values(), key=lambda s: (s.reached, s.district.casefold(), s.school.casefold()))


def answers_by_school(latest: Iterable[PollAnswer]) -> dict[SchoolKey, list[PollAnswer]]:
    """Officials' latest answers grouped by their school (`same_school` keys); officials above a school
    answer for none."""
    found: dict[SchoolKey, list[PollAnswer]] = {}
    for answer in latest:
        if answer.school is not None:
            found.setdefault(same_school(answer.school), []).append(answer)
    return found


def school_order(
    states: Sequence[SchoolState], latest: Iterable[PollAnswer]
) -> list[tuple[SchoolState, Sequence[PollAnswer]]]:
    """The school list with each school's officials' latest answers: schools whose latest answer is urgent
    first (their order kept), then the rest in `states` order (not reached first)."""
    by_school = answers_by_school(latest)
    if not by_school:  # no poll, or no answer yet: nothing to look up or move
        return [(s, ()) for s in states]
    pairs = [(s, by_school.get(same_school((s.district, s.school)), [])) for s in states]

    def urgent(pair: tuple[SchoolState, Sequence[PollAnswer]]) -> bool:
        found = latest_answer(pair[1])
        return found is not None and found.urgent

    return sorted(pairs, key=lambda pair: not urgent(pair))


def school_rows(
    states: Sequence[SchoolState], names: Mapping[str, str], latest: Iterable[PollAnswer]
) -> list[dict[str, object]]:
    """The school list (`school_order`) as rows."""
    return [s.to_dict(names, answers) for s, answers in school_order(states, latest)]


def school_rows_json(
    states: Sequence[SchoolState], names: Mapping[str, str], latest: Sequence[PollAnswer]
) -> str:
    """`school_rows` as a JSON array, each row from `SchoolState.to_json` (which a view may keep)."""
    if latest:
        texts = [s.to_json(names, answers) for s, answers in school_order(states, latest)]
    else:  # no answers: the states' own order, nothing to look up (a statewide view has ~14,000 rows)
        texts = [s.to_json(names) for s in states]
    return "[" + ", ".join(texts) + "]"


def school_counts(states: Sequence[SchoolState]) -> dict[str, int]:
    reached = sum(1 for s in states if s.reached)
    return {"targeted": len(states), "reached": reached, "not_reached": len(states) - reached}


def order_calls(ids: Sequence[str], registry: Mapping[str, Official], call_order: Sequence[str]) -> list[str]:
    """Calls in order of who matters first: roles in `call_order` first, in that order, then the rest;
    the order within a role is kept (stable)."""
    rank = {role: n for n, role in enumerate(call_order)}
    last = len(rank)

    def key(official_id: str) -> int:
        official = registry.get(official_id)
        return last if official is None else rank.get(official.role.value, last)

    return sorted(ids, key=key)
