"""`alertnet contacts import` against a real Redis: all-or-nothing, idempotent, deactivates, never deletes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

from alertnet.domain.contacts import Official
from alertnet.domain.registry_sample import generate_registry
from alertnet.store import keys as k


def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "alertnet", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_import_is_all_or_nothing_idempotent_and_deactivates(fresh_redis_url: str, tmp_path: Path) -> None:
    text = generate_registry(30, seed=4)
    good = tmp_path / "good.csv"
    good.write_text(text)
    lines = text.splitlines()
    bad_lines = list(lines)
    bad_lines[3] = (
        bad_lines[3].replace(",principal,", ",janitor,").replace(",safety_coordinator,", ",janitor,")
    )
    bad_lines[5] = bad_lines[5].replace("@", " at ")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(bad_lines) + "\n")

    refused = run(fresh_redis_url, "contacts", "import", str(bad))
    assert refused.returncode == 1
    assert "line 6, email:" in refused.stderr
    assert "nothing imported" in refused.stderr
    conn = redis.Redis.from_url(fresh_redis_url)
    assert conn.scard(k.OFFICIALS_ALL) == 0  # nothing half-written

    first = run(fresh_redis_url, "contacts", "import", str(good))
    assert first.returncode == 0, first.stderr
    assert "30 added, 0 updated, 0 unchanged, 0 deactivated" in first.stdout
    generation = conn.get(k.REGISTRY_VERSION)
    again = run(fresh_redis_url, "contacts", "import", str(good))
    assert "0 added, 0 updated, 30 unchanged, 0 deactivated" in again.stdout
    assert conn.get(k.REGISTRY_VERSION) == generation  # nothing changed, not even the generation

    # A full import without the last official deactivates them; the record stays.
    shorter = tmp_path / "shorter.csv"
    removed_id = lines[-1].split(",")[0]
    kept = [line for line in lines if not line.startswith(removed_id + ",")]
    kept = [line.replace(f",{removed_id},", ",,") for line in kept]  # nobody's backup any more
    shorter.write_text("\n".join(kept) + "\n")
    third = run(fresh_redis_url, "contacts", "import", str(shorter))
    assert third.returncode == 0, third.stderr
    assert "1 deactivated" in third.stdout
    removed = Official.from_json(conn.get(k.OFFICIAL_KEY + removed_id))
    assert removed.active is False
    conn.close()


def test_generate_writes_a_registry_that_imports(fresh_redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "state.csv"
    generated = run(fresh_redis_url, "contacts", "generate", "--officials", "250", "-o", str(out))
    assert generated.returncode == 0, generated.stderr
    assert len(out.read_text().splitlines()) == 251
    assert "250 added" in run(fresh_redis_url, "contacts", "import", str(out)).stdout
