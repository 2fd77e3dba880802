"""`alertnet`: run the hub and its parts, manage contacts and senders, send an alert."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alertnet.logs import configure_logging
from alertnet.settings import REPO_ROOT, Settings, load_settings

if TYPE_CHECKING:
    from alertnet.domain.contacts import Official
    from alertnet.store.registry import ImportSummary

AUDIENCE_FLAGS = {
    "region": "regions",
    "county": "counties",
    "district": "districts",
    "school": "schools",
    "role": "roles",
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    configure_logging(os.environ.get("ALERTNET_LOG_LEVEL", "INFO"))
    result: int = args.func(load_settings(), args)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alertnet", description=__doc__)
    sub = parser.add_subparsers()

    p = sub.add_parser("run", help="everything on one machine: Redis, simulators, API, workers, scheduler")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--contacts", default=str(REPO_ROOT / "contacts" / "sample.csv"))
    p.set_defaults(func=cmd_run)

    sub.add_parser("api", help="serve the HTTP API").set_defaults(func=cmd_api)
    p = sub.add_parser("worker", help="send deliveries from the queues")
    p.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    p.set_defaults(func=cmd_worker)
    sub.add_parser("scheduler", help="timers and housekeeping").set_defaults(func=cmd_scheduler)
    sub.add_parser("sim", help="serve the Twilio and SendGrid simulators").set_defaults(func=cmd_sim)

    contacts = sub.add_parser("contacts", help="the contact registry").add_subparsers()
    p = contacts.add_parser("import", help="validate and import a registry CSV (all or nothing)")
    p.add_argument("file")
    p.add_argument("--partial", action="store_true", help="do not deactivate officials missing from the file")
    p.set_defaults(func=cmd_contacts_import)
    p = contacts.add_parser("generate", help="write a synthetic statewide registry CSV")
    p.add_argument("--officials", type=int, required=True)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("-o", "--output", default="-")
    p.set_defaults(func=cmd_contacts_generate)

    senders = sub.add_parser("senders", help="authorized senders").add_subparsers()
    p = senders.add_parser("add", help="create a sender and print its bearer token once")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=["director", "cyber_publisher", "editor", "viewer"])
    p.add_argument("--email", default="", help="where the hub tells this sender things (a held digest)")
    p.add_argument("--password", action="store_true", help="also set a console password (prompt or stdin)")
    p.set_defaults(func=cmd_senders_add)
    p = senders.add_parser("unlock", help="clear a sender's failed console sign-ins")
    p.add_argument("name")
    p.set_defaults(func=cmd_senders_unlock)

    digest = sub.add_parser("digest", help="the weekly school safety update").add_subparsers()
    p = digest.add_parser("run-due", help="run the digest step once, as the scheduler would at that time")
    p.add_argument("--at", default=None, help="ISO 8601 time with offset (default: now)")
    p.set_defaults(func=cmd_digest_run_due)

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers()
    p = audit.add_parser("verify", help="check the trail's hash chain and signed checkpoints")
    p.set_defaults(func=cmd_audit_verify)
    p = audit.add_parser("checkpoint", help="sign the trail's newest entry now")
    p.set_defaults(func=cmd_audit_checkpoint)

    p = sub.add_parser("send", help="post an alert through the API and follow it until settled")
    p.add_argument("--api", default=None, help="API base URL (default from settings)")
    p.add_argument(
        "--token", default=os.environ.get("ALERTNET_TOKEN"), help="bearer token (or ALERTNET_TOKEN)"
    )
    p.add_argument("--status", default="Actual", choices=["Actual", "Exercise", "Test"])
    p.add_argument("--msg-type", default="Alert", choices=["Alert", "Update", "Cancel"])
    p.add_argument("--references", action="append", default=[])
    p.add_argument("--severity", default="Extreme")
    p.add_argument("--urgency", default="Immediate")
    p.add_argument("--certainty", default="Observed")
    p.add_argument("--event", required=True)
    p.add_argument("--headline", required=True)
    p.add_argument("--description", default="")
    p.add_argument("--instruction", default="")
    p.add_argument("--statewide", action="store_true")
    for flag, key in AUDIENCE_FLAGS.items():
        p.add_argument(f"--{flag}", action="append", default=[], dest=key, help=f"add to audience.{key}")
    p.add_argument("--channels", default="sms,voice,email")
    p.add_argument("--no-wait", action="store_true")
    p.add_argument("--timeout", type=float, default=600.0)
    p.set_defaults(func=cmd_send)
    return parser


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from alertnet.api.app import create_app

    web.run_app(
        create_app(settings), host=settings.api.host, port=settings.api.port, print=None, access_log=None
    )
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from alertnet.pipeline.worker import run_worker

    run_worker(settings, burst=args.burst)
    return 0


def cmd_scheduler(settings: Settings, args: argparse.Namespace) -> int:
    from alertnet.scheduler import run_scheduler

    run_scheduler(settings)
    return 0


def cmd_sim(settings: Settings, args: argparse.Namespace) -> int:
    from alertnet.sim import SimSettings, run_sim

    sim = settings.sim
    asyncio.run(
        run_sim(
            SimSettings(host=sim.host, port=sim.port, callback_delay=sim.callback_delay),
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            sendgrid_key=settings.sendgrid_api_key,
            hub_url=settings.api.base_url,
            event_key_path=settings.sim_event_key_path,
        )
    )
    return 0


def cmd_contacts_import(settings: Settings, args: argparse.Namespace) -> int:
    from alertnet.domain.registry_csv import RegistryError
    from alertnet.services.registry import load_registry

    try:
        officials = load_registry(args.file)
    except OSError as error:
        print(f"{args.file}: {error.strerror}", file=sys.stderr)
        return 1
    except RegistryError as error:
        for e in error.errors:
            print(f"{args.file}: line {e.line}, {e.field}: {e.reason}", file=sys.stderr)
        print(f"nothing imported: {len(error.errors)} problem(s)", file=sys.stderr)
        return 1
    summary = asyncio.run(import_officials(settings, officials, full=not args.partial))
    print(
        f"imported {len(officials)} officials: {summary.added} added, {summary.updated} updated, "
        f"{summary.unchanged} unchanged, {summary.deactivated} deactivated"
    )
    return 0


async def import_officials(settings: Settings, officials: list[Official], *, full: bool) -> ImportSummary:
    """Import the officials as `alertnet contacts import` does (audited as the command line)."""
    from alertnet.bootstrap import using_services

    return await using_services(settings, lambda s: s.registry.import_officials(officials, full=full))


def cmd_contacts_generate(settings: Settings, args: argparse.Namespace) -> int:
    from alertnet.domain.registry_sample import generate_registry

    text = generate_registry(args.officials, seed=args.seed)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.officials} officials to {args.output}", file=sys.stderr)
    return 0


def cmd_senders_add(settings: Settings, args: argparse.Namespace) -> int:
    from alertnet.services.errors import BadRequest

    password = read_password() if args.password else None
    if password == "":
        print("password: the two entries differ or are empty; nothing was created", file=sys.stderr)
        return 1
    try:
        token = asyncio.run(add_sender(settings, args.name, args.role, email=args.email, password=password))
    except BadRequest as error:
        print(error, file=sys.stderr)
        return 1
    print(f"sender {args.name} ({args.role}) created; keep this token, it is shown only once:")
    print(f"token: {token}")
    if password:
        print(f"console: {settings.api.base_url}/console/ (sign in as {args.name})")
    return 0


def read_password() -> str:
    """A password from the prompt (typed twice, not echoed) or the first line of standard input; "" when
    the two entries differ. Never from the command line, where other users and the shell history see it."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("console password: ")
    return first if first == getpass.getpass("again: ") else ""


