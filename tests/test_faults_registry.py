"""Bad registry files against `alertnet contacts import` and a real Redis (issue: reliability).

Every refused file is reported line by line (line, field, reason), exits non-zero and leaves the registry
exactly as it was; a 100,000-row file imports within a bounded amount of memory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from alertnet.domain.contacts import Official
from alertnet.domain.registry_sample import generate_registry
from alertnet.store import keys as k

BIG = 100_000
MAX_RSS_MIB = 400


def run(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "alertnet", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def registry_state(url: str) -> dict[bytes, bytes | None]:
    """Every key of the registry and its value: what a refused import must leave alone."""
    conn = redis.Redis.from_url(url)
    ids = sorted(conn.smembers(k.OFFICIALS_ALL))
    keys = [k.OFFICIAL_KEY.encode() + i for i in ids]
    state = dict(zip(keys, conn.mget(keys), strict=True)) if keys else {}
    state[k.REGISTRY_VERSION.encode()] = conn.get(k.REGISTRY_VERSION)
    state[k.OFFICIALS_ALL.encode()] = b",".join(ids)
    conn.close()
    return state


@pytest.fixture
def imported(fresh_redis_url: str, tmp_path: Path) -> list[str]:
    """A registry of 12 officials already imported; returns the lines of its CSV."""
    text = generate_registry(12, seed=21)
    (tmp_path / "good.csv").write_text(text)
    result = run(fresh_redis_url, "contacts", "import", str(tmp_path / "good.csv"))
    assert result.returncode == 0, result.stderr
    return text.splitlines()


def refused(url: str, path: Path) -> list[str]:
    """Import `path`; assert it was refused and changed nothing; return the report's problem lines."""
    before = registry_state(url)
    result = run(url, "contacts", "import", str(path))
    assert result.returncode != 0, result.stdout
    assert registry_state(url) == before
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("nothing imported: "), result.stderr
    assert "Traceback" not in result.stderr
    return [line.removeprefix(f"{path}: ") for line in lines[:-1]]


def with_name(lines: list[str], row: int, name: str) -> list[str]:
    """The CSV lines with the name of data row `row` (1-based line `row + 1`) replaced."""
    cells = lines[row].split(",")
    cells[1] = name
    return [*lines[:row], ",".join(cells), *lines[row + 1 :]]


def test_latin1_and_a_stray_byte_are_named_by_line_and_field(
    fresh_redis_url: str, tmp_path: Path, imported: list[str]
) -> None:
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(("\n".join(with_name(imported, 4, "José Núñez")) + "\n").encode("latin-1"))
    report = refused(fresh_redis_url, latin1)
    assert len(report) == 1 and report[0].startswith("line 5, name: "), report
    assert "0xe9" in report[0] and "UTF-8" in report[0]

    stray = tmp_path / "stray.csv"
    data = ("\n".join(imported) + "\n").encode()
    line_9 = data.index(imported[8].encode())
    at = data.index(b"@", line_9)  # in line 9's email
    stray.write_bytes(data[:at] + b"\xff" + data[at:])
    report = refused(fresh_redis_url, stray)
    assert len(report) == 1 and report[0].startswith("line 9, email: "), report
    assert "0xff" in report[0] and "UTF-8" in report[0]

    # Two bad bytes on two lines: both are reported, in file order.
    both = tmp_path / "both.csv"
    both.write_bytes(latin1.read_bytes().replace(b"Central", b"Centr\xe1l", 1))
    report = refused(fresh_redis_url, both)
    assert [r.split(":")[0] for r in report] == ["line 2, region", "line 5, name"], report


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16"])
def test_utf16_with_or_without_a_bom_is_refused_with_the_reason(
    fresh_redis_url: str, tmp_path: Path, imported: list[str], encoding: str
) -> None:
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes(("\n".join(imported) + "\n").encode(encoding))  # "utf-16" writes a BOM
    report = refused(fresh_redis_url, path)
    assert len(report) == 1, report
    assert report[0].startswith("line 1, row: ") and "UTF-16" in report[0] and "UTF-8" in report[0]


