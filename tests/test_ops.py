"""The production files in ops/ agree with the code: each unit runs a real subcommand (never the simulator),
the environment example names only settings the hub reads and, filled in, leaves the simulators behind,
and Redis persists every second and never evicts."""

from __future__ import annotations

import configparser
import dataclasses
import re
import subprocess
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

import alertnet
from alertnet import cli
from alertnet.settings import DEFAULT_CONFIG, Settings, load_settings
from alertnet.store.server import answers, free_port, server_binary

REPO = Path(__file__).resolve().parent.parent
OPS = REPO / "ops"
UNITS = OPS / "systemd"
ENV_EXAMPLE = OPS / "alertnet.env.example"
REDIS_CONF = OPS / "redis.conf"
REDIS_DROP_IN = UNITS / "redis-server.service.d" / "alertnet.conf"

SCRIPT = "/opt/alertnet/.venv/bin/alertnet"
DATA_DIR = "/var/lib/alertnet"
ENV_FILE = "/etc/alertnet/alertnet.env"
SERVICES: dict[str, Callable[..., int]] = {
    "alertnet-api@.service": cli.cmd_api,
    "alertnet-worker@.service": cli.cmd_worker,
    "alertnet-scheduler.service": cli.cmd_scheduler,
}
# `NAME=value` is set; `#NAME=value` is an optional setting left at its default.
ENV_LINE = re.compile(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$")
# Read by `alertnet` itself (cli.main) rather than by load_settings.
READ_BY_CLI = {"ALERTNET_LOG_LEVEL"}
REQUIRED = {
    "REDIS_URL",
    "ALERTNET_DATA_DIR",
    "ALERTNET_API_PUBLIC_URL",
    "ALERTNET_TWILIO_ACCOUNT_SID",
    "ALERTNET_TWILIO_AUTH_TOKEN",
    "ALERTNET_TWILIO_SMS_FROM",
    "ALERTNET_TWILIO_VOICE_FROM",
    "ALERTNET_SENDGRID_API_KEY",
    "ALERTNET_SENDGRID_FROM_EMAIL",
    "ALERTNET_SENDGRID_EVENT_PUBLIC_KEY",
}


def read_unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read_string(path.read_text(), source=str(path))
    return parser


def env_example() -> list[tuple[str, str, bool]]:
    """(name, value, optional) for every variable line of ops/alertnet.env.example."""
    found = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = ENV_LINE.match(line)
        if match:
            found.append((match.group(2), match.group(3), match.group(1) == "#"))
    return found


def redis_directives(text: str) -> dict[str, str]:
    directives = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            directives[key.lower()] = value.strip().strip('"')
    return directives


def setting_path(name: str) -> tuple[str, ...]:
    """Where a variable lands in Settings: ALERTNET_<SECTION>_<KEY>, ALERTNET_<KEY>, or REDIS_URL."""
    if name == "REDIS_URL":
        return ("redis_url",)
    defaults = Settings()
    for f in dataclasses.fields(Settings):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            for g in dataclasses.fields(value):
                if name == f"ALERTNET_{f.name.upper()}_{g.name.upper()}":
                    return (f.name, g.name)
        elif name == f"ALERTNET_{f.name.upper()}":
            return (f.name,)
    raise AssertionError(f"{name}: names no setting in alertnet.settings")


def lookup(settings: Settings, path: tuple[str, ...]) -> Any:
    value: Any = settings
    for part in path:
        value = getattr(value, part)
    return value


def distinct_value(path: tuple[str, ...], default: Any) -> tuple[str, Any]:
    """A valid value unlike the default: (as written in the environment, as loaded)."""
    if isinstance(default, bool):
        return ("no", False) if default else ("yes", True)
    if isinstance(default, int):
        return str(default + 7919), default + 7919
    if isinstance(default, float):
        return str(default + 7.5), default + 7.5
    if isinstance(default, tuple):
        return "+15735550177, +15735550178", ("+15735550177", "+15735550178")
    if path[-1].endswith("url"):
        text = "redis://127.0.0.1:6390/5" if path == ("redis_url",) else "https://distinct.example.org"
        return text, text
    if path[-1].endswith(("dir", "file")):
        return "/srv/alertnet-distinct", "/srv/alertnet-distinct"
    return "distinct-value-7919", "distinct-value-7919"


@pytest.mark.parametrize("unit", sorted(SERVICES))
def test_each_unit_runs_a_subcommand_the_cli_accepts(unit: str) -> None:
    service = read_unit(UNITS / unit)["Service"]
    script, *args = service["ExecStart"].split()
    assert script == SCRIPT
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[Path(script).name] == "alertnet.cli:main"
    parsed = cli.build_parser().parse_args(args)
    assert getattr(parsed, "func", None) is SERVICES[unit]
    assert args[0] not in {"sim", "run"}


def test_only_the_hub_runs_here_never_the_simulators() -> None:
    assert sorted(p.name for p in UNITS.glob("*.service")) == sorted(SERVICES)
    assert sorted(p.name for p in UNITS.glob("*.target")) == ["alertnet.target"]


@pytest.mark.parametrize("unit", sorted(SERVICES))
def test_units_run_as_alertnet_restart_and_are_hardened(unit: str) -> None:
    parsed = read_unit(UNITS / unit)
    section, service = parsed["Unit"], parsed["Service"]
    for key in ("After", "Wants"):
        assert {"network-online.target", "redis-server.service"} <= set(section[key].split())
    assert section["PartOf"] == "alertnet.target"
    assert parsed["Install"]["WantedBy"] == "alertnet.target"
    assert service["User"] == "alertnet"
    assert service["EnvironmentFile"] == ENV_FILE
    assert f"ALERTNET_DATA_DIR={DATA_DIR}" in service["Environment"].split()
    assert (service["Restart"], service["RestartSec"], service["KillSignal"]) == ("always", "2", "SIGTERM")
    assert int(service["TimeoutStopSec"]) >= 30
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["PrivateTmp"] == "yes"
    assert DATA_DIR in service["ReadWritePaths"].split()


def test_api_and_worker_are_templates_and_the_target_starts_the_rest() -> None:
    for name in ("alertnet-api@.service", "alertnet-worker@.service"):
        assert "%i" in read_unit(UNITS / name)["Unit"]["Description"]
    target = read_unit(UNITS / "alertnet.target")
    assert set(target["Unit"]["Wants"].split()) == {"alertnet-scheduler.service"}
    assert target["Install"]["WantedBy"] == "multi-user.target"


def test_environment_example_comments_every_variable_and_holds_no_secrets() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    for number, line in enumerate(lines):
        if ENV_LINE.match(line):
            above = lines[number - 1]
            assert above.startswith("# ") and not ENV_LINE.match(above), f"no comment above: {line}"
    names = [name for name, _, _ in env_example()]
    assert len(names) == len(set(names))
    assert {name for name, _, optional in env_example() if not optional} >= REQUIRED | READ_BY_CLI
    assert not [name for name in names if name.startswith("ALERTNET_SIM_")]
    assert "ALERTNET_ESCALATION_TIME_SCALE" not in names
    for name, value, _ in env_example():
        if re.search(r"_(SID|TOKEN|API_KEY|PUBLIC_KEY)$", name):
            assert value.startswith("replace-with-"), f"{name}: a placeholder only"


@pytest.mark.parametrize("name", [name for name, _, _ in env_example() if name not in READ_BY_CLI])
def test_every_variable_in_the_example_is_a_setting_the_hub_reads(name: str) -> None:
    path = setting_path(name)
    default = lookup(load_settings(env={}), path)
    text, expected = distinct_value(path, default)
    loaded = load_settings(env={name: text})
    assert lookup(loaded, path) == expected != default
    assert loaded != load_settings(env={})


def test_log_level_is_read_by_the_command_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    levels: list[str] = []
    monkeypatch.setattr(cli, "configure_logging", levels.append)
    monkeypatch.setenv("ALERTNET_LOG_LEVEL", "WARNING")
    assert cli.main(["contacts", "generate", "--officials", "1", "-o", str(tmp_path / "r.csv")]) == 0
    assert levels == ["WARNING"]


def test_the_filled_in_example_sends_through_real_providers() -> None:
    settings = load_settings(env={name: value for name, value, optional in env_example() if not optional})
    assert not settings.twilio_simulated and not settings.sendgrid_simulated
    assert settings.api.base_url.startswith("https://")
    assert settings.data_dir == DATA_DIR
    assert settings.twilio.sms_from and all(re.fullmatch(r"\+\d{8,15}", n) for n in settings.twilio.sms_from)
    assert settings.twilio.sms_rate_per_sender > 0 and settings.twilio.calls_per_second > 0
    conf = redis_directives(REDIS_CONF.read_text())
    assert settings.redis_url.startswith(f"redis://{conf['bind'].split()[0]}:{conf['port']}/")


def test_units_find_the_config_next_to_an_editable_checkout() -> None:
    # config/ is read beside the package, so /opt/alertnet must be installed with -e.
    assert DEFAULT_CONFIG.parent.parent == Path(alertnet.__file__).resolve().parent.parent
    assert "pip install -e /opt/alertnet" in (OPS / "README.md").read_text()
    assert SCRIPT.startswith("/opt/alertnet/.venv/")


def test_redis_persists_every_second_and_never_evicts() -> None:
    conf = redis_directives(REDIS_CONF.read_text())
    assert conf["appendonly"] == "yes"
    assert conf["appendfsync"] == "everysec"
    assert conf["maxmemory-policy"] == "noeviction"
    assert conf["bind"] == "127.0.0.1"
    assert conf["save"] == ""
    assert conf["dir"] == "/var/lib/redis-alertnet"
    drop_in = read_unit(REDIS_DROP_IN)["Service"]
    assert "/etc/alertnet/redis.conf" in drop_in["ExecStart"].split()
    assert conf["dir"] in drop_in["ReadWritePaths"].split()


def test_a_real_redis_server_loads_the_config(tmp_path: Path) -> None:
    try:
        binary = server_binary()
    except RuntimeError:
        pytest.skip("no Redis-compatible server binary")
    text = re.sub(r"(?m)^dir .*$", f"dir {tmp_path}", REDIS_CONF.read_text())
    text = re.sub(r"(?m)^pidfile .*$", f"pidfile {tmp_path / 'redis.pid'}", text)
    (tmp_path / "redis.conf").write_text(text)
    port = free_port()
    args = [binary, str(tmp_path / "redis.conf"), "--port", str(port), "--supervised", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not answers(f"redis://127.0.0.1:{port}/0", timeout=0.2):
            assert process.poll() is None, "the server refused the config"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        conn = redis.Redis(port=port, decode_responses=True)
        got = {k: conn.config_get(k)[k] for k in ("appendonly", "appendfsync", "maxmemory-policy", "save")}
        conn.close()
        expected = {"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction"}
        assert got == {**expected, "save": ""}
    finally:
        process.terminate()
        process.wait(timeout=10)
