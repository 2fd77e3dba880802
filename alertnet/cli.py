"""`alertnet`: run the hub and its parts, manage contacts and senders, send an alert."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from alertnet.cli_send import add_send_parser
from alertnet.logs import configure_logging
from alertnet.settings import REPO_ROOT, Settings, load_settings

if TYPE_CHECKING:
    from alertnet.domain.contacts import Official
    from alertnet.store.registry import ImportSummary

# A hub process keeps many long-lived objects (an API process at 50,000 officials: ~360,000, the registry
# snapshot and per-alert caches). With CPython's default thresholds (700, 10, 10) a full collection walked
# them every few seconds under 1,000 acks/s, ~150 ms each with the event loop stopped (bench: the
# per-school view's p95 262 ms). Collecting the youngest generation every 20,000 allocations instead
# still collects cycles, and full collections become rare (p95 97 ms).
GC_THRESHOLDS = (20_000, 10, 10)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    configure_logging(os.environ.get("ALERTNET_LOG_LEVEL", "INFO"))
    gc.set_threshold(*GC_THRESHOLDS)
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
    p.add_argument("--official", default="", help="their own registry id (paged there)")
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

    add_send_parser(sub)
    return parser


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from alertnet.api.app import create_app

    # Several API processes may serve one port (`[api] processes`): each binds it with SO_REUSEPORT.
    web.run_app(
        create_app(settings),
        host=settings.api.host,
        port=settings.api.port,
        print=None,
        access_log=None,
        reuse_port=True,
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
        token = asyncio.run(
            add_sender(
                settings, args.name, args.role, email=args.email, password=password, official=args.official
            )
        )
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
    settings: Settings,
    name: str,
    role: str,
    *,
    email: str = "",
    password: str | None = None,
    official: str = "",
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
        created = await services.senders.add(name, SenderRole(role), email=email, official=official)
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


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from alertnet.launcher import run_everything

    return run_everything(
        settings, workers=args.workers or settings.pipeline.workers, contacts=Path(args.contacts)
    )
