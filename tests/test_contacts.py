"""The contact registry's domain: CSV validation (every rule), JSON round trip, the sample, the generator."""

from __future__ import annotations

import csv
import io
import math
import random
import time
from collections import Counter
from pathlib import Path

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email

from alertnet import cli
from alertnet.domain import registry_csv, registry_sample
from alertnet.domain.contacts import Official, Role, Subscription
from alertnet.domain.registry_csv import COLUMNS, RegistryError, RowError, parse_registry
from alertnet.domain.registry_sample import generate_registry
from alertnet.services.registry import load_registry
from alertnet.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "contacts" / "sample.csv"
HEADER = ",".join(COLUMNS)

# Two good rows in one school; tests change one cell at a time.
GOOD = {
    "id": "cps.p",
    "name": "Elena Ortiz",
    "role": "principal",
    "school": "Rock Creek High School",
    "district": "Columbia Public Schools",
    "county": "Boone",
    "region": "Central",
    "mobile": "(573) 555-0104",
    "voice": "573-555-0105",
    "email": "eortiz@columbia.k12.example.org",
    "backup_id": "cps.s",
    "subscriptions": "alerts;digest",
}
PARTNER = {
    **GOOD,
    "id": "cps.s",
    "name": "Tom Brennan",
    "role": "safety_coordinator",
    "mobile": "+1 573 555 0106",
    "voice": "",
    "email": "tbrennan@columbia.k12.example.org",
    "backup_id": "cps.p",
    "subscriptions": "",
}


