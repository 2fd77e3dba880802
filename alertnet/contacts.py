"""The contact registry's domain: officials, the registry CSV format, its validation, and a generator.

Pure: no Redis, no network; the only file access is the thin load_registry helper (parse_registry takes
the text). The CSV format is documented column by column in contacts/README.md.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email


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

COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "role",
    "school",
    "district",
    "county",
    "region",
    "mobile",
    "voice",
    "email",
    "backup_id",
    "subscriptions",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("active",)

ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


@dataclass(frozen=True)
class Official:
    """One person the hub can alert. Phones are E.164, the email address is normalized."""

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
                school=_str(data["school"]),
                district=_str(data["district"]),
                county=_str(data["county"]),
                region=_str(data["region"]),
                mobile=_opt_str(data.get("mobile")),
                voice=_opt_str(data.get("voice")),
                email=_opt_str(data.get("email")),
                backup_id=_opt_str(data.get("backup_id")),
                subscriptions=frozenset(Subscription(s) for s in data.get("subscriptions", ["alerts"])),
                active=bool(data.get("active", True)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not an official's JSON: {error}") from error


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


@dataclass(frozen=True)
class RowError:
    """One problem in a registry file."""

    line: int  # 1-based line number in the file (the header is line 1)
    field: str  # CSV column name, or "row" for structural problems
    reason: str  # a human sentence

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.reason}"


class RegistryError(Exception):
    """A registry file was rejected; `errors` lists every problem found, in file order."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        shown = "; ".join(str(e) for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"{len(errors)} problem(s) in the registry: {shown}{more}")


# --------------------------------------------------------------------------------------------- parsing


def _show(value: str) -> str:
    """A cell value quoted for a message, cut short if long."""
    return f"'{value}'" if len(value) <= 60 else f"'{value[:57]}...'"


