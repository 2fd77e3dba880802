"""A synthetic statewide registry (CSV text) for demos, tests and the benchmark. Pure and deterministic."""

from __future__ import annotations

import csv
import io
import random
import re

from alertnet.domain.contacts import Role
from alertnet.domain.registry_csv import COLUMNS


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(word.strip() for word in text.split(sep) if word.strip())


#: Missouri's regions: name, counties, area codes of its phones (the first is the most common).
_REGIONS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = tuple(
    (name, _words(counties, "|"), _words(codes))
    for name, counties, codes in (
        ("Central", "Boone|Cole|Callaway|Camden|Cooper|Miller|Moniteau|Morgan|Osage|Pulaski|Howard|"
         "Laclede|Maries|Phelps", "573"),
        ("Kansas City", "Jackson|Clay|Platte|Cass|Ray|Lafayette|Johnson|Bates", "816 660"),
        ("Southeast", "Cape Girardeau|Scott|Stoddard|Butler|Dunklin|New Madrid|Pemiscot|Mississippi|Perry|"
         "Bollinger|Wayne|Ripley", "573"),
        ("St. Louis", "St. Louis|St. Louis City|St. Charles|Jefferson|Franklin|Lincoln|Warren", "314 636"),
        ("Southwest", "Greene|Jasper|Newton|Christian|Taney|Barry|Lawrence|Stone|Webster|McDonald", "417"),
        ("Northeast", "Adair|Marion|Macon|Randolph|Audrain|Monroe|Ralls|Lewis|Pike|Shelby", "660 573"),
        ("Northwest", "Buchanan|Nodaway|Andrew|Clinton|Daviess|Caldwell|Harrison|Gentry|Livingston|Grundy",
         "816 660"),
        ("West Central", "Pettis|Henry|Benton|St. Clair|Saline|Vernon|Cedar|Hickory", "660 417"),
        ("South Central", "Howell|Texas|Dent|Shannon|Oregon|Wright|Douglas|Ozark", "417 573"),
    )
)  # fmt: skip
AREA_CODES: tuple[str, ...] = ("573", "816", "660", "314", "636", "417")

#: Central-office codes the generator draws from: 200-999 less the N11 service codes, 555 and a few special
#: ones. tests/test_contacts.py checks that every area code/exchange pair is a valid number to phonenumbers.
EXCHANGES: tuple[str, ...] = tuple(
    str(e) for e in range(200, 1000) if e % 100 != 11 and e not in (555, 950, 958, 959, 976)
)
_LINES = 10_000
_CAPACITY = len(EXCHANGES) * _LINES  # numbers per area code
_STRIDE = 7_654_321  # coprime with _CAPACITY, so k -> (k * _STRIDE + offset) % _CAPACITY is a permutation

_FIRST = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard "
    "Susan Joseph Jessica Thomas Sarah Carlos Karen Daniel Lisa Matthew Nancy Anthony Betty Mark "
    "Sandra Steven Ashley Andrew Kimberly Joshua Emily Kevin Donna Brian Michelle Aisha Mei Luis "
    "Priya Tyrone Hannah Ethan Grace Noah Olivia Dmitri Fatima"
)
_LAST = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Wilson Anderson Taylor "
    "Thomas Moore Jackson Martin Lee Thompson White Harris Clark Lewis Robinson Walker Young Allen "
    "King Wright Scott Hill Green Adams Baker Nelson Carter Mitchell Roberts Turner Phillips Campbell "
    "Parker Evans Edwards Collins Nguyen Patel Okafor Schmidt Kowalski"
)
_SCHOOLS = tuple(
    f"{name} {level}"
    for name in _words(
        "Lincoln|Washington|Jefferson|Truman|Lewis and Clark|Eastwood|Westview|Northside|Southern Hills|"
        "Prairie View|Oak Grove|Cedar Ridge|Riverside|Maple Creek|Pioneer|Heritage|Carver|Sunset Hills|"
        "Willow Springs|Meadowbrook|Bluff View|Hickory Hills|Lakeview|Ozark Trail|Mark Twain|Stonegate",
        "|",
    )
    for level in ("Elementary School", "Middle School", "High School")
)
_ROMAN = _words("I II III IV V VI VII VIII IX X XI XII")
_SLUG = re.compile(r"[^a-z0-9]+")
_LEADERS = (Role.SUPERINTENDENT, Role.CYBERSECURITY_COORDINATOR, Role.REGIONAL_COORDINATOR)
#: Who backs up whom, by preference, when several colleagues could.
_BACKUP_PREFERENCE: dict[Role, tuple[Role, ...]] = {
    Role.PRINCIPAL: (Role.SAFETY_COORDINATOR,),
    Role.SAFETY_COORDINATOR: (Role.PRINCIPAL,),
    Role.SUPERINTENDENT: (Role.PRINCIPAL,),
    Role.REGIONAL_COORDINATOR: (Role.SUPERINTENDENT,),
}


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")


def _district_name(county: str, n: int) -> str:
    suffix = _ROMAN[n - 1] if n <= len(_ROMAN) else str(n)
    return f"{county} R-{suffix}" if county.endswith(" City") else f"{county} County R-{suffix}"


