"""The per-school states of an alert, kept up to date in this process instead of recomputed per read.

`SchoolService.schools` and `.counts` ask for them on every view; a statewide alert has ~50,000 targeted
officials in ~14,000 schools and up to as many acks, which `school_states` walks whole (about 0.3 s with
the reads). Here the alert's schools are indexed once (its school map never changes), each ack is folded
into its school once, as it first appears (`SchoolViewReads` fetches only the new ones), and a read builds
the list of states from those: one entry per school. A school's state (and its row, see `SharedState`)
is shared by every read until an ack for it comes. The answer is `school_states`'s, exactly
(tests/test_school_cache.py compares them); it is what was recorded when the call came, never older.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress, islice

from alertnet.domain.acks import Ack
from alertnet.domain.contacts import Official
from alertnet.domain.polls import PollAnswer
from alertnet.domain.schools import SchoolKey, SchoolState, same_school, schools_of_acks
from alertnet.store.registry import OfficialStore
from alertnet.store.school_cache import CACHED_ALERTS, SchoolViewReads

VIEWED_ALERTS = CACHED_ALERTS  # alerts whose states this process keeps up to date (LRU)


class SharedState(SchoolState):
    """A school's state as every read shares it until the school's acks change (then a new one takes its
    place). Its row (`to_dict`) is built once for the names and answers it is asked with and handed to
    each read that asks with the same: a statewide view has ~14,000 rows of which a few change between
    two reads. Rows are answers to serialize, never changed by their readers. The names mapping is the
    view's own (it only gains entries, and is replaced when the registry changes)."""

    _row: tuple[Mapping[str, str], tuple[PollAnswer, ...], dict[str, object]] | None = None
    _plain: tuple[Mapping[str, str], str] | None = None  # the row's text without answers

    def to_dict(self, names: Mapping[str, str], answers: Sequence[PollAnswer] = ()) -> dict[str, object]:
        asked = tuple(answers)
        row = self._row
        if row is not None and row[0] is names and row[1] == asked:
            return row[2]
        built = super().to_dict(names, answers)
        # The names only grow (an acker's with the ack); an answerer not named yet may be by the next read.
        if all(a.official_id in names for a in asked):
            self._row = (names, asked, built)
        return built

    def to_json(self, names: Mapping[str, str], answers: Sequence[PollAnswer] = ()) -> str:
        """The row's text; kept for the common case (no answers), once per school per read. With answers
        it is encoded from the kept row (`to_dict`)."""
        if answers:
            return super().to_json(names, answers)
        plain = self._plain
        if plain is None or plain[0] is not names:
            plain = self._plain = (names, super().to_json(names))
        return plain[1]


@dataclass
class SchoolIndex:
    """An alert's targeted schools (`same_school` keys), in the order `school_states` meets them: the
    spelling each is shown with (its first official's), how many of its officials the alert went to, and
    its place in the list among schools alike reached or not (district and school, case ignored)."""

    shown: dict[SchoolKey, SchoolKey]
    officials: dict[SchoolKey, int]
    ranked: list[SchoolKey] = field(default_factory=list)  # by district and school, case ignored (stable)
    place: dict[SchoolKey, int] = field(default_factory=dict)  # each school's index in `ranked`

    @classmethod
    def of(cls, targeted: Mapping[str, SchoolKey]) -> SchoolIndex:
        shown: dict[SchoolKey, SchoolKey] = {}
        officials: dict[SchoolKey, int] = {}
        for key in targeted.values():
            same = same_school(key)
            shown.setdefault(same, key)
            officials[same] = officials.get(same, 0) + 1
        ranked = sorted(shown, key=lambda same: (shown[same][0].casefold(), shown[same][1].casefold()))
        return cls(shown, officials, ranked, {same: n for n, same in enumerate(ranked)})

    def state(self, same: SchoolKey, acks: list[Ack]) -> SchoolState:
        district, school = self.shown[same]
        return SharedState(district, school, self.officials[same], list(acks))


@dataclass(frozen=True)
class ViewRead:
    """What one read of the view answers: every targeted school's state in `school_states`'s order, the
    names of those who acknowledged (shared: do not change either) and how many schools are reached."""

    states: list[SchoolState]
    names: Mapping[str, str]
    reached: int

    def counts(self) -> dict[str, int]:
        """`school_counts(states)`, without walking the states."""
        targeted = len(self.states)
        return {"targeted": targeted, "reached": self.reached, "not_reached": targeted - self.reached}


