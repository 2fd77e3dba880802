"""An alert as a CAP 1.2 document, and the public alerts as an Atom feed (both with lxml).

The document is built unsigned here; `alertnet.services.cap` signs it (an enveloped XML signature, the
last child of ``<alert>``, where the OASIS schema allows elements of the xmldsig namespace) and checks it
against the schema shipped in ``alertnet/data/CAP-v1.2.xsd``. What goes where:

- ``identifier`` the alert id; ``sender`` the agency (``[cap] sender``); ``sent``, ``status`` (Exercise and
  Test stay so), ``msgType`` as the alert has them; ``scope`` Public for a public alert, else Restricted
  (with a ``restriction`` saying to whom); ``references`` the ``sender,identifier,sent`` of each alert an
  Update or Cancel refers to; a ``note`` names the CAP message an imported alert came from;
- one ``info`` in en-US: ``category`` from the event (`category_for`), ``event``, ``responseType`` where the
  event says one, urgency/severity/certainty, ``audience`` (the roles it is for), ``expires``,
  ``senderName``, ``headline``, ``description``, ``instruction``, ``web`` (the alert's page);
- one ``area``: ``areaDesc`` from the audience (`area_description`) and a ``geocode`` for each of its
  counties that ``[cap.geocodes]`` gives a code (FIPS6, SAME).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from alertnet.domain.alerts import Alert, format_datetime
from alertnet.domain.cap_in import CAP_NAMESPACE, Triple

CAP = f"{{{CAP_NAMESPACE}}}"
CAP_MEDIA_TYPE = "application/cap+xml"
ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
ATOM = f"{{{ATOM_NAMESPACE}}}"
RESTRICTION = "For the school officials this alert network reaches; not for public release."

# The CAP category of an event, by the first keyword of the event's name found (else Safety).
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Security", ("lockdown", "intruder", "shooter", "threat", "bomb", "weapon", "hostage", "violence",
                  "suspicious", "police", "security", "lockout")),
    ("Met", ("weather", "tornado", "storm", "flood", "heat", "snow", "ice", "winter", "lightning", "hail",
             "wind", "hurricane", "blizzard")),
    ("Fire", ("fire", "smoke")),
    ("Health", ("health", "medical", "outbreak", "disease", "illness")),
    ("Infra", ("cyber", "outage", "utility", "water main")),
)  # fmt: skip
RESPONSES: tuple[tuple[str, str], ...] = (
    ("all clear", "AllClear"),
    ("shelter", "Shelter"),
    ("lockdown", "Shelter"),
    ("evacua", "Evacuate"),
)


def category_for(event: str) -> str:
    """The CAP category of an event: Security (lockdown, threats), Met (weather), Fire, Health, Infra
    (cyber, outages), else Safety."""
    words = event.casefold()
    for category, keys in CATEGORIES:
        if any(key in words for key in keys):
            return category
    return "Safety"


def response_type(event: str) -> str | None:
    words = event.casefold()
    return next((response for key, response in RESPONSES if key in words), None)


def area_description(audience: Mapping[str, Any]) -> str:
    """The audience in words: "Statewide", or the counties, districts, schools and regions it names."""
    if audience.get("statewide"):
        place = "Statewide"
    else:
        parts = [
            f"{label}: {', '.join(audience[key])}"
            for key, label in (
                ("regions", "Regions"),
                ("counties", "Counties"),
                ("districts", "Districts"),
                ("schools", "Schools"),
            )
            if audience.get(key)
        ]
        if audience.get("officials"):
            parts.append(f"{len(audience['officials'])} named officials")
        place = "; ".join(parts) or "Statewide"
    return place


def roles_description(audience: Mapping[str, Any]) -> str:
    roles = [str(r).replace("_", " ") for r in audience.get("roles", ())]
    return f"School officials: {', '.join(roles)}" if roles else "School officials"


def _add(parent: etree._Element, tag: str, text: str | None) -> None:
    if text:
        etree.SubElement(parent, CAP + tag).text = text


def cap_alert(
    alert: Alert,
    *,
    sender: str,
    sender_name: str,
    web: str,
    references: Sequence[Triple] = (),
    geocodes: Sequence[tuple[str, str]] = (),
) -> etree._Element:
    """The alert's CAP 1.2 ``<alert>`` element, unsigned (see the module's docstring)."""
    root = etree.Element(CAP + "alert", nsmap={None: CAP_NAMESPACE})  # type: ignore[dict-item]
    _add(root, "identifier", alert.id)
    _add(root, "sender", sender)
    _add(root, "sent", format_datetime(alert.sent))
    _add(root, "status", alert.status.value)
    _add(root, "msgType", alert.msg_type.value)
    _add(root, "scope", "Public" if alert.public else "Restricted")
    if not alert.public:
        _add(root, "restriction", RESTRICTION)
    if alert.cap is not None:
        origin = alert.cap
        _add(root, "note", f"Taken in from CAP message {origin.sender},{origin.identifier},{origin.sent}")
    if references:
        _add(root, "references", " ".join(",".join(triple) for triple in references))
    info = etree.SubElement(root, CAP + "info")
    _add(info, "language", "en-US")
    _add(info, "category", category_for(alert.event))
    _add(info, "event", alert.event)
    _add(info, "responseType", response_type(alert.event))
    _add(info, "urgency", alert.urgency.value)
    _add(info, "severity", alert.severity.value)
    _add(info, "certainty", alert.certainty.value)
    audience = alert.audience.to_dict()
    _add(info, "audience", roles_description(audience))
    if alert.expires is not None:
        _add(info, "expires", format_datetime(alert.expires))
    _add(info, "senderName", sender_name)
    _add(info, "headline", alert.headline)
    _add(info, "description", alert.description)
    _add(info, "instruction", alert.instruction)
    _add(info, "web", web)
    area = etree.SubElement(info, CAP + "area")
    _add(area, "areaDesc", area_description(audience))
    for name, value in geocodes:
        geocode = etree.SubElement(area, CAP + "geocode")
        _add(geocode, "valueName", name)
        _add(geocode, "value", value)
    return root


@dataclass(frozen=True)
class FeedEntry:
    alert: Alert
    cap_url: str  # its CAP document
    page_url: str  # its page


def atom_feed(
    entries: Sequence[FeedEntry], *, feed_url: str, title: str, author: str, updated: datetime
) -> bytes:
    """An Atom (RFC 4287) feed of alerts in the order given (newest first): each entry links to its CAP
    document (``alternate``, ``application/cap+xml``) and to its page (``related``); ``updated`` is the
    feed's (the newest alert's sent time)."""
    feed = etree.Element(ATOM + "feed", nsmap={None: ATOM_NAMESPACE})  # type: ignore[dict-item]
    _atom(feed, "id", feed_url)
    _atom(feed, "title", title)
    _atom(feed, "updated", _rfc3339(updated))
    _atom(etree.SubElement(feed, ATOM + "author"), "name", author)
    etree.SubElement(feed, ATOM + "link", href=feed_url, rel="self", type="application/atom+xml")
    for entry in entries:
        alert = entry.alert
        item = etree.SubElement(feed, ATOM + "entry")
        _atom(item, "id", entry.cap_url)
        label = "" if alert.status.value == "Actual" else f"{alert.status.value}: "
        _atom(item, "title", label + alert.headline)
        _atom(item, "updated", _rfc3339(alert.sent))
        _atom(item, "published", _rfc3339(alert.sent))
        etree.SubElement(item, ATOM + "link", href=entry.cap_url, rel="alternate", type=CAP_MEDIA_TYPE)
        etree.SubElement(item, ATOM + "link", href=entry.page_url, rel="related", type="text/html")
        etree.SubElement(item, ATOM + "category", term=category_for(alert.event))
        place = area_description(alert.audience.to_dict())
        _atom(item, "summary", f"{alert.status.value} {alert.msg_type.value}: {alert.event}. {place}")
    return bytes(etree.tostring(feed, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _atom(parent: etree._Element, tag: str, text: str) -> None:
    etree.SubElement(parent, ATOM + tag).text = text


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