class _Numbers:
    """Unique, valid phone numbers: per area code, a fixed permutation of its (exchange, line) pairs."""

    def __init__(self) -> None:
        self.used: dict[str, int] = dict.fromkeys(AREA_CODES, 0)

    def take(self, area_code: str) -> str:
        k = self.used[area_code]
        if k >= _CAPACITY:
            raise ValueError(f"area code {area_code} has no numbers left")
        self.used[area_code] = k + 1
        exchange, line = divmod((k * _STRIDE + int(area_code) * 104_729) % _CAPACITY, _LINES)
        return f"+1{area_code}{EXCHANGES[exchange]}{line:04d}"


def generate_registry(officials: int, *, seed: int = 7) -> str:
    """CSV text of a synthetic statewide registry of exactly `officials` rows, deterministic for `seed`.

    Regions -> counties -> districts -> schools. Each region has a regional coordinator; each district a
    superintendent (no school) and 1-6 schools; each school a principal, a safety coordinator, an SRO and,
    in about a third of schools, a cybersecurity coordinator. Districts are added to the regions in turn,
    so even a small registry is statewide. Every row has a unique mobile and voice number (valid to
    phonenumbers, in Missouri's area codes) and a unique email address on an example.org domain; backups
    are another official of the same school, else of the same district. The numbers are synthetic: use
    them only against simulated providers.
    """
    if officials < 0:
        raise ValueError("officials must be >= 0")
    rng = random.Random(seed)
    pick = rng.random
    phones = _Numbers()
    used_locals: dict[str, int] = {}
    # Each row: its CSV cells but backup_id (tuples of strings, which the garbage collector soon stops
    # tracking: lists here made it a third of the run time); backup ids are chosen afterwards.
    rows: list[tuple[str, ...]] = []
    backups: list[str] = []
    roles: list[Role] = []
    district_counts: dict[str, int] = {}
    county_turn = [0] * len(_REGIONS)
    n_first, n_last = len(_FIRST), len(_LAST)

    def add(
        role: Role, school: str, district: str, county: str, region: str, codes: tuple[str, ...], domain: str
    ) -> None:
        if role in _LEADERS:
            subs = "alerts;cyber;digest" if pick() < 0.9 else "cyber"
        else:
            draw = pick()
            subs = (
                "alerts;digest" if draw < 0.55 else "digest" if draw < 0.8 else "" if draw < 0.9 else "alerts"
            )
        first, last = _FIRST[int(pick() * n_first)], _LAST[int(pick() * n_last)]
        local = f"sro.{last}".lower() if role is Role.SRO else f"{first[0]}{last}".lower()
        address = f"{local}@{domain}"
        seen = used_locals.get(address, 0)
        used_locals[address] = seen + 1
        if seen:  # bases have no digits, so a numbered address never collides with another base
            address = f"{local}{seen + 1}@{domain}"
        mobile = phones.take(codes[0] if len(codes) == 1 or pick() < 0.7 else codes[1])
        voice = phones.take(codes[0])
        rows.append(
            (f"mo-{len(rows) + 1:06d}", f"{first} {last}", role.value, school, district, county, region,
             mobile, voice, address, subs)
        )  # fmt: skip
        roles.append(role)

    # Groups of row positions whose members back each other up: schools, then districts.
    schools: list[list[int]] = []
    districts: list[list[int]] = []
    turn = 0
    region_row = -1  # the row of the region coordinator whose home district is being added, if any
    while len(rows) < officials:
        r = turn % len(_REGIONS)
        region, counties, codes = _REGIONS[r]
        if turn < len(_REGIONS):  # the region's first district is in its coordinator's home county
            home = _district_name(counties[0], 1)
            add(
                Role.REGIONAL_COORDINATOR,
                "",
                home,
                counties[0],
                region,
                codes,
                f"{_slug(region)}.region.example.org",
            )
            region_row = len(rows) - 1
        turn += 1
        if len(rows) >= officials:
            districts.append([region_row])
            break
        county = counties[county_turn[r] % len(counties)]
        county_turn[r] += 1
        n = district_counts[county] = district_counts.get(county, 0) + 1
        district = _district_name(county, n)
        domain = f"{_slug(county)}-r{n}.k12.example.org"
        members = [region_row] if region_row >= 0 else []
        members.append(len(rows))
        add(Role.SUPERINTENDENT, "", district, county, region, codes, domain)
        for school in rng.sample(_SCHOOLS, rng.randint(1, 6)):
            staff = [Role.PRINCIPAL, Role.SAFETY_COORDINATOR, Role.SRO]
            if pick() < 0.35:
                staff.append(Role.CYBERSECURITY_COORDINATOR)
            start = len(rows)
            for role in staff[: officials - start]:
                add(role, school, district, county, region, codes, domain)
            schools.append(list(range(start, len(rows))))
            members.extend(schools[-1])
        districts.append(members)
        region_row = -1

    backups.extend([""] * len(rows))

    def choose(position: int, candidates: list[int]) -> None:
        mates = [p for p in candidates if p != position]
        if not mates:
            return
        preferred = _BACKUP_PREFERENCE.get(roles[position], ())
        mates = [p for p in mates if roles[p] in preferred] or mates
        backups[position] = rows[rng.choice(mates)][0]

    for group in schools:
        for position in group:
            choose(position, group)
    for group in districts:
        # District-level officials (and anyone alone in their school) back up within the district, but a
        # regional coordinator is nobody's backup: they cover a whole region.
        candidates = [p for p in group if roles[p] is not Role.REGIONAL_COORDINATOR]
        for position in group:
            if not backups[position]:
                choose(position, candidates)

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows((*row[:10], backup, row[10]) for row, backup in zip(rows, backups, strict=True))
    return out.getvalue()