def cmd_senders_unlock(settings: Settings, args: argparse.Namespace) -> int:
    from alertnet.bootstrap import using_services
    from alertnet.services.errors import NotFound

    try:
        asyncio.run(using_services(settings, lambda s: s.accounts.unlock(args.name, actor="cli")))
    except NotFound as error:
        print(error, file=sys.stderr)
        return 1
    print(f"sender {args.name}: failed sign-ins cleared")
    return 0


async def add_sender(
    settings: Settings, name: str, role: str, *, email: str = "", password: str | None = None
) -> str:
    """Create a sender as `alertnet senders add` does (with a console password if given); returns its
    token. Raises BadRequest (a bad password creates nothing)."""
    from alertnet.bootstrap import Services, using_services
    from alertnet.domain.accounts import password_problem
    from alertnet.domain.senders import SenderRole
    from alertnet.services.errors import BadRequest

    problem = password_problem(password) if password is not None else None
    if problem:
        raise BadRequest(f"password: {problem}")

    async def add(services: Services) -> str:
        created = await services.senders.add(name, SenderRole(role), email=email)
        if password is not None:
            await services.accounts.set_password(name, password, actor="cli")
        return created.token

    return await using_services(settings, add)


def cmd_digest_run_due(settings: Settings, args: argparse.Namespace) -> int:
    """Deal with every issue due at --at (send, hold or note it empty) and print what was done."""
    from datetime import datetime

    from alertnet.bootstrap import using_services

    at = None
    if args.at:
        try:
            parsed = datetime.fromisoformat(args.at)
        except ValueError:
            print(f"--at: not an ISO 8601 time: {args.at!r}", file=sys.stderr)
            return 2
        if parsed.tzinfo is None:
            print("--at: give a timezone offset, e.g. 2026-12-04T10:00:00-06:00", file=sys.stderr)
            return 2
        at = parsed.timestamp()
    outcomes = asyncio.run(using_services(settings, lambda s: s.digest.run_due(at)))
    if not outcomes:
        print("nothing due")
    for o in outcomes:
        extra = f": {o.recipients} recipients, {o.editions} editions" if o.state == "sent" else ""
        print(f"issue {o.issue}: {o.state}{extra}{' (' + o.detail + ')' if o.detail else ''}")
    return 0