@dataclass
class _View:
    """One alert's acks folded into its schools, and the last states built from them."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    index: SchoolIndex | None = None
    acks: Mapping[str, Ack] | None = None  # the mapping (from `SchoolViewReads`) folded so far
    folded: int = 0
    version: str = ""  # the registry's: it names those who acknowledged and places the non-targeted
    by_school: dict[SchoolKey, list[Ack]] = field(default_factory=dict)  # reached schools only
    names: dict[str, str] = field(default_factory=dict)
    changed: set[SchoolKey] = field(default_factory=set)  # schools with acks folded since the last build
    # Each school's state as last built (never changed once built), in `SchoolIndex.ranked` order, and
    # which of them are reached (1) and not (0), and the other way round: the read's order is then two
    # `compress`es, not a walk over every school.
    ranked_states: list[SchoolState] = field(default_factory=list)
    reached: bytearray = field(default_factory=bytearray)
    unreached: bytearray = field(default_factory=bytearray)
    read: ViewRead | None = None
    read_at: float = float("-inf")  # when the reads `states` reflect began


class SchoolViews:
    def __init__(self, reads: SchoolViewReads, officials: OfficialStore) -> None:
        self.reads = reads
        self.officials = officials
        self._views: OrderedDict[str, _View] = OrderedDict()

    async def states(self, alert_id: str) -> ViewRead:
        """Every targeted school's state and the names of those who acknowledged, with every ack recorded
        before the call. Shared with other callers: the states are never changed once returned (do not
        change them); the names only gain entries.
        Callers for one alert take turns; one that arrived before another's reads began shares its result."""
        arrived = time.monotonic()
        view = self._views.get(alert_id)
        if view is None:
            view = self._views[alert_id] = _View()
            while len(self._views) > VIEWED_ALERTS:
                self._views.popitem(last=False)
        self._views.move_to_end(alert_id)
        async with view.lock:
            if view.read_at <= arrived or view.read is None:
                await self._refresh(alert_id, view)
            assert view.read is not None
            return view.read

    async def _refresh(self, alert_id: str, view: _View) -> None:
        read_at = time.monotonic()
        snapshot = await self.officials.snapshot()
        targeted = await self.reads.schools(alert_id)
        acks = await self.reads.acks(alert_id)
        if view.index is None or not view.index.officials:  # an empty map is read again (not kept)
            view.index = SchoolIndex.of(targeted)
            view.acks = None
        index = view.index
        if view.acks is not acks or view.version != snapshot.version or len(acks) < view.folded:
            view.acks, view.version, view.folded = acks, snapshot.version, 0
            view.by_school, view.names, view.changed = {}, {}, set()
            view.ranked_states = [index.state(same, []) for same in index.ranked]
            view.reached = bytearray(len(index.ranked))
            view.unreached = bytearray(b"\x01" * len(index.ranked))
            view.read = None
        if view.folded < len(acks):
            _fold(view, index, targeted, acks, snapshot.by_id)
        if view.changed or view.read is None:
            for same in view.changed:  # new states for these; the others' are shared with earlier reads
                n = index.place[same]
                view.ranked_states[n] = index.state(same, view.by_school[same])
                view.reached[n], view.unreached[n] = 1, 0
            view.changed = set()
            # `school_states`'s order: not reached first, then reached, each by district and school.
            states = list(compress(view.ranked_states, view.unreached))
            states.extend(compress(view.ranked_states, view.reached))
            view.read = ViewRead(states, view.names, len(view.by_school))
        view.read_at = read_at


def _fold(
    view: _View,
    index: SchoolIndex,
    targeted: Mapping[str, SchoolKey],
    acks: Mapping[str, Ack],
    registry: Mapping[str, Official],
) -> None:
    """Add the acks past `view.folded` (the mapping only grows, in the order they were read) to their
    schools, as `school_states` does with `schools_of_acks`: an ack for a school the alert did not target
    counts for none."""
    new = dict(islice(acks.items(), view.folded, None))
    for official_id, key in schools_of_acks(new, targeted, registry).items():
        same = same_school(key)
        if same in index.officials:
            view.by_school.setdefault(same, []).append(new[official_id])
            view.changed.add(same)
    view.names.update((i, registry[i].name) for i in new if i in registry)
    view.folded = len(acks)