def test_duplicate_and_unknown_backup_ids_are_named(
    fresh_redis_url: str, tmp_path: Path, imported: list[str]
) -> None:
    lines = list(imported)
    lines.append(imported[3])  # line 14 repeats line 4's official
    cells = lines[6].split(",")
    cells[10] = "mo-999999"
    lines[6] = ",".join(cells)  # line 7 names a backup nobody has
    path = tmp_path / "ids.csv"
    path.write_text("\n".join(lines) + "\n")
    report = refused(fresh_redis_url, path)
    first_id = imported[3].split(",")[0]
    assert report == [
        "line 7, backup_id: backup_id 'mo-999999' is not the id of any official in this file",
        f"line 14, id: duplicate id '{first_id}' (first used on line 4)",
    ]


def test_formula_cells_are_kept_as_text_or_refused_by_their_field(
    fresh_redis_url: str, tmp_path: Path, imported: list[str]
) -> None:
    """A name that looks like a formula is a name (every export escapes it); a field with a format of its
    own (phone, email, backup, role) refuses it; a control character inside a cell (tab, CR) is refused."""
    bad = list(imported)
    for row, column, value in (
        (2, 7, "=1+15735550100"),
        (3, 9, "@SUM(A1)"),
        (4, 10, "-mo-000001"),
        (5, 2, "+principal"),
        (6, 1, '"Ann\tLee"'),
        (7, 5, '"Boone\r=1+1"'),
    ):
        cells = bad[row].split(",")
        cells[column] = value
        bad[row] = ",".join(cells)
    path = tmp_path / "formulas.csv"
    path.write_text("\n".join(bad) + "\n")
    report = refused(fresh_redis_url, path)
    fields = [r.split(":")[0] for r in report]
    assert fields == [
        "line 3, mobile",
        "line 4, email",
        "line 5, backup_id",
        "line 6, role",
        "line 7, name",
        "line 8, county",
    ], report
    assert "control character" in report[4] and "control character" in report[5]

    names = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", " \t=1+1"]
    good = list(imported)
    for row, name in enumerate(names, start=1):
        good = with_name(good, row, '"' + name.replace('"', '""') + '"')
    (tmp_path / "names.csv").write_text("\n".join(good) + "\n")
    result = run(fresh_redis_url, "contacts", "import", str(tmp_path / "names.csv"))
    assert result.returncode == 0, result.stderr
    conn = redis.Redis.from_url(fresh_redis_url)
    for row, name in enumerate(names, start=1):
        raw = conn.get(k.OFFICIAL_KEY + imported[row].split(",")[0])
        assert raw is not None and Official.from_json(raw).name == name.strip()
    conn.close()


@pytest.mark.faults
@pytest.mark.timeout(600)
def test_100000_rows_import_in_bounded_memory_and_a_bad_one_changes_nothing(
    fresh_redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "state.csv"
    generated = run(fresh_redis_url, "contacts", "generate", "--officials", str(BIG), "-o", str(path))
    assert generated.returncode == 0, generated.stderr

    env = {**os.environ, "REDIS_URL": fresh_redis_url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "alertnet", "contacts", "import", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _pid, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, nobody else's
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, err
    assert f"{BIG} added" in out
    peak_mib = usage.ru_maxrss / 1024  # KiB on Linux
    print(f"import of {BIG} rows peaked at {peak_mib:.0f} MiB")
    assert peak_mib < MAX_RSS_MIB, f"import peaked at {peak_mib:.0f} MiB"
    conn = redis.Redis.from_url(fresh_redis_url)
    assert conn.scard(k.OFFICIALS_ALL) == BIG
    conn.close()

    # The same file with one bad row near the end, and with every name changed: refused, nothing changed.
    lines = path.read_text().splitlines()
    changed = [line.replace(",", ",X", 1) if n else line for n, line in enumerate(lines)]
    changed[BIG - 2] = changed[BIG - 2].replace("@", " at ", 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(changed) + "\n")
    report = refused(fresh_redis_url, bad)
    assert len(report) == 1 and report[0].startswith(f"line {BIG - 1}, email: "), report[:3]