def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    from alertnet.bootstrap import using_services

    report = asyncio.run(using_services(settings, lambda s: s.audit.verify()))
    if report.problem is not None:
        print(f"audit trail broken: {report.problem}", file=sys.stderr)
        return 1
    print(f"audit trail intact: {report.entries} entries, {report.checkpoints} signed checkpoints")
    return 0


def cmd_audit_checkpoint(settings: Settings, args: argparse.Namespace) -> int:
    from alertnet.bootstrap import using_services

    entry_id = asyncio.run(using_services(settings, lambda s: s.audit.checkpoint()))
    print(f"checkpoint signed at {entry_id}" if entry_id else "nothing to sign: the trail is empty")
    return 0


def _http(method: str, url: str, token: str | None, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def alert_from_args(args: argparse.Namespace) -> dict[str, Any]:
    audience: dict[str, Any] = {}
    if args.statewide:
        audience["statewide"] = True
    for key in AUDIENCE_FLAGS.values():
        if getattr(args, key):
            audience[key] = getattr(args, key)
    body: dict[str, Any] = {
        "status": args.status,
        "msgType": args.msg_type,
        "severity": args.severity,
        "urgency": args.urgency,
        "certainty": args.certainty,
        "event": args.event,
        "headline": args.headline,
        "audience": audience,
        "channels": [c.strip() for c in args.channels.split(",") if c.strip()],
    }
    for key in ("description", "instruction"):
        if getattr(args, key):
            body[key] = getattr(args, key)
    if args.references:
        body["references"] = args.references
    return body


def cmd_send(settings: Settings, args: argparse.Namespace) -> int:
    api = (args.api or settings.api.base_url).rstrip("/")
    status, answer = _http("POST", f"{api}/v1/alerts", args.token, alert_from_args(args))
    if status != 202:
        print(
            f"refused ({status}): {answer.get('message') if isinstance(answer, dict) else answer}",
            file=sys.stderr,
        )
        for error in (answer or {}).get("errors", []):
            print(f"  {error['field']}: {error['reason']}", file=sys.stderr)
        return 1
    alert_id = answer["id"]
    if answer.get("state") == "pending_approval":
        print(
            f"alert {alert_id} held: it goes to {answer['officials']} officials, so a second director must "
            f"approve it (POST {api}/v1/alerts/{alert_id}/approve, or the console)"
        )
        return 0
    print(
        f"alert {alert_id} accepted; verification code {answer['verification_code']}; "
        f"recipients {answer['recipients']}"
    )
    if args.no_wait:
        return 0
    deadline = time.monotonic() + args.timeout
    while True:
        _, progress = _http("GET", f"{api}/v1/alerts/{alert_id}", args.token)
        line = "  ".join(
            f"{channel}: " + ", ".join(f"{state} {n}" for state, n in sorted(info["states"].items()))
            for channel, info in progress["channels"].items()
        )
        print(f"\r{line}", end="", flush=True)
        if progress["settled"]:
            break
        if time.monotonic() > deadline:
            print("\nnot settled before --timeout", file=sys.stderr)
            return 1
        time.sleep(0.5)
    _, verify = _http("GET", f"{api}/v1/alerts/{alert_id}/verify", None)
    print(f"\nsettled; signature valid: {verify['valid']} (key {verify['key_id']})")
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from alertnet.launcher import run_everything

    return run_everything(
        settings, workers=args.workers or settings.pipeline.workers, contacts=Path(args.contacts)
    )
