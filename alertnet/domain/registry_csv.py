"""The registry CSV: its columns, and validation of a whole file into `Official`s (all or nothing).

Pure: takes the text; reading the file is the caller's (`alertnet.services.registry`). The format is
documented column by column in contacts/README.md.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from alertnet.domain.contacts import SCHOOLLESS_ROLES, Official, Role, Subscription
from alertnet.domain.text import BIDI_REASON, has_bidi_control

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
    """phonenumbers, with a fast path for plain North American numbers (the bulk of a Missouri registry):
    it builds exactly the PhoneNumber parse would (tests check this) and still asks is_valid_number."""

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
    """email_validator (no DNS), with the domain's validation cached for simple ASCII local parts (a
    dot-atom of letters, digits and _%+- comes back unchanged); anything else, and every failure, goes
    through validate_email itself so the reason is email_validator's own."""

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


# A byte that was not UTF-8, as `load_registry` decodes it (surrogateescape): the report names its cell.
_UNDECODED = re.compile("[\udc80-\udcff]")
# A tab or lone CR inside a name would reach messages, and a spreadsheet may start a cell at one.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")  # a line break in a quoted cell is fine
_CONTROL_REASON = "must not contain control characters (a tab, a carriage return outside a line break, NUL)"
_TEXT_COLUMNS = ("name", "school", "district", "county", "region")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")


def _not_utf8(value: str) -> str:
    byte = next((ord(ch) - 0xDC00 for ch in value if "\udc80" <= ch <= "\udcff"), 0)
    return f"the file is not UTF-8 (byte 0x{byte:02x}); save it as UTF-8 (Excel: CSV UTF-8)"


def _records(text: str, errors: list[RowError]) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each record that is not blank, as read; a malformed line ends it."""
    # Line by line: io.StringIO would hold a copy of the whole text at 4 bytes a character.
    reader = csv.reader(m.group() for m in _LINE.finditer(text) if m.group())
    last = 0
    try:
        for row in reader:
            line, last = last + 1, reader.line_num
            if not _is_blank(row):
                yield line, row
    except csv.Error as error:
        errors.append(RowError(last + 1, "row", f"malformed CSV: {error}"))


def parse_registry(text: str, *, default_region: str = "US") -> list[Official]:
    """Parse and validate a whole registry CSV, all or nothing: RegistryError lists every bad row and field
    (in file order); otherwise one Official per data row, in file order. National-format phone numbers
    are read as numbers of `default_region`."""
    if default_region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown phone region {default_region!r}")
    if text.startswith("\ufeff"):
        text = text[1:]
    errors: list[RowError] = []
    rows = _records(text, errors)
    first = next(rows, None)
    if first is None:
        errors.append(RowError(1, "row", f"the file is empty: expected a header line ({','.join(COLUMNS)})"))
        raise RegistryError(errors)
    header_line, header = first[0], [cell.strip().lower() for cell in first[1]]

    index: dict[str, int] = {}
    header_errors: list[RowError] = []
    allowed = set(COLUMNS) | set(OPTIONAL_COLUMNS)
    for position, name in enumerate(header):
        if name in index:
            header_errors.append(RowError(header_line, name, f"column '{name}' appears more than once"))
        elif _UNDECODED.search(name):
            header_errors.append(
                RowError(header_line, "row", f"column {position + 1}'s name: " + _not_utf8(name))
            )
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
        any(False for _ in rows)  # read on: a malformed line further down is reported too
        raise RegistryError(header_errors + errors)

    officials = _parse_rows(
        rows, index, len(header), default_region, errors, _UNDECODED.search(text) is not None
    )
    all_errors = header_errors + errors
    if all_errors:
        all_errors.sort(key=lambda e: e.line)
        raise RegistryError(all_errors)
    return officials


def _parse_rows(
    rows: Iterable[tuple[int, list[str]]],
    index: dict[str, int],
    width: int,
    default_region: str,
    errors: list[RowError],
    undecoded: bool = False,
) -> list[Official]:
    """Validate rows as they are read (never all cells at once); `undecoded`: look for non-UTF-8 bytes."""
    phones = _PhoneParser(default_region)
    emails = _EmailNormalizer()
    i_id, i_name, i_role, i_school = index["id"], index["name"], index["role"], index["school"]
    i_district, i_county, i_region = index["district"], index["county"], index["region"]
    i_mobile, i_voice, i_email = index["mobile"], index["voice"], index["email"]
    i_backup, i_subs = index["backup_id"], index["subscriptions"]
    i_active = index.get("active")

    first_line: dict[str, int] = {}  # id -> line it was first defined on
    shared: dict[str, str] = {}  # one string per distinct school, district, county, region
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
        if undecoded and any(_UNDECODED.search(cell) for cell in cells):
            # Whatever else is wrong with the row comes from reading it in the wrong encoding.
            if ID_PATTERN.fullmatch(cells[i_id]):
                known.add(cells[i_id])
            for column, position in index.items():
                if _UNDECODED.search(cells[position]):
                    errors.append(RowError(line, column, _not_utf8(cells[position])))
            continue

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
        for column in _TEXT_COLUMNS:
            if has_bidi_control(cells[index[column]]):
                bad(column, BIDI_REASON)
            if _CONTROL.search(cells[index[column]].replace("\r\n", "\n")):
                bad(column, _CONTROL_REASON)

        role: Role | None = None
        role_raw = cells[i_role]
        if not role_raw:
            bad("role", f"role is required (one of {_ROLE_LIST})")
        else:
            role = _ROLES.get(role_raw.lower())
            if role is None:
                bad("role", f"{_show(role_raw)} is not a known role (one of {_ROLE_LIST})")

        school, district, county, region = (
            shared.setdefault(cells[i], cells[i]) for i in (i_school, i_district, i_county, i_region)
        )
        if not school and role is not None and role not in SCHOOLLESS_ROLES:
            bad(
                "school",
                f"school is required for a {role.value} (only superintendent and regional_coordinator "
                "may leave it empty)",
            )
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
