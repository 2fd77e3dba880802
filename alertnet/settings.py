"""One settings object, built once at start-up from `config/alertnet.toml` and the environment."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "config" / "alertnet.toml"
SIM_ACCOUNT_SID = "AC" + "0" * 32
SIM_AUTH_TOKEN = "sim-auth-token-not-a-secret"
SIM_SENDGRID_KEY = "SG.simulator-key"


@dataclass(frozen=True)
class RedisSettings:
    """Replication. The writes that must survive a failover (an accepted alert and its deliveries, a
    claim, a provider id, an ack) wait until `min_replicas` replicas hold them (`WAIT`), at most
    `wait_timeout_ms` per try; fewer is a failure to record. 0: a single Redis, nothing waits."""

    min_replicas: int = 0
    wait_timeout_ms: int = 1000


@dataclass(frozen=True)
class ApiSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    processes: int = 2  # API processes `alertnet run` starts; they share the port (SO_REUSEPORT)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@dataclass(frozen=True)
class SimSettings:
    host: str = "127.0.0.1"
    port: int = 8090
    callback_delay: float = 0.05

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str = ""
    auth_token: str = ""
    sms_from: tuple[str, ...] = ("+15735550190",)
    voice_from: str = "+15735550199"
    sms_rate_per_sender: float = 0.0
    calls_per_second: float = 0.0
    alert_validity_seconds: int = 900
    max_in_flight: int = 64


@dataclass(frozen=True)
class SendGridSettings:
    api_key: str = ""
    from_email: str = "alerts@alertnet.example.gov"
    from_name: str = "School Safety Alert Network"
    batch_size: int = 1000
    # The Event Webhook verification key SendGrid shows (base64 DER); empty with the simulator.
    event_public_key: str = ""


@dataclass(frozen=True)
class PipelineSettings:
    sms_batch: int = 500
    voice_batch: int = 200
    email_batch: int = 1000
    max_attempts: int = 5
    backoff_base_seconds: float = 0.5
    stale_claim_seconds: float = 30.0
    # A sent message with no final status callback after this long is looked up at the provider.
    receipt_overdue_seconds: float = 300.0
    workers: int = 2
    # Calls are placed in this order of roles (then everyone else), in the first fan-out and each step.
    call_order: tuple[str, ...] = ("superintendent", "safety_coordinator", "principal")


@dataclass(frozen=True)
class EscalationSettings:
    policy_file: str = ""
    # Multiplies every delay in the policies: 0.01 turns minutes into fractions of a second (drills, tests).
    time_scale: float = 1.0
    # How often the scheduler looks for due steps.
    tick_seconds: float = 0.2
    # Email ack links stay valid this long after the alert.
    ack_link_days: float = 7.0
    # An urgent answer's notice ("Help requested") not confirmed sent this long after the answer is sent
    # by the scheduler (the process that took the answer died, or sending failed).
    help_notice_retry_seconds: float = 60.0

    @property
    def policy_path(self) -> Path:
        return Path(self.policy_file) if self.policy_file else REPO_ROOT / "config" / "escalation.toml"


@dataclass(frozen=True)
class DigestSettings:
    """The weekly school safety update's schedule (in `timezone`, DST-correct) and its email hygiene."""

    timezone: str = "America/Chicago"
    send_day: str = "friday"
    send_time: str = "10:00"
    cutoff_day: str = "thursday"
    cutoff_time: str = "17:00"
    # Issue 1 is the first send day on or after this date; issue n comes n-1 weeks later.
    first_date: str = "2026-01-01"
    # A send this late (the hub was down) is held for an editor to release or skip, never sent stale.
    max_lateness_hours: float = 6.0
    # How often the scheduler works out whether an issue is due.
    tick_seconds: float = 30.0
    # SendGrid events that suppress an address for the digest: hard bounces, blocked/deferred in a row.
    hard_bounces: int = 1
    soft_in_a_row: int = 3


@dataclass(frozen=True)
class BulletinSettings:
    """Cyber threat bulletins under TLP 2.0."""

    # The state agency's own officials form one more organization: the district value they carry in the
    # registry. AMBER bulletins may name it like any district.
    state_organization: str = "Missouri Department of Public Safety"
    # How long an official's personal link to a bulletin works.
    link_days: int = 30


@dataclass(frozen=True)
class ApprovalSettings:
    """The two-person rule: an Actual alert to more officials than `threshold` waits for a second
    director (0: never). `fallback` "send" sends it after `fallback_seconds` unapproved (audited)."""

    threshold: int = 500
    fallback: str = "none"
    fallback_seconds: float = 180.0


@dataclass(frozen=True)
class ConsoleSettings:
    """The operator console: sign-in, message templates and the two-person rule."""

    # Message templates (lockdown, shelter in place, ...) kept as data; empty: config/alert_templates.toml.
    templates_file: str = ""
    # A signed-in session ends after this long without a request.
    session_hours: float = 12.0
    # Sign-in failures per account (and per client address) before each further try must wait; the wait
    # doubles with every failure up to `max_wait_seconds`. Nothing locks an account for good.
    free_failures: int = 5
    # An address may hold many people (a state office behind one NAT): it gets more tries than an account.
    client_free_failures: int = 20
    max_wait_seconds: float = 300.0

    @property
    def templates_path(self) -> Path:
        default = REPO_ROOT / "config" / "alert_templates.toml"
        return Path(self.templates_file) if self.templates_file else default