def csv_text(*rows: dict[str, str], columns: tuple[str, ...] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return out.getvalue()


def errors_of(text: str) -> list[RowError]:
    with pytest.raises(RegistryError) as caught:
        parse_registry(text)
    assert caught.value.errors, "a RegistryError always lists its problems"
    return caught.value.errors


def only_error(**changes: str) -> RowError:
    """The single error of a file whose first row (line 2) got `changes`."""
    errors = errors_of(csv_text({**GOOD, **changes}, PARTNER))
    assert len(errors) == 1, errors
    return errors[0]


# ------------------------------------------------------------------------------------ the happy path


def test_good_rows_parse_to_officials() -> None:
    first, second = parse_registry(csv_text(GOOD, PARTNER))
    assert first == Official(
        id="cps.p",
        name="Elena Ortiz",
        role=Role.PRINCIPAL,
        school="Rock Creek High School",
        district="Columbia Public Schools",
        county="Boone",
        region="Central",
        mobile="+15735550104",
        voice="+15735550105",
        email="eortiz@columbia.k12.example.org",
        backup_id="cps.s",
        subscriptions=frozenset({Subscription.ALERTS, Subscription.DIGEST}),
        active=True,
    )
    assert second.voice is None
    assert second.subscriptions == frozenset({Subscription.ALERTS})  # empty means alerts


def test_whitespace_bom_blank_lines_and_crlf() -> None:
    padded = {k: f"  {v}  " if v else v for k, v in GOOD.items()}
    text = "\ufeff" + csv_text(padded, PARTNER).replace("\n", "\r\n")
    lines = text.split("\r\n")
    text = "\r\n".join([lines[0], "", "   ", lines[1], ",,,,,,,,,,,", lines[2], ""]) + "\r\n\r\n"
    first, second = parse_registry(text)
    assert first.id == "cps.p" and first.name == "Elena Ortiz" and first.school == "Rock Creek High School"
    assert first.mobile == "+15735550104" and first.backup_id == "cps.s"
    assert second.id == "cps.s"


def test_line_numbers_count_blank_lines_and_multiline_cells() -> None:
    text = csv_text({**GOOD, "name": "Elena\nOrtiz"}, PARTNER)
    lines = text.split("\n")
    text = "\n".join([lines[0], "", *lines[1:]])  # blank line 2; first row on lines 3-4; second on 5
    bad = text.replace("tbrennan@", "tbrennan@@")
    [error] = errors_of(bad)
    assert (error.line, error.field) == (5, "email")


def test_header_is_case_and_space_insensitive_and_columns_may_be_in_any_order() -> None:
    columns = tuple(reversed(COLUMNS))
    text = csv_text(GOOD, PARTNER, columns=columns)
    header, rest = text.split("\n", 1)
    text = ",".join(f" {c.upper()} " for c in header.split(",")) + "\n" + rest
    assert [o.id for o in parse_registry(text)] == ["cps.p", "cps.s"]


def test_role_and_subscriptions_are_case_insensitive_and_alerts_always_included() -> None:
    [official, _] = parse_registry(
        csv_text({**GOOD, "role": "Principal", "subscriptions": " Cyber ; ;DIGEST"}, PARTNER)
    )
    assert official.role is Role.PRINCIPAL
    assert official.subscriptions == frozenset(Subscription)


def test_empty_file_and_header_only() -> None:
    for text in ("", "\ufeff", "\n\n  \n"):
        [error] = errors_of(text)
        assert (error.line, error.field) == (1, "row")
        assert "empty" in error.reason
    assert parse_registry(HEADER + "\n") == []


# ------------------------------------------------------------------------------------------- header


def test_missing_columns_one_error_each() -> None:
    columns = tuple(c for c in COLUMNS if c not in ("voice", "backup_id"))
    errors = errors_of(csv_text(GOOD, columns=columns))
    assert [(e.line, e.field) for e in errors] == [(1, "voice"), (1, "backup_id")]
    assert errors[0].reason == "required column 'voice' is missing"


def test_unknown_columns_are_named() -> None:
    columns = (*COLUMNS, "pager", "notes")
    errors = errors_of(csv_text(GOOD, PARTNER, columns=columns))
    assert [(e.line, e.field) for e in errors] == [(1, "pager"), (1, "notes")]
    assert errors[0].reason.startswith("unknown column 'pager': the columns are id, name, role")


def test_unnamed_and_duplicate_columns() -> None:
    errors = errors_of(HEADER + ",,email\n")
    assert [(e.line, e.field) for e in errors] == [(1, "row"), (1, "email")]
    assert errors[0].reason.startswith("column 13 has no name")
    assert errors[1].reason == "column 'email' appears more than once"


def test_header_problems_are_reported_with_row_problems() -> None:
    errors = errors_of(csv_text({**GOOD, "role": "janitor"}, PARTNER, columns=(*COLUMNS, "pager")))
    assert [(e.line, e.field) for e in errors] == [(1, "pager"), (2, "role")]


def test_header_line_after_leading_blank_lines() -> None:
    errors = errors_of("\n\n" + csv_text({**GOOD, "name": ""}, PARTNER))
    assert [(e.line, e.field) for e in errors] == [(4, "name")]


# --------------------------------------------------------------------------------------------- rows


def test_wrong_number_of_fields() -> None:
    text = (
        csv_text(GOOD, PARTNER) + "cps.x,Too Short,principal\n" + csv_text(GOOD).split("\n")[1] + ",extra\n"
    )
    errors = errors_of(text)
    assert [(e.line, e.field) for e in errors] == [(4, "row"), (5, "row")]
    assert errors[0].reason == "expected 12 fields (one per header column), found 3"
    assert errors[1].reason == "expected 12 fields (one per header column), found 13"


def test_malformed_csv_is_reported_not_raised_raw() -> None:
    text = csv_text(GOOD, PARTNER) + "cps.x," + "x" * 200_000 + ",principal\n"
    [error] = errors_of(text)
    assert (error.line, error.field) == (4, "row")
    assert error.reason.startswith("malformed CSV: field larger than field limit")


def test_id_required() -> None:
    errors = errors_of(csv_text({**GOOD, "id": ""}, {**PARTNER, "backup_id": ""}))
    assert [(e.line, e.field, e.reason) for e in errors] == [(2, "id", "id is required")]


@pytest.mark.parametrize("bad", ["has space", "semi;colon", "x" * 65, "é"])
def test_id_pattern(bad: str) -> None:
    errors = errors_of(csv_text({**GOOD, "id": bad, "backup_id": "cps.s"}, {**PARTNER, "backup_id": ""}))
    assert [(e.line, e.field) for e in errors] == [(2, "id")]
    assert "is not a valid id: use 1 to 64 letters, digits, '_', '.' or '-'" in errors[0].reason


def test_id_allows_64_chars_and_punctuation() -> None:
    long_id = "A-b_c.9" + "x" * 57
    [official, _] = parse_registry(csv_text({**GOOD, "id": long_id}, {**PARTNER, "backup_id": long_id}))
    assert official.id == long_id


def test_duplicate_id_names_the_first_line() -> None:
    third = {**PARTNER, "name": "Someone Else", "email": "else@columbia.k12.example.org"}
    errors = errors_of(csv_text(GOOD, PARTNER, third))
    assert [(e.line, e.field, e.reason) for e in errors] == [
        (4, "id", "duplicate id 'cps.s' (first used on line 3)")
    ]


def test_name_required() -> None:
    error = only_error(name="  ")
    assert (error.line, error.field, error.reason) == (2, "name", "name is required")


def test_role_required_and_known() -> None:
    error = only_error(role="janitor")
    assert (error.line, error.field) == (2, "role")
    assert error.reason == (
        "'janitor' is not a known role (one of superintendent, principal, safety_coordinator, "
        "cybersecurity_coordinator, sro, regional_coordinator, nurse, transportation_director)"
    )
    error = only_error(role="")
    assert (error.field, error.reason.split(" (")[0]) == ("role", "role is required")


@pytest.mark.parametrize(
    "role", [r for r in Role if r not in (Role.SUPERINTENDENT, Role.REGIONAL_COORDINATOR)]
)
def test_school_required_below_district_level(role: Role) -> None:
    error = only_error(role=role.value, school="")
    assert (error.line, error.field) == (2, "school")
    assert error.reason.startswith(f"school is required for a {role.value}")


@pytest.mark.parametrize("role", ["superintendent", "regional_coordinator"])
def test_school_optional_for_district_and_region_officials(role: str) -> None:
    [official, _] = parse_registry(csv_text({**GOOD, "role": role, "school": ""}, PARTNER))
    assert official.school == "" and official.role.value == role


def test_unknown_role_does_not_also_complain_about_school() -> None:
    error = only_error(role="janitor", school="")
    assert error.field == "role"


@pytest.mark.parametrize("column", ["district", "county", "region"])
def test_district_county_region_required(column: str) -> None:
    error = only_error(**{column: ""})
    assert (error.line, error.field, error.reason) == (2, column, f"{column} is required")


@pytest.mark.parametrize("column", ["district", "county", "region"])
def test_district_county_region_required_for_region_officials_too(column: str) -> None:
    error = only_error(role="regional_coordinator", school="", **{column: ""})
    assert (error.field, error.reason) == (column, f"{column} is required")


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("(573) 555-0104", "+15735550104"),
        ("573-555-0104", "+15735550104"),
        ("573.555.0104", "+15735550104"),
        ("5735550104", "+15735550104"),
        ("1-573-555-0104", "+15735550104"),
        ("+1 573 555 0104", "+15735550104"),
        ("+15735550104", "+15735550104"),
        ("+1 (314) 201-3344", "+13142013344"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_formats_become_e164(raw: str, e164: str) -> None:
    [official, _] = parse_registry(csv_text({**GOOD, "mobile": raw, "voice": raw}, PARTNER))
    assert official.mobile == e164 and official.voice == e164


@pytest.mark.parametrize("column", ["mobile", "voice"])
@pytest.mark.parametrize("bad", ["+1 555", "573-555-010", "not a number", "+1 123 456 7890", "+5735550104"])
def test_invalid_phones(column: str, bad: str) -> None:
    error = only_error(**{column: bad})
    assert (error.line, error.field) == (2, column)
    assert error.reason.startswith(f"'{bad}' is not a valid phone number for region US"), error.reason


def test_invalid_phone_reason_matches_the_documented_example() -> None:
    error = only_error(mobile="+1 555")
    assert error.reason.startswith("'+1 555' is not a valid phone number for region US")


def test_phone_extension_is_rejected() -> None:
    error = only_error(voice="573-555-0105 ext. 12")
    assert (error.field, error.reason) == (
        "voice",
        "'573-555-0105 ext. 12' has an extension; give a number that rings directly",
    )


def test_default_region_reads_national_numbers() -> None:
    row = {**GOOD, "mobile": "020 7946 0958", "voice": "", "backup_id": "", "email": ""}
    [official] = parse_registry(csv_text(row), default_region="GB")
    assert official.mobile == "+442079460958"
    with pytest.raises(ValueError, match="unknown phone region"):
        parse_registry(csv_text(row), default_region="XX")


def test_email_is_normalized() -> None:
    [official, _] = parse_registry(
        csv_text({**GOOD, "email": "Elena.Ortiz@Columbia.K12.Example.ORG"}, PARTNER)
    )
    assert official.email == "Elena.Ortiz@columbia.k12.example.org"


@pytest.mark.parametrize(
    "bad", ["eortiz", "eortiz@", "e..ortiz@columbia.k12.example.org", "a@localhost", "a@b.test"]
)
def test_invalid_emails(bad: str) -> None:
    error = only_error(email=bad)
    assert (error.line, error.field) == (2, "email")
    assert error.reason.startswith(f"'{bad}' is not a valid email address: ")


def test_at_least_one_contact_channel() -> None:
    error = only_error(mobile="", voice="", email="")
    assert (error.line, error.field) == (2, "row")
    assert error.reason == "no way to reach this official: at least one of mobile, voice or email is required"


@pytest.mark.parametrize(
    "channels", [{"voice": "", "email": ""}, {"mobile": "", "email": ""}, {"mobile": "", "voice": ""}]
)
def test_any_single_channel_is_enough(channels: dict[str, str]) -> None:
    assert len(parse_registry(csv_text({**GOOD, **channels}, PARTNER))) == 2


def test_invalid_channel_is_not_also_reported_as_missing() -> None:
    error = only_error(mobile="+1 555", voice="", email="")
    assert error.field == "mobile"


def test_backup_must_exist_in_the_file() -> None:
    error = only_error(backup_id="nobody")
    assert (error.line, error.field, error.reason) == (
        2,
        "backup_id",
        "backup_id 'nobody' is not the id of any official in this file",
    )


def test_backup_cannot_be_oneself() -> None:
    error = only_error(backup_id="cps.p")
    assert (error.line, error.field) == (2, "backup_id")
    assert error.reason.startswith("backup_id 'cps.p' is the official's own id")


def test_backup_may_point_forward_and_be_empty() -> None:
    officials = parse_registry(csv_text(GOOD, {**PARTNER, "backup_id": ""}))
    assert officials[0].backup_id == "cps.s" and officials[1].backup_id is None


def test_backup_to_a_row_with_other_problems_is_not_reported_twice() -> None:
    errors = errors_of(csv_text(GOOD, {**PARTNER, "role": "janitor"}))
    assert [(e.line, e.field) for e in errors] == [(3, "role")]


def test_unknown_subscription() -> None:
    error = only_error(subscriptions="alerts;pager")
    assert (error.line, error.field) == (2, "subscriptions")
    assert error.reason == "'pager' is not a known subscription (use alerts, cyber, digest, separated by ';')"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", {"alerts"}),
        ("alerts", {"alerts"}),
        ("cyber", {"alerts", "cyber"}),
        ("digest", {"alerts", "digest"}),
        ("cyber;digest;cyber", {"alerts", "cyber", "digest"}),
    ],
)
def test_alerts_always_subscribed(raw: str, expected: set[str]) -> None:
    [official, _] = parse_registry(csv_text({**GOOD, "subscriptions": raw}, PARTNER))
    assert {s.value for s in official.subscriptions} == expected