_ROLE_LIST = ", ".join(r.value for r in Role)
_SUBSCRIPTION_LIST = ", ".join(s.value for s in Subscription)
_ROLES = {r.value: r for r in Role}
_SUBSCRIPTIONS = {s.value: s for s in Subscription}
_ALERTS_ONLY = frozenset({Subscription.ALERTS})
_PHONE_PUNCTUATION = str.maketrans("", "", " -.()\u00a0")
_NANP_DIGITS = re.compile(r"(?:\+1|1)?([2-9]\d{9})")
_SIMPLE_LOCAL = re.compile(r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*")


class _PhoneParser:
    """phonenumbers, with a fast path for plain North American numbers (the bulk of a Missouri registry).

    The fast path builds exactly the PhoneNumber that phonenumbers.parse would (tests check this) and still
    asks phonenumbers.is_valid_number; it only skips parse's general-purpose string analysis.
    """

    def __init__(self, default_region: str) -> None:
        self.region = default_region
        self.nanp = phonenumbers.country_code_for_region(default_region) == 1
        self.seen: dict[str, str] = {}

    def e164(self, raw: str) -> str:
        """The number in E.164, or ValueError with the reason."""
        cached = self.seen.get(raw)
        if cached is not None:
            return cached
        number: phonenumbers.PhoneNumber | None = None
        if self.nanp:
            match = _NANP_DIGITS.fullmatch(raw.translate(_PHONE_PUNCTUATION))
            if match is not None:
                number = phonenumbers.PhoneNumber(country_code=1, national_number=int(match.group(1)))
        if number is None:
            try:
                number = phonenumbers.parse(raw, self.region)
            except phonenumbers.NumberParseException as error:
                detail = str(error.args[0]).rstrip(".") if error.args else "unparseable"
                raise ValueError(
                    f"{_show(raw)} is not a valid phone number for region {self.region} "
                    f"({detail[:1].lower()}{detail[1:]})"
                ) from None
            if number.extension:
                raise ValueError(f"{_show(raw)} has an extension; give a number that rings directly")
        if not phonenumbers.is_valid_number(number):
            raise ValueError(f"{_show(raw)} is not a valid phone number for region {self.region}")
        result = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        self.seen[raw] = result
        return result


class _EmailNormalizer:
    """email_validator (no DNS), with the domain's validation cached for simple ASCII local parts.

    For a dot-atom local part of letters, digits and _%+- email_validator returns the local part unchanged
    and the normalized domain, so only the domain needs its (slow) check, once per distinct domain. Anything
    else, and every failure, goes through validate_email itself so the reason is email_validator's own.
    """

    def __init__(self) -> None:
        self.domains: dict[str, str | None] = {}

    def normalize(self, raw: str) -> str:
        local, at, domain = raw.rpartition("@")
        if at and len(local) <= 64 and _SIMPLE_LOCAL.fullmatch(local):
            if domain not in self.domains:
                try:
                    self.domains[domain] = validate_email(f"x@{domain}", check_deliverability=False).domain
                except EmailNotValidError:
                    self.domains[domain] = None
            normalized_domain = self.domains[domain]
            if normalized_domain is not None and len(local) + 1 + len(normalized_domain) <= 254:
                return f"{local}@{normalized_domain}"
        try:
            return validate_email(raw, check_deliverability=False).normalized
        except EmailNotValidError as error:
            raise ValueError(f"{_show(raw)} is not a valid email address: {error}") from None


def _is_blank(row: list[str]) -> bool:
    return all(not cell.strip() for cell in row)


def parse_registry(text: str, *, default_region: str = "US") -> list[Official]:
    """Parse and validate a whole registry CSV: all or nothing.

    Raises RegistryError listing every bad row and field (in file order) if anything is wrong; otherwise
    returns one Official per data row, in file order. Phone numbers written in national format are read
    as numbers of `default_region`.
    """
    if default_region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown phone region {default_region!r}")
    if text.startswith("\ufeff"):
        text = text[1:]
    errors: list[RowError] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    header_line = 1
    last = 0
    try:
        for row in reader:
            line, last = last + 1, reader.line_num
            if _is_blank(row):
                continue
            if header is None:
                header, header_line = [cell.strip().lower() for cell in row], line
            else:
                rows.append((line, row))
    except csv.Error as error:
        errors.append(RowError(last + 1, "row", f"malformed CSV: {error}"))
    if header is None:
        errors.append(RowError(1, "row", f"the file is empty: expected a header line ({','.join(COLUMNS)})"))
        raise RegistryError(errors)

    index: dict[str, int] = {}
    header_errors: list[RowError] = []
    allowed = set(COLUMNS) | set(OPTIONAL_COLUMNS)
    for position, name in enumerate(header):
        if name in index:
            header_errors.append(RowError(header_line, name, f"column '{name}' appears more than once"))
        elif name not in allowed:
            problem = f"unknown column '{name}'" if name else f"column {position + 1} has no name"
            header_errors.append(
                RowError(
                    header_line,
                    name or "row",
                    f"{problem}: the columns are {', '.join(COLUMNS)} and, optionally, active",
                )
            )
        else:
            index[name] = position
    missing = [name for name in COLUMNS if name not in index]
    header_errors.extend(
        RowError(header_line, name, f"required column '{name}' is missing") for name in missing
    )
    if missing:
        raise RegistryError(header_errors + errors)

    officials = _parse_rows(rows, index, len(header), default_region, errors)
    all_errors = header_errors + errors
    if all_errors:
        all_errors.sort(key=lambda e: e.line)
        raise RegistryError(all_errors)
    return officials


def load_registry(path: str | Path, *, default_region: str = "US") -> list[Official]:
    """Read a registry file (UTF-8, with or without BOM) and parse_registry it.

    Bytes that are not UTF-8 are reported as a RegistryError on their line; OSError propagates.
    """
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise RegistryError(
            [
                RowError(
                    line, "row", f"the file is not UTF-8 (byte 0x{data[error.start]:02x}); save it as UTF-8"
                )
            ]
        ) from None
    return parse_registry(text, default_region=default_region)


def _parse_rows(
    rows: list[tuple[int, list[str]]],
    index: dict[str, int],
    width: int,
    default_region: str,
    errors: list[RowError],
) -> list[Official]:
    phones = _PhoneParser(default_region)
    emails = _EmailNormalizer()
    i_id, i_name, i_role, i_school = index["id"], index["name"], index["role"], index["school"]
    i_district, i_county, i_region = index["district"], index["county"], index["region"]
    i_mobile, i_voice, i_email = index["mobile"], index["voice"], index["email"]
    i_backup, i_subs = index["backup_id"], index["subscriptions"]
    i_active = index.get("active")

    first_line: dict[str, int] = {}  # id -> line it was first defined on
    known: set[str] = set()  # every well-formed id in the file, even on rows with the wrong width
    parsed: list[tuple[int, Official]] = []
    for line, raw in rows:
        if len(raw) != width:
            if i_id < len(raw) and ID_PATTERN.fullmatch(raw[i_id].strip()):
                known.add(raw[i_id].strip())
            errors.append(
                RowError(line, "row", f"expected {width} fields (one per header column), found {len(raw)}")
            )
            continue
        cells = [cell.strip() for cell in raw]
        row_errors: list[RowError] = []

        def bad(column: str, reason: str, line: int = line, row_errors: list[RowError] = row_errors) -> None:
            row_errors.append(RowError(line, column, reason))

        official_id = cells[i_id]
        if not official_id:
            bad("id", "id is required")
        elif not ID_PATTERN.fullmatch(official_id):
            bad("id", f"{_show(official_id)} is not a valid id: use 1 to 64 letters, digits, '_', '.' or '-'")
        elif official_id in first_line:
            bad("id", f"duplicate id '{official_id}' (first used on line {first_line[official_id]})")
        else:
            first_line[official_id] = line
            known.add(official_id)

        name = cells[i_name]
        if not name:
            bad("name", "name is required")

        role: Role | None = None
        role_raw = cells[i_role]
        if not role_raw:
            bad("role", f"role is required (one of {_ROLE_LIST})")
        else:
            role = _ROLES.get(role_raw.lower())
            if role is None:
                bad("role", f"{_show(role_raw)} is not a known role (one of {_ROLE_LIST})")

        school = cells[i_school]
        if not school and role is not None and role not in SCHOOLLESS_ROLES:
            bad(
                "school",
                f"school is required for a {role.value} (only superintendent and regional_coordinator "
                "may leave it empty)",
            )
        district, county, region = cells[i_district], cells[i_county], cells[i_region]
        for column, value in (("district", district), ("county", county), ("region", region)):
            if not value:
                bad(column, f"{column} is required")

        mobile = voice = email = None
        if cells[i_mobile]:
            try:
                mobile = phones.e164(cells[i_mobile])
            except ValueError as error:
                bad("mobile", str(error))
        if cells[i_voice]:
            try:
                voice = phones.e164(cells[i_voice])
            except ValueError as error:
                bad("voice", str(error))
        if cells[i_email]:
            try:
                email = emails.normalize(cells[i_email])
            except ValueError as error:
                bad("email", str(error))
        if not (cells[i_mobile] or cells[i_voice] or cells[i_email]):
            bad("row", "no way to reach this official: at least one of mobile, voice or email is required")

        backup_id = cells[i_backup] or None
        if backup_id is not None and backup_id == official_id:
            bad("backup_id", f"backup_id '{backup_id}' is the official's own id; name another official")

        subscriptions = _ALERTS_ONLY
        if cells[i_subs]:
            chosen = {Subscription.ALERTS}
            for part in cells[i_subs].split(";"):
                item = part.strip().lower()
                if not item:
                    continue
                subscription = _SUBSCRIPTIONS.get(item)
                if subscription is None:
                    bad(
                        "subscriptions",
                        f"{_show(part.strip())} is not a known subscription "
                        f"(use {_SUBSCRIPTION_LIST}, separated by ';')",
                    )
                else:
                    chosen.add(subscription)
            subscriptions = frozenset(chosen)

        active = True
        if i_active is not None and cells[i_active]:
            flag = cells[i_active].lower()
            if flag in _FALSE:
                active = False
            elif flag not in _TRUE:
                bad("active", f"{_show(cells[i_active])} is not true or false (leave it empty for true)")

        if row_errors:
            errors.extend(row_errors)
            continue
        assert role is not None
        parsed.append(
            (
                line,
                Official(
                    id=official_id,
                    name=name,
                    role=role,
                    school=school,
                    district=district,
                    county=county,
                    region=region,
                    mobile=mobile,
                    voice=voice,
                    email=email,
                    backup_id=backup_id,
                    subscriptions=subscriptions,
                    active=active,
                ),
            )
        )

    # backup_id may point forward, so it is checked once every id is known (ids of rows with other
    # problems count as known: one mistake should not be reported twice).
    for line, official in parsed:
        if official.backup_id is not None and official.backup_id not in known:
            errors.append(
                RowError(
                    line,
                    "backup_id",
                    f"backup_id '{official.backup_id}' is not the id of any official in this file",
                )
            )
    return [official for _, official in parsed]


# ------------------------------------------------------------------------------------------ generation
# ------------------------------------------------------------------------------------------ generation


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