@dataclass(frozen=True)
class CapSettings:
    """CAP 1.2 documents in and out (`alertnet.services.cap`)."""

    # CAP <sender> of the hub's documents: the agency's domain.
    sender: str = "alertnet.example.gov"
    # CAP <senderName>, and the certificate's organization.
    sender_name: str = "School Safety Alert Network"
    # The XML signature's certificate and private key (PEM). Empty: a self-signed RSA certificate and its
    # key, created on first start in the data folder (cap-signing.pem).
    certificate_file: str = ""
    key_file: str = ""
    # The channels an imported CAP alert goes out on (CAP has no such element).
    channels: tuple[str, ...] = ("sms", "voice", "email")
    # Registry county -> the CAP geocodes that name it, "VALUENAME:value" (FIPS6, SAME, ...).
    geocodes: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricsSettings:
    """`GET /metrics` (Prometheus text format): deployment-wide figures the API reads from Redis."""

    # The bearer token a scraper must send. Empty: only clients on the API's own host, connecting directly
    # (loopback, no proxy's forwarding header), may scrape.
    token: str = ""


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis: RedisSettings = field(default_factory=RedisSettings)
    data_dir: str = ""
    # A directory of templates that override the package's own (same file names); empty: none.
    templates_dir: str = ""
    api: ApiSettings = field(default_factory=ApiSettings)
    sim: SimSettings = field(default_factory=SimSettings)
    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    sendgrid: SendGridSettings = field(default_factory=SendGridSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    escalation: EscalationSettings = field(default_factory=EscalationSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    bulletins: BulletinSettings = field(default_factory=BulletinSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    approval: ApprovalSettings = field(default_factory=ApprovalSettings)
    cap: CapSettings = field(default_factory=CapSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)

    @property
    def data_path(self) -> Path:
        if self.data_dir:
            return Path(self.data_dir)
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(xdg) / "alertnet"

    @property
    def signing_key_path(self) -> Path:
        return self.data_path / "signing-key.ed25519"

    @property
    def cap_identity_path(self) -> Path:
        """The CAP signing key and its self-signed certificate (one file, both PEM), made on first start."""
        return self.data_path / "cap-signing.pem"

    @property
    def ack_secret_path(self) -> Path:
        return self.data_path / "ack-link.secret"

    @property
    def number_ref_secret_path(self) -> Path:
        """The key of the phone-number references kept in the audit trail and the inbound log."""
        return self.data_path / "number-ref.secret"

    @property
    def sim_event_key_path(self) -> Path:
        return self.data_path / "sim-sendgrid-event-key.pem"

    @property
    def sim_event_public_key_path(self) -> Path:
        """Where the simulator publishes its Event Webhook verification key (as SendGrid shows one)."""
        return self.data_path / "sim-sendgrid-event-key.pub"

    @property
    def templates_path(self) -> Path | None:
        return Path(self.templates_dir) if self.templates_dir else None

    @property
    def twilio_simulated(self) -> bool:
        """True when no Twilio credentials are configured: the SDK talks to the simulator."""
        return not (self.twilio.account_sid and self.twilio.auth_token)

    @property
    def sendgrid_simulated(self) -> bool:
        return not self.sendgrid.api_key

    @property
    def twilio_account_sid(self) -> str:
        return SIM_ACCOUNT_SID if self.twilio_simulated else self.twilio.account_sid

    @property
    def twilio_auth_token(self) -> str:
        return SIM_AUTH_TOKEN if self.twilio_simulated else self.twilio.auth_token

    @property
    def sendgrid_api_key(self) -> str:
        return SIM_SENDGRID_KEY if self.sendgrid_simulated else self.sendgrid.api_key

    def replace(self, **changes: Any) -> Settings:
        """A copy with top-level fields or whole sections replaced (tests and `run` use it)."""
        return dataclasses.replace(self, **changes)


def _coerce(value: str, target: Any) -> Any:
    if isinstance(target, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(target, int):
        return int(value)
    if isinstance(target, float):
        return float(value)
    if isinstance(target, tuple):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _build(cls: Any, values: Mapping[str, Any], env: Mapping[str, str], prefix: str) -> Any:
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for f in dataclasses.fields(cls):
        current = getattr(defaults, f.name)
        if dataclasses.is_dataclass(current):
            section = values.get(f.name, {})
            kwargs[f.name] = _build(type(current), section, env, f"{prefix}{f.name.upper()}_")
            continue
        value = values.get(f.name, current)
        if isinstance(value, list):
            value = tuple(value)
        env_name = f"{prefix}{f.name.upper()}"
        if env_name in env:
            value = _coerce(env[env_name], current)
        kwargs[f.name] = value
    return cls(**kwargs)


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (default `config/alertnet.toml`) and apply ALERTNET_* and REDIS_URL overrides."""
    env = os.environ if env is None else env
    config_path = path or Path(env.get("ALERTNET_CONFIG", str(DEFAULT_CONFIG)))
    values: dict[str, Any] = {}
    if config_path.exists():
        values = tomllib.loads(config_path.read_text())
    settings: Settings = _build(Settings, values, env, "ALERTNET_")
    if env.get("REDIS_URL"):
        settings = settings.replace(redis_url=env["REDIS_URL"])
    return settings