@pytest.mark.parametrize(
    ("raw", "active"),
    [
        ("", True),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("0", False),
    ],
)
def test_optional_active_column(raw: str, active: bool) -> None:
    columns = (*COLUMNS, "active")
    [official, _] = parse_registry(csv_text({**GOOD, "active": raw}, PARTNER, columns=columns))
    assert official.active is active


def test_bad_active_value() -> None:
    columns = (*COLUMNS, "active")
    errors = errors_of(csv_text({**GOOD, "active": "maybe"}, PARTNER, columns=columns))
    assert [(e.line, e.field) for e in errors] == [(2, "active")]
    assert errors[0].reason == "'maybe' is not true or false (leave it empty for true)"


def test_long_values_are_cut_short_in_reasons() -> None:
    error = only_error(role="x" * 500)
    assert len(error.reason) < 250 and "..." in error.reason


# ------------------------------------------------------------------------------------ all or nothing


def test_one_bad_row_rejects_the_whole_file() -> None:
    rows = [GOOD, PARTNER] + [
        {**PARTNER, "id": f"x{i}", "email": f"x{i}@columbia.k12.example.org", "backup_id": "cps.p"}
        for i in range(20)
    ]
    assert len(parse_registry(csv_text(*rows))) == 22
    rows[15] = {**rows[15], "mobile": "12"}
    [error] = errors_of(csv_text(*rows))
    assert (error.line, error.field) == (17, "mobile")


