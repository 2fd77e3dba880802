"""Status checks (pure): a question with numbered answers asked with an alert, what each channel says of
it, what an official's reply means, and the notice an urgent answer ("need help") sends.

A poll travels inside the alert (``alert.poll``, signed with it): answers are numbered 1..n in the order
given. Officials answer by SMS (a bare digit), by keypress during the call, or on the email's link page;
the latest answer of each official wins and every answer is kept (`PollAnswer`). Any answer is also an
acknowledgement of the alert.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from alertnet.domain.contacts import Official
from alertnet.domain.errors import FieldError
from alertnet.domain.sms import fit_sms, is_gsm7, sms_segments, to_gsm7
from alertnet.domain.text import BIDI_REASON, has_bidi_control

MAX_QUESTION = 120
MAX_ANSWER = 30
MIN_ANSWERS = 2
MAX_ANSWERS = 9  # one keypress, one SMS digit
POLL_KEYS = ("question", "answers")
ANSWER_KEYS = ("text", "urgent")
NOTICE_EVENT = "Help requested"


@dataclass(frozen=True)
class PollOption:
    text: str
    urgent: bool = False


@dataclass(frozen=True)
class Poll:
    """The question and its answers; answer ``n`` is ``options[n - 1]``."""

    question: str
    options: tuple[PollOption, ...]

    def option(self, number: int) -> PollOption | None:
        return self.options[number - 1] if 1 <= number <= len(self.options) else None

    def to_dict(self) -> dict[str, Any]:
        """As the sender wrote it (the stored, signed alert's ``poll``)."""
        return {
            "question": self.question,
            "answers": [{"text": o.text, "urgent": o.urgent} for o in self.options],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Poll:
        return cls(
            question=str(data["question"]),
            options=tuple(PollOption(str(a["text"]), a.get("urgent") is True) for a in data["answers"]),
        )


# ------------------------------------------------------------------------------------------ parsing


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=True, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def _text_problem(value: object, limit: int) -> str:
    """Why a poll text is refused ("" when it is fine)."""
    if not isinstance(value, str):
        return f"must be a string; got {_show(value)}"
    text = value.strip()
    if not text:
        return "must not be empty"
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return "must be valid Unicode (has an unpaired surrogate)"
    if len(text) > limit:
        return f"must be at most {limit} characters; got {len(text)}"
    if any(ch in "\u2028\u2029" or unicodedata.category(ch) == "Cc" for ch in text):
        return "must not contain control characters or line breaks"
    if has_bidi_control(text):
        return BIDI_REASON
    return ""


def parse_poll(value: object, errors: list[FieldError], *, closing: bool) -> Poll | None:
    """The request's ``poll`` (None when absent or null); every problem is appended to `errors`, each
    naming its field (``poll.answers[1].text``). A cancellation (`closing`) asks nothing."""
    if value is None:
        return None
    if closing:
        errors.append(FieldError("poll", "must be absent for msgType Cancel"))
        return None
    if not isinstance(value, dict):
        errors.append(FieldError("poll", f"must be an object with question and answers; got {_show(value)}"))
        return None
    before = len(errors)
    for key in value:
        if key not in POLL_KEYS:
            errors.append(FieldError(f"poll.{key}", f"unknown field; allowed: {', '.join(POLL_KEYS)}"))
    question = value.get("question")
    if problem := "is required" if question is None else _text_problem(question, MAX_QUESTION):
        errors.append(FieldError("poll.question", problem))
    answers = value.get("answers")
    if not isinstance(answers, list) or not MIN_ANSWERS <= len(answers) <= MAX_ANSWERS:
        reason = f"must be a list of {MIN_ANSWERS} to {MAX_ANSWERS} answers; got {_show(answers)}"
        errors.append(FieldError("poll.answers", reason))
        return None
    options: list[PollOption] = []
    seen: set[str] = set()
    for n, answer in enumerate(answers):
        at = f"poll.answers[{n}]"
        if not isinstance(answer, dict):
            errors.append(FieldError(at, f"must be an object with text (and urgent); got {_show(answer)}"))
            continue
        for key in answer:
            if key not in ANSWER_KEYS:
                errors.append(FieldError(f"{at}.{key}", f"unknown field; allowed: {', '.join(ANSWER_KEYS)}"))
        text, urgent = answer.get("text"), answer.get("urgent", False)
        if problem := "is required" if text is None else _text_problem(text, MAX_ANSWER):
            errors.append(FieldError(f"{at}.text", problem))
        elif str(text).strip().casefold() in seen:
            errors.append(FieldError(f"{at}.text", f"duplicate answer {_show(text)}"))
        if urgent is not None and not isinstance(urgent, bool):
            errors.append(FieldError(f"{at}.urgent", f"must be true or false; got {_show(urgent)}"))
        if isinstance(text, str):
            seen.add(text.strip().casefold())
            options.append(PollOption(text.strip(), urgent is True))
    if len(errors) > before or not isinstance(question, str):
        return None
    return Poll(question.strip(), tuple(options))


def poll_schema() -> dict[str, Any]:
    """The JSON Schema of the request's ``poll``, from the limits `parse_poll` enforces."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(POLL_KEYS),
        "description": "a status check: officials answer by the number of an answer (SMS digit, keypress, or "
        "the email's link page); answers are numbered 1..n in order; an urgent answer notifies the alert's "
        "sender and the district superintendent at once and keeps the school escalating",
        "properties": {
            "question": {"type": "string", "minLength": 1, "maxLength": MAX_QUESTION},
            "answers": {
                "type": "array",
                "minItems": MIN_ANSWERS,
                "maxItems": MAX_ANSWERS,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["text"],
                    "properties": {
                        "text": {"type": "string", "minLength": 1, "maxLength": MAX_ANSWER},
                        "urgent": {"type": "boolean", "default": False},
                    },
                },
            },
        },
    }


def poll_from_form(question: str, answers: str) -> dict[str, Any] | None:
    """The request's ``poll`` from the console's two fields: the question, and the answers one per line,
    a line ending in ``*`` marking an urgent answer (None when both are empty; `parse_poll` judges it)."""
    lines = [line.strip() for line in answers.splitlines() if line.strip()]
    if not question.strip() and not lines:
        return None
    return {
        "question": question.strip(),
        "answers": [{"text": line.rstrip("*").strip(), "urgent": line.endswith("*")} for line in lines],
    }


def poll_form(poll: Mapping[str, Any] | None) -> tuple[str, str]:
    """The console's two fields for a sent poll (an Update starts from its original's question)."""
    if not poll:
        return "", ""
    answers = "\n".join(f"{a['text']}{' *' if a.get('urgent') else ''}" for a in poll.get("answers", []))
    return str(poll.get("question", "")), answers


# ---------------------------------------------------------------------------------------- rendering


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str, limit: int) -> str:
    """`text` in at most `limit` characters: its first whole words, else its start and a full stop."""
    if len(text) <= limit:
        return text
    words = ""
    for word in text.split(" "):
        if len(f"{words} {word}".strip()) > limit:
            break
        words = f"{words} {word}".strip()
    return words or text[: limit - 1] + "."


def sms_poll_lines(poll: Poll) -> list[str]:
    """The SMS's answer line, fullest first: ``Reply 1=Safe 2=Need help``, then with the answers cut
    shorter, last ``Reply 1-2`` (the numbers only) for an alert whose text leaves no room."""
    lines: list[str] = []
    for limit in (MAX_ANSWER, 12, 8, 5):
        parts = [f"{n}={_clip(to_gsm7(_one_line(o.text)), limit)}" for n, o in enumerate(poll.options, 1)]
        line = "Reply " + " ".join(parts)
        if line not in lines:
            lines.append(line)
    lines.append(f"Reply 1-{len(poll.options)}")
    return lines


KEPT_BODY = 40
"""The answer line is shortened before the alert's own words are cut below this many characters."""


def poll_sms(head: str, body: str, poll: Poll, tail: str) -> str:
    """The alert's SMS with the poll's answer line before `tail`, in one segment when any answer line
    allows it: the fullest line that leaves `body` (shortened as `fit_sms` does) at least 40 characters,
    else the fullest that fits at all; otherwise the shortest line, in as few segments as it can take."""
    lines = sms_poll_lines(poll)
    fitting = []
    for line in lines:
        text = fit_sms(head, body, f" {line}{tail}")
        if is_gsm7(text) and sms_segments(text) == 1:
            kept = len(text) - len(head) - len(line) - 1 - len(tail)
            if kept >= min(KEPT_BODY, len(body)):
                return text
            fitting.append(text)
    return fitting[0] if fitting else fit_sms(head, body, f" {lines[-1]}{tail}")


def _sentence(text: str) -> str:
    text = _one_line(text)
    return text if text.endswith((".", "!", "?")) else f"{text}."


def voice_prompt(poll: Poll) -> str:
    """What the call says while it listens for a key: the question, then ``Press 1 for Safe.`` per
    answer."""
    presses = " ".join(f"Press {n} for {_sentence(o.text)}" for n, o in enumerate(poll.options, 1))
    return f"{_sentence(poll.question)} {presses}"


def answer_digit(body: str) -> int | None:
    """The answer number of an SMS that is a bare digit (``2``, `` 2.``), else None."""
    text = re.sub(r"[^\w]", "", body)
    return int(text) if len(text) == 1 and text.isdigit() else None


def answer_reply(event: str, number: int, option: PollOption, code: str) -> str:
    """The SMS that confirms a recorded answer (one segment)."""
    tail = f" Thank you. Code {code}." + (" Help is being notified." if option.urgent else "")
    return fit_sms("Answer recorded: ", f"{number}={_one_line(option.text)} ({_one_line(event)}).", tail)


def unknown_answer_reply(event: str, poll: Poll) -> str:
    """The SMS to a digit that is not one of the poll's answers: what the answers are."""
    line = sms_poll_lines(poll)[0]
    return fit_sms("Not an answer to ", f"{_one_line(event)}: {_one_line(poll.question)}", f" {line}")


def keypress_said(option: PollOption | None) -> str:
    """What the call says after a key: the recorded answer, or that the key is not an answer."""
    if option is None:
        return "That key is not one of the answers. Please reply to the text message. Goodbye."
    return f"Thank you. Your answer, {_one_line(option.text).rstrip('.')}, has been recorded. Goodbye."


@dataclass(frozen=True)
class LinkChoice:
    """One answer on the email and its link page: its number, text, whether urgent, and its link."""

    number: int
    text: str
    urgent: bool
    url: str


def link_choices(poll: Poll | None, ack_link: str) -> list[LinkChoice]:
    """The email's one link per answer, to the acknowledgement page with the answer picked (`ack_link`
    may be the per-recipient tag; the answer is only recorded by the page's POST)."""
    if poll is None or not ack_link:
        return []
    return [LinkChoice(n, o.text, o.urgent, f"{ack_link}?answer={n}") for n, o in enumerate(poll.options, 1)]


# ---------------------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class PollAnswer:
    """One answer of one official. ``school``: their (district, school) as the alert recorded it (None for
    officials above a school); ``channel``: an `AckChannel` value."""

    alert_id: str
    official_id: str
    number: int
    text: str
    urgent: bool
    at: float
    channel: str
    school: tuple[str, str] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> PollAnswer:
        d = json.loads(raw)
        school = d.get("school")
        return cls(
            alert_id=str(d["alert_id"]),
            official_id=str(d["official_id"]),
            number=int(d["number"]),
            text=str(d["text"]),
            urgent=bool(d["urgent"]),
            at=float(d["at"]),
            channel=str(d["channel"]),
            school=(str(school[0]), str(school[1])) if school else None,
        )

    def view(self, name: str = "") -> dict[str, Any]:
        """JSON-ready, for the API."""
        return {
            "official_id": self.official_id,
            "name": name,
            "answer": self.number,
            "text": self.text,
            "urgent": self.urgent,
            "at": self.at,
            "channel": self.channel,
        }


def latest_answer(answers: Sequence[PollAnswer]) -> PollAnswer | None:
    """The newest of some answers (a school's: the latest among its officials wins)."""
    return max(answers, key=lambda a: (a.at, a.official_id), default=None)


def urgent_notice_request(
    alert: Mapping[str, Any],
    answer: PollAnswer,
    official: Official,
    recipients: Sequence[str],
    console_url: str,
) -> dict[str, Any]:
    """The small alert that tells the alert's sender and the district's superintendent(s) (their registry
    entries, `recipients`) at once that an official answered urgently: SMS and call, with the status of
    the alert answered (an Exercise poll's notice is an Exercise, never an Actual alert)."""
    where = ", ".join(p for p in (official.school.strip(), official.district.strip()) if p)
    question = _one_line(str(alert.get("poll", {}).get("question", "")))
    return {
        "status": str(alert["status"]),
        "msgType": "Alert",
        "severity": "Severe",
        "urgency": "Immediate",
        "certainty": "Observed",
        "event": NOTICE_EVENT,
        "headline": _one_line(f'{official.name} ({where}) answered "{answer.text}" to: {question}')[:160],
        "instruction": (
            f"Answer to the {_one_line(str(alert['event']))} alert {alert['identifier']}. Contact the school "
            f"now. Its schools: {console_url.rstrip('/')}/console/alerts/{alert['identifier']}"
        )[:1000],
        "audience": {"officials": sorted(set(recipients))},
        "channels": ["sms", "voice"],
    }
