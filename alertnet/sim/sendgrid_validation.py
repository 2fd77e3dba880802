"""Validation of SendGrid v3 Mail Send request bodies, with the error objects SendGrid's 400s carry.

The limits are SendGrid's documented ones: at most 1,000 personalizations and 1,000 recipients (to + cc +
bcc) per request, each address once per request.
"""

from __future__ import annotations

import re
from typing import Any

MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
ROLES = ("to", "cc", "bcc")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message."
DUPLICATE = (
    "Each email address in the personalization block should be unique between to, cc, and bcc. "
    "We found the first duplicate instance of [{email}] in the {field} field."
)

Error = dict[str, Any]
Recipient = tuple[int, str, dict[str, Any]]  # (personalization index, role, address object)


def mail_error(message: str, field: str | None, anchor: str | None = None) -> Error:
    """One SendGrid error object: the message, the offending field and a link to the docs (or None)."""
    return {"message": message, "field": field, "help": HELP + anchor if anchor else None}


def _valid_email(value: object) -> bool:
    return isinstance(value, str) and EMAIL.fullmatch(value) is not None


def check_mail(body: object) -> tuple[list[Error], list[Recipient]]:
    """Validate a Mail Send body as SendGrid does.

    Returns the errors (empty when the request is acceptable) and, when acceptable, every recipient as
    (personalization index, role, address object) in request order.
    """
    if not isinstance(body, dict):
        return [mail_error("Bad Request", None)], []
    errors: list[Error] = []
    sender = body.get("from")
    if not isinstance(sender, dict) or not _valid_email(sender.get("email")):
        errors.append(
            mail_error(
                "The from object must be provided for every email send. It is an object that requires the "
                'email parameter, but may also contain a name parameter.  e.g. {"email" : '
                '"example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.',
                "from.email",
                "from",
            )
        )
    personalizations = body.get("personalizations")
    recipients: list[Recipient] = []
    if not isinstance(personalizations, list) or not personalizations:
        errors.append(
            mail_error(
                "The personalizations field is required and must have at least one personalization.",
                "personalizations",
                "personalizations",
            )
        )
        personalizations = []
    elif len(personalizations) > MAX_PERSONALIZATIONS:
        errors.append(
            mail_error(
                "The personalization block is limited to 1000 personalizations per API request. You have "
                f"provided {len(personalizations)} personalizations. Please consider splitting this into "
                "multiple requests and resending your request.",
                "personalizations",
                "personalizations",
            )
        )
        personalizations = []
    seen: set[str] = set()
    duplicate_found = False
    for i, personalization in enumerate(personalizations):
        if not isinstance(personalization, dict):
            errors.append(
                mail_error("Personalizations must be objects.", f"personalizations.{i}", "personalizations")
            )
            continue
        to = personalization.get("to")
        if not isinstance(to, list) or not to:
            errors.append(
                mail_error(
                    "The to array is required for all personalization objects, and must have at least one "
                    "email object with a valid email address.",
                    f"personalizations.{i}.to",
                    "personalizations.to",
                )
            )
        for role in ROLES:
            entries = personalization.get(role)
            if entries is None:
                continue
            if not isinstance(entries, list):
                errors.append(
                    mail_error(f"The {role} field must be an array.", f"personalizations.{i}.{role}")
                )
                continue
            for j, entry in enumerate(entries):
                address = entry.get("email") if isinstance(entry, dict) else None
                if not isinstance(entry, dict) or not _valid_email(address):
                    errors.append(
                        mail_error(
                            "Does not contain a valid address.",
                            f"personalizations.{i}.{role}.{j}.email",
                            "personalizations",
                        )
                    )
                    continue
                key = str(address).lower()
                if key in seen:
                    if not duplicate_found:
                        field = f"personalizations.{i}.{role}"
                        errors.append(
                            mail_error(
                                DUPLICATE.format(email=address, field=field), field, "personalizations"
                            )
                        )
                        duplicate_found = True
                    continue
                seen.add(key)
                recipients.append((i, role, entry))
    if len(recipients) > MAX_RECIPIENTS:
        errors.append(
            mail_error(
                "There is a limit of 1000 total recipients (to + cc + bcc) per request.",
                "personalizations",
                "personalizations",
            )
        )
    has_template = bool(body.get("template_id"))
    subject = body.get("subject")
    if (
        not has_template
        and not (isinstance(subject, str) and subject)
        and not (personalizations and all(isinstance(p, dict) and p.get("subject") for p in personalizations))
    ):
        errors.append(
            mail_error(
                "The subject is required. You can get around this requirement if you use a template with a "
                "subject defined or if every personalization has a subject defined.",
                "subject",
                "subject",
            )
        )
    content = body.get("content")
    if content is None or content == []:
        if not has_template:
            errors.append(
                mail_error(
                    "Unless a valid template_id is provided, the content parameter is required. There must "
                    "be at least one defined content block. We typically suggest both text/plain and "
                    "text/html blocks are included, but only one block is required.",
                    "content",
                    "content",
                )
            )
    elif not isinstance(content, list):
        errors.append(mail_error("The content field must be an array.", "content", "content"))
    else:
        for k, block in enumerate(content):
            if not isinstance(block, dict) or not isinstance(block.get("type"), str) or not block["type"]:
                errors.append(
                    mail_error(
                        "The content type must be a string at least one character in length.",
                        f"content.{k}.type",
                        "content",
                    )
                )
            elif not isinstance(block.get("value"), str) or not block["value"]:
                errors.append(
                    mail_error(
                        "The content value must be a string at least one character in length.",
                        f"content.{k}.value",
                        "content",
                    )
                )
            elif block["type"] == "text/plain" and k != 0:
                errors.append(
                    mail_error(
                        "The text/plain content type must be first, followed by text/html, followed by any "
                        "other content.",
                        f"content.{k}.type",
                        "content",
                    )
                )
    return errors, recipients