def test_every_bad_row_and_field_is_listed_in_file_order() -> None:
    text = csv_text(
        {**GOOD, "name": "", "email": "bad@"},  # line 2: two problems
        PARTNER,  # line 3: fine
        {**PARTNER, "id": "x1", "role": "janitor", "backup_id": "ghost"},  # line 4: role (backup not checked)
        {**PARTNER, "id": "x2", "backup_id": "ghost", "subscriptions": "spam"},  # line 5
        {**PARTNER, "id": "cps.p", "backup_id": "cps.s"},  # line 6: duplicate of line 2
    )
    errors = errors_of(text)
    assert [(e.line, e.field) for e in errors] == [
        (2, "name"),
        (2, "email"),
        (4, "role"),
        (5, "subscriptions"),
        (6, "id"),
    ]
    assert "first used on line 2" in errors[-1].reason
    message = str(RegistryError(errors))
    assert message.startswith("5 problem(s) in the registry: line 2, name: name is required;")


def test_backup_errors_come_in_line_order() -> None:
    text = csv_text({**GOOD, "backup_id": "ghost"}, {**PARTNER, "mobile": "+1 555"})
    errors = errors_of(text)
    assert [(e.line, e.field) for e in errors] == [(2, "backup_id"), (3, "mobile")]


# ----------------------------------------------------------------------------------------- the JSON


def test_json_round_trip_is_exact_and_stable() -> None:
    for official in parse_registry(SAMPLE.read_text(encoding="utf-8-sig")):
        raw = official.to_json()
        assert Official.from_json(raw) == official
        assert Official.from_json(raw.encode()) == official
        assert Official.from_json(raw).to_json() == raw
        assert " " not in raw.replace(official.name, "").replace(official.school, "").replace(
            official.district, ""
        ).replace(official.county, "").replace(official.region, "")


def test_json_sorts_subscriptions_and_keeps_none_and_inactive() -> None:
    official = Official(
        id="a",
        name="André Baptiste",
        role=Role.CYBERSECURITY_COORDINATOR,
        school="S",
        district="D",
        county="C",
        region="R",
        mobile=None,
        voice=None,
        email="a@example.org",
        backup_id=None,
        subscriptions=frozenset({Subscription.DIGEST, Subscription.ALERTS, Subscription.CYBER}),
        active=False,
    )
    raw = official.to_json()
    assert '"subscriptions":["alerts","cyber","digest"]' in raw
    assert '"mobile":null' in raw and '"active":false' in raw and "André" in raw
    assert Official.from_json(raw) == official


@pytest.mark.parametrize("raw", ["[]", "{}", "not json", '{"id": 1}', b"\xff"])
def test_from_json_rejects_garbage_with_value_error(raw: str | bytes) -> None:
    with pytest.raises(ValueError, match="not an official's JSON"):
        Official.from_json(raw)


# ------------------------------------------------------------------------------------------- sample


def test_sample_parses_and_is_a_realistic_registry() -> None:
    officials = parse_registry(SAMPLE.read_text(encoding="utf-8-sig"))
    assert 35 <= len(officials) <= 50
    assert load_registry(SAMPLE) == officials
    regions = {o.region for o in officials}
    assert len(regions) >= 3
    assert len({o.county for o in officials}) >= 4
    for region in regions:
        assert any(o.role is Role.REGIONAL_COORDINATOR and o.region == region for o in officials)
    # Every district has a superintendent; the state agency's own officials are an organization, no district.
    state = Settings().bulletins.state_organization
    assert any(o.district == state for o in officials)
    for district in {o.district for o in officials} - {state}:
        assert any(o.role is Role.SUPERINTENDENT and o.district == district for o in officials), district
    schools = {(o.district, o.school) for o in officials if o.school}
    for key in schools:
        roles = {o.role for o in officials if (o.district, o.school) == key}
        assert {Role.PRINCIPAL, Role.SAFETY_COORDINATOR} <= roles, key
        assert roles & {Role.SRO, Role.CYBERSECURITY_COORDINATOR}, key
    assert sum(1 for o in officials if o.backup_id) > len(officials) * 0.8
    shared = [email for email, n in Counter(o.email for o in officials if o.email).items() if n > 1]
    assert len(shared) == 1  # one district-office mailbox, shared by two officials
    assert any(o.email and not o.mobile and not o.voice for o in officials)  # email only
    assert any(o.mobile and not o.voice for o in officials)  # no voice line
    for o in officials:
        assert o.email is None or o.email.endswith(".example.org")
        for number in (o.mobile, o.voice):
            assert number is None or number.startswith(("+1573555", "+1816555"))  # fictional 555-01xx


def test_load_registry_reports_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((csv_text(GOOD, PARTNER).replace("Elena", "Zoë")).encode("latin-1"))
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    [error] = caught.value.errors
    assert (error.line, error.field) == (2, "name") and "not UTF-8" in error.reason


def test_the_import_command_names_the_line_of_a_file_that_is_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((csv_text(GOOD, PARTNER).replace("Elena", "Zoë")).encode("latin-1"))
    # No Redis is reached: the file is refused before anything is imported.
    env = {"REDIS_URL": "redis://127.0.0.1:1/0", "ALERTNET_DATA_DIR": str(tmp_path / "data")}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert cli.main(["contacts", "import", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: line 2, name: the file is not UTF-8" in err and "nothing imported: 1 problem" in err


def test_names_with_bidirectional_controls_are_refused() -> None:
    text = csv_text(GOOD, PARTNER).replace("Elena", "Elena \u202eevil")
    with pytest.raises(RegistryError) as caught:
        parse_registry(text)
    assert [(e.line, e.field) for e in caught.value.errors] == [(2, "name")]


# ---------------------------------------------------------------------------------------- generator


def test_generator_is_deterministic_per_seed() -> None:
    assert generate_registry(300) == generate_registry(300, seed=7)
    assert generate_registry(300, seed=1) == generate_registry(300, seed=1)
    assert generate_registry(300, seed=1) != generate_registry(300, seed=2)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 8, 13, 40, 97])
def test_generator_gives_exactly_n_valid_rows(n: int) -> None:
    officials = parse_registry(generate_registry(n))
    assert len(officials) == n


def test_generator_refuses_negative() -> None:
    with pytest.raises(ValueError):
        generate_registry(-1)


def test_generated_registry_structure() -> None:
    officials = parse_registry(generate_registry(3000, seed=3))
    by_id = {o.id: o for o in officials}
    roles = Counter(o.role for o in officials)
    assert roles[Role.REGIONAL_COORDINATOR] == 9
    assert roles[Role.PRINCIPAL] - roles[Role.SAFETY_COORDINATOR] in (0, 1)  # the last school may be cut
    assert 0.2 < roles[Role.CYBERSECURITY_COORDINATOR] / roles[Role.PRINCIPAL] < 0.5
    assert len({o.county for o in officials}) > 50
    for o in officials:
        assert o.mobile and o.voice and o.email and o.active
        if o.role in (Role.SUPERINTENDENT, Role.REGIONAL_COORDINATOR):
            assert o.school == ""
        else:
            assert o.school
        if o.role is Role.SUPERINTENDENT:
            assert (
                sum(1 for p in officials if p.district == o.district and p.role is Role.SUPERINTENDENT) == 1
            )
        assert o.backup_id, o  # every generated official has one at this size
        backup = by_id[o.backup_id]
        assert backup.id != o.id and backup.district == o.district
        if o.school and backup.school:
            assert backup.school == o.school or not any(
                p.school == o.school and p.district == o.district and p.id != o.id for p in officials
            )
    subs = Counter(s for o in officials for s in o.subscriptions)
    assert subs[Subscription.ALERTS] == len(officials)
    assert 0.5 < subs[Subscription.DIGEST] / len(officials) < 0.95
    for o in officials:
        if o.role in (Role.CYBERSECURITY_COORDINATOR, Role.SUPERINTENDENT):
            assert Subscription.CYBER in o.subscriptions


def test_generator_addresses_are_unique_at_200k() -> None:
    started = time.perf_counter()
    text = generate_registry(200_000)
    elapsed = time.perf_counter() - started
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 200_001
    ids = [r[0] for r in rows[1:]]
    numbers = [r[7] for r in rows[1:]] + [r[8] for r in rows[1:]]
    emails = [r[9].lower() for r in rows[1:]]
    assert len(set(ids)) == 200_000
    assert len(set(numbers)) == 400_000
    assert len(set(emails)) == 200_000
    assert elapsed < 20, f"generating 200,000 officials took {elapsed:.1f}s"
    # Every number's prefix was proven valid below; spot-check whole numbers too.
    for number in random.Random(1).sample(numbers, 2000):
        assert phonenumbers.is_valid_number(phonenumbers.parse(number)), number


def test_every_generator_prefix_is_valid_and_the_permutation_is_one() -> None:
    assert math.gcd(registry_sample._STRIDE, registry_sample._CAPACITY) == 1
    for area_code in registry_sample.AREA_CODES:
        for exchange in registry_sample.EXCHANGES:
            for line in ("0000", "9999"):
                number = phonenumbers.parse(f"+1{area_code}{exchange}{line}")
                assert phonenumbers.is_valid_number(number), (area_code, exchange)


def test_parse_50k_is_fast() -> None:
    text = generate_registry(50_000, seed=5)
    started = time.perf_counter()
    officials = parse_registry(text)
    elapsed = time.perf_counter() - started
    assert len(officials) == 50_000
    assert elapsed < 10, f"parse_registry of 50,000 rows took {elapsed:.1f}s"


# ------------------------------------------------------------------------ the fast paths are exact


def test_phone_fast_path_matches_phonenumbers() -> None:
    rng = random.Random(0)
    samples = [
        "5735550104",
        "15735550104",
        "+15735550104",
        "(573) 555-0104",
        "1 (816) 201 3344",
        "573.201.3344",
    ]
    samples += [
        f"{rng.choice(['', '1', '+1', '+1 '])}{rng.randint(2000000000, 9999999999)}" for _ in range(3000)
    ]
    for region in ("US", "CA"):
        parser = registry_csv._PhoneParser(region)
        for raw in samples:
            try:
                expected = phonenumbers.parse(raw, region)
                ok = phonenumbers.is_valid_number(expected)
            except phonenumbers.NumberParseException:
                ok = False
            if ok:
                assert parser.e164(raw) == phonenumbers.format_number(
                    expected, phonenumbers.PhoneNumberFormat.E164
                )
            else:
                with pytest.raises(ValueError):
                    parser.e164(raw)


def test_email_fast_path_matches_email_validator() -> None:
    samples = [
        "eortiz@columbia.k12.example.org",
        "E.Ortiz+alerts@Columbia.K12.Example.ORG",
        "a_b%c-d@example.org",
        "x" * 64 + "@example.org",
        "x" * 65 + "@example.org",
        "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 57 + ".org",
        "a@xn--bcher-kva.example",
        "a@bücher.example.org",
        "ünïcode@example.org",
        "a.@example.org",
        ".a@example.org",
        "a@-bad.example.org",
        "a@example",
        "a@b@example.org",
        '"quoted"@example.org',
        "a@[127.0.0.1]",
        "a@example.org.",
    ]
    normalizer = registry_csv._EmailNormalizer()
    for raw in samples * 2:  # the second time through, domains come from the cache
        try:
            expected: str | None = validate_email(raw, check_deliverability=False).normalized
        except EmailNotValidError:
            expected = None
        if expected is None:
            with pytest.raises(ValueError, match="is not a valid email address"):
                normalizer.normalize(raw)
        else:
            assert normalizer.normalize(raw) == expected, raw
